"""Per-SIM send plans: caps set through the API, send counters per period, health state.

Counters are rows per (SIM, period) where a period is `d:YYYY-MM-DD` or `m:YYYY-MM` in the
relay's local time; a send is counted in the same transaction as its move to `sending`
(`count_usage_in`), and given back in the transaction of its failure when the SIM is certain
it did not go out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from relayd.store.backend import Backend, Transaction
from relayd.store.rows import emit


@dataclass(frozen=True)
class Usage:
    """One send counted against a SIM: the periods it was counted in."""

    sim: str
    periods: tuple[str, ...]


@dataclass(frozen=True)
class PlanRow:
    """Caps set through the API for one SIM (None: the config's default applies)."""

    sim: str
    daily_cap: int | None
    monthly_cap: int | None


@dataclass(frozen=True)
class UsageRow:
    """How many sends a SIM made in one period."""

    sim: str
    period: str
    used: int


@dataclass(frozen=True)
class HealthRow:
    """A SIM's stored health: `quarantined` until `until_at`, the next back-off `backoff`."""

    sim: str
    state: str
    failures: int
    until_at: float | None
    backoff: float


def count_usage_in(tx: Transaction, usage: Usage, delta: int) -> None:
    """Add `delta` sends to each of the usage's periods (inside a caller's transaction)."""
    tx.executemany(
        "INSERT INTO sim_usage (sim, period, used) VALUES (?, ?, ?) "
        "ON CONFLICT (sim, period) DO UPDATE SET used = sim_usage.used + excluded.used",
        [(usage.sim, period, delta) for period in usage.periods],
    )


class PlanStore:
    """Caps, counters and health of SIMs."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def plans(self) -> list[PlanRow]:
        """Every API-set plan."""
        rows = await self.db.fetchall("SELECT sim, daily_cap, monthly_cap FROM sim_plans")
        return [PlanRow(r["sim"], r["daily_cap"], r["monthly_cap"]) for r in rows]

    async def set_plan(self, sim: str, daily_cap: int | None, monthly_cap: int | None) -> None:
        """Store a SIM's caps (None: back to the config's default)."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO sim_plans (sim, daily_cap, monthly_cap, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (sim) DO UPDATE SET "
                "daily_cap = excluded.daily_cap, monthly_cap = excluded.monthly_cap, "
                "updated_at = excluded.updated_at",
                (sim, daily_cap, monthly_cap, time.time()),
            )

        await self.db.write(op)

    async def usage(self, periods: Sequence[str]) -> list[UsageRow]:
        """The counters of these periods, every SIM."""
        if not periods:
            return []
        marks = ", ".join("?" * len(periods))
        rows = await self.db.fetchall(
            f"SELECT sim, period, used FROM sim_usage WHERE period IN ({marks})",  # noqa: S608
            tuple(periods),
        )
        return [UsageRow(r["sim"], r["period"], int(r["used"])) for r in rows]

    async def health(self) -> list[HealthRow]:
        """The stored health of every SIM that was ever quarantined."""
        rows = await self.db.fetchall(
            "SELECT sim, state, failures, until_at, backoff FROM sim_health"
        )
        return [
            HealthRow(r["sim"], r["state"], int(r["failures"]), r["until_at"], float(r["backoff"]))
            for r in rows
        ]

    async def set_health(
        self, health: HealthRow, event: tuple[str, str, dict[str, object]] | None = None
    ) -> None:
        """Store a SIM's health; `event` (org, type, data) is written in the same transaction."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO sim_health (sim, state, failures, until_at, backoff, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sim) DO UPDATE SET "
                "state = excluded.state, failures = excluded.failures, "
                "until_at = excluded.until_at, backoff = excluded.backoff, "
                "updated_at = excluded.updated_at",
                (
                    health.sim,
                    health.state,
                    health.failures,
                    health.until_at,
                    health.backoff,
                    time.time(),
                ),
            )
            if event is not None:
                emit(tx, *event)

        await self.db.write(op)
