"""Admin routes for phones: pair a device (token + ws URL), set an org's secret, list, unpair."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd.api.context import key_of, relay_of
from relayd.api.framework import Api, json_response, read_json, validate
from relayd.api.models import Ok
from relayd.api.org_auth import SECRET_MAX, SECRET_MIN
from relayd.exceptions import ApiError
from relayd.limits import TooManyDevices

TAGS = ("phones",)


class PhoneCreate(BaseModel):
    """POST /api/v1/phones: `name` pairs a device (a token); `secret` sets the org's secret."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")
    org: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    secret: str | None = Field(None, min_length=SECRET_MIN, max_length=SECRET_MAX)


class PhoneSimView(BaseModel):
    """One SIM of a phone (`slot`: the card's slot index, when the phone told it)."""

    id: str
    slot: int | None
    number: str | None
    carrier: str | None
    online: bool


class PhoneView(BaseModel):
    """A phone of the org, of either kind: `websocket` (seed 004) or `android-sms-gateway`."""

    id: str
    kind: str
    name: str
    org: str
    online: bool
    paired: bool
    token_prefix: str | None
    connected_since: str | None
    last_seen_at: str | None
    awaiting_result: int
    sims: list[PhoneSimView]


class PhoneList(BaseModel):
    """Phones of the admin's org."""

    phones: list[PhoneView]


class PhoneCreated(BaseModel):
    """`token` and `ws_url` (shown once) when a device was paired."""

    ok: bool = True
    org: str
    secret_set: bool
    phone: PhoneView | None = None
    token: str | None = None
    ws_url: str


def register(api: Api) -> None:
    """Add the admin phone routes."""
    api.route(
        "GET",
        "/api/v1/phones",
        summary="Phones of the org (every kind), with their SIMs",
        tags=TAGS,
        scope="admin",
        response=PhoneList,
    )(list_phones)
    api.route(
        "POST",
        "/api/v1/phones",
        summary="Pair a phone (device token + ws URL) and/or set the org's phone secret",
        tags=TAGS,
        scope="admin",
        body=PhoneCreate,
        response=PhoneCreated,
        status=201,
        extra_responses={429: "The org has [limits] devices_per_org devices already"},
    )(create_phone)
    api.route(
        "DELETE",
        "/api/v1/phones/{id}",
        summary="Unpair a phone (any kind): its token stops working, its connection ends",
        tags=TAGS,
        scope="admin",
        response=Ok,
        extra_responses={404: "No such phone"},
    )(delete_phone)


def room_for_device(request: web.Request, org: str) -> None:
    """429 when `org` has [limits] devices_per_org devices (of every kind) already."""
    try:
        relay_of(request).phone_hub.room_for_device(org)
    except TooManyDevices as exc:
        raise ApiError(429, "too_many_devices", str(exc)) from None


def ws_base(request: web.Request) -> str:
    """ws:// or wss:// URL of this relay as the caller reached it."""
    scheme = "wss" if request.scheme == "https" else "ws"
    return f"{scheme}://{request.host}"


async def list_phones(request: web.Request) -> web.Response:
    """GET /api/v1/phones: seed-004 phones and app phones alike."""
    org = key_of(request).org
    relay = relay_of(request)
    return json_response({"phones": [p for h in relay.device_hubs for p in h.describe(org)]})


async def create_phone(request: web.Request) -> web.Response:
    """POST /api/v1/phones: admins of `default` may act on other orgs (creating them)."""
    relay = relay_of(request)
    admin = key_of(request)
    body = validate(PhoneCreate, await read_json(request))
    if body.name is None and body.secret is None:
        raise ApiError(
            422, "invalid_field", "name: give a name (to pair a phone) or a secret", "name"
        )
    org = body.org or admin.org
    if org != admin.org and admin.org != "default":
        raise ApiError(
            403, "forbidden", "only admins of the 'default' org manage other orgs' phones", "org"
        )
    if body.name is not None:
        room_for_device(request, org)  # before anything changes
    await relay.store.keys.ensure_org(org, body.secret)
    answer: dict[str, Any] = {"ok": True, "org": org, "secret_set": body.secret is not None}
    query = {"org_id": org}
    if body.name is not None:
        device_id = "t" + secrets.token_hex(6)
        row, token = await relay.store.phones.pair(org, body.name, device_id)
        hub = relay.phone_hub
        hub.remember_paired(row)
        answer["phone"] = next(p for p in hub.describe(org) if p["id"] == device_id)
        answer["token"] = token
        query["token"] = token
    answer["ws_url"] = f"{ws_base(request)}/websocket?{urlencode(query)}"
    return json_response(answer, 201)


async def delete_phone(request: web.Request) -> web.Response:
    """DELETE /api/v1/phones/{id}."""
    relay = relay_of(request)
    org = key_of(request).org
    device_id = request.match_info["id"]
    if await relay.app_hub.revoke(org, device_id):
        return json_response({"ok": True})
    hub = relay.phone_hub
    known = hub.devices.get(device_id)
    revoked = await relay.store.phones.revoke(device_id, org)
    if not revoked and (known is None or known.org != org):
        raise ApiError(404, "not_found", "no such phone")
    await hub.unpair(device_id)
    return json_response({"ok": True})
