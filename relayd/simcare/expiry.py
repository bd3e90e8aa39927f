"""When a SIM expires: a recorded date, or a top-up period from the last top-up."""

from __future__ import annotations

import datetime as dt

from relayd.simcare.settings import DEFAULT_EXPIRY_WARN, CareSettings, parse_duration


def expires_at(settings: CareSettings, topup_at: float | None) -> float | None:
    """Epoch seconds the SIM expires (a date is its midnight UTC); None when unknown."""
    if settings.expires_on:
        day = dt.date.fromisoformat(settings.expires_on)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
    if settings.topup_every and topup_at is not None:
        return topup_at + parse_duration(settings.topup_every)
    return None


def warn_at(settings: CareSettings, expiry: float) -> float:
    """When `sim.expiring` is due for this expiry."""
    return expiry - parse_duration(settings.expiry_warn or DEFAULT_EXPIRY_WARN)
