"""relayd: a self-hosted SMS gateway (USB GSM modems, Android phones) in Home Assistant."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .api import RelaydClient, async_make_client
from .const import CONF_CA, DOMAIN
from .coordinator import RelaydCoordinator
from .entity import relay_device
from .services import async_setup_services
from .stream import EventStream, async_remove_stored

PLATFORMS = [Platform.BINARY_SENSOR, Platform.NOTIFY, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


@dataclass
class RelaydRuntime:
    """What a loaded entry holds (entry.runtime_data)."""

    client: RelaydClient
    coordinator: RelaydCoordinator
    stream: EventStream


type RelaydConfigEntry = ConfigEntry[RelaydRuntime]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once, whatever entries exist (they look the entry up)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: RelaydConfigEntry) -> bool:
    """Connect to the relay, read its SIMs, follow its event stream."""
    client = await async_make_client(
        hass,
        entry.data[CONF_HOST],
        entry.data[CONF_PORT],
        entry.data[CONF_API_KEY],
        ca_pem=entry.data.get(CONF_CA),
    )
    coordinator = RelaydCoordinator(hass, entry, client)
    # A 401 starts re-auth, anything else retries later (ConfigEntryNotReady).
    await coordinator.async_config_entry_first_refresh()
    stream = EventStream(hass, entry, client, coordinator)
    await stream.async_load()
    entry.runtime_data = RelaydRuntime(client, coordinator, stream)
    dr.async_get(hass).async_get_or_create(config_entry_id=entry.entry_id, **relay_device(entry))
    entry.async_create_background_task(hass, stream.run(), f"{DOMAIN} event stream")
    entry.async_on_unload(entry.add_update_listener(_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: RelaydConfigEntry) -> bool:
    """Stop the stream (its task is the entry's) and keep where it got to."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.stream.async_save()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: RelaydConfigEntry) -> None:
    """The entry is deleted: so is where its stream got to."""
    await async_remove_stored(hass, entry.entry_id)


async def _options_updated(hass: HomeAssistant, entry: RelaydConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)
