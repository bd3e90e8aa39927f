"""How the workflow rows read in the API (templates, contacts, groups, opt-outs, schedules)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from relayd.flows.optout import OptoutSettings
from relayd.flows.templates import placeholders
from relayd.store.contacts import ContactRow, GroupRow
from relayd.store.optouts import OptoutRow
from relayd.store.schedules import ScheduleRow
from relayd.store.templates import TemplateRow
from relayd.timefmt import iso


def template_json(row: TemplateRow) -> dict[str, Any]:
    """A template with the placeholders it needs."""
    return {
        "id": row.id,
        "name": row.name,
        "text": row.text,
        "placeholders": placeholders(row.text),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def contact_json(row: ContactRow) -> dict[str, Any]:
    """A contact."""
    return {
        "id": row.id,
        "number": row.number,
        "name": row.name,
        "fields": row.fields,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def group_json(row: GroupRow, contacts: list[ContactRow] | None = None) -> dict[str, Any]:
    """A group; with its contacts when given."""
    data: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "members": row.members,
        "created_at": iso(row.created_at),
    }
    if contacts is not None:
        data["contacts"] = [contact_json(c) for c in contacts]
    return data


def optout_json(row: OptoutRow) -> dict[str, Any]:
    """An entry of the opt-out list."""
    return {
        "number": row.number,
        "since": iso(row.since),
        "source": row.source,
        "message_id": row.message_id,
    }


def optout_settings_json(settings: OptoutSettings) -> dict[str, Any]:
    """The opt-out settings in force."""
    return {
        "enabled": settings.enabled,
        "stop_words": list(settings.stop_words),
        "start_words": list(settings.start_words),
        "stop_reply": settings.stop_reply,
        "start_reply": settings.start_reply,
    }


def zoned(ts: float | None, zone_name: str) -> str | None:
    """Epoch seconds as ISO 8601 with the offset of the schedule's zone."""
    if ts is None:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(zone_name)).isoformat()
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return iso(ts)


def schedule_json(row: ScheduleRow) -> dict[str, Any]:
    """A schedule and its next run (in its own zone)."""
    send = row.send
    return {
        "id": row.id,
        "name": row.name,
        "rule": row.rule,
        "start": row.start_local,
        "timezone": row.timezone,
        "to": send.get("to"),
        "group": send.get("group"),
        "text": send.get("text"),
        "template": send.get("template"),
        "vars": send.get("vars"),
        "sim": send.get("sim"),
        "paused": row.paused,
        "next_run": zoned(row.next_run, row.timezone),
        "last_run": zoned(row.last_run, row.timezone),
        "runs": row.runs,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
    }
