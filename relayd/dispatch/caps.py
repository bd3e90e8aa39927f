"""Per-SIM send caps: how many messages a SIM may send a day and a month.

A message counts once, whatever its parts, when it is handed to a SIM (its move to
`sending`, in that transaction); it is given back when the SIM is certain it did not go
out. Days and months are those of the relay's local time: counters turn at local
midnight and on the 1st. A cap set through the API (`PATCH /api/v1/sims/{id}`) wins over
the config's (`[[modem]]`/`[phones]` `daily_cap`, `monthly_cap`); 0 is no cap.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from relayd.bridges.base import SimBackend
from relayd.config import Config
from relayd.store.plans import PlanRow, PlanStore, Usage

Clock = Callable[[], float]


@dataclass(frozen=True)
class CapCount:
    """One cap of a SIM: its limit (None: no cap) and the sends counted in the period."""

    limit: int | None
    used: int

    @property
    def full(self) -> bool:
        """No room for another message in this period."""
        return self.limit is not None and self.used >= self.limit


@dataclass(frozen=True)
class CapStatus:
    """A SIM's daily and monthly caps, and when the day's counter turns (epoch seconds)."""

    daily: CapCount
    monthly: CapCount
    resets_at: float  # the next local midnight
    month_resets_at: float  # the 1st of next month, local midnight

    def blocked(self) -> tuple[str, float] | None:
        """Which cap stops the SIM, in words, and when it turns; None when it may send."""
        if self.monthly.full:
            return f"monthly_cap {self.monthly.limit} reached", self.month_resets_at
        if self.daily.full:
            return f"daily_cap {self.daily.limit} reached", self.resets_at
        return None


def periods_at(epoch: float) -> tuple[str, str]:
    """The day and month counter keys for a moment, in the relay's local time."""
    local = dt.datetime.fromtimestamp(epoch)
    return local.strftime("d:%Y-%m-%d"), local.strftime("m:%Y-%m")


def next_local_midnight(epoch: float) -> float:
    """Epoch seconds of the next local midnight (a day turn, and a month turn on the 1st)."""
    tomorrow = dt.datetime.fromtimestamp(epoch).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time()).timestamp()


def next_month_start(epoch: float) -> float:
    """Epoch seconds of local midnight on the 1st of next month."""
    today = dt.datetime.fromtimestamp(epoch).date()
    first = dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return dt.datetime.combine(first, dt.time()).timestamp()


def local_iso(epoch: float) -> str:
    """A moment in the relay's local time with its UTC offset (when caps turn)."""
    return dt.datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


class CapBook:
    """Caps per SIM and the counters of the current day and month, mirrored in memory."""

    def __init__(self, plans: PlanStore, config: Config, clock: Clock = time.time) -> None:
        self.plans = plans
        self.clock = clock
        self._modems = {m.name: (m.daily_cap, m.monthly_cap) for m in config.modem}
        self._phones = (config.phones.daily_cap, config.phones.monthly_cap)
        self._set: dict[str, PlanRow] = {}
        self._used: dict[tuple[str, str], int] = {}
        self._periods: tuple[str, str] = ("", "")
        self._turn_at = 0.0  # when the current day's periods end (epoch seconds)
        self._any_caps = any(any(c) for c in (*self._modems.values(), self._phones))

    async def load(self) -> None:
        """Read the API-set caps and the current periods' counters."""
        self._set = {p.sim: p for p in await self.plans.plans()}
        self._any_caps = self._any_caps or any(
            p.daily_cap or p.monthly_cap for p in self._set.values()
        )
        periods = self._current()
        self._used = {(u.sim, u.period): u.used for u in await self.plans.usage(periods)}

    async def set_caps(self, sim: str, daily: int | None, monthly: int | None) -> None:
        """Store a SIM's caps from the API (None: the config's default again)."""
        await self.plans.set_plan(sim, daily, monthly)
        self._set[sim] = PlanRow(sim, daily, monthly)
        self._any_caps = self._any_caps or bool(daily or monthly)

    def stored(self, sim_id: str) -> tuple[int | None, int | None]:
        """The caps the API set for a SIM (None: not set, the config's apply)."""
        plan = self._set.get(sim_id)
        return (plan.daily_cap, plan.monthly_cap) if plan is not None else (None, None)

    def limits(self, sim: SimBackend) -> tuple[int | None, int | None]:
        """(daily, monthly) caps of a SIM; None where it has none."""
        info = sim.info
        default = self._modems.get(info.name, (0, 0)) if info.kind == "modem" else self._phones
        chosen = self._set.get(info.id)
        daily = chosen.daily_cap if chosen and chosen.daily_cap is not None else default[0]
        monthly = chosen.monthly_cap if chosen and chosen.monthly_cap is not None else default[1]
        return daily or None, monthly or None

    def status(self, sim: SimBackend) -> CapStatus:
        """Limits and counts of a SIM now."""
        day, month = self._current()
        daily, monthly = self._limits_of(sim)
        sim_id = sim.info.id
        now = self.clock()
        return CapStatus(
            CapCount(daily, self._used.get((sim_id, day), 0)),
            CapCount(monthly, self._used.get((sim_id, month), 0)),
            next_local_midnight(now),
            next_month_start(now),
        )

    @property
    def active(self) -> bool:
        """Some SIM has a cap (else every check is free)."""
        return self._any_caps

    def room(self, sim: SimBackend) -> bool:
        """Whether the SIM may take another message now (cheap when it has no caps)."""
        if not self._any_caps:
            return True
        daily, monthly = self._limits_of(sim)
        if daily is None and monthly is None:
            return True
        day, month = self._current()
        sim_id = sim.info.id
        return (daily is None or self._used.get((sim_id, day), 0) < daily) and (
            monthly is None or self._used.get((sim_id, month), 0) < monthly
        )

    def reserve(self, sim: SimBackend) -> Usage:
        """Count a message against the SIM now (the store counts it with its claim)."""
        usage = Usage(sim.info.id, self._current())
        for period in usage.periods:
            key = (usage.sim, period)
            self._used[key] = self._used.get(key, 0) + 1
        return usage

    def release(self, usage: Usage) -> None:
        """A counted message did not go out on that SIM after all."""
        for period in usage.periods:
            key = (usage.sim, period)
            if key in self._used:
                self._used[key] -= 1

    def reset_in(self) -> float | None:
        """Seconds to the next counter turn, when any SIM has a cap (the outbox's timer)."""
        if not self._any_caps:
            return None
        now = self.clock()
        return max(0.0, next_local_midnight(now) - now)

    # --- internals ------------------------------------------------------------------

    def _limits_of(self, sim: SimBackend) -> tuple[int | None, int | None]:
        return self.limits(sim) if self._any_caps else (None, None)

    def _current(self) -> tuple[str, str]:
        now = self.clock()
        if self._turn_at <= now or now < self._turn_at - 86400 * 2:  # a day turned (or the
            # clock was set back): the old counters stay in the store, not in memory.
            periods = periods_at(now)
            self._turn_at = next_local_midnight(now)
            if periods != self._periods:
                self._periods = periods
                self._used = {k: v for k, v in self._used.items() if k[1] in periods}
        return self._periods
