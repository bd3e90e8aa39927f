"""SIM care routes: balance (history, check now), top-ups, and the `care` settings of a SIM."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relayd.api.context import key_of, relay_of
from relayd.api.framework import (
    Api,
    json_response,
    query_model,
    read_json,
    validate,
    validation_error,
)
from relayd.api.models import CareFields, Sim, SimPlanUpdate
from relayd.api.modem_ops import failed
from relayd.api.sim_plans import apply_plan
from relayd.bridges.base import SendFailed, SimBackend
from relayd.dispatch.router import sim_matches
from relayd.exceptions import ApiError
from relayd.simcare.service import CareStatus
from relayd.simcare.settings import USSD_RE, CareSettings
from relayd.store import BalanceEntry
from relayd.timefmt import iso

TAGS = ("sims",)
TOPUP_EARLIEST = 946684800.0  # 2000-01-01: a top-up time outside 2000..now is a mistake


class SimPatch(SimPlanUpdate):
    """PATCH /api/v1/sims/{id}: send caps (stored, win over the config's; null: the config's
    again) and `care` keys to set (null clears a key the API set)."""

    care: CareSettings | None = Field(
        None,
        description="Balance, expiry and keepalive settings (the [[modem]] keys); for a modem "
        "they override its config file keys one by one",
    )


class BalanceCheck(BaseModel):
    """POST /api/v1/sims/{id}/balance: check now (optionally with another code)."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(
        None, description="USSD code; default: the SIM's balance_ussd",
        json_schema_extra={"pattern": USSD_RE.pattern},
    )


class TopUp(BaseModel):
    """POST /api/v1/sims/{id}/topup: a top-up was made (now, or at `at`)."""

    model_config = ConfigDict(extra="forbid")

    at: dt.datetime | None = Field(None, description="When (ISO 8601 with offset); default now")


class HistoryQuery(BaseModel):
    """GET /api/v1/sims/{id}/balance."""

    limit: int = Field(50, ge=1, le=1000)


class BalanceEntryModel(BaseModel):
    """One balance check."""

    id: int
    kind: str = Field(description="`check`, or `keepalive` (a USSD keepalive's answer)")
    at: str | None
    answer: str | None
    amount: float | None
    currency: str | None
    error: str | None


class BalanceHistory(BaseModel):
    """A SIM's balance and its newest checks, newest first."""

    sim: str
    balance: dict[str, Any] | None
    history: list[BalanceEntryModel]


class CareInfo(CareFields):
    """A SIM's care (top-up answers)."""

    sim: str


class SimSettings(Sim):
    """A SIM as `GET /api/v1/sims` shows it, after a PATCH."""

    sim: str


def register(api: Api) -> None:
    """Add the SIM care routes."""
    api.route(
        "PATCH", "/api/v1/sims/{id}",
        summary="Set a SIM's send caps and care (balance, expiry, keepalive)",
        tags=TAGS, scope="admin", body=SimPatch, response=SimSettings,
        extra_responses={404: "No such SIM in the key's org", 422: "A setting this SIM cannot use"},
    )(patch_sim)
    api.route(
        "GET", "/api/v1/sims/{id}/balance", summary="A SIM's balance and its check history",
        tags=TAGS, scope="read", query=HistoryQuery, response=BalanceHistory,
        extra_responses={404: "No such SIM"},
    )(balance_history)
    api.route(
        "POST", "/api/v1/sims/{id}/balance", summary="Check a SIM's balance now (USSD)",
        tags=TAGS, scope="send", body=BalanceCheck, response=BalanceEntryModel,
        extra_responses={
            403: "Another code than the SIM's balance_ussd needs an admin key",
            404: "No such SIM", 409: "The SIM is offline or busy",
            422: "No code, or the SIM cannot run USSD", 502: "The modem failed",
        },
    )(check_balance)
    api.route(
        "POST", "/api/v1/sims/{id}/topup", summary="Record a top-up (the top-up period restarts)",
        tags=TAGS, scope="admin", body=TopUp, response=CareInfo,
        extra_responses={404: "No such SIM"},
    )(record_topup)  # fmt: skip


def care_changes(data: Any) -> dict[str, Any]:
    """The `care` keys a PATCH body sets (a value) or clears (null); 422 naming `care.<key>`."""
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "the body must be a JSON object")
    for unknown in sorted(set(data) - set(SimPatch.model_fields)):
        raise ApiError(422, "invalid_field", f"{unknown}: unknown field", unknown)
    care = data.get("care")
    if care is None:
        return {}
    if not isinstance(care, dict):
        raise ApiError(422, "invalid_field", "care: give an object of care keys", "care")
    try:
        return CareSettings.model_validate(care).model_dump(exclude_unset=True)
    except ValidationError as exc:
        error = validation_error(exc)
        raise ApiError(422, error.code, f"care.{error.message}", f"care.{error.field}") from None


def care_json(status: CareStatus) -> dict[str, Any]:
    """The care fields of a SIM in `GET /api/v1/sims` (and the care routes' answers)."""
    return {
        "balance": balance_json(status.balance),
        "balance_checked_at": iso(status.balance_checked_at),
        "next_balance_check": iso(status.next_balance_check),
        "expires_at": iso(status.expires_at),
        "topup_at": iso(status.topup_at),
        "keepalive_at": iso(status.keepalive_at),
        "care": status.settings.model_dump(exclude_none=True),
    }


def balance_json(entry: BalanceEntry | None) -> dict[str, Any] | None:
    """`{amount, currency, checked_at}` (what the Home Assistant sensor reads), or null."""
    if entry is None:
        return None
    return {"amount": entry.amount, "currency": entry.currency, "checked_at": iso(entry.at)}


def entry_json(entry: BalanceEntry) -> dict[str, Any]:
    """One check of the history."""
    return {
        "id": entry.id, "kind": entry.kind, "at": iso(entry.at), "answer": entry.answer,
        "amount": entry.amount, "currency": entry.currency, "error": entry.error,
    }  # fmt: skip


def _sim(request: web.Request) -> SimBackend:
    wanted = request.match_info["id"]
    for backend in relay_of(request).sims.for_org(key_of(request).org):
        if sim_matches(backend, wanted):
            return backend
    raise ApiError(404, "not_found", "no such SIM")


def _info(request: web.Request, backend: SimBackend) -> dict[str, Any]:
    sim = backend.info.id
    return {"sim": sim} | care_json(relay_of(request).care.status(sim))


async def patch_sim(request: web.Request) -> web.Response:
    """PATCH /api/v1/sims/{id}: all of the body is checked before anything is stored."""
    backend = _sim(request)
    data = await read_json(request)
    changes = care_changes(data)
    relay = relay_of(request)
    await apply_plan(relay, backend, data)
    await relay.care.update_settings(backend, changes)
    return json_response(relay.sims.snapshot(backend) | _info(request, backend))


async def balance_history(request: web.Request) -> web.Response:
    """GET /api/v1/sims/{id}/balance."""
    backend = _sim(request)
    query = query_model(HistoryQuery, request)
    care = relay_of(request).care
    entries = await care.history(backend.info.id, query.limit)
    return json_response({
        "sim": backend.info.id,
        "balance": balance_json(care.status(backend.info.id).balance),
        "history": [entry_json(e) for e in entries],
    })  # fmt: skip


async def check_balance(request: web.Request) -> web.Response:
    """POST /api/v1/sims/{id}/balance."""
    backend = _sim(request)
    raw = await request.read()
    body = validate(BalanceCheck, await read_json(request)) if raw.strip() else BalanceCheck()
    if body.code is not None and not USSD_RE.match(body.code):
        raise ApiError(422, "invalid_field", "code: use digits, * and #, e.g. *100#", "code")
    care = relay_of(request).care
    own = care.settings(backend.info.id).balance_ussd
    if body.code not in (None, own) and not key_of(request).has_scope("admin"):
        raise ApiError(403, "forbidden", "code: another code than balance_ussd needs an admin key")
    try:
        entry = await care.check_balance(backend, body.code)
    except SendFailed as exc:
        raise failed(exc) from None
    return json_response(entry_json(entry))


async def record_topup(request: web.Request) -> web.Response:
    """POST /api/v1/sims/{id}/topup."""
    backend = _sim(request)
    raw = await request.read()
    body = validate(TopUp, await read_json(request)) if raw.strip() else TopUp()
    if body.at is not None and body.at.tzinfo is None:
        raise ApiError(422, "invalid_field", "at: give a time with its offset (Z or +01:00)", "at")
    at = body.at.timestamp() if body.at is not None else None
    if at is not None and not TOPUP_EARLIEST <= at <= time.time() + 86400:
        raise ApiError(422, "invalid_field", "at: a time from 2000 until now", "at")
    await relay_of(request).care.record_topup(backend, at)
    return json_response(_info(request, backend))
