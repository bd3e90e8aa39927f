"""Actions: relayd.send_sms, relayd.ring and relayd.ussd (the last two answer with a response)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .api import RelaydApiError, RelaydError
from .const import DOMAIN, SERVICE_RING, SERVICE_SEND_SMS, SERVICE_USSD
from .entity import default_sim

if TYPE_CHECKING:
    from . import RelaydConfigEntry

ATTR_CONFIG_ENTRY = "config_entry_id"
_TARGET: dict[vol.Marker, Any] = {
    vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
    vol.Optional("sim"): cv.string,
}
SEND_SCHEMA = vol.Schema(
    {
        vol.Required("to"): vol.Any(cv.string, [cv.string]),
        vol.Required("text"): cv.string,
        **_TARGET,
    }
)
RING_SCHEMA = vol.Schema(
    {
        vol.Required("to"): cv.string,
        vol.Optional("ring_seconds", default=20): vol.All(
            vol.Coerce(float), vol.Range(min=1, max=120)
        ),
        **_TARGET,
    }
)
USSD_SCHEMA = vol.Schema({vol.Required("code"): cv.string, **_TARGET})


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the three actions."""

    async def send_sms(call: ServiceCall) -> ServiceResponse:
        entry = _entry(hass, call)
        to = call.data["to"]
        if isinstance(to, str) and "," in to:
            to = [n.strip() for n in to.split(",") if n.strip()]
        answer = await call_relayd(
            entry.runtime_data.client.send(to, call.data["text"], _sim(entry, call))
        )
        messages: list[Any] = answer if isinstance(answer, list) else [answer]
        return {"messages": messages}

    async def ring(call: ServiceCall) -> ServiceResponse:
        entry = _entry(hass, call)
        return await call_relayd(
            entry.runtime_data.client.ring(
                call.data["to"], _sim(entry, call), call.data["ring_seconds"]
            )
        )

    async def ussd(call: ServiceCall) -> ServiceResponse:
        entry = _entry(hass, call)
        return await call_relayd(
            entry.runtime_data.client.ussd(call.data["code"], _sim(entry, call))
        )

    hass.services.async_register(
        DOMAIN, SERVICE_SEND_SMS, send_sms, SEND_SCHEMA, supports_response=SupportsResponse.OPTIONAL
    )
    hass.services.async_register(
        DOMAIN, SERVICE_RING, ring, RING_SCHEMA, supports_response=SupportsResponse.OPTIONAL
    )
    hass.services.async_register(
        DOMAIN, SERVICE_USSD, ussd, USSD_SCHEMA, supports_response=SupportsResponse.ONLY
    )


def _entry(hass: HomeAssistant, call: ServiceCall) -> RelaydConfigEntry:
    """The entry the call names, or the only loaded one."""
    wanted = call.data.get(ATTR_CONFIG_ENTRY)
    loaded = [
        e
        for e in hass.config_entries.async_entries(DOMAIN)
        if e.state is ConfigEntryState.LOADED and (wanted is None or e.entry_id == wanted)
    ]
    if len(loaded) != 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_relay" if not loaded else "which_relay",
        )
    return loaded[0]


def _sim(entry: RelaydConfigEntry, call: ServiceCall) -> str | None:
    return call.data.get("sim") or default_sim(entry)


async def call_relayd[T](request: Awaitable[T]) -> T:
    """Await a client call; relayd's refusals become errors the user can read."""
    try:
        return await request
    except RelaydApiError as exc:
        field = f" ({exc.field})" if exc.field else ""
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="refused",
            translation_placeholders={"error": f"{exc}{field}"},
        ) from exc
    except RelaydError as exc:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="send_failed",
            translation_placeholders={"error": str(exc)},
        ) from exc
