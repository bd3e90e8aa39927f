"""Presenters: domain objects as the JSON the API answers (the domain shapes no JSON itself)."""

from __future__ import annotations

from typing import Any

from relayd.api.models import SendResult
from relayd.bridges.base import SimInfo
from relayd.dispatch.caps import CapStatus
from relayd.dispatch.health import SimHealth
from relayd.sending import Accepted
from relayd.store import ApiKey, CallRow, EventPayloads, MessageRow
from relayd.timefmt import iso

__all__ = [
    "EVENT_PAYLOADS",
    "call_json",
    "iso",
    "key_json",
    "message_json",
    "send_results",
    "sim_json",
]


def sim_json(
    info: SimInfo,
    queue_depth: int,
    caps: CapStatus | None = None,
    health: SimHealth | None = None,
) -> dict[str, Any]:
    """A SIM as GET /api/v1/sims shows it (with its caps and health where the relay has them)."""
    data: dict[str, Any] = {
        "id": info.id,
        "kind": info.kind,
        "name": info.name,
        "org": info.org,
        "number": info.number,
        "operator": info.operator,
        "signal": info.signal,
        "signal_dbm": info.signal_dbm,
        "registered": info.registered,
        "roaming": info.roaming,
        "online": info.online,
        "online_since": iso(info.online_since.timestamp()) if info.online_since else None,
        "slot": info.slot,
        "state": info.state,
        "state_detail": info.state_detail,
        "queue_depth": queue_depth,
    }
    if caps is not None:
        data["caps"] = {
            "daily": {"limit": caps.daily.limit, "used": caps.daily.used},
            "monthly": {"limit": caps.monthly.limit, "used": caps.monthly.used},
            "resets_at": iso(caps.resets_at),
        }
    if health is not None:
        data["health"] = {
            "state": health.state,
            "until": iso(health.until),
            "failures": health.failures,
        }
    return data


def send_results(accepted: Accepted) -> list[SendResult]:
    """The accepted messages as the send routes answer them."""
    return [
        SendResult(
            id=c.message.id,
            to=c.message.peer,
            status=c.message.status,
            parts=c.message.parts,
            encoding=c.message.encoding,
        )
        for c in accepted.results
    ]


def message_json(row: MessageRow) -> dict[str, Any]:
    """A message as the flat JSON of SPEC §11 (with `history` when the row carries it)."""
    data: dict[str, Any] = {
        "id": row.id,
        "org": row.org,
        "direction": row.direction,
        "channel": row.channel,
        "peer": row.peer,
        "text": row.text,
        "sim": row.sim,
        "parts": row.parts,
        "encoding": row.encoding,
        "status": row.status,
        "error": row.error,
        "idempotency_key": row.idempotency_key,
        "source": row.source,
        "subject": row.subject,
        "created_at": iso(row.created_at),
        "send_at": iso(row.send_at),
        "expires_at": iso(row.expires_at),
        "sent_at": iso(row.sent_at),
        "delivered_at": iso(row.delivered_at),
        "received_at": iso(row.received_at),
        "partial": row.partial,
        "status_detail": row.status_detail,
        "schedule_id": row.schedule_id,
    }
    if row.history is not None:
        data["history"] = [
            {"status": h.status, "at": iso(h.at)} | ({"error": h.error} if h.error else {})
            for h in row.history
        ]
    return data


def call_json(call: CallRow) -> dict[str, Any]:
    """A call as the API shows it; `duration` is seconds from dialling to hang-up."""
    started, ended = call.started_at, call.ended_at
    return {
        "id": call.id,
        "org": call.org,
        "to": call.peer,
        "sim": call.sim,
        "status": call.status,
        "result": call.result,
        "error": call.error,
        "prompt": call.prompt,
        "ring_seconds": call.ring_seconds,
        "source": call.source,
        "created_at": iso(call.created_at),
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration": round(ended - started, 1) if started is not None and ended else None,
    }


def key_json(key: ApiKey) -> dict[str, object]:
    """What the API shows of a key: never the secret or its hash."""
    return {
        "id": key.id,
        "org": key.org,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": sorted(key.scopes),
        "allowlist": list(key.allowlist),
        "rate_limit": key.rate_limit,
        "ignore_optout": key.ignore_optout,
        "created_at": iso(key.created_at),
        "revoked": key.revoked_at is not None,
        "last_used_at": iso(key.last_used_at),
    }


# What the store writes into the event of each message and call: the API's own JSON of it.
EVENT_PAYLOADS = EventPayloads(message=message_json, call=call_json)
