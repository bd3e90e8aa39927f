"""Per-SIM online binary sensor (connectivity)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity

from .coordinator import RelaydCoordinator
from .entity import RelaydSimEntity, add_per_sim

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity import Entity
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from . import RelaydConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant, entry: RelaydConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """One online sensor per SIM."""

    def build(coordinator: RelaydCoordinator, sim_id: str) -> list[Entity]:
        return [RelaydSimOnline(coordinator, sim_id)]

    add_per_sim(entry, async_add_entities, build)


class RelaydSimOnline(RelaydSimEntity, BinarySensorEntity):
    """On while the SIM can send (modem registered, phone connected)."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY

    def __init__(self, coordinator: RelaydCoordinator, sim_id: str) -> None:
        super().__init__(coordinator, sim_id, "online")

    @property
    def is_on(self) -> bool | None:
        """The SIM's `online` flag."""
        sim = self.sim
        return None if sim is None else bool(sim.get("online"))
