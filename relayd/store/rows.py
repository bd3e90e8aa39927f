"""Message inserts, events, and the state change itself: shared by every repository."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from relayd.store.backend import Transaction
from relayd.store.records import EventRow, MessageRow, message_row
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
# Columns a new message may leave out, with the values the schema gives them.
_NULLABLE = (
    "sim sim_request error idempotency_key request_hash source subject external_id status_detail"
    " schedule_id"
)
_TIMES = "send_at expires_at sent_at delivered_at received_at"
_NEXT_SEQ = (
    "INSERT INTO event_seq (org, last) VALUES (?, 1) "
    "ON CONFLICT (org) DO UPDATE SET last = event_seq.last + 1 RETURNING last"
)
MessageShape = Callable[[MessageRow], dict[str, Any]]  # a message as its event carries it
_NEW_MESSAGE: dict[str, Any] = dict.fromkeys(f"{_NULLABLE} {_TIMES}".split()) | {
    "batch_index": 0,
    "delivery_report": 1,
    "force_gsm7": 0,
    "attempts": 0,
    "partial": 0,
}


def insert_message_in(
    tx: Transaction, values: dict[str, Any], shape: MessageShape, *, or_ignore: bool = False
) -> MessageRow | None:
    """Store a new message with its first history entry and event; None if ignored (dedupe)."""
    message_id = insert_row(tx, "messages", values, or_ignore=or_ignore)
    if message_id is None:
        return None
    row = message_row(_NEW_MESSAGE | values | {"id": message_id})
    tx.execute(
        "INSERT INTO message_history (message_id, status, at) VALUES (?, ?, ?)",
        (row.id, row.status, row.created_at),
    )
    emit(tx, row.org, EVENT_FOR_STATUS[row.status], shape(row), row.created_at)
    return row


def insert_row(
    tx: Transaction, table: str, values: dict[str, Any], *, or_ignore: bool = False
) -> int | None:
    """INSERT one row (column -> value) and return its new id; None when a conflict ignored it."""
    return tx.insert(
        f"INSERT INTO {table} ({', '.join(values)}) "  # noqa: S608 - fixed names
        f"VALUES ({', '.join(':' + k for k in values)})"
        f"{' ON CONFLICT DO NOTHING' if or_ignore else ''}",
        values,
    )


def emit(
    tx: Transaction, org: str, type_: str, data: dict[str, Any], at: float | None = None
) -> int:
    """Write an event row in the current transaction; it is published after commit."""
    at = time.time() if at is None else at
    # The org's counter row stays locked until this transaction ends: another relay's event
    # of the same org waits for it, so seqs commit in order and none is ever skipped.
    seq = int(tx.execute(_NEXT_SEQ, (org,)).fetchone()[0])
    event_id = int(
        tx.insert(
            "INSERT INTO events (org, seq, type, at, data) VALUES (?, ?, ?, ?, ?)",
            (org, seq, type_, at, json.dumps(data, separators=(",", ":"))),
        )
        or 0
    )
    queue_deliveries(tx, event_id, org, type_, at)  # same transaction: at-least-once webhooks
    tx.events.append(EventRow(event_id, org, type_, at, data, seq))
    return event_id


def transition_in(
    tx: Transaction,
    shape: MessageShape,
    message_id: int,
    status: str,
    *,
    error: str | None = None,
    sim: str | None = None,
    only_from: Sequence[str] | None = None,
    count_attempt: bool = False,
) -> MessageRow | None:
    """The state change itself, inside a caller's transaction."""
    found = tx.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    if found is None or (only_from is not None and found["status"] not in only_from):
        return None
    row = message_row(found)
    now = time.time()
    # A state change ends whatever the message was waiting for (status_detail).
    sets: dict[str, Any] = {"status": status, "error": error, "status_detail": None}
    if sim is not None:
        sets["sim"] = sim
    if status == "sent":
        sets["sent_at"] = now
    elif status == "delivered":
        sets["delivered_at"] = now
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    if count_attempt:
        assignments += ", attempts = attempts + 1"
    guard, params = "", {**sets, "id": message_id}
    if only_from is not None:
        # Checked again by the UPDATE itself: on PostgreSQL another relay's transaction may
        # have moved the row since the SELECT (READ COMMITTED re-reads it here, under lock).
        guard = " AND status IN (" + ", ".join(f":from{i}" for i in range(len(only_from))) + ")"
        params |= {f"from{i}": value for i, value in enumerate(only_from)}
    moved = tx.execute(
        f"UPDATE messages SET {assignments} WHERE id = :id{guard}",  # noqa: S608 - fixed names
        params,
    )
    if moved.rowcount == 0:
        return None
    tx.execute(
        "INSERT INTO message_history (message_id, status, at, error) VALUES (?, ?, ?, ?)",
        (message_id, status, now, error),
    )
    attempts = row.attempts + 1 if count_attempt else row.attempts
    updated = dataclasses.replace(row, attempts=attempts, **sets)
    emit(tx, row.org, EVENT_FOR_STATUS[status], shape(updated), now)
    return updated
