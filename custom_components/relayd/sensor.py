"""Per-SIM sensors: signal (% and dBm), operator, registration, queue, today's counts, balance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, SIGNAL_STRENGTH_DECIBELS_MILLIWATT, EntityCategory

from .coordinator import RelaydCoordinator, RelaydData
from .entity import RelaydSimEntity, add_per_sim

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity import Entity
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from . import RelaydConfigEntry

PARALLEL_UPDATES = 0
REGISTRATION_STATES = ["home", "roaming", "searching", "not_registered"]


@dataclass(frozen=True, kw_only=True)
class RelaydSensorDescription(SensorEntityDescription):
    """A SIM sensor and how to read it from a refresh."""

    value: Callable[[dict[str, Any], RelaydData], Any]
    present: Callable[[dict[str, Any]], bool] = lambda sim: True


def _registration(sim: dict[str, Any]) -> str:
    if sim.get("registered"):
        return "roaming" if sim.get("roaming") else "home"
    return "searching" if sim.get("online") or sim.get("state") == "searching" else "not_registered"


def _balance(sim: dict[str, Any]) -> tuple[float | None, str | None]:
    """(amount, currency) from SIM care's balance: a number, or {amount|value, currency}."""
    balance = sim.get("balance")
    if isinstance(balance, dict):
        amount = balance.get("amount", balance.get("value"))
        currency = balance.get("currency")
    else:
        amount, currency = balance, None
    try:
        return (None if amount is None else float(amount)), currency
    except (TypeError, ValueError):
        return None, None


SENSORS: tuple[RelaydSensorDescription, ...] = (
    RelaydSensorDescription(
        key="signal",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value=lambda sim, _: sim.get("signal"),
    ),
    RelaydSensorDescription(
        key="signal_dbm",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda sim, _: sim.get("signal_dbm"),
    ),
    RelaydSensorDescription(
        key="operator",
        value=lambda sim, _: sim.get("operator"),
    ),
    RelaydSensorDescription(
        key="registration",
        device_class=SensorDeviceClass.ENUM,
        options=REGISTRATION_STATES,
        value=lambda sim, _: _registration(sim),
    ),
    RelaydSensorDescription(
        key="queue_depth",
        state_class=SensorStateClass.MEASUREMENT,
        value=lambda sim, _: sim.get("queue_depth", 0),
    ),
    RelaydSensorDescription(
        key="sent_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value=lambda sim, data: data.counts.sent.get(sim["id"], 0),
    ),
    RelaydSensorDescription(
        key="received_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value=lambda sim, data: data.counts.received.get(sim["id"], 0),
    ),
    RelaydSensorDescription(
        key="balance",
        value=lambda sim, _: (
            (sim.get("balance") or {}).get("amount")
            if isinstance(sim.get("balance"), dict)
            else sim.get("balance")
        ),
        present=lambda sim: sim.get("balance") is not None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: RelaydConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Sensors for every SIM of the relay."""

    def build(coordinator: RelaydCoordinator, sim_id: str) -> list[Entity]:
        sim = coordinator.data.sims[sim_id]
        return [
            RelaydSimSensor(coordinator, sim_id, description)
            for description in SENSORS
            if description.present(sim)
        ]

    add_per_sim(entry, async_add_entities, build)


class RelaydSimSensor(RelaydSimEntity, SensorEntity):
    """One value of one SIM."""

    entity_description: RelaydSensorDescription

    def __init__(
        self, coordinator: RelaydCoordinator, sim_id: str, description: RelaydSensorDescription
    ) -> None:
        super().__init__(coordinator, sim_id, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> Any:
        """The value from the last refresh."""
        sim = self.sim
        if sim is None:
            return None
        return self.entity_description.value(sim, self.coordinator.data)

    @property
    def device_class(self) -> SensorDeviceClass | None:
        """A balance in a currency is monetary."""
        if self.entity_description.key == "balance":
            return SensorDeviceClass.MONETARY if _balance(self.sim or {})[1] else None
        return self.entity_description.device_class

    @property
    def native_unit_of_measurement(self) -> str | None:
        """A balance carries its currency; the others are fixed."""
        if self.entity_description.key == "balance":
            return _balance(self.sim or {})[1]
        return self.entity_description.native_unit_of_measurement
