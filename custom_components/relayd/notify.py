"""Notify entities: one for the relay (its router picks the SIM) and one per SIM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.notify import NotifyEntity
from homeassistant.exceptions import ServiceValidationError

from .const import CONF_RECIPIENTS, DOMAIN
from .coordinator import RelaydCoordinator
from .entity import RelaydSimEntity, add_per_sim, default_sim, relay_device
from .services import call_relayd

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity import Entity
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from . import RelaydConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant, entry: RelaydConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """The relay's notify entity, then one per SIM."""
    async_add_entities([RelaydNotify(entry)])

    def build(coordinator: RelaydCoordinator, sim_id: str) -> list[Entity]:
        return [RelaydSimNotify(coordinator, sim_id)]

    add_per_sim(entry, async_add_entities, build)


async def send_notification(
    entry: RelaydConfigEntry, message: str, title: str | None, sim: str | None
) -> None:
    """Text the recipients from the options; the title, if any, is the first line."""
    recipients: list[str] = list(entry.options.get(CONF_RECIPIENTS, []))
    if not recipients:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_recipients")
    text = f"{title}\n{message}" if title else message
    to = recipients if len(recipients) > 1 else recipients[0]
    await call_relayd(entry.runtime_data.client.send(to, text, sim))


class RelaydNotify(NotifyEntity):
    """Send through the relay: the default SIM from the options, else relayd's router."""

    _attr_has_entity_name = True
    _attr_translation_key = "relay"

    def __init__(self, entry: RelaydConfigEntry) -> None:
        self._entry = entry
        self._attr_unique_id = f"{entry.unique_id or entry.entry_id}_notify"
        self._attr_device_info = relay_device(entry)

    async def async_send_message(self, message: str, title: str | None = None) -> None:
        """Text the configured recipients."""
        await send_notification(self._entry, message, title, default_sim(self._entry))


class RelaydSimNotify(RelaydSimEntity, NotifyEntity):
    """Send through this SIM."""

    def __init__(self, coordinator: RelaydCoordinator, sim_id: str) -> None:
        super().__init__(coordinator, sim_id, "sim_notify")

    async def async_send_message(self, message: str, title: str | None = None) -> None:
        """Text the configured recipients from this SIM."""
        await send_notification(self.coordinator.config_entry, message, title, self.sim_id)
