"""The HTTP shapes of seed 004 (phone SMS gateway): POST /webhook, POST /send/{org}, GET /messages.

Credentials come from the body, path, query or `X-Secret-Key` (see `org_auth`); they are
checked before the body is validated, so a request without them is always a 401.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd.api.bodies import read_body
from relayd.api.context import relay_of
from relayd.api.framework import INT64_MAX, Api, json_response, query_model, validate
from relayd.api.org_auth import OrgAccess, authenticate_org
from relayd.api.presenters import message_json
from relayd.api.schemas import E164, nullable
from relayd.bridges.phone import PhoneInbound, inbound_sms, sim_id
from relayd.dispatch.router import sim_matches
from relayd.exceptions import ApiError
from relayd.sending import SendOrder

TAGS = ("seed 004",)
MAX_BATCH = 1000


class WebhookBody(BaseModel):
    """POST /webhook: received SMS pushed by a phone over HTTP."""

    model_config = ConfigDict(extra="ignore")

    org_id: str | None = None
    secret_key: str | None = None
    messages: list[PhoneInbound] = Field(max_length=MAX_BATCH)


class WebhookResult(BaseModel):
    """`stored`: messages now durable; `duplicates`: of those, already stored before."""

    ok: bool = True
    org_id: str
    stored: int
    duplicates: int


class SeedSendItem(BaseModel):
    """One message of POST /send/{org}."""

    model_config = ConfigDict(extra="ignore")

    to: str = Field(min_length=1, max_length=40, json_schema_extra=E164)
    body: str = Field(json_schema_extra={"minLength": 1})
    sim: str | int | None = Field(None, description="SIM number or slot index; omitted: routing")


class SeedSendBody(BaseModel):
    """POST /send/{org}: `to` + `body`, or a `messages` list of them."""

    model_config = ConfigDict(extra="ignore")

    secret_key: str | None = None
    sim: str | int | None = None
    to: str | None = Field(None, max_length=40, json_schema_extra=nullable(E164))
    body: str | None = Field(None, json_schema_extra=nullable({"type": "string", "minLength": 1}))
    messages: list[SeedSendItem] | None = Field(None, max_length=100)


class SeedSendOne(BaseModel):
    """One accepted message."""

    id: int
    to: str
    status: str


class SeedSendResult(BaseModel):
    """The seed's answer: `queued` counts accepted messages; each has its id and status.

    `device_online` false: no phone is online yet; the messages wait, queued, for one (for the
    phone that brings the `sim` asked for, if one was).
    """

    ok: bool = True
    device_online: bool
    queued: int
    results: list[SeedSendOne]


class SeedMessagesQuery(BaseModel):
    """Filters of GET /messages/{org}."""

    limit: int = Field(100, ge=1, le=1000)
    since_id: int = Field(0, ge=0, le=INT64_MAX)
    direction: str | None = Field(None, pattern="^(in|out)$")
    sim: str | None = Field(None, description="SIM number or slot index")


class SeedSim(BaseModel):
    """A SIM as the seed lists it (`slot`, `number`, `carrier`) plus relayd's id and state."""

    slot: int | None
    number: str | None
    carrier: str | None
    id: str
    kind: str
    name: str
    online: bool


class SeedSimsResult(BaseModel):
    """GET /sims/{org}: devices online, SIMs online now, every SIM the org has."""

    ok: bool = True
    org_id: str
    online_devices: int
    live_sims: list[SeedSim]
    known_sims: list[SeedSim]


def register(api: Api) -> None:
    """Add the seed-004 HTTP routes."""
    api.route(
        "POST",
        "/webhook",
        summary="Phone pushes received SMS (seed 004); dedupes on phone id or content",
        tags=TAGS,
        auth="secret",
        body=WebhookBody,
        response=WebhookResult,
    )(webhook)
    api.route(
        "POST",
        "/send/{org}",
        summary="Send through the org's SIMs (seed 004): to + body, or messages list",
        tags=TAGS,
        auth="secret",
        body=SeedSendBody,
        response=SeedSendResult,
        extra_responses={404: "No such org for this key"},
    )(send)
    for path, handler in (
        ("/messages/{org}/{key}", messages_by_path),
        ("/messages/{org}", messages),
    ):
        api.route(
            "GET",
            path,
            summary="Messages of the org (seed 004); secret in the path or X-Secret-Key",
            tags=TAGS,
            auth="secret",
            query=SeedMessagesQuery,
            extra_responses={404: "No such org for this key"},
        )(handler)
    api.route(
        "GET",
        "/sims/{org}",
        summary="SIMs of the org (seed 004): online_devices, live_sims, known_sims",
        tags=TAGS,
        auth="secret",
        response=SeedSimsResult,
        extra_responses={404: "No such org for this key"},
    )(sims)


async def webhook(request: web.Request) -> web.Response:
    """POST /webhook."""
    relay = relay_of(request)
    data = await read_body(request)
    access = await authenticate_org(
        request,
        org=data.text("org_id") or request.query.get("org_id"),
        secret=data.text("secret_key")
        or request.headers.get("X-Secret-Key")
        or request.query.get("secret_key"),
        token=data.text("token") or request.query.get("token"),
        scope="phone",
        allow_create=True,
    )
    body = validate(WebhookBody, data.require())
    device = access.device.id if access.device is not None else "webhook"
    stored = duplicates = 0
    for message in body.messages:
        sms = inbound_sms(device, message, relay.config.sms.default_region)
        sim = sim_id(device, message.sim_slot) if access.device is not None else "webhook"
        new = await relay.store.inbound.store(
            access.org,
            sim,
            sms.sender,
            sms.text,
            encoding=sms.encoding,
            received_at=sms.received_at.timestamp() if sms.received_at else None,
            external_id=sms.external_id,
            source="webhook",
        )
        stored += 1
        if new is None:
            duplicates += 1
        elif access.device is not None:
            relay.router.remember_sender(access.org, sms.sender, sim)
    result = WebhookResult(org_id=access.org, stored=stored, duplicates=duplicates)
    return json_response(result.model_dump())


async def send(request: web.Request) -> web.Response:
    """POST /send/{org}: every message is checked before any is stored.

    A `sim` no phone has brought yet is not refused: the message waits, queued, for the
    phone that brings it (the seed's "queued (no phone online yet)").
    """
    relay = relay_of(request)
    org = request.match_info["org"]
    data = await read_body(request)
    access = await authenticate_org(
        request,
        org=org,
        secret=data.text("secret_key") or request.headers.get("X-Secret-Key"),
        scope="send",
    )
    body = validate(SeedSendBody, data.require())
    if body.messages:
        items = body.messages
    elif body.to is not None and body.body is not None:
        items = [SeedSendItem(to=body.to, body=body.body, sim=body.sim)]
    else:
        field = "to" if body.to is None else "body"
        raise ApiError(422, "invalid_field", f"{field}: give to and body, or messages", field)
    orders = [
        SendOrder(
            to=[item.to],
            text=item.body,
            sim=None if item.sim is None else str(item.sim),
            source="seed-004",
            field_text="body",
            wait_for_sim=True,
        )
        for item in items
    ]
    accepted = await relay.sending.submit_all(access.key, orders)
    results = [
        SeedSendOne(id=m.id, to=m.peer, status=m.status)
        for m in (a.results[0].message for a in accepted)
    ]
    online = any(s.info.online for s in relay.sims.for_org(access.org))
    answer = SeedSendResult(device_online=online, queued=len(results), results=results)
    return json_response(answer.model_dump())


async def messages_by_path(request: web.Request) -> web.Response:
    """GET /messages/{org}/{key}: the seed's form with the secret in the path."""
    return await messages(request)


async def messages(request: web.Request) -> web.Response:
    """GET /messages/{org} (X-Secret-Key), and the path form above."""
    relay = relay_of(request)
    access: OrgAccess = await authenticate_org(
        request,
        org=request.match_info["org"],
        secret=request.match_info.get("key") or request.headers.get("X-Secret-Key"),
        scope="read",
    )
    query = query_model(SeedMessagesQuery, request)
    sim = None
    if query.sim is not None:
        # The seed writes `sim=+1555...` unescaped in the query, where `+` reads as a space.
        wanted = query.sim.strip()
        tries = [wanted, "+" + wanted] if wanted.isdigit() and len(wanted) > 6 else [wanted]
        found = [s for s in relay.sims.for_org(access.org) if any(sim_matches(s, w) for w in tries)]
        sim = found[0].info.id if found else query.sim
    rows = await relay.store.messages.list_messages(
        access.org,
        since_id=query.since_id,
        limit=query.limit,
        direction=query.direction,
        sim=sim,
        channel="sms",  # the seed is an SMS gateway: e-mail and notifications are not listed
    )
    numbers = {s.info.id: s.info.number for s in relay.sims.for_org(access.org)}
    out = [
        {
            "id": m["id"],
            "direction": m["direction"],
            "address": m["peer"],
            "body": m["text"],
            "status": m["status"],
            "sim": numbers.get(m["sim"]) or m["sim"],
            "error": m["error"],
            "created_at": m["created_at"],
            "sent_at": m["sent_at"],
            "received_at": m["received_at"],
        }
        for m in map(message_json, rows)
    ]
    return json_response({"org_id": access.org, "count": len(out), "messages": out})


async def sims(request: web.Request) -> web.Response:
    """GET /sims/{org}: every kind of phone counts as one device however many SIMs it has;
    so does a modem."""
    relay = relay_of(request)
    access = await authenticate_org(
        request,
        org=request.match_info["org"],
        secret=request.headers.get("X-Secret-Key") or request.query.get("secret_key"),
        scope="read",
    )
    backends = sorted(relay.sims.for_org(access.org), key=lambda s: (s.info.kind, s.info.id))
    known = [
        SeedSim(
            slot=b.info.slot,
            number=b.info.number,
            carrier=b.info.operator,
            id=b.info.id,
            kind=b.info.kind,
            name=b.info.name,
            online=b.info.online,
        )
        for b in backends
    ]
    phones = sum(hub.online_devices(access.org) for hub in relay.device_hubs)
    modems = sum(1 for b in backends if b.info.kind == "modem" and b.info.online)
    result = SeedSimsResult(
        org_id=access.org,
        online_devices=phones + modems,
        live_sims=[s for s in known if s.online],
        known_sims=known,
    )
    return json_response(result.model_dump())
