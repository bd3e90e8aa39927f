"""Typed rows of messages and events: what the repositories hand out (never a raw DB row).

Each type has one mapper from the adapter's row (`Record`), used only inside the store.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

T = TypeVar("T")
_FIELDS: dict[type[Any], tuple[str, ...]] = {}  # a row type's field names, filled on first use


class Record(Protocol):
    """A row as the database adapter returns it: by column name or position."""

    def __getitem__(self, key: str | int, /) -> Any: ...


Columns = Record | Mapping[str, Any]  # what a mapper reads: a row, or the values just written


@dataclass(frozen=True)
class StatusChange:
    """One step of a message's state history."""

    status: str
    at: float
    error: str | None = None


@dataclass(frozen=True)
class MessageRow:
    """One stored message (inbound or outbound), times in epoch seconds."""

    id: int
    org: str
    direction: str
    channel: str
    peer: str
    text: str
    sim: str | None
    parts: int
    encoding: str
    status: str
    error: str | None
    created_at: float
    sim_request: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    batch_index: int = 0
    source: str | None = None
    subject: str | None = None
    delivery_report: bool = True
    force_gsm7: bool = False
    attempts: int = 0
    send_at: float | None = None
    expires_at: float | None = None
    sent_at: float | None = None
    delivered_at: float | None = None
    received_at: float | None = None
    partial: bool = False
    external_id: str | None = None
    status_detail: str | None = None  # why a queued message waits (a SIM cap), else None
    schedule_id: int | None = None  # the recurring schedule that sent it
    history: tuple[StatusChange, ...] | None = None  # only where asked for (one message)


@dataclass(frozen=True)
class EventRow:
    """A stored event; `data` is its JSON payload as clients see it.

    `id` is the row's own id (webhook deliveries point at it); `seq` is the event's number in
    its org's sequence, gap-free in commit order: what SSE clients see and resume from.
    """

    id: int
    org: str
    type: str
    at: float
    data: dict[str, Any]
    seq: int = 0


@dataclass(frozen=True)
class ConversationRow:
    """One peer of an org with its newest message."""

    peer: str
    messages: int
    inbound: int
    last_message: MessageRow


@dataclass(frozen=True)
class StatusCount:
    """How many messages of an org are in one direction and status (/metrics)."""

    org: str
    direction: str
    status: str
    count: int


@dataclass(frozen=True)
class RecentSender:
    """The SIM a peer last wrote to (sticky replies)."""

    org: str
    peer: str
    sim: str | None


def from_row(cls: type[T], row: Columns, **given: Any) -> T:
    """A row dataclass from the columns named as its fields; `given` overrides or adds fields."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cast(Any, cls)))
    # Positional: cheaper than keywords, and this runs for every message stored or read.
    return cls(*[given[name] if name in given else row[name] for name in names])


def message_row(row: Columns, history: tuple[StatusChange, ...] | None = None) -> MessageRow:
    """A `messages` row (every column) as a MessageRow."""
    return from_row(
        MessageRow,
        row,
        delivery_report=bool(row["delivery_report"]),
        force_gsm7=bool(row["force_gsm7"]),
        partial=bool(row["partial"]),
        history=history,
    )


def event_row(row: Record) -> EventRow:
    """An `events` row as an EventRow (its data decoded)."""
    return from_row(EventRow, row, data=json.loads(row["data"]))


@dataclass(frozen=True)
class CallRow:
    """One ring call, times in epoch seconds."""

    id: int
    org: str
    peer: str
    sim: str
    status: str
    prompt: str | None
    ring_seconds: float
    result: str | None
    error: str | None
    source: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None


def call_row(row: Columns) -> CallRow:
    """A `calls` row as a CallRow."""
    return from_row(CallRow, row)


@dataclass(frozen=True)
class EventPayloads:
    """How a message or a call reads in its event (`data`), written in the row's transaction.

    The store keeps no JSON shape of its own: the composition root hands in the API's
    presenters, so an event's payload is the same JSON as the API's answer for that row.
    """

    message: Callable[[MessageRow], dict[str, Any]]
    call: Callable[[CallRow], dict[str, Any]]
