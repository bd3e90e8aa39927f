"""Typed rows of the webhook repository: endpoints, due deliveries, the delivery log."""

from __future__ import annotations

import json
from dataclasses import dataclass

from relayd.store.records import Record, from_row


@dataclass(frozen=True)
class Endpoint:
    """One subscribed URL of an org."""

    id: int
    org: str
    url: str
    kind: str
    events: tuple[str, ...]
    secret: str
    headers: dict[str, str]
    source: str  # "config" (synced from the file at start) or "api"
    enabled: bool
    disabled_reason: str | None
    created_at: float
    updated_at: float | None


@dataclass(frozen=True)
class ConfigEndpoint:
    """A `[[webhook]]` entry as the store syncs it."""

    org: str
    url: str
    kind: str
    events: tuple[str, ...]
    secret: str  # "" keeps the stored secret (or takes `generated` on first sync)
    headers: dict[str, str]
    generated: str

    @property
    def key(self) -> str:
        """What identifies the entry across restarts."""
        return f"{self.org}|{self.kind}|{self.url}"


@dataclass(frozen=True)
class DueDelivery:
    """A pending delivery with what the worker needs to post it."""

    id: int
    webhook_id: int
    msg_id: str
    type: str
    attempts: int
    event_at: float | None
    event_data: str | None  # the event's JSON data; None when the event row is gone
    payload: str | None  # a test delivery carries its own body
    url: str
    kind: str
    secret: str
    headers: dict[str, str]


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one POST, as the worker decided it."""

    at: float
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str | None
    # "delivered", "retry" (at `next_at`), "failed" (gave up) or "gone" (410: disable)
    outcome: str
    next_at: float | None = None


@dataclass(frozen=True)
class AttemptRow:
    """One logged POST of a delivery."""

    at: float
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str | None


@dataclass(frozen=True)
class DeliveryRow:
    """One event (or test) for one endpoint, with its attempts, oldest first."""

    id: int
    webhook_id: int
    event_id: int | None
    msg_id: str
    type: str
    status: str
    attempts: int
    next_attempt_at: float | None
    created_at: float
    last_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: float | None
    log: tuple[AttemptRow, ...] = ()


def endpoint_row(row: Record) -> Endpoint:
    """A `webhooks` row as an Endpoint."""
    return from_row(
        Endpoint,
        row,
        events=tuple(json.loads(row["events"])),
        headers=json.loads(row["headers"]),
        enabled=bool(row["enabled"]),
    )


def due_delivery(row: Record) -> DueDelivery:
    """A pending delivery joined with its event and endpoint."""
    return from_row(DueDelivery, row, headers=json.loads(row["headers"]))


def attempt_row(row: Record) -> AttemptRow:
    """A `webhook_attempts` row."""
    return from_row(AttemptRow, row)


def delivery_row(row: Record, log: tuple[AttemptRow, ...]) -> DeliveryRow:
    """A `webhook_deliveries` row with its attempts."""
    return from_row(DeliveryRow, row, log=log)
