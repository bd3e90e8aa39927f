"""Devices and the entity base: one device per relay, one per SIM (via the relay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import AUTO_SIM, CONF_DEFAULT_SIM, DOMAIN
from .coordinator import RelaydCoordinator

if TYPE_CHECKING:
    from homeassistant.helpers.entity import Entity
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from . import RelaydConfigEntry


def relay_identifier(entry: RelaydConfigEntry) -> tuple[str, str]:
    """The relay device's identifier: the relay's instance id when discovered."""
    return (DOMAIN, entry.unique_id or entry.entry_id)


def relay_device(entry: RelaydConfigEntry) -> DeviceInfo:
    """The relay itself."""
    client = entry.runtime_data.client
    return DeviceInfo(
        identifiers={relay_identifier(entry)},
        name=entry.title,
        manufacturer="relayd",
        model="SMS gateway",
        configuration_url=str(client.base),
    )


def default_sim(entry: RelaydConfigEntry) -> str | None:
    """The SIM the options name for sending, None to let relayd's router choose."""
    sim = entry.options.get(CONF_DEFAULT_SIM, AUTO_SIM)
    return None if sim == AUTO_SIM else str(sim)


def add_per_sim(
    entry: RelaydConfigEntry,
    async_add_entities: AddEntitiesCallback,
    build: Callable[[RelaydCoordinator, str], list[Entity]],
) -> None:
    """Add the entities of every SIM now, and later those of a SIM that appears (a phone
    joins) or of a value that appears (a balance after the first check)."""
    coordinator = entry.runtime_data.coordinator
    known: set[str] = set()

    @callback
    def _add_new() -> None:
        new = [
            entity
            for sim_id in coordinator.data.sims
            for entity in build(coordinator, sim_id)
            if entity.unique_id not in known
        ]
        known.update(str(entity.unique_id) for entity in new)
        if new:
            async_add_entities(new)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))


class RelaydSimEntity(CoordinatorEntity[RelaydCoordinator]):
    """An entity of one SIM."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: RelaydCoordinator, sim_id: str, key: str) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.sim_id = sim_id
        self._attr_unique_id = f"{entry.unique_id or entry.entry_id}_{sim_id}_{key}"
        self._attr_translation_key = key
        sim = self.sim or {}
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{entry.unique_id or entry.entry_id}_{sim_id}")},
            name=f"SIM {sim.get('name') or sim_id}",
            manufacturer="relayd",
            model="GSM modem" if sim.get("kind") == "modem" else "Android phone",
            via_device=relay_identifier(entry),
        )

    @property
    def sim(self) -> dict[str, Any] | None:
        """This SIM as the last refresh saw it."""
        data = self.coordinator.data
        return data.sims.get(self.sim_id) if data else None

    @property
    def available(self) -> bool:
        """Known to the relay and the relay answering."""
        return super().available and self.sim is not None
