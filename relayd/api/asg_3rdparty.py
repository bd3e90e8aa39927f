"""The 3rd-party API of "SMS Gateway for Android" (`/api/3rdparty/v1`), for its client libraries.

A message of this API may have several recipients: relayd stores one message per
recipient under the idempotency key `asg:<id>`, and answers with the app's aggregate
`MessageState` (`Pending` queued, `Processed` handed to a SIM, `Sent`, `Delivered`,
`Failed`, `Cancelled`). Any SIM of the org may send it; `deviceId` and `simNumber` pick one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd import __version__
from relayd.api.asg_auth import hub_of, third_party_key
from relayd.api.asg_mobile import device_json, no_content
from relayd.api.bodies import read_body
from relayd.api.context import relay_of
from relayd.api.framework import Api, json_response, validate
from relayd.bridges.asg import asg_sim_id, asg_time, nanoid
from relayd.dispatch.sims import SimRegistry
from relayd.exceptions import ApiError, Conflict, IdempotencyConflict
from relayd.sending import SendOrder
from relayd.store.asg import AsgWebhookRow
from relayd.store.records import MessageRow

PREFIX = "/api/3rdparty/v1"
TAGS = ("android-sms-gateway",)
KEY_PREFIX = "asg:"
STATE_OF = {
    "queued": "Pending",
    "sending": "Processed",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Failed",
    "expired": "Failed",
    "cancelled": "Cancelled",
}
PROGRESS = ("Pending", "Processed", "Sent", "Delivered")
WEBHOOK_EVENTS = (
    "sms:received",
    "sms:data-received",
    "sms:sent",
    "sms:delivered",
    "sms:failed",
    "sms:cancelled",
    "system:ping",
    "mms:received",
    "mms:downloaded",
    "app:started",
)


class TextContent(BaseModel):
    """`textMessage`."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(max_length=65535)


class ThirdPartyMessage(BaseModel):
    """POST /messages (the app's `Message`)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(None, max_length=36)
    deviceId: str | None = Field(None, max_length=64)
    message: str | None = Field(None, max_length=65535)
    textMessage: TextContent | None = None
    dataMessage: dict[str, Any] | None = None
    mmsMessage: dict[str, Any] | None = None
    phoneNumbers: list[str] = Field(min_length=1, max_length=100)
    isEncrypted: bool = False
    simNumber: int | None = Field(None, ge=1, le=16)
    withDeliveryReport: bool | None = None
    priority: int = Field(0, ge=-128, le=127)
    ttl: int | None = Field(None, ge=5)
    validUntil: dt.datetime | None = None
    scheduleAt: dt.datetime | None = None


class ThirdPartyWebhook(BaseModel):
    """A webhook the phones call (`Webhook`)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(None, max_length=36)
    deviceId: str | None = Field(None, max_length=64)
    url: str = Field(min_length=8, max_length=2048)
    event: str


def register(api: Api) -> None:
    """Add the 3rd-party routes."""

    def route(method: str, path: str, summary: str, **kw: Any) -> Any:
        kw.setdefault("auth", "secret")
        return api.route(method, PREFIX + path, summary=summary, tags=TAGS, **kw)

    route(
        "POST",
        "/messages",
        "Send (Basic login:password of an app account, or Bearer rk_…)",
        body=ThirdPartyMessage,
        status=202,
        extra_responses={409: "That id was used for another message"},
    )(post_message)
    route("GET", "/messages/{id}", "State of a message", extra_responses={404: "No such message"})(
        get_message
    )
    route(
        "DELETE",
        "/messages/{id}",
        "Cancel a message still queued",
        extra_responses={404: "No such message", 409: "Already handed to a SIM"},
    )(delete_message)
    route("GET", "/devices", "The org's app phones")(list_devices)
    route(
        "DELETE", "/devices/{id}", "Unregister an app phone", status=204, extra_responses={404: ""}
    )(delete_device)
    route("GET", "/webhooks", "Webhooks the org's phones call")(list_webhooks)
    route("POST", "/webhooks", "Add or replace a webhook", body=ThirdPartyWebhook, status=201)(
        post_webhook
    )
    route("DELETE", "/webhooks/{id}", "Remove a webhook", status=204, extra_responses={404: ""})(
        delete_webhook
    )
    route("GET", "/health", "Health in the app server's shape", auth="public")(health)


async def post_message(request: web.Request) -> web.Response:
    """POST /messages: 202 with the message's state and a Location to poll it."""
    key = await third_party_key(request, "send")
    relay = relay_of(request)
    body = validate(ThirdPartyMessage, (await read_body(request)).require())
    if body.dataMessage is not None or body.mmsMessage is not None:
        raise ApiError(
            422, "unsupported_content", "dataMessage/mmsMessage: relayd sends text SMS only"
        )
    text = body.textMessage.text if body.textMessage is not None else body.message
    if not text:
        raise ApiError(422, "invalid_field", "textMessage: the text is required", "textMessage")
    if body.isEncrypted:
        raise ApiError(
            422, "unsupported_content", "isEncrypted: relayd does not relay encrypted messages"
        )
    if body.ttl is not None and body.validUntil is not None:
        raise ApiError(422, "invalid_field", "ttl and validUntil exclude each other", "ttl")
    ttl = body.ttl
    if body.validUntil is not None:
        start = body.scheduleAt or dt.datetime.now(dt.UTC)
        ttl = max(1, int((_aware(body.validUntil) - _aware(start)).total_seconds()))
    message_id = body.id or nanoid()
    order = SendOrder(
        to=body.phoneNumbers,
        text=text,
        sim=_sim_request(request, key.org, body.deviceId, body.simNumber),
        idempotency_key=KEY_PREFIX + message_id,
        source="android-sms-gateway",
        send_at=_aware(body.scheduleAt) if body.scheduleAt else None,
        ttl=ttl,
        delivery_report=body.withDeliveryReport,
        field_to="phoneNumbers",
        field_text="textMessage",
    )
    try:
        await relay.sending.submit(key, order)
    except IdempotencyConflict:
        raise ApiError(409, "conflict", "id: a message with this id already exists", "id") from None
    rows = await hub_of(request).store.messages_of_request(key.org, KEY_PREFIX + message_id)
    location = f"{PREFIX}/messages/{message_id}"
    return json_response(message_state(message_id, rows, relay.sims), 202, {"Location": location})


async def get_message(request: web.Request) -> web.Response:
    """GET /messages/{id} (also a relayd message id)."""
    key = await third_party_key(request, "read")
    message_id, rows = await _rows(request, key.org)
    return json_response(message_state(message_id, rows, relay_of(request).sims))


async def delete_message(request: web.Request) -> web.Response:
    """DELETE /messages/{id}: cancels the recipients still queued."""
    key = await third_party_key(request, "send")
    relay = relay_of(request)
    message_id, rows = await _rows(request, key.org)
    cancelled = 0
    for row in rows:
        with contextlib.suppress(Conflict):  # this recipient is already past `queued`
            await relay.sending.cancel(key, row.id)
            cancelled += 1
    if not cancelled:
        raise Conflict("the message was already handed to a SIM", code="not_cancellable")
    _, rows = await _rows(request, key.org)
    return json_response(message_state(message_id, rows, relay.sims))


async def list_devices(request: web.Request) -> web.Response:
    """GET /devices."""
    key = await third_party_key(request, "read")
    return json_response([device_json(d) for d in hub_of(request).of_org(key.org)])


async def delete_device(request: web.Request) -> web.Response:
    """DELETE /devices/{id}."""
    key = await third_party_key(request, "admin")
    if not await hub_of(request).revoke(key.org, request.match_info["id"]):
        raise ApiError(404, "not_found", "no such device")
    return no_content()


async def list_webhooks(request: web.Request) -> web.Response:
    """GET /webhooks."""
    key = await third_party_key(request, "read")
    hooks = await hub_of(request).store.webhooks(key.org)
    return json_response([_webhook_json(w) for w in hooks])


async def post_webhook(request: web.Request) -> web.Response:
    """POST /webhooks: the org's phones get it on their next GET /webhooks (told by SSE)."""
    key = await third_party_key(request, "admin")
    body = validate(ThirdPartyWebhook, (await read_body(request)).require())
    if body.event not in WEBHOOK_EVENTS:
        raise ApiError(422, "invalid_field", f"event: one of {', '.join(WEBHOOK_EVENTS)}", "event")
    if not body.url.lower().startswith(("https://", "http://127.0.0.1")):
        raise ApiError(
            422, "invalid_field", "url: the app calls https:// URLs (or http://127.0.0.1)", "url"
        )
    hub = hub_of(request)
    if body.deviceId is not None and body.deviceId not in {d.id for d in hub.of_org(key.org)}:
        raise ApiError(422, "invalid_field", "deviceId: no such device", "deviceId")
    hook_id = body.id or nanoid()
    hook = AsgWebhookRow(hook_id, body.deviceId, body.url, body.event)
    await hub.store.put_webhook(key.org, hook_id, body.deviceId, body.url, body.event)
    hub.notify_org(key.org, "WebhooksUpdated")
    return json_response(_webhook_json(hook), 201)


async def delete_webhook(request: web.Request) -> web.Response:
    """DELETE /webhooks/{id}."""
    key = await third_party_key(request, "admin")
    hub = hub_of(request)
    if not await hub.store.delete_webhook(key.org, request.match_info["id"]):
        raise ApiError(404, "not_found", "no such webhook")
    hub.notify_org(key.org, "WebhooksUpdated")
    return no_content()


async def health(request: web.Request) -> web.Response:
    """GET /health: `pass` while the store and outbox run; SIMs online as a check."""
    relay = relay_of(request)
    online = relay.sims.online_count
    ok = relay.started and relay.outbox.healthy
    return json_response(
        {
            "status": "pass" if ok else "fail",
            "version": __version__,
            "checks": {
                "sims:online": {
                    "description": "SIMs online",
                    "observedUnit": "sims",
                    "observedValue": online,
                    "status": "pass" if online else "warn",
                }
            },
        }
    )


def message_state(message_id: str, rows: list[MessageRow], sims: SimRegistry) -> dict[str, Any]:
    """The app's `MessageState` of a request's messages (one per recipient)."""
    recipients = []
    reached: dict[str, float] = {}
    for row in rows:
        state = STATE_OF.get(row.status, "Pending")
        recipient: dict[str, Any] = {"phoneNumber": row.peer, "state": state}
        if state == "Failed" and row.error:
            recipient["error"] = row.error
        recipients.append(recipient)
        for change in row.history or ():
            name = STATE_OF.get(change.status)
            if name is not None and (name not in reached or change.at < reached[name]):
                reached[name] = change.at
    answer: dict[str, Any] = {
        "id": message_id,
        "state": _overall([r["state"] for r in recipients]),
        "isHashed": False,
        "isEncrypted": False,
        "recipients": recipients,
        "states": {name: asg_time(at) for name, at in sorted(reached.items(), key=lambda i: i[1])},
    }
    device = _device_of_sim(sims, rows[0].sim) if rows else None
    if device:
        answer["deviceId"] = device
    if rows:
        answer["createdAt"] = asg_time(rows[0].created_at)
    return answer


def _overall(states: list[str]) -> str:
    if not states:
        return "Pending"
    if len(set(states)) == 1:
        return states[0]
    moving = [s for s in states if s in ("Pending", "Processed")]
    if moving:
        return min(moving, key=PROGRESS.index)
    if "Failed" in states:
        return "Failed"
    done = [s for s in states if s in PROGRESS]
    return min(done, key=PROGRESS.index) if done else "Cancelled"


def _device_of_sim(sims: SimRegistry, sim: str | None) -> str | None:
    """The device a SIM declares it belongs to (a phone's SIMs); a modem SIM is its own device.

    None when the message has no SIM yet, or its SIM is no longer known to the relay.
    """
    backend = sims.get(sim) if sim else None
    if backend is None:
        return None
    device = backend.info.extra.get("device")
    return backend.info.id if device is None else str(device)


def _sim_request(
    request: web.Request, org: str, device_id: str | None, sim_number: int | None
) -> str | None:
    if device_id is None:
        return None if sim_number is None else str(sim_number - 1)  # the slot index
    device = next((d for d in hub_of(request).of_org(org) if d.id == device_id), None)
    if device is None:
        raise ApiError(422, "invalid_field", "deviceId: no such device", "deviceId")
    if sim_number is not None:
        if sim_number not in device.slots:
            raise ApiError(
                422, "invalid_field", "simNumber: the device has no such SIM", "simNumber"
            )
        return asg_sim_id(device.id, sim_number)
    live = [n for n, b in sorted(device.slots.items()) if not b.retired]
    return asg_sim_id(device.id, live[0] if live else min(device.slots))


async def _rows(request: web.Request, org: str) -> tuple[str, list[MessageRow]]:
    message_id = request.match_info["id"]
    store = hub_of(request).store
    rows = await store.messages_of_request(org, KEY_PREFIX + message_id)
    if not rows and message_id.isdigit():
        rows = await store.message_by_id(org, int(message_id))
    if not rows:
        raise ApiError(404, "not_found", "no such message")
    return message_id, rows


def _webhook_json(hook: AsgWebhookRow) -> dict[str, Any]:
    return {"id": hook.id, "deviceId": hook.device, "url": hook.url, "event": hook.event}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
