"""The native API (SPEC §6): send, read, cancel, conversations, SIMs."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.flow_models import check_send_fields
from relayd.api.framework import (
    Api,
    header_text,
    id_param,
    json_response,
    query_model,
    read_json,
    validate,
)
from relayd.api.models import (
    CancelResult,
    ConversationList,
    DryRunResult,
    Message,
    MessageList,
    MessageQuery,
    SendListResult,
    SendRequest,
    SendResult,
    SimList,
)
from relayd.api.presenters import iso, message_json, send_results
from relayd.api.sim_care import care_json
from relayd.exceptions import ApiError
from relayd.sending import SendOrder

TAGS = ("messages",)


def register(api: Api) -> None:
    """Add the native routes."""
    api.route(
        "POST",
        "/api/v1/messages",
        summary="Send an SMS (one recipient or a list)",
        tags=TAGS,
        scope="send",
        body=SendRequest,
        response=SendResult,
        status=202,
        extra_responses={200: "Idempotent replay or dry run", 429: "Rate limited",
                         404: "No such template or contact group",
                         409: "The contact group has no contacts"},
    )(send_message)
    api.route(
        "GET",
        "/api/v1/messages",
        summary="List messages (ascending id, since_id paging)",
        tags=TAGS,
        scope="read",
        query=MessageQuery,
        response=MessageList,
    )(list_messages)
    api.route(
        "GET",
        "/api/v1/messages/{id}",
        summary="One message with its state history",
        tags=TAGS,
        scope="read",
        response=Message,
        extra_responses={404: "No such message"},
    )(get_message)
    api.route(
        "DELETE",
        "/api/v1/messages/{id}",
        summary="Cancel a queued message",
        tags=TAGS,
        scope="send",
        response=CancelResult,
        extra_responses={404: "No such message", 409: "Already sent"},
    )(cancel_message)
    api.route(
        "GET",
        "/api/v1/conversations",
        summary="One thread per peer, newest first",
        tags=TAGS,
        scope="read",
        response=ConversationList,
    )(conversations)
    api.route(
        "GET",
        "/api/v1/sims",
        summary="SIMs (modems and phone slots) of the key's org",
        tags=("sims",),
        scope="read",
        response=SimList,
    )(list_sims)


async def send_message(request: web.Request) -> web.Response:
    """POST /api/v1/messages."""
    relay = relay_of(request)
    key = key_of(request)
    body = validate(SendRequest, await read_json(request))
    header_key = header_text(request, "Idempotency-Key")
    if header_key is not None and len(header_key) > 200:
        raise ApiError(
            422, "invalid_field", "Idempotency-Key: at most 200 characters", "idempotency_key"
        )
    order = SendOrder(
        to=check_send_fields(body),
        text=body.text or "",
        template=body.template,
        vars=body.vars,
        group=body.group,
        channel=body.channel,
        sim=None if body.sim is None else str(body.sim),
        idempotency_key=body.idempotency_key or header_key,
        source=body.source,
        subject=body.subject,
        send_at=body.send_at,
        ttl=body.ttl,
        delivery_report=body.delivery_report,
        encoding=body.encoding,
    )
    if body.dry_run:
        return json_response((await dry_run(request, order)).model_dump())
    accepted = await relay.sending.submit(key, order)
    results = send_results(accepted)
    status = 200 if accepted.replayed else 202
    headers = {"Idempotent-Replayed": "true"} if accepted.replayed else None
    if not isinstance(body.to, str):  # a list, or a group: one message per contact
        return json_response(SendListResult(messages=results).model_dump(), status, headers)
    return json_response(results[0].model_dump(), status, headers)


async def dry_run(request: web.Request, order: SendOrder) -> DryRunResult:
    """Validate and plan a send without storing it (the first message of a group send)."""
    relay = relay_of(request)
    key = key_of(request)
    order, peers, plan = (await relay.sending.check(key, [order]))[0]
    sim = relay.sending.choose_sim(key.org, peers[0], order.sim) if order.channel == "sms" else None
    return DryRunResult(
        to=peers,
        parts=len(plan.segments),
        encoding=plan.encoding,
        segments=plan.segments,
        sim=sim.info.id if sim else None,
    )


async def get_message(request: web.Request) -> web.Response:
    """GET /api/v1/messages/{id}."""
    message = await relay_of(request).store.messages.get_message(
        key_of(request).org, id_param(request, "message")
    )
    if message is None:
        raise ApiError(404, "not_found", "no such message")
    return json_response(message_json(message))


async def list_messages(request: web.Request) -> web.Response:
    """GET /api/v1/messages."""
    query = query_model(MessageQuery, request)
    messages = await relay_of(request).store.messages.list_messages(
        key_of(request).org,
        since_id=query.since_id,
        limit=query.limit,
        direction=query.direction,
        sim=query.sim,
        peer=query.peer,
        status=query.status,
    )
    next_since = messages[-1].id if messages else query.since_id
    return json_response(
        {"messages": [message_json(m) for m in messages], "next_since_id": next_since}
    )


async def cancel_message(request: web.Request) -> web.Response:
    """DELETE /api/v1/messages/{id}: only a message still queued can be cancelled."""
    message_id = id_param(request, "message")
    await relay_of(request).sending.cancel(key_of(request), message_id)
    return json_response(CancelResult(id=message_id, status="cancelled").model_dump())


async def conversations(request: web.Request) -> web.Response:
    """GET /api/v1/conversations."""
    rows = await relay_of(request).store.messages.conversations(key_of(request).org)
    threads = [
        {
            "peer": r.peer,
            "messages": r.messages,
            "inbound": r.inbound,
            "last_message": message_json(r.last_message),
            "last_sim": r.last_message.sim,
            "updated_at": iso(r.last_message.created_at),
        }
        for r in rows
    ]
    return json_response({"conversations": threads})


async def list_sims(request: web.Request) -> web.Response:
    """GET /api/v1/sims: admins also see each simulated modem's control URL."""
    relay = relay_of(request)
    key = key_of(request)
    sims: list[dict[str, Any]] = []
    for backend in relay.sims.for_org(key.org):
        data = relay.sims.snapshot(backend)
        data |= care_json(relay.care.status(backend.info.id))  # balance, expiry, keepalive
        control = backend.info.extra.get("control_url")
        if control and key.has_scope("admin"):
            data["control_url"] = control
        sims.append(data)
    if relay.fleet is not None:  # the org's SIMs on every relay, each with the relay it is on
        for data in sims:
            data["node"] = relay.fleet.node
        for remote in await relay.fleet.sims(key.org):
            sims.append({**remote.info, "online": remote.online, "node": remote.node})
    return json_response({"sims": sims, "queued": await relay.outbox.queued_total(key.org)})
