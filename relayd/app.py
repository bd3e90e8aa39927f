"""create_app(config) -> web.Application: middlewares, routes, and the relay's lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from relayd.api import (
    admin,
    asg_3rdparty,
    asg_mobile,
    ca,
    contacts,
    events,
    meta,
    modem_ops,
    notify,
    optouts,
    phone_ws,
    phones,
    seed001,
    seed002,
    seed003,
    seed004,
    sim_care,
    templates,
    v1,
)
from relayd.api import schedules as schedule_api
from relayd.api import web as web_ui
from relayd.api import webhooks as webhook_api
from relayd.api.context import API, KEY, RELAY
from relayd.api.credentials import credentials_from
from relayd.api.errors import as_api_error
from relayd.api.framework import Api, json_response
from relayd.auth import require_scope
from relayd.bridges.base import SimBackend
from relayd.config import Config
from relayd.exceptions import ApiError, Refused
from relayd.flows.schedules import Clock
from relayd.relay import Relay

_LOGGER = logging.getLogger(__name__)

BACKENDS = web.AppKey("backends", list)

_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}

Middleware = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_api() -> Api:
    """Every route of the relay, registered once."""
    api = Api()
    native = (meta, v1, sim_care, events, admin, modem_ops, phone_ws, phones)
    for module in (*native, seed004, web_ui):
        module.register(api)
    for compat in (seed001, seed002, seed003, notify):  # compatible APIs and the HA form
        compat.register(api)
    webhook_api.register(api)
    for flows in (templates, contacts, optouts, schedule_api):  # message workflows (issue 14)
        flows.register(api)
    for surface in (asg_mobile, asg_3rdparty, ca):  # SMS Gateway for Android; TLS CA
        surface.register(api)
    return api


def create_app(
    config: Config, backends: list[SimBackend] | None = None, clock: Clock | None = None
) -> web.Application:
    """The aiohttp application; the relay starts and stops with it (`clock`: for tests)."""
    api = build_api()
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=[_errors_middleware, _auth_middleware],
    )
    relay = Relay(config, clock)
    app[RELAY] = relay
    app[API] = api
    app[BACKENDS] = list(backends or [])
    api.install(app)
    app.cleanup_ctx.append(_relay_lifecycle)  # the relay starts and stops its phone hubs
    app.on_shutdown.append(_close_streams)
    app.on_response_prepare.append(_headers)
    return app


async def _relay_lifecycle(app: web.Application) -> AsyncIterator[None]:
    relay = app[RELAY]
    await relay.start(app[BACKENDS])
    yield
    await relay.stop()


async def _close_streams(app: web.Application) -> None:
    await app[RELAY].close_connections()  # phone sockets and app event streams end first
    app[RELAY].bus.close_all()


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "relayd"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    origins = request.app[RELAY].config.server.cors_origins
    origin = request.headers.get("Origin")
    if origin and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"


@web.middleware
async def _errors_middleware(request: web.Request, handler: Middleware) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ApiError, Refused) as exc:
        answer = as_api_error(exc)
        return json_response(answer.body(), answer.status, answer.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        message = exc.reason
        if exc.status == 413:
            limit = request.app[RELAY].config.server.max_body_bytes
            message = f"the request body is larger than {limit // 1024} KiB"
        return json_response(
            {"ok": False, "error": {"code": code, "message": message}},
            exc.status,
            {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")},
        )
    except Exception:
        _LOGGER.exception("Unhandled error on %s %s", request.method, request.path)
        return json_response(
            {"ok": False, "error": {"code": "internal", "message": "internal error; see the log"}},
            500,
        )


@web.middleware
async def _auth_middleware(request: web.Request, handler: Middleware) -> web.StreamResponse:
    spec = request.app[API].spec_for(request)
    if spec is None or spec.auth != "key":
        return await handler(request)  # public routes, static files, and secret-based routes
    secret = credentials_from(request)
    if secret is None:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: send 'Authorization: Bearer rk_...' or 'X-Api-Key'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    relay = request.app[RELAY]
    key = await relay.auth.authenticate(secret)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "the API key is not valid or was revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if spec.scope is not None:
        require_scope(key, spec.scope)
    request[KEY] = key
    return await handler(request)
