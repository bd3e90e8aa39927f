"""Admin routes for outbound webhooks: endpoints, their delivery log, replay and test-fire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd.api.context import key_of, relay_of
from relayd.api.framework import Api, json_response, query_model, read_json, validate
from relayd.api.models import Ok
from relayd.api.presenters import iso
from relayd.exceptions import ApiError
from relayd.store.webhook_rows import DeliveryRow, Endpoint
from relayd.webhook_rules import (
    check_events,
    check_headers,
    check_secret,
    check_url,
    generate_secret,
    mask,
)
from relayd.webhooks import ATTEMPT_TIMEOUT

TAGS = ("webhooks",)
T = TypeVar("T")


class WebhookCreate(BaseModel):
    """POST /api/v1/webhooks."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="Where events are POSTed (http or https)")
    kind: Literal["standard", "homeassistant"] = Field(
        "standard",
        description="`homeassistant`: inbound SMS as HA event `sms.incoming_sms` "
        "`{phone, date, text}`; put `Authorization: Bearer <token>` in `headers`",
    )
    events: list[str] = Field(
        ["sms.received"], description="Event types, families such as `sms.*`, or `*`"
    )
    secret: str | None = Field(
        None, description="`whsec_…` signing secret; one is generated when omitted"
    )
    headers: dict[str, str] = Field({}, description="Extra headers sent with every delivery")
    org: str | None = Field(None, description="Another org (admins of `default` only)")


class WebhookUpdate(BaseModel):
    """PATCH /api/v1/webhooks/{id}: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = None
    secret: str | None = None
    headers: dict[str, str] | None = None
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
    before_id: int | None = Field(None, ge=1, description="Only deliveries older than this id")
    limit: int = Field(50, ge=1, le=500)


class ReplayRequest(BaseModel):
    """POST /api/v1/webhooks/{id}/replay."""

    model_config = ConfigDict(extra="forbid")

    delivery_id: int | None = Field(
        None, description="One delivery to send again; omitted: every failed delivery"
    )


class ReplayResult(BaseModel):
    """Deliveries queued again (with their original `webhook-id`)."""

    ok: bool = True
    replayed: list[int]


class FireResult(BaseModel):
    """A test-fire: the delivery after its first attempt (or still pending)."""

    ok: bool = True
    delivery: DeliveryInfo


def register(api: Api) -> None:
    """Add the webhook admin routes."""
    not_found = {404: "No such webhook"}
    api.route(
        "GET",
        "/api/v1/webhooks",
        summary="List the org's webhook endpoints",
        tags=TAGS,
        scope="admin",
        response=WebhookList,
    )(list_webhooks)
    api.route(
        "POST",
        "/api/v1/webhooks",
        summary="Add a webhook endpoint (its secret is shown once)",
        tags=TAGS,
        scope="admin",
        body=WebhookCreate,
        response=WebhookCreated,
        status=201,
    )(create_webhook)
    api.route(
        "GET",
        "/api/v1/webhooks/{id}",
        summary="One webhook endpoint",
        tags=TAGS,
        scope="admin",
        response=WebhookInfo,
        extra_responses=not_found,
    )(get_webhook)
    api.route(
        "PATCH",
        "/api/v1/webhooks/{id}",
        summary="Change or re-enable a webhook endpoint",
        tags=TAGS,
        scope="admin",
        body=WebhookUpdate,
        response=WebhookInfo,
        extra_responses={**not_found, 409: "Defined in the config file"},
    )(update_webhook)
    api.route(
        "DELETE",
        "/api/v1/webhooks/{id}",
        summary="Remove a webhook endpoint with its queue and log",
        tags=TAGS,
        scope="admin",
        response=Ok,
        extra_responses={**not_found, 409: "Defined in the config file"},
    )(delete_webhook)
    api.route(
        "GET",
        "/api/v1/webhooks/{id}/deliveries",
        summary="Delivery log of a webhook endpoint",
        tags=TAGS,
        scope="admin",
        query=DeliveryQuery,
        response=DeliveryList,
        extra_responses=not_found,
    )(list_deliveries)
    api.route(
        "POST",
        "/api/v1/webhooks/{id}/replay",
        summary="Send one delivery, or every failed one, again",
        tags=TAGS,
        scope="admin",
        body=ReplayRequest,
        response=ReplayResult,
        status=202,
        extra_responses={**not_found, 409: "The endpoint is disabled"},
    )(replay_deliveries)
    api.route(
        "POST",
        "/api/v1/webhooks/{id}/test",
        summary="Send a test event to the endpoint and show the outcome",
        tags=TAGS,
        scope="admin",
        response=FireResult,
        extra_responses={**not_found, 409: "The endpoint is disabled"},
    )(test_webhook)


async def list_webhooks(request: web.Request) -> web.Response:
    """GET /api/v1/webhooks."""
    store = relay_of(request).webhooks.store
    endpoints = await store.list_endpoints(key_of(request).org)
    counts = await store.counts([e.id for e in endpoints])
    return json_response({"webhooks": [_public(e, counts[e.id]) for e in endpoints]})


async def create_webhook(request: web.Request) -> web.Response:
    """POST /api/v1/webhooks."""
    worker = relay_of(request).webhooks
    admin = key_of(request)
    body = validate(WebhookCreate, await read_json(request))
    org = body.org or admin.org
    if org != admin.org and admin.org != "default":
        raise ApiError(
            403, "forbidden", "only admins of the 'default' org add webhooks of other orgs", "org"
        )
    url = _checked("url", check_url, body.url, body.kind)
    events = _checked("events", check_events, body.events, body.kind)
    headers = _checked("headers", check_headers, body.headers)
    secret = (
        generate_secret() if body.secret is None else _checked("secret", check_secret, body.secret)
    )
    endpoint = await worker.store.create(org, url, body.kind, events, secret, headers)
    await worker.endpoints_changed(org)
    info = _public(endpoint, dict.fromkeys(("pending", "delivered", "failed"), 0))
    return json_response({"ok": True, "webhook": info, "secret": secret}, 201)


async def get_webhook(request: web.Request) -> web.Response:
    """GET /api/v1/webhooks/{id}."""
    endpoint = await _endpoint_of(request)
    counts = await relay_of(request).webhooks.store.counts([endpoint.id])
    return json_response(_public(endpoint, counts[endpoint.id]))


async def update_webhook(request: web.Request) -> web.Response:
    """PATCH /api/v1/webhooks/{id}: config endpoints only take `enabled`."""
    worker = relay_of(request).webhooks
    endpoint = await _endpoint_of(request)
    body = validate(WebhookUpdate, await read_json(request))
    changes = body.model_dump(exclude_none=True)
    if endpoint.source == "config" and set(changes) - {"enabled"}:
        raise ApiError(
            409, "conflict", "this webhook is defined in the config file; change it there"
        )
    if body.url is not None:
        changes["url"] = _checked("url", check_url, body.url, endpoint.kind)
    if body.events is not None:
        changes["events"] = _checked("events", check_events, body.events, endpoint.kind)
    if body.headers is not None:
        changes["headers"] = _checked("headers", check_headers, body.headers)
    if body.secret is not None:
        changes["secret"] = _checked("secret", check_secret, body.secret)
    if changes:
        await worker.store.update(endpoint.org, endpoint.id, changes)
        await worker.endpoints_changed()
    return await get_webhook(request)


async def delete_webhook(request: web.Request) -> web.Response:
    """DELETE /api/v1/webhooks/{id}."""
    worker = relay_of(request).webhooks
    endpoint = await _endpoint_of(request)
    if endpoint.source == "config":
        raise ApiError(
            409, "conflict", "this webhook is defined in the config file; remove it there"
        )
    await worker.store.delete(endpoint.org, endpoint.id)
    await worker.endpoints_changed()
    return json_response({"ok": True})


async def list_deliveries(request: web.Request) -> web.Response:
    """GET /api/v1/webhooks/{id}/deliveries."""
    endpoint = await _endpoint_of(request)
    query = query_model(DeliveryQuery, request)
    rows = await relay_of(request).webhooks.store.deliveries(
        endpoint.id, status=query.status, before_id=query.before_id, limit=query.limit
    )
    next_before = rows[-1].id if len(rows) == query.limit else None
    return json_response(
        {"deliveries": [_delivery(r) for r in rows], "next_before_id": next_before}
    )


async def replay_deliveries(request: web.Request) -> web.Response:
    """POST /api/v1/webhooks/{id}/replay: an empty body replays every failed delivery."""
    worker = relay_of(request).webhooks
    endpoint = await _endpoint_of(request)
    raw = await request.read()
    body = validate(ReplayRequest, await read_json(request)) if raw.strip() else ReplayRequest()
    if not endpoint.enabled:
        raise ApiError(409, "disabled", "the webhook is disabled; enable it first (PATCH)")
    replayed = await worker.replay(endpoint.id, body.delivery_id)
    if body.delivery_id is not None and not replayed:
        raise ApiError(404, "not_found", "no such delivery of this webhook", "delivery_id")
    return json_response({"ok": True, "replayed": replayed}, 202)


async def test_webhook(request: web.Request) -> web.Response:
    """POST /api/v1/webhooks/{id}/test: waits for the first attempt (a few seconds at most)."""
    worker = relay_of(request).webhooks
    endpoint = await _endpoint_of(request)
    if not endpoint.enabled:
        raise ApiError(409, "disabled", "the webhook is disabled; enable it first (PATCH)")
    delivery_id = await worker.test_fire(endpoint.id, endpoint.kind, ATTEMPT_TIMEOUT + 1)
    [row] = await worker.store.deliveries(endpoint.id, delivery_id=delivery_id, limit=1)
    return json_response({"ok": True, "delivery": _delivery(row)})


async def _endpoint_of(request: web.Request) -> Endpoint:
    """The endpoint named in the path, of the key's org; 404 for any other."""
    raw = request.match_info["id"]
    endpoint = None
    if raw.isdigit():
        endpoint = await relay_of(request).webhooks.store.get(key_of(request).org, int(raw))
    if endpoint is None:
        raise ApiError(404, "not_found", "no such webhook")
    return endpoint


def _checked(field: str, check: Callable[..., T], *args: Any) -> T:
    try:
        return check(*args)
    except ValueError as exc:
        raise ApiError(422, "invalid_field", f"{field}: {exc}", field) from None


def _public(endpoint: Endpoint, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "org": endpoint.org,
        "url": endpoint.url,
        "kind": endpoint.kind,
        "events": list(endpoint.events),
        "secret": mask(endpoint.secret),
        "headers": {name: mask(value) for name, value in endpoint.headers.items()},
        "source": endpoint.source,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
        **counts,
    }


def _delivery(row: DeliveryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "event_id": row.event_id,
        "msg_id": row.msg_id,
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "created_at": iso(row.created_at),
        "last_attempt_at": iso(row.last_attempt_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "delivered_at": iso(row.delivered_at),
        "log": [
            {
                "at": iso(a.at),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
                "response": a.response,
            }
            for a in row.log
        ],
    }
