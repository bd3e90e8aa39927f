"""The API's time format (ISO 8601 UTC with milliseconds), for every place that writes times."""

from __future__ import annotations

import datetime as dt


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with milliseconds, the API's time format."""
    if ts is None:
        return None
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
