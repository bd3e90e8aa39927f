"""The mobile API of "SMS Gateway for Android" (private server mode): `/api/mobile/v1`.

The user types `https://<relay>:<port>/api/mobile/v1` and the private token into the app.
Shapes follow the app's server (android-sms-gateway/server): camelCase JSON, dates with
milliseconds, 201 on registration, 204 on updates, 401 for an unknown device token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import socket
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from relayd.api.asg_auth import (
    PASSWORD_MIN,
    device_of,
    forget_account,
    hub_of,
    new_account,
    registration_of,
    unauthorized,
)
from relayd.api.context import relay_of
from relayd.api.events import stream_slot
from relayd.api.framework import Api, json_response, parse_json, read_json, row_id, validate
from relayd.api.org_auth import note_failed_auth, refuse_while_backing_off
from relayd.api.phones import room_for_device
from relayd.bridges.asg import STATES, AsgDevice, asg_time
from relayd.exceptions import ApiError
from relayd.passwords import hash_password, verify_password

_LOGGER = logging.getLogger(__name__)
PREFIX = "/api/mobile/v1"
TAGS = ("android-sms-gateway",)
KEEPALIVE_SECONDS = 15.0  # the app's reader gives up after 30 s of silence
DEAD_PEER_MS = 45_000  # unacknowledged stream data for this long: the phone is gone
SIGNATURE_WINDOW = 3600.0  # seconds a signed webhook post stays acceptable (retries re-sign)
MAX_SIMS = 16


class SimCard(BaseModel):
    """One SIM card the app reports."""

    model_config = ConfigDict(extra="ignore")

    slotIndex: int = Field(0, ge=0, lt=MAX_SIMS)
    simNumber: int | None = Field(None, ge=0, le=MAX_SIMS)
    phoneNumber: str | None = Field(None, max_length=40)
    carrierName: str | None = Field(None, max_length=100)
    iccid: str | None = Field(None, max_length=40)


class RegisterBody(BaseModel):
    """POST /device."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(None, max_length=128)
    pushToken: str | None = Field(None, max_length=256)
    simCards: list[SimCard] | None = Field(None, max_length=MAX_SIMS)


class RegisterResult(BaseModel):
    """The device's id and token, and the 3rd-party API login (password for a new account)."""

    id: str
    token: str
    login: str
    password: str | None = None


class DevicePatch(BaseModel):
    """PATCH /device."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(max_length=64)
    pushToken: str | None = Field(None, max_length=256)
    simCards: list[SimCard] | None = Field(None, max_length=MAX_SIMS)


class RecipientState(BaseModel):
    """One recipient's state in a PATCH /message item."""

    model_config = ConfigDict(extra="ignore")

    phoneNumber: str = Field(max_length=512)
    state: str = Field(max_length=20)
    error: str | None = Field(None, max_length=1000)


class MessageStatePatch(BaseModel):
    """One item of PATCH /message."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=64)
    state: str = Field(max_length=20)
    recipients: list[RecipientState] = Field(default_factory=list, max_length=1000)
    states: dict[str, Any] = Field(default_factory=dict)


class MessagePatchBody(RootModel[list[MessageStatePatch]]):
    """PATCH /message: a list of states."""


class PasswordChange(BaseModel):
    """PATCH /user/password."""

    model_config = ConfigDict(extra="ignore")

    currentPassword: str = Field(max_length=256)
    newPassword: str = Field(min_length=PASSWORD_MIN, max_length=256)


class PhoneWebhook(BaseModel):
    """A webhook the phone posts back to the relay."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=64)
    event: str = Field(max_length=64)
    deviceId: str | None = Field(None, max_length=64)
    webhookId: str | None = Field(None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)


def register(api: Api) -> None:
    """Add the mobile routes."""

    def route(method: str, path: str, summary: str, **kw: Any) -> Any:
        return api.route(method, PREFIX + path, summary=summary, tags=TAGS, auth="secret", **kw)

    route(
        "POST",
        "/device",
        "Register a phone: Bearer <private token = admin API key> or Basic login:password",
        body=RegisterBody,
        response=RegisterResult,
        status=201,
    )(post_device)
    route("GET", "/device", "The phone's registration and its address as seen here")(get_device)
    route("PATCH", "/device", "Update push token and SIM cards", body=DevicePatch, status=204)(
        patch_device
    )
    route("GET", "/message", "Messages for the phone to send (?order=lifo|fifo)")(get_messages)
    route(
        "PATCH", "/message", "States of messages the phone sends", body=MessagePatchBody, status=204
    )(patch_messages)
    route("GET", "/webhooks", "Webhooks the phone calls (inbound SMS back to the relay)")(
        get_webhooks
    )
    route(
        "POST",
        "/webhooks/{device_id}",
        "The phone's signed webhook posts (X-Signature, X-Timestamp): inbound SMS, states",
        body=PhoneWebhook,
    )(post_phone_webhook)
    route("GET", "/settings", "Settings for the phone (webhook signing key, SSE)")(get_settings)
    route(
        "GET",
        "/events",
        "Server-Sent Events for the phone: MessageEnqueued, WebhooksUpdated, ...",
        content_type="text/event-stream",
    )(device_events)
    route(
        "PATCH", "/user/password", "Change the account's password", body=PasswordChange, status=204
    )(patch_password)


def base_url(request: web.Request) -> str:
    """This relay's URL as the phone reached it (https behind TLS)."""
    return f"{request.scheme}://{request.host}"


def no_content() -> web.Response:
    """204."""
    return web.Response(status=204)


def device_json(device: AsgDevice) -> dict[str, Any]:
    """A device as the app's server shows it."""
    seen = time.time() if device.online else (device.last_seen or device.updated_at)
    data: dict[str, Any] = {
        "id": device.id,
        "name": device.name,
        "createdAt": asg_time(device.created_at),
        "updatedAt": asg_time(device.updated_at),
        "lastSeen": asg_time(seen),
    }
    if device.sim_cards:
        data["simCards"] = device.sim_cards
    return data


def _cards(cards: list[SimCard] | None) -> list[dict[str, Any]] | None:
    if cards is None:
        return None
    return [c.model_dump(exclude_none=True) for c in cards]


async def post_device(request: web.Request) -> web.Response:
    """POST /device: a new device of a new (private token) or existing (Basic) account."""
    who = await registration_of(request)
    body = validate(RegisterBody, await read_json(request))
    hub = hub_of(request)
    async with hub.registering:  # check and create as one: the limit holds under a flood
        room_for_device(request, who.org)
        if not who.login:
            who = await new_account(request, who.org)
        device, token = await hub.register(
            org=who.org,
            login=who.login,
            name=(body.name or "phone").strip()[:128] or "phone",
            push_token=body.pushToken,
            sim_cards=_cards(body.simCards) or [],
        )
    answer: dict[str, Any] = {"id": device.id, "token": token, "login": who.login}
    if who.password is not None:
        answer["password"] = who.password
    return json_response(answer, 201)


async def get_device(request: web.Request) -> web.Response:
    """GET /device."""
    device = device_of(request)
    return json_response({"device": device_json(device), "externalIp": request.remote or ""})


async def patch_device(request: web.Request) -> web.Response:
    """PATCH /device: 403 for another device's id."""
    device = device_of(request)
    body = validate(DevicePatch, await read_json(request))
    if body.id != device.id:
        raise ApiError(403, "forbidden", "id: this token belongs to another device", "id")
    await hub_of(request).update(device, push_token=body.pushToken, sim_cards=_cards(body.simCards))
    return no_content()


async def get_messages(request: web.Request) -> web.Response:
    """GET /message: a sign of life; up to 100 sends waiting for the phone."""
    device = device_of(request)
    order = request.query.get("order", "lifo").lower()
    if order not in ("lifo", "fifo"):
        raise ApiError(422, "invalid_field", "order: lifo or fifo", "order")
    return json_response([e.mobile_json() for e in await hub_of(request).pull(device, order)])


async def patch_messages(request: web.Request) -> web.Response:
    """PATCH /message: always 204; ids the relay does not know are ignored."""
    device = device_of(request)
    data = await read_json(request)
    if not isinstance(data, list):
        raise ApiError(422, "invalid_body", "the body must be a JSON array of message states")
    items = [validate(MessageStatePatch, item) for item in data]
    hub = hub_of(request)
    for item in items:
        if item.state not in STATES:
            _LOGGER.info("App phone %s reported unknown state %r", device.id, item.state[:20])
            continue
        error = next((r.error for r in item.recipients if r.error), None)
        await hub.apply_state(device, item.id, item.state, error)
    return no_content()


async def get_webhooks(request: web.Request) -> web.Response:
    """GET /webhooks."""
    device = device_of(request)
    return json_response(await hub_of(request).webhooks_for(device, base_url(request)))


async def get_settings(request: web.Request) -> web.Response:
    """GET /settings: sign webhooks with this device's key; use the event stream, not FCM."""
    device = device_of(request)
    return json_response(
        {
            "webhooks": {"signing_key": device.signing_key},
            "gateway": {"notification_channel": "SSE_ONLY"},
        }
    )


async def patch_password(request: web.Request) -> web.Response:
    """PATCH /user/password: 401 when the current password is wrong."""
    device = device_of(request)
    body = validate(PasswordChange, await read_json(request))
    store = hub_of(request).store
    await refuse_while_backing_off(request)
    account = await store.account(device.login)
    if account is None or not await asyncio.to_thread(
        verify_password, body.currentPassword, account.password_hash
    ):
        await note_failed_auth(request)
        raise unauthorized("the current password is wrong", "Basic")
    await store.set_password(
        account.login, await asyncio.to_thread(hash_password, body.newPassword)
    )
    forget_account(request, account.login)
    return no_content()


async def post_phone_webhook(request: web.Request) -> web.Response:
    """POST /webhooks/{device_id}: checked against the device's signing key, then applied."""
    device = hub_of(request).devices.get(request.match_info["device_id"])
    signature = request.headers.get("X-Signature", "").strip().lower()
    stamp = request.headers.get("X-Timestamp", "").strip()
    if device is None or not signature or not stamp:
        raise unauthorized("a signed post is required (X-Signature, X-Timestamp)", "Signature")
    raw = await request.read()
    expected = hmac.new(device.signing_key.encode(), raw + stamp.encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature):
        raise unauthorized("the signature does not match this device's key", "Signature")
    stamped = row_id(stamp) or 0
    if abs(time.time() - stamped) > SIGNATURE_WINDOW:
        raise unauthorized("the timestamp is too old or too far ahead", "Signature")
    event = validate(PhoneWebhook, parse_json(raw))
    device.last_seen = time.time()
    await hub_of(request).webhook_event(device, event.id, event.event, event.payload)
    return json_response({"ok": True})


async def device_events(request: web.Request) -> web.StreamResponse:
    """GET /events: the device's stream; it is online while one is open."""
    device = device_of(request)
    async with stream_slot(relay_of(request).limits.streams, ("asg-device", device.id)):
        return await _device_stream(request, device)


async def _device_stream(request: web.Request, device: AsgDevice) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    _detect_dead_peer(request)
    queue = device.open_stream()
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b":keepalive\n\n")
                continue
            if item is None:
                break
            event, data = item
            await response.write(f"event: {event}\ndata: {data}\n\n".encode())
    except ConnectionResetError:
        pass
    finally:
        device.close_stream(queue)
        hub_of(request).spawn(hub_of(request).store.touch(device.id, time.time()))
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _detect_dead_peer(request: web.Request) -> None:
    """A phone that vanished (Wi-Fi lost) leaves no FIN: let the keepalives fail fast."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if sock is not None and option is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, DEAD_PEER_MS)
