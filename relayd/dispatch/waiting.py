"""Why a queued message waits: every SIM it may use is at a cap or quarantined.

The outbox stores the answer as the message's `status_detail`, so `GET /api/v1/messages/{id}`
says what it waits for and when that ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from relayd.bridges.base import SimBackend
from relayd.dispatch.caps import CapBook, local_iso
from relayd.dispatch.health import HealthBook
from relayd.dispatch.router import Pending, sim_matches
from relayd.store import Store


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


async def say_why_waiting(
    store: Store,
    caps: CapBook,
    health: HealthBook,
    messages: Callable[[], Iterable[Pending]],
    org_sims: list[SimBackend],
) -> None:
    """Store `status_detail` on messages that wait because every SIM they may use is
    capped or quarantined (free when no SIM has a cap and none is quarantined)."""
    if not (caps.active or health.holding):
        return
    details: dict[str | None, str | None] = {}
    changed: dict[str | None, list[int]] = {}
    for message in messages():
        wanted = message.sim_request
        if wanted not in details:
            usable = [s for s in org_sims if (sim_matches(s, wanted) if wanted else s.info.online)]
            details[wanted] = waiting_detail(caps, health, usable)
        detail = details[wanted]
        if detail is not None and detail != message.detail:
            message.detail = detail
            changed.setdefault(detail, []).append(message.id)
    for detail, ids in changed.items():
        await store.messages.set_status_detail(ids, detail)
