"""App keys shared by the app factory and the handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from aiohttp import web

from relayd.api.framework import Api
from relayd.relay import Relay
from relayd.store import ApiKey

RELAY = web.AppKey("relay", Relay)
API = web.AppKey("api", Api)
KEY = web.RequestKey("key", ApiKey)


def relay_of(request: web.Request) -> Relay:
    """The relay behind a request."""
    return request.app[RELAY]


def key_of(request: web.Request) -> ApiKey:
    """The authenticated key of a request (set by the auth middleware)."""
    return request[KEY]


class Hub(Protocol):
    """A long-lived part holding client connections (phone sockets, app event streams)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def attach_hub(
    app: web.Application, hub: Hub, close_connections: Callable[[], Awaitable[None]]
) -> None:
    """Start `hub` after the relay, close its connections first on shutdown, stop it before
    the relay stops (cleanup contexts unwind in reverse)."""

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await hub.start()
        yield
        await hub.stop()

    async def close(_app: web.Application) -> None:
        await close_connections()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(close)
