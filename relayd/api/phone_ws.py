"""GET /websocket: the phone bridge of seed 004 (SPEC §7), one socket per connected phone."""

from __future__ import annotations

import logging
import re

from aiohttp import WSMsgType, web

from relayd.api.context import relay_of
from relayd.api.framework import Api
from relayd.api.org_auth import OrgAccess, UnknownOrg, authenticate_org
from relayd.bridges.phone import derived_device_id
from relayd.bridges.phone_hub import CLOSE_UNPAIRED, Identity
from relayd.exceptions import ApiError

_LOGGER = logging.getLogger(__name__)

# aiohttp pings after this much silence and closes when no pong comes within half of it:
# a phone silent for 60 s is offline.
HEARTBEAT_SECONDS = 40.0
MAX_FRAME_BYTES = 64 * 1024  # bigger frames close the socket with 1009 (message too big)
CLOSE_TIMEOUT = 5.0  # how long a close waits for the phone's answering close frame
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def register(api: Api) -> None:
    """Add the phone socket route."""
    api.route(
        "GET",
        "/websocket",
        summary="Phone bridge (WebSocket, seed 004): ?org_id=&secret_key= or ?token=",
        tags=("phones",),
        auth="secret",
        extra_responses={
            101: "Switching to WebSocket",
            404: "Phones are disabled on this relay",
            426: "Not a WebSocket request",
        },
    )(websocket)


async def websocket(request: web.Request) -> web.StreamResponse:
    """Authenticate (401 before the upgrade), then serve the phone until it leaves."""
    relay = relay_of(request)
    query = request.query
    access: OrgAccess | None = None
    refused = ""
    try:
        access = await authenticate_org(
            request,
            org=query.get("org_id"),
            secret=query.get("secret_key") or request.headers.get("X-Secret-Key"),
            token=query.get("token") or request.headers.get("X-Device-Token"),
            allow_create=True,
        )
    except UnknownOrg as exc:
        refused = exc.message  # said in the close frame: phone apps show that, not a 401 body
    if not relay.config.phones.enabled:
        raise ApiError(404, "not_found", "phones are disabled on this relay ([phones] enabled)")
    identity = _identity(access, query.get("device_id"))
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_FRAME_BYTES, timeout=CLOSE_TIMEOUT
    )
    if not ws.can_prepare(request).ok:
        raise ApiError(
            426,
            "upgrade_required",
            "this route speaks WebSocket: connect with ws:// (or wss://)",
            headers={"Upgrade": "websocket"},
        )
    await ws.prepare(request)
    if access is None:
        await ws.close(code=CLOSE_UNPAIRED, message=refused.encode()[:120])
        return ws
    hub = relay.phone_hub
    session = hub.open(ws, access.org, request.remote)
    try:
        await hub.welcome(session, identity)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await hub.handle_text(session, message.data)
            elif message.type is WSMsgType.BINARY:
                await session.error("binary_frame", "frames are JSON text, not binary")
            elif message.type is WSMsgType.ERROR:
                _LOGGER.info("Phone %s socket error: %s", session.label, ws.exception())
                break
    finally:
        await hub.closed(session)
    return ws


def _identity(access: OrgAccess | None, device_id: str | None) -> Identity | None:
    """A paired phone (token) or one naming itself (`device_id`); else it is known by its SIMs."""
    if access is None:
        return None
    if access.device is not None:
        device = access.device
        return Identity(device.id, device.name, True, device.token_prefix)
    if device_id is None:
        return None
    if not DEVICE_ID_RE.match(device_id):
        raise ApiError(
            422, "invalid_field", "device_id: letters, digits, '.', '_', ':' or '-'", "device_id"
        )
    return Identity(derived_device_id(access.org, "id:" + device_id), device_id, persistent=True)
