"""Health-based routing: a SIM whose sends keep failing is quarantined, then probed.

A SIM is quarantined after `[routing] quarantine_after` failed sends in a row, or when
more than `quarantine_rate` of its last `quarantine_window` sends failed. It takes no
sends for `quarantine_backoff` seconds; then one probe send is let through: success puts
it back in the pool (`sim.recovered`), failure doubles the back-off (at most a day) and
quarantines it again (`sim.quarantined`). The quarantine is stored, so a restart keeps it.

What counts: a send that reached `sent` is a success; a failed send is a failure unless
it failed for the message's own sake (not sent, and no SIM could ever send it: a bad
encoding, a permanent cause such as an unknown subscriber) — that says nothing of the SIM.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relayd.bridges.base import SendFailed, SimBackend
from relayd.config import RoutingConfig
from relayd.store.plans import HealthRow, PlanStore

_LOGGER = logging.getLogger(__name__)
MAX_BACKOFF = 86400.0
Clock = Callable[[], float]


@dataclass
class SimHealth:
    """One SIM's record: failures in a row, the recent outcomes, its quarantine."""

    backoff: float
    failures: int = 0
    recent: deque[bool] = field(default_factory=deque)  # True: that send failed
    until: float | None = None  # quarantined until then (epoch seconds); None: in the pool
    probing: bool = False  # the one probe send is out

    @property
    def state(self) -> str:
        """`ok`, `quarantined` (waiting out its back-off) or `probing`."""
        if self.until is None:
            return "ok"
        return "probing" if self.probing else "quarantined"


def counts_against_sim(exc: SendFailed) -> bool:
    """Whether a failure says something about the SIM (not only about the message)."""
    return exc.transient or not exc.not_sent


class HealthBook:
    """Health of every SIM; the outbox asks it before it hands a SIM a send."""

    def __init__(self, plans: PlanStore, config: RoutingConfig, clock: Clock = time.time) -> None:
        self.plans = plans
        self.config = config
        self.clock = clock
        self.describe: Callable[[SimBackend], dict[str, Any]] = lambda sim: {"id": sim.info.id}
        self._sims: dict[str, SimHealth] = {}

    async def load(self) -> None:
        """Read the stored quarantines."""
        for row in await self.plans.health():
            if row.state == "quarantined":
                self._sims[row.sim] = SimHealth(
                    backoff=row.backoff, failures=row.failures, until=row.until_at
                )

    def of(self, sim_id: str) -> SimHealth:
        """The record of a SIM (a fresh one when it has none)."""
        record = self._sims.get(sim_id)
        if record is None:
            record = self._sims[sim_id] = SimHealth(backoff=self.config.quarantine_backoff)
        return record

    def allows(self, sim: SimBackend) -> bool:
        """In the pool, or its back-off is over and its probe is not out yet."""
        record = self._sims.get(sim.info.id)
        if record is None or record.until is None:
            return True
        return not record.probing and self.clock() >= record.until

    def held_until(self, sim: SimBackend) -> float | None:
        """When a quarantined SIM may take its probe (epoch seconds); None: it is not held."""
        return None if self.allows(sim) else self._sims[sim.info.id].until

    @property
    def holding(self) -> bool:
        """Some SIM is quarantined now."""
        return any(r.until is not None for r in self._sims.values())

    def assign(self, sim: SimBackend) -> bool:
        """A send was given to the SIM; True when it is the probe of a quarantined SIM."""
        record = self._sims.get(sim.info.id)
        if record is None or record.until is None:
            return False
        record.probing = True
        return True

    def unassign(self, sim: SimBackend, probe: bool) -> None:
        """The send given to the SIM never started (cancelled): a probe may go again."""
        if probe:
            self.of(sim.info.id).probing = False

    def wake_in(self) -> float | None:
        """Seconds until the next back-off ends (the outbox's timer), if any is waiting."""
        now = self.clock()
        # Only ends still ahead: a back-off that is over waits for a SIM event, not a timer
        # (a timer due now would spin while that SIM is offline or busy).
        ends = [r.until for r in self._sims.values() if r.until is not None and r.until > now]
        return min(ends) - now if ends else None

    async def succeeded(self, sim: SimBackend, probe: bool) -> None:
        """A send on the SIM went out."""
        record = self.of(sim.info.id)
        record.failures = 0
        self._remember(record, failed=False)
        if probe and record.until is not None:
            record.until, record.probing = None, False
            record.backoff = self.config.quarantine_backoff
            record.recent.clear()  # judged afresh from here
            _LOGGER.warning("SIM %s recovered: its probe send went out", sim.info.id)
            await self._store(sim, record, "sim.recovered")

    async def failed(self, sim: SimBackend, probe: bool, exc: SendFailed) -> None:
        """A send on the SIM failed (`exc` says whether that is the SIM's doing)."""
        record = self.of(sim.info.id)
        if not counts_against_sim(exc):
            if probe:
                record.probing = False  # no verdict: the next send probes again
            return
        record.failures += 1
        self._remember(record, failed=True)
        if probe and record.until is not None:
            record.backoff = min(record.backoff * 2, MAX_BACKOFF)
            await self._quarantine(sim, record, f"its probe failed ({exc.code})")
        elif record.until is None and self._unhealthy(record):
            failed = sum(record.recent)
            why = f"{record.failures} in a row, {failed} of its last {len(record.recent)} failed"
            await self._quarantine(sim, record, f"{why} ({exc.code})")

    # --- internals ------------------------------------------------------------------

    def _remember(self, record: SimHealth, *, failed: bool) -> None:
        record.recent.append(failed)
        while len(record.recent) > self.config.quarantine_window:
            record.recent.popleft()

    def _unhealthy(self, record: SimHealth) -> bool:
        after, rate = self.config.quarantine_after, self.config.quarantine_rate
        if after and record.failures >= after:
            return True
        window = record.recent
        return (
            bool(rate)
            and len(window) >= self.config.quarantine_window
            and (sum(window) / len(window) > rate)
        )

    async def _quarantine(self, sim: SimBackend, record: SimHealth, why: str) -> None:
        record.until = self.clock() + record.backoff
        record.probing = False
        _LOGGER.warning("SIM %s quarantined for %.0f s: %s", sim.info.id, record.backoff, why)
        await self._store(sim, record, "sim.quarantined")

    async def _store(self, sim: SimBackend, record: SimHealth, event: str) -> None:
        row = HealthRow(
            sim.info.id,
            "ok" if record.until is None else "quarantined",
            record.failures,
            record.until,
            record.backoff,
        )
        await self.plans.set_health(row, (sim.info.org, event, self.describe(sim)))
