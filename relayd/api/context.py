"""App keys shared by the app factory and the handlers."""

from __future__ import annotations

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
