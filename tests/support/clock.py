"""A clock a test moves by hand: the scheduler's timers fire when the test says time has come."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class ManualTimer:
    """A pending call; `cancel` drops it."""

    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """`now()` is what the test set; `advance_to` fires due timers in order, settling after each."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = start.timestamp()
        self.timers: list[ManualTimer] = []

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(when, callback)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[ManualTimer]:
        return sorted((t for t in self.timers if not t.cancelled), key=lambda t: t.when)

    async def advance_to(self, when: dt.datetime, settle: Callable[[], Awaitable[None]]) -> None:
        """Move to `when`, firing each timer due on the way at its own time."""
        target = when.timestamp()
        await settle()
        while (due := [t for t in self.pending() if t.when <= target]):
            timer = due[0]
            self.timers.remove(timer)
            self._now = max(self._now, timer.when)
            timer.callback()
            await settle()
        self._now = target
