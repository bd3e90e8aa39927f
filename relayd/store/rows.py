"""Message rows as JSON, events, and the state change itself: shared by every repository."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from relayd.store.db import Tx
from relayd.store.webhooks import queue_deliveries

EVENT_FOR_STATUS = {
    "queued": "sms.queued",
    "sending": "sms.sending",
    "sent": "sms.sent",
    "delivered": "sms.delivered",
    "failed": "sms.failed",
    "expired": "sms.expired",
    "cancelled": "sms.cancelled",
    "received": "sms.received",
}
_MESSAGE_FIELDS = (
    "id",
    "org",
    "direction",
    "channel",
    "peer",
    "text",
    "sim",
    "parts",
    "encoding",
    "status",
    "error",
    "idempotency_key",
    "source",
    "subject",
    "created_at",
    "send_at",
    "expires_at",
    "sent_at",
    "delivered_at",
    "received_at",
    "partial",
)
_TIME_FIELDS = ("created_at", "send_at", "expires_at", "sent_at", "delivered_at", "received_at")


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with milliseconds, the API's time format."""
    if ts is None:
        return None
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def message_json(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """A message row as the flat JSON of SPEC §11 (without history)."""
    data = {name: row[name] for name in _MESSAGE_FIELDS}
    for name in _TIME_FIELDS:
        data[name] = iso(data[name])
    data["partial"] = bool(data["partial"])
    return data


def emit(tx: Tx, org: str, type_: str, data: dict[str, Any], at: float | None = None) -> int:
    """Write an event row in the current transaction; it is published after commit."""
    at = time.time() if at is None else at
    cursor = tx.execute(
        "INSERT INTO events (org, type, at, data) VALUES (?, ?, ?, ?)",
        (org, type_, at, json.dumps(data, separators=(",", ":"))),
    )
    event_id = int(cursor.lastrowid or 0)
    queue_deliveries(tx, event_id, org, type_, at)  # same transaction: at-least-once webhooks
    tx.events.append({"id": event_id, "org": org, "type": type_, "at": at, "data": data})
    return event_id


def transition_in(
    tx: Tx,
    message_id: int,
    status: str,
    *,
    error: str | None = None,
    sim: str | None = None,
    only_from: Sequence[str] | None = None,
    count_attempt: bool = False,
) -> dict[str, Any] | None:
    """The state change itself, inside a caller's transaction."""
    row = tx.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None or (only_from is not None and row["status"] not in only_from):
        return None
    now = time.time()
    sets: dict[str, Any] = {"status": status, "error": error}
    if sim is not None:
        sets["sim"] = sim
    if status == "sent":
        sets["sent_at"] = now
    elif status == "delivered":
        sets["delivered_at"] = now
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    if count_attempt:
        assignments += ", attempts = attempts + 1"
    tx.execute(
        f"UPDATE messages SET {assignments} WHERE id = :id",  # noqa: S608 - fixed names
        {**sets, "id": message_id},
    )
    tx.execute(
        "INSERT INTO message_history (message_id, status, at, error) VALUES (?, ?, ?, ?)",
        (message_id, status, now, error),
    )
    updated = dict(row) | sets
    message = message_json(updated)
    emit(tx, row["org"], EVENT_FOR_STATUS[status], message, now)
    return message
