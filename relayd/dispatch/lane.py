"""One SIM's lane in the outbox: sends in flight against its capacity, and its send rate.

`rate_per_minute` is a token bucket that holds one token: a token comes back
60 / rate seconds after the previous send was handed to the SIM, so a burst of queued
messages leaves at the rate, never faster (bursts are not saved up while idle, and
nothing is carried across restarts).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from relayd.bridges.base import SimBackend


@dataclass
class Lane:
    """Per-SIM bookkeeping: in-flight sends, capacity and the rate bucket."""

    capacity: int = 1
    interval: float = 0.0  # seconds between two hand-offs; 0: unlimited
    load: int = 0  # sends assigned and not finished
    sent: int = 0
    next_token: float = 0.0  # monotonic time the bucket has a token again
    unhanded: int = 0  # sends assigned whose hand-off to the SIM has not happened yet
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def for_sim(cls, sim: SimBackend) -> Lane:
        """A lane sized by what the SIM declares."""
        rate = sim.rate_per_minute
        return cls(capacity=max(1, sim.max_in_flight), interval=60.0 / rate if rate > 0 else 0.0)

    def ready(self, now: float) -> bool:
        """Whether another send may be assigned at monotonic time `now`."""
        if self.load >= self.capacity:
            return False
        if not self.interval:
            return True
        # One token, spent only at hand-off: wait for the assigned send to take it.
        return self.unhanded == 0 and self.next_token <= now

    def assign(self) -> None:
        """A send was assigned to this lane."""
        self.load += 1
        if self.interval:
            self.unhanded += 1

    def hand_off(self) -> bool:
        """The send is handed to the SIM now: it takes the token (True when rate-limited)."""
        if not self.interval:
            return False
        self.unhanded -= 1
        self.next_token = time.monotonic() + self.interval
        return True

    def finish(self, *, handed: bool) -> None:
        """An assigned send is over, whatever its outcome (`handed`: it reached the SIM)."""
        self.load -= 1
        if self.interval and not handed:
            self.unhanded -= 1

    def wait_until(self, now: float) -> float | None:
        """Monotonic time this lane's token comes back, when that is still ahead."""
        return self.next_token if self.interval and self.next_token > now else None
