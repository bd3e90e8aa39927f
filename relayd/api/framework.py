"""A thin route registry over aiohttp: auth metadata, pydantic bodies, and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError

from relayd.exceptions import ApiError
from relayd.jsontext import InvalidJson, decode_json

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

        def ref_schema(model: type[BaseModel]) -> dict[str, Any]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas[name] = sub
            return schema

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schemas[model.__name__] = ref_schema(model)
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
                properties = ref_schema(spec.query).get("properties", {})
                for name, info in spec.query.model_fields.items():
                    params.append(
                        {
                            "name": info.alias or name,
                            "in": "query",
                            "required": info.is_required(),
                            "description": info.description or "",
                            "schema": _query_schema(properties.get(info.alias or name, {})),
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


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query model's property as a parameter schema: a query string cannot say `null`."""
    schema = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema |= branches[0]
    elif branches:
        schema["anyOf"] = branches
    return schema or {"type": "string"}


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


INT64_MAX = 2**63 - 1
"""The largest id a row can have (SQLite's INTEGER); a larger one names nothing."""



def parse_json(raw: bytes) -> Any:
    """`raw` as JSON, or a 422 that says what is wrong with it (rules: `decode_json`)."""
    try:
        return decode_json(raw)
    except InvalidJson as exc:
        raise ApiError(422, "invalid_json", f"the body {exc}") from None


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or a 422 that says what is wrong with it."""
    raw = await request.read()
    if not raw.strip():
        raise ApiError(422, "invalid_json", "the request body is empty; send a JSON object")
    return parse_json(raw)


async def read_form(request: web.Request) -> dict[str, str]:
    """The text fields of a form body (urlencoded or multipart), or a 4xx naming the fault:
    415 for an unknown charset, else 422 `invalid_body` (like a JSON text that does not parse).

    aiohttp raises plain ValueError/LookupError/RuntimeError on a malformed form (a
    multipart type without a boundary, an unknown charset, undecodable bytes) and its own
    HttpProcessingError on a part whose headers do not parse.
    """
    try:
        form = await request.post()
    except LookupError:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"unknown charset {request.charset!r}; send the form as UTF-8",
        ) from None
    except (ValueError, RuntimeError, TypeError, HttpProcessingError) as exc:
        if request.content_type == "multipart/form-data" and "boundary" not in (
            request.headers.get("Content-Type", "")
        ):
            message = "multipart/form-data needs a boundary parameter in Content-Type"
        else:
            detail = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
            message = f"the form body is malformed: {detail}".strip()
        raise ApiError(422, "invalid_body", message) from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def header_text(request: web.Request, name: str) -> str | None:
    """A header that relayd stores (Idempotency-Key), or a 400 when its bytes are not UTF-8.

    aiohttp hands such bytes over as lone surrogates, which SQLite cannot store.
    """
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_header", f"the {name} header is not UTF-8 text") from None
    return value


def row_id(raw: str) -> int | None:
    """`raw` as a row id (ASCII digits within INT64_MAX), or None when it can name no row."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(INT64_MAX)):
        return None
    value = int(raw)
    return value if value <= INT64_MAX else None


def id_param(request: web.Request, what: str, name: str = "id") -> int:
    """The path parameter `name` as a row id, or a 404 `no such <what>`."""
    value = row_id(request.match_info[name])
    if value is None:
        raise ApiError(404, "not_found", f"no such {what}")
    return value


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
