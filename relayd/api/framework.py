"""A thin route registry over aiohttp: auth metadata, pydantic bodies, and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from relayd.exceptions import ApiError

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AuthKind = Literal["public", "key", "secret"]


class ErrorBody(BaseModel):
    """The `error` member of every failed answer."""

    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer."""

    ok: Literal[False] = False
    error: ErrorBody


@dataclass
class RouteSpec:
    """One route and what the docs and the auth middleware need to know of it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tags: tuple[str, ...]
    auth: AuthKind = "key"
    scope: str | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    content_type: str = "application/json"
    extra_responses: dict[int, str] = field(default_factory=dict)


class Api:
    """Collects routes; installs them on an app; describes them as OpenAPI 3.1."""

    def __init__(self) -> None:
        self.routes: list[RouteSpec] = []
        self.by_handler: dict[Handler, RouteSpec] = {}
        self.statics: list[tuple[str, Path]] = []

    def static(self, prefix: str, directory: Path) -> None:
        """Serve files of `directory` under `prefix`, without a key (docs assets, web UI)."""
        self.statics.append((prefix, directory))

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tags: tuple[str, ...] = (),
        auth: AuthKind = "key",
        scope: str | None = None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        content_type: str = "application/json",
        extra_responses: dict[int, str] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register a handler for `method path`."""

        def decorate(handler: Handler) -> Handler:
            spec = RouteSpec(
                method,
                path,
                handler,
                summary,
                tags,
                auth,
                scope,
                body,
                query,
                response,
                status,
                content_type,
                extra_responses or {},
            )
            self.routes.append(spec)
            self.by_handler[handler] = spec
            return handler

        return decorate

    def install(self, app: web.Application) -> None:
        """Add every route to `app`."""
        for spec in self.routes:
            app.router.add_route(spec.method, spec.path, spec.handler)
        for prefix, directory in self.statics:
            app.router.add_static(prefix, directory)

    def spec_for(self, request: web.Request) -> RouteSpec | None:
        """The RouteSpec of the handler a request matched, if it is ours."""
        return self.by_handler.get(request.match_info.handler)

    def openapi(self, version: str) -> dict[str, Any]:
        """OpenAPI 3.1 of every registered route."""
        schemas: dict[str, Any] = {}

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas[name] = sub
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        error_ref = ref(ErrorResponse)
        paths: dict[str, Any] = {}
        for spec in self.routes:
            op: dict[str, Any] = {
                "summary": spec.summary,
                "operationId": spec.handler.__name__,
                "tags": list(spec.tags),
                "responses": {},
            }
            params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_params(spec.path)
            ]
            if spec.query is not None:
                for name, info in spec.query.model_fields.items():
                    params.append(
                        {
                            "name": info.alias or name,
                            "in": "query",
                            "required": info.is_required(),
                            "description": info.description or "",
                            "schema": {"type": "string"},
                        }
                    )
            if params:
                op["parameters"] = params
            if spec.body is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(spec.body)}},
                }
            ok: dict[str, Any] = {"description": "Success"}
            if spec.response is not None:
                ok["content"] = {spec.content_type: {"schema": ref(spec.response)}}
            elif spec.content_type != "application/json":
                ok["content"] = {spec.content_type: {"schema": {"type": "string"}}}
            op["responses"][str(spec.status)] = ok
            errors = {422: "Invalid request", 500: "Internal error"} | spec.extra_responses
            if spec.auth != "public":
                op["security"] = [{"bearer": []}, {"apiKey": []}]
                errors = {
                    401: "Missing or invalid credentials",
                    403: "Key lacks the scope",
                } | errors
            for code, text in errors.items():
                op["responses"][str(code)] = {
                    "description": text,
                    "content": {"application/json": {"schema": error_ref}},
                }
            paths.setdefault(spec.path, {})[spec.method.lower()] = op
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "relayd",
                "version": version,
                "description": "Self-hosted SMS gateway: send and receive SMS through GSM modems "
                "and Android phones. Authenticate with `Authorization: Bearer rk_...`.",
            },
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                },
            },
        }


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or a 422 that says what is wrong with it."""
    raw = await request.read()
    if not raw.strip():
        raise ApiError(422, "invalid_json", "the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(422, "invalid_json", f"the body is not valid JSON: {exc}") from None


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`, or a 422 naming the first bad field."""
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> ApiError:
    """The first pydantic error as an ApiError with `field`."""
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"] if not isinstance(p, int)]
    name = loc[0] if loc else None
    message = first["msg"]
    if first["type"] == "missing":
        message = "this field is required"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    return ApiError(422, "invalid_field", f"{name}: {message}" if name else message, name)


def query_model(model: type[M], request: web.Request) -> M:
    """The query string as `model`, or a 422 naming the bad parameter."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_error(exc) from None


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Compact JSON with the right content type."""
    return web.Response(
        text=json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=headers,
    )
