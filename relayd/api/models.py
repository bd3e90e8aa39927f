"""Pydantic models of the native API: they validate requests and generate the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from relayd.api.framework import INT64_MAX
from relayd.api.schemas import E164, not_null
from relayd.flows.templates import NAME, VARS
from relayd.sending import MAX_RECIPIENTS

MAX_TTL = 366 * 86400
"""The longest `ttl` a send may ask for, in seconds."""


class SendRequest(BaseModel):
    """POST /api/v1/messages. Also accepts the seed fields `phone_id` and `subject`."""

    # `to` or `group`, and `text` or `template`: one of each
    model_config = ConfigDict(extra="ignore", json_schema_extra={"allOf": [
        {"oneOf": [{"required": ["to"]}, {"required": ["group"]}]},
        {"oneOf": [{"required": ["text"]}, {"required": ["template"]}]},
    ]})  # fmt: skip

    to: str | list[str] | None = Field(
        None,
        description="E.164 number, or a list of them (one message each); national forms are "
        "read in `[sms] default_region`. Required unless `group` is given",
        json_schema_extra={
            "anyOf": [
                E164,
                {"type": "array", "items": E164, "minItems": 1, "maxItems": MAX_RECIPIENTS},
            ]
        },
    )
    text: str | None = Field(
        None,
        description="Message text; long texts are sent as multipart SMS. Required unless "
        "`template` is given",
        json_schema_extra=not_null(minLength=1),
    )
    template: str | None = Field(
        None, pattern=NAME, description="A template's name: its text with `{placeholders}` filled",
        json_schema_extra=not_null(),
    )
    vars: dict[str, str] | None = Field(
        None, description="Placeholder values (for a group, a contact's own fields win)",
        json_schema_extra=not_null(**VARS),
    )  # fmt: skip
    group: str | None = Field(
        None, pattern=NAME,
        description="A contact group's name instead of `to`: one message per contact, "
        "placeholders filled from the contact (`{name}`, `{number}`, its fields) and `vars`",
        json_schema_extra=not_null(),
    )  # fmt: skip
    channel: str = Field(
        "sms",
        description="`sms`; `email` (needs [email] smtp_host; `to` is an address); `notify` (the "
        "org's phones and web UI; `to` is ignored). Others answer 422 naming the served ones",
        json_schema_extra={"enum": ["sms", "email", "notify"]},
    )
    sim: str | int | None = Field(None, description="SIM id, name, number or slot index")
    idempotency_key: str | None = Field(None, max_length=200)
    source: str | None = Field(
        None, max_length=100, description="Free label, e.g. `home-assistant`"
    )
    send_at: dt.datetime | None = Field(None, description="Schedule (ISO 8601 with offset)")
    ttl: int | None = Field(
        None, gt=0, le=MAX_TTL, description="Seconds a queued message may wait (≤ 366 days)"
    )
    delivery_report: bool | None = None
    encoding: Literal["auto", "gsm7"] = "auto"
    dry_run: bool = False
    subject: str | None = Field(None, max_length=200)
    phone_id: str | None = Field(None, max_length=100, description="Seed field; ignored")

    @field_validator("send_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone offset, e.g. 2026-01-01T09:00:00+00:00")
        return value


class SendResult(BaseModel):
    """One accepted message."""

    ok: bool = True
    id: int
    to: str
    status: str
    parts: int
    encoding: str


class SendListResult(BaseModel):
    """An accepted list send: one message per recipient."""

    ok: bool = True
    messages: list[SendResult]


class DryRunResult(BaseModel):
    """What a send would be, nothing stored."""

    ok: bool = True
    dry_run: bool = True
    to: list[str]
    parts: int
    encoding: str
    segments: list[str]
    sim: str | None


class HistoryEntry(BaseModel):
    """One state change."""

    status: str
    at: str
    error: str | None = None


class Message(BaseModel):
    """A message, flat (SPEC §5)."""

    id: int
    org: str
    direction: Literal["in", "out"]
    channel: str
    peer: str
    text: str
    sim: str | None
    parts: int
    encoding: str
    status: str
    error: str | None
    idempotency_key: str | None
    source: str | None = Field(
        description="Outbound: the sender's label. Inbound: where it came from: `modem`, "
        "`phone` (seed-004 socket), `app` (SMS Gateway for Android) or `webhook`"
    )
    subject: str | None
    created_at: str
    send_at: str | None
    expires_at: str | None
    sent_at: str | None
    delivered_at: str | None
    received_at: str | None
    partial: bool
    status_detail: str | None = Field(
        None,
        description="Why a `queued` message waits, e.g. every SIM it may use is at its "
        "`daily_cap`/`monthly_cap` (names the caps and when the next turns); else null",
    )
    schedule_id: int | None = Field(
        None, description="Outbound: the recurring schedule that sent it (source `schedule`)"
    )
    history: list[HistoryEntry] | None = None


class MessageList(BaseModel):
    """A page of messages, ascending by id."""

    messages: list[Message]
    next_since_id: int


class MessageQuery(BaseModel):
    """Filters of GET /api/v1/messages."""

    direction: Literal["in", "out"] | None = None
    since_id: int = Field(0, ge=0, le=INT64_MAX)
    limit: int = Field(100, ge=1, le=1000)
    sim: str | None = None
    peer: str | None = None
    status: str | None = None


class Conversation(BaseModel):
    """One peer's thread."""

    peer: str
    messages: int
    inbound: int
    last_message: Message
    last_sim: str | None
    updated_at: str | None


class ConversationList(BaseModel):
    """Threads, newest first."""

    conversations: list[Conversation]


class CapCount(BaseModel):
    """One cap of a SIM: `limit` null is no cap; `used` counts messages (a multipart once)."""

    limit: int | None
    used: int


class SimCaps(BaseModel):
    """A SIM's send caps; days and months of the relay's local time."""

    daily: CapCount
    monthly: CapCount
    resets_at: str | None = Field(description="The next local midnight (the daily counter turns)")


class SimHealthView(BaseModel):
    """A SIM's health: `quarantined` takes no sends until `until`, then one probe (`probing`)."""

    state: Literal["ok", "quarantined", "probing"]
    until: str | None
    failures: int = Field(description="Failed sends in a row")


class SimPlanUpdate(BaseModel):
    """PATCH /api/v1/sims/{id}: caps set here win over the config's; null: the config's again."""

    model_config = ConfigDict(extra="forbid")

    daily_cap: int | None = Field(None, ge=0, le=10**9, description="Messages a day; 0: no cap")
    monthly_cap: int | None = Field(None, ge=0, le=10**9, description="Messages a month; 0: none")


class CareFields(BaseModel):
    """A SIM's care as `GET /api/v1/sims` shows it: balance, expiry, keepalive, settings."""

    balance: dict[str, Any] | None = Field(
        None, description="`{amount, currency, checked_at}` of the newest answered check"
    )
    balance_checked_at: str | None = None
    next_balance_check: str | None = None
    expires_at: str | None = None
    topup_at: str | None = None
    keepalive_at: str | None = None
    care: dict[str, Any] = Field({}, description="The SIM's care settings in effect")


class Sim(CareFields):
    """A SIM (modem or phone slot), with its care (relayd/api/sim_care.py)."""

    id: str
    kind: Literal["modem", "phone"]
    name: str
    org: str
    number: str | None
    operator: str | None
    signal: int | None
    signal_dbm: int | None
    registered: bool
    roaming: bool
    online: bool
    online_since: str | None
    slot: int | None
    state: str
    state_detail: str | None
    queue_depth: int  # a SIM of another relay: as that relay last published it
    caps: SimCaps | None = None
    health: SimHealthView | None = None
    control_url: str | None = None
    node: str | None = None  # fleet mode: the relay that drives this SIM


class SimList(BaseModel):
    """SIMs of the key's org (fleet mode: of every relay)."""

    sims: list[Sim]
    queued: int


class Health(BaseModel):
    """GET /health."""

    ok: bool
    version: str
    sims_online: int


class CancelResult(BaseModel):
    """DELETE /api/v1/messages/{id}."""

    ok: bool = True
    id: int
    status: str


class KeyCreate(BaseModel):
    """POST /api/v1/keys."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["send", "read", "phone", "admin"]] = ["send", "read"]
    org: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    allowlist: list[str] = []
    rate_limit: float | None = Field(None, gt=0, description="Requests per minute")
    allow_short_codes: bool = False
    ignore_optout: bool = Field(
        False, description="May send to numbers on the opt-out list (e.g. for OTP or alerts)"
    )


class KeyInfo(BaseModel):
    """A key as listed: never the secret."""

    id: int
    org: str
    name: str
    prefix: str
    scopes: list[str]
    allowlist: list[str]
    rate_limit: float | None
    ignore_optout: bool = False
    created_at: str
    revoked: bool
    last_used_at: str | None


class KeyCreated(BaseModel):
    """A new key; `key` is shown this once."""

    ok: bool = True
    key: str
    info: KeyInfo


class KeyList(BaseModel):
    """Keys of the org."""

    keys: list[KeyInfo]


class Ok(BaseModel):
    """A plain success."""

    ok: bool = True
