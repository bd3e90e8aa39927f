"""Diagnostics download: the entry, the SIMs and the stream state, with secrets masked.

Masked: the API key, every phone number (SIM numbers, recipients, peers) and any text.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_KEY

from .const import CONF_RECIPIENTS

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from . import RelaydConfigEntry

TO_REDACT = {
    CONF_API_KEY,
    CONF_RECIPIENTS,
    "number",
    "peer",
    "text",
    "subject",
    "phone",
    "idempotency_key",
    "control_url",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: RelaydConfigEntry
) -> dict[str, Any]:
    """What support needs to see, nothing a stranger may."""
    runtime = entry.runtime_data
    data = runtime.coordinator.data
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "sims": list(data.sims.values()) if data else [],
            "counts": asdict(data.counts) if data else None,
            "stream": {
                "connected": runtime.stream.connected,
                "last_event_id": runtime.stream.last_event_id,
                "last_message": runtime.stream.last_message,
            },
            "last_update_success": runtime.coordinator.last_update_success,
        },
        TO_REDACT,
    )
