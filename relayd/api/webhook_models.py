"""Request and answer models of the webhook admin routes (relayd/api/webhooks.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relayd.api.framework import INT64_MAX
from relayd.api.schemas import EVENTS_SCHEMA, HEADERS_SCHEMA, SECRET_SCHEMA, URL_SCHEMA, nullable


class WebhookCreate(BaseModel):
    """POST /api/v1/webhooks."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2000,
        description="Where events are POSTed (http or https)",
        json_schema_extra=URL_SCHEMA,
    )
    kind: Literal["standard", "homeassistant"] = Field(
        "standard",
        description="`homeassistant`: inbound SMS as HA event `sms.incoming_sms` "
        "`{phone, date, text}`; put `Authorization: Bearer <token>` in `headers`",
    )
    events: list[str] = Field(
        ["sms.received"],
        description="Event types, families such as `sms.*`, or `*` (`homeassistant`: "
        "`sms.received` only)",
        json_schema_extra=EVENTS_SCHEMA,
    )
    secret: str | None = Field(
        None,
        description="`whsec_…` signing secret; one is generated when omitted",
        json_schema_extra=SECRET_SCHEMA,
    )
    headers: dict[str, str] = Field(
        {}, description="Extra headers sent with every delivery", json_schema_extra=HEADERS_SCHEMA
    )
    org: str | None = Field(None, description="Another org (admins of `default` only)")


class WebhookUpdate(BaseModel):
    """PATCH /api/v1/webhooks/{id}: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000, json_schema_extra=nullable(URL_SCHEMA))
    events: list[str] | None = Field(None, json_schema_extra=nullable(EVENTS_SCHEMA))
    secret: str | None = Field(None, json_schema_extra=nullable(SECRET_SCHEMA))
    headers: dict[str, str] | None = Field(None, json_schema_extra=nullable(HEADERS_SCHEMA))
    enabled: bool | None = Field(None, description="Re-enable after a 410, or pause")


class WebhookInfo(BaseModel):
    """An endpoint as the API shows it: secret and header values masked."""

    id: int
    org: str
    url: str
    kind: str
    events: list[str]
    secret: str
    headers: dict[str, str]
    source: Literal["config", "api"]
    enabled: bool
    disabled_reason: str | None
    created_at: str
    updated_at: str | None
    pending: int
    delivered: int
    failed: int


class WebhookList(BaseModel):
    """GET /api/v1/webhooks."""

    webhooks: list[WebhookInfo]


class WebhookCreated(BaseModel):
    """A new endpoint; the only answer that shows its whole secret."""

    ok: bool = True
    webhook: WebhookInfo
    secret: str


class AttemptInfo(BaseModel):
    """One POST of a delivery."""

    at: str
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str | None = Field(description="The start of the receiver's answer")


class DeliveryInfo(BaseModel):
    """One event (or test) for one endpoint, with every attempt."""

    id: int
    webhook_id: int
    event_id: int | None
    msg_id: str = Field(description="The `webhook-id` header: the same on every retry")
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None
    created_at: str
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    log: list[AttemptInfo]


class DeliveryList(BaseModel):
    """GET /api/v1/webhooks/{id}/deliveries: newest first."""

    deliveries: list[DeliveryInfo]
    next_before_id: int | None = Field(description="Pass as `before_id` for the next page")


class DeliveryQuery(BaseModel):
    """Filters of the delivery log."""

    status: Literal["pending", "delivered", "failed"] | None = None
    before_id: int | None = Field(
        None, ge=1, le=INT64_MAX, description="Only deliveries older than this id"
    )
    limit: int = Field(50, ge=1, le=500)


class ReplayRequest(BaseModel):
    """POST /api/v1/webhooks/{id}/replay."""

    model_config = ConfigDict(extra="forbid")

    delivery_id: int | None = Field(
        None,
        ge=1,
        le=INT64_MAX,
        description="One delivery to send again; omitted: every failed delivery",
    )


class ReplayResult(BaseModel):
    """Deliveries queued again (with their original `webhook-id`)."""

    ok: bool = True
    replayed: list[int]


class FireResult(BaseModel):
    """A test-fire: the delivery after its first attempt (or still pending)."""

    ok: bool = True
    delivery: DeliveryInfo
