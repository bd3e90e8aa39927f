"""Per-SIM plans: the send caps a `PATCH /api/v1/sims/{id}` sets (relayd/api/sim_care.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relayd.api.framework import validate
from relayd.api.models import SimPlanUpdate
from relayd.bridges.base import SimBackend

if TYPE_CHECKING:
    from relayd.relay import Relay

PLAN_FIELDS = ("daily_cap", "monthly_cap")


async def apply_plan(relay: Relay, sim: SimBackend, data: dict[str, Any]) -> None:
    """Store the caps `data` names: a field left out keeps its value, null the config's."""
    body = validate(SimPlanUpdate, {k: data[k] for k in PLAN_FIELDS if k in data})
    if not body.model_fields_set:
        return
    caps = relay.outbox.caps
    current = caps.stored(sim.info.id)
    given = body.model_fields_set
    daily = body.daily_cap if "daily_cap" in given else current[0]
    monthly = body.monthly_cap if "monthly_cap" in given else current[1]
    await caps.set_caps(sim.info.id, daily, monthly)
    relay.outbox.wake()  # a raised cap may free waiting messages at once
