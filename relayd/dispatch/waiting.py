"""Why a queued message waits: every SIM it may use is at a cap or quarantined.

The outbox stores the answer as the message's `status_detail`, so `GET /api/v1/messages/{id}`
says what it waits for and when that ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from relayd.bridges.base import SimBackend
from relayd.dispatch.caps import CapBook, local_iso
from relayd.dispatch.health import HealthBook


def waiting_detail(caps: CapBook, health: HealthBook, sims: Sequence[SimBackend]) -> str | None:
    """The reason, naming each SIM's cap or quarantine; None when some SIM could take it."""
    if not sims:
        return None  # no SIM online: the SIMs' own state says why
    reasons = []
    for sim in sims:
        blocked = caps.status(sim).blocked() if not caps.room(sim) else None
        held = health.held_until(sim)
        if blocked is not None:
            reasons.append(f"{sim.info.id} {blocked[0]}, resets at {local_iso(blocked[1])}")
        elif held is not None:
            reasons.append(f"{sim.info.id} quarantined (failing sends) until {local_iso(held)}")
        else:
            return None
    return f"waiting for a SIM: {'; '.join(reasons)}"
