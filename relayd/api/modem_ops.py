"""USSD codes and ring calls through a modem of the key's org."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from pydantic import BaseModel, Field

from relayd.api.context import key_of, relay_of
from relayd.api.framework import Api, json_response, read_json, validate
from relayd.api.schemas import E164
from relayd.bridges.base import SendFailed
from relayd.exceptions import ApiError
from relayd.simcare.settings import USSD_RE


@runtime_checkable
class _CallCapable(Protocol):
    async def call(self, to: str, ring_seconds: float) -> str: ...


class UssdRequest(BaseModel):
    """POST /api/v1/ussd."""

    code: str = Field(
        description="USSD code, e.g. *100#", json_schema_extra={"pattern": USSD_RE.pattern}
    )
    sim: str | None = Field(None, description="SIM id or name; default: the first modem online")


class UssdResult(BaseModel):
    """The network's answer."""

    ok: bool = True
    sim: str
    code: str
    answer: str


class CallRequest(BaseModel):
    """POST /api/v1/calls: ring a number, then hang up (alarm-style alert)."""

    to: str = Field(description="The number to ring", json_schema_extra=E164)
    sim: str | None = None
    ring_seconds: float = Field(20.0, gt=0, le=120)


class CallResult(BaseModel):
    """How the call ended."""

    ok: bool = True
    sim: str
    to: str
    result: str


def register(api: Api) -> None:
    """Add the modem operation routes."""
    api.route(
        "POST",
        "/api/v1/ussd",
        summary="Send a USSD code (balance, ...) through a modem",
        tags=("sims",),
        scope="admin",
        body=UssdRequest,
        response=UssdResult,
        extra_responses={
            409: "No modem online",
            422: "The network refused the code",
            502: "The modem failed",
        },
    )(ussd)
    api.route(
        "POST",
        "/api/v1/calls",
        summary="Ring a number for ring_seconds, then hang up",
        tags=("sims",),
        scope="send",
        body=CallRequest,
        response=CallResult,
        extra_responses={409: "No modem online, or it is on another call", 502: "The call failed"},
    )(call)


def failed(exc: SendFailed) -> ApiError:
    """409 when the SIM cannot now, 422 when the network refuses this request for good
    (an unknown USSD code: retrying will not help), 502 when the modem itself failed."""
    status = {"offline": 409, "sim_busy": 409}.get(exc.code, 502 if exc.transient else 422)
    return ApiError(status, exc.code, exc.message)


async def ussd(request: web.Request) -> web.Response:
    """POST /api/v1/ussd."""
    body = validate(UssdRequest, await read_json(request))
    if not USSD_RE.match(body.code):
        raise ApiError(422, "invalid_field", "code: use digits, * and #, e.g. *100#", "code")
    calls = relay_of(request).calls
    sim = calls.pick(key_of(request).org, body.sim, "ussd")
    try:
        answer = await calls.ussd(sim, body.code)
    except SendFailed as exc:
        raise failed(exc) from None
    result: dict[str, Any] = {"ok": True, "sim": sim.info.id, "code": body.code, "answer": answer}
    return json_response(result)


async def call(request: web.Request) -> web.Response:
    """POST /api/v1/calls."""
    relay = relay_of(request)
    key = key_of(request)
    body = validate(CallRequest, await read_json(request))
    to = relay.sending.dial_target(key, body.to)
    sim = relay.calls.pick(key.org, body.sim, "call")
    await relay.auth.take(key)  # after every check: a refused call costs no token
    assert isinstance(sim, _CallCapable)
    try:
        result = await sim.call(to, body.ring_seconds)
    except SendFailed as exc:
        raise failed(exc) from None
    return json_response({"ok": True, "sim": sim.info.id, "to": to, "result": result})
