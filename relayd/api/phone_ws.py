"""GET /websocket: the phone bridge of seed 004 (SPEC §7), one socket per connected phone."""

from __future__ import annotations

import logging
import re

from aiohttp import WSMsgType, web

from relayd.api.context import relay_of
from relayd.api.events import stream_slot
from relayd.api.framework import Api
from relayd.api.org_auth import OrgAccess, authenticate_org
from relayd.bridges.phone import Refused, derived_device_id
from relayd.bridges.phone_hub import CLOSE_TOO_MANY, Identity, device_credential
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
        summary="Phone bridge (WebSocket, seed 004): ?org_id=&secret_key= (org secret or a "
        "key with phone scope) or ?token=",
        tags=("phones",),
        auth="secret",
        extra_responses={
            101: "Switching to WebSocket",
            403: "A key without the phone (or admin) scope",
            404: "Phones are disabled on this relay",
            409: "device_id belongs to a phone of another credential",
            426: "Not a WebSocket request",
            429: "[limits] sockets_per_key or devices_per_org reached",
        },
    )(websocket)


async def websocket(request: web.Request) -> web.StreamResponse:
    """Authenticate (401 before the upgrade), then serve the phone until it leaves."""
    relay = relay_of(request)
    query = request.query
    # An unknown org and a wrong secret are the same 401 (one text), before the upgrade.
    access = await authenticate_org(
        request,
        org=query.get("org_id"),
        secret=query.get("secret_key") or request.headers.get("X-Secret-Key"),
        token=query.get("token") or request.headers.get("X-Device-Token"),
        scope="phone",
        allow_create=True,
    )
    if not relay.config.phones.enabled:
        raise ApiError(404, "not_found", "phones are disabled on this relay ([phones] enabled)")
    identity = _identity(access, query.get("device_id"))
    credential = credential_of(access)
    hub = relay.phone_hub
    if identity is not None:
        try:
            hub.check_claim(access.org, credential, identity.device_id)
        except Refused as exc:
            status = 429 if exc.close_code == CLOSE_TOO_MANY else 409
            raise ApiError(status, exc.code, exc.message, "device_id") from None
    holder = (access.org, credential)
    async with stream_slot(relay.limits.sockets, holder, "phone sockets", "sockets_per_key"):
        return await _serve(request, access, identity, credential)


async def _serve(
    request: web.Request, access: OrgAccess, identity: Identity | None, credential: str
) -> web.StreamResponse:
    """Upgrade, then hand every frame to the hub until the phone leaves."""
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
    hub = relay_of(request).phone_hub
    session = hub.open(ws, access.org, request.remote, credential)
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


def credential_of(access: OrgAccess) -> str:
    """What a phone's socket was opened with: its device token, a key, or the org secret."""
    if access.device is not None:
        return device_credential(access.device.id)
    return f"key:{access.key.id}" if access.key.id else "secret"


def _identity(access: OrgAccess, device_id: str | None) -> Identity | None:
    """A paired phone (token) or one naming itself (`device_id`); else it is known by its SIMs."""
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
