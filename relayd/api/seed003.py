"""The agent telephony API of seed 003: SMS, ring calls, history, status, on the native domain.

Sends go through `relay.sending.submit` like every other surface; a voice call is a ring
alert through a GSM modem (see `dispatch/calls.py`): the `prompt` is recorded, never spoken,
and every answer about a call says so. MMS is not sent by any SIM of this relay: 422.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd.api.bodies import read_body
from relayd.api.context import key_of, relay_of
from relayd.api.framework import Api, header_text, id_param, json_response, query_model, validate
from relayd.api.presenters import call_json, message_json
from relayd.api.schemas import E164
from relayd.exceptions import ApiError
from relayd.sending import SendOrder
from relayd.store import CallRow
from relayd.store.records import MessageRow

TAGS = ("seed 003",)
PROMPT_NOT_SPOKEN = (
    "the call rings the number through a GSM modem and hangs up; a modem cannot speak, so "
    "the prompt was not played (send it as an SMS if the person must read it)"
)


class TelephonyStatus(BaseModel):
    """GET /api/agents/me/telephony: what the key's org can do right now."""

    enabled: bool
    phone_number: str | None
    capabilities: list[str]
    channels: list[str]
    sims_online: int
    voice_prompts: bool = False


class SmsRequest(BaseModel):
    """POST /api/messaging/sms."""

    model_config = ConfigDict(extra="ignore")

    to: str = Field(description="E.164 number", json_schema_extra=E164)
    body: str = Field(description="Message text", json_schema_extra={"minLength": 1})
    sim: str | None = Field(None, description="SIM id, name, number or slot; default: routing")
    idempotency_key: str | None = Field(None, max_length=200)


class MmsRequest(BaseModel):
    """POST /api/messaging/mms (always refused: no SIM here sends MMS)."""

    model_config = ConfigDict(extra="ignore")

    to: str | None = None
    body: str | None = None
    media_url: str | None = None


class VoiceRequest(BaseModel):
    """POST /api/messaging/voice: ring `to`; `prompt` is kept on the record, not spoken."""

    model_config = ConfigDict(extra="ignore")

    to: str = Field(json_schema_extra=E164)
    prompt: str | None = Field(None, max_length=2000)
    sim: str | None = None
    ring_seconds: float = Field(20.0, gt=0, le=120)


class Record(BaseModel):
    """An SMS (or e-mail, notification) as the seed shows it."""

    id: int
    type: str
    direction: str
    to: str | None
    from_: str | None = Field(alias="from")
    body: str
    status: str
    error: str | None
    created_at: str
    sent_at: str | None
    delivered_at: str | None


class CallRecord(BaseModel):
    """A voice call: `duration` in seconds; no recording, no spoken prompt."""

    id: int
    type: str = "voice"
    to: str
    sim: str | None
    status: str
    result: str | None
    error: str | None
    prompt: str | None
    prompt_spoken: bool = False
    duration: float | None
    recording_url: str | None = None
    created_at: str
    ended_at: str | None
    warning: str | None = None


class HistoryQuery(BaseModel):
    """GET /api/messaging/history."""

    limit: int = Field(20, ge=1, le=1000)


class History(BaseModel):
    """Messages and calls, newest first."""

    data: list[dict[str, Any]]


def register(api: Api) -> None:
    """Add the seed-003 routes."""
    api.route(
        "GET",
        "/api/agents/me/telephony",
        summary="Is telephony enabled for this key: number, capabilities (seed 003)",
        tags=TAGS,
        scope="read",
        response=TelephonyStatus,
    )(telephony)
    api.route(
        "POST",
        "/api/messaging/sms",
        summary="Send an SMS: to + body (seed 003)",
        tags=TAGS,
        scope="send",
        body=SmsRequest,
        response=Record,
        status=202,
        extra_responses={200: "Idempotent replay", 429: "Rate limited"},
    )(send_sms)
    api.route(
        "GET",
        "/api/messaging/sms/{id}",
        summary="One message: status, delivered_at, error (seed 003)",
        tags=TAGS,
        scope="read",
        response=Record,
        extra_responses={404: "No such message"},
    )(get_sms)
    api.route(
        "POST",
        "/api/messaging/mms",
        summary="MMS: refused with 422, no SIM of this relay sends MMS (seed 003)",
        tags=TAGS,
        scope="send",
        body=MmsRequest,
    )(send_mms)
    api.route(
        "POST",
        "/api/messaging/voice",
        summary="Ring a number through a modem; the prompt is not spoken (seed 003)",
        tags=TAGS,
        scope="send",
        body=VoiceRequest,
        response=CallRecord,
        status=202,
        extra_responses={409: "No modem online that can call", 429: "Rate limited"},
    )(voice)
    api.route(
        "GET",
        "/api/messaging/voice/{id}",
        summary="One call: status, duration, recording_url (always null) (seed 003)",
        tags=TAGS,
        scope="read",
        response=CallRecord,
        extra_responses={404: "No such call"},
    )(get_voice)
    api.route(
        "GET",
        "/api/messaging/history",
        summary="Recent messages and calls, newest first: data[] (seed 003)",
        tags=TAGS,
        scope="read",
        query=HistoryQuery,
        response=History,
    )(history)


async def telephony(request: web.Request) -> web.Response:
    """GET /api/agents/me/telephony: computed from the SIMs online now."""
    relay = relay_of(request)
    online = [s for s in relay.sims.for_org(key_of(request).org) if s.info.online]
    capabilities = []
    if any("sms" in s.capabilities for s in online):
        capabilities.append("sms")
    if any("call" in s.capabilities for s in online):
        capabilities.append("voice")
    numbers = [s.info.number for s in sorted(online, key=lambda s: s.info.id) if s.info.number]
    status = TelephonyStatus(
        enabled="sms" in capabilities,
        phone_number=numbers[0] if numbers else None,
        capabilities=capabilities,
        channels=list(relay.sending.served_channels),
        sims_online=len(online),
    )
    return json_response(status.model_dump())


async def send_sms(request: web.Request) -> web.Response:
    """POST /api/messaging/sms."""
    relay = relay_of(request)
    key = key_of(request)
    body = validate(SmsRequest, (await read_body(request)).require())
    order = SendOrder(
        to=[body.to],
        text=body.body,
        sim=body.sim,
        idempotency_key=body.idempotency_key or header_text(request, "Idempotency-Key"),
        source="seed-003",
        field_text="body",
    )
    accepted = await relay.sending.submit(key, order)
    record = _record(accepted.results[0].message, _numbers(request))
    return json_response(record, 200 if accepted.replayed else 202)


async def get_sms(request: web.Request) -> web.Response:
    """GET /api/messaging/sms/{id}."""
    message = await relay_of(request).store.messages.get_message(
        key_of(request).org, id_param(request, "message")
    )
    if message is None:
        raise ApiError(404, "not_found", "no such message")
    return json_response(_record(message, _numbers(request)))


async def send_mms(request: web.Request) -> web.Response:
    """POST /api/messaging/mms: 422 naming what this relay serves."""
    served = ", ".join(relay_of(request).sending.served_channels)
    raise ApiError(
        422,
        "unsupported_channel",
        "mms is not served by this relay: its SIMs (GSM modems, phones over the SMS bridge) "
        f"send text only; send the text with POST /api/messaging/sms. Served: {served}",
        "media_url",
    )


async def voice(request: web.Request) -> web.Response:
    """POST /api/messaging/voice: 202 with the call's id at once; the ringing goes on."""
    relay = relay_of(request)
    key = key_of(request)
    body = validate(VoiceRequest, (await read_body(request)).require())
    to = relay.sending.dial_target(key, body.to)
    backend = relay.calls.pick(key.org, body.sim)
    await relay.auth.take(key)  # after every check: a refused call costs no token
    call = await relay.calls.ring(
        backend, to, ring_seconds=body.ring_seconds, prompt=body.prompt, source="seed-003"
    )
    return json_response(_call_record(call), 202)


async def get_voice(request: web.Request) -> web.Response:
    """GET /api/messaging/voice/{id}."""
    call = await relay_of(request).store.calls.get(key_of(request).org, id_param(request, "call"))
    if call is None:
        raise ApiError(404, "not_found", "no such call")
    return json_response(_call_record(call))


async def history(request: web.Request) -> web.Response:
    """GET /api/messaging/history?limit=: messages and calls merged, newest first."""
    relay = relay_of(request)
    org = key_of(request).org
    limit = query_model(HistoryQuery, request).limit
    numbers = _numbers(request)
    messages = await relay.store.messages.list_messages(org, limit=limit, newest_first=True)
    calls = await relay.store.calls.recent(org, limit)
    items = [_record(m, numbers) for m in messages] + [_call_record(c) for c in calls]
    items.sort(key=lambda item: item["created_at"], reverse=True)
    return json_response({"data": items[:limit]})


# --- shapes ------------------------------------------------------------------------------


def _numbers(request: web.Request) -> dict[str, str | None]:
    relay = relay_of(request)
    return {s.info.id: s.info.number for s in relay.sims.for_org(key_of(request).org)}


def _record(row: MessageRow, numbers: dict[str, str | None]) -> dict[str, Any]:
    message = message_json(row)
    ours = numbers.get(message["sim"] or "")
    outbound = message["direction"] == "out"
    return {
        "id": message["id"],
        "type": message["channel"],
        "direction": message["direction"],
        "to": message["peer"] if outbound else ours,
        "from": ours if outbound else message["peer"],
        "body": message["text"],
        "status": message["status"],
        "error": message["error"],
        "created_at": message["created_at"],
        "sent_at": message["sent_at"],
        "delivered_at": message["delivered_at"],
    }


def _call_record(row: CallRow) -> dict[str, Any]:
    call = call_json(row)
    return {
        "id": call["id"],
        "type": "voice",
        "to": call["to"],
        "sim": call["sim"],
        "status": call["status"],
        "result": call["result"],
        "error": call["error"],
        "prompt": call["prompt"],
        "prompt_spoken": False,
        "duration": call["duration"],
        "recording_url": None,
        "created_at": call["created_at"],
        "ended_at": call["ended_at"],
        "warning": PROMPT_NOT_SPOKEN if call["prompt"] else None,
    }
