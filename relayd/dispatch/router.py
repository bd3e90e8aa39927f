"""Which SIM sends a message: explicit choice, prefix rules, sticky replies, then policy."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from relayd.bridges.base import SimBackend
from relayd.config import RoutingConfig

STICKY_CACHE = 50_000


@dataclass
class Pending:
    """A queued message as the outbox holds it in memory."""

    id: int
    org: str
    peer: str
    text: str
    sim_request: str | None = None
    send_at: float | None = None
    expires_at: float | None = None
    delivery_report: bool = True
    force_gsm7: bool = False
    attempts: int = 0
    exclude: set[str] = field(default_factory=set)


def sim_matches(backend: SimBackend, wanted: str) -> bool:
    """`wanted` is a SIM's id, name, number or slot index."""
    info = backend.info
    if wanted in (info.id, info.name) or (info.number and wanted == info.number):
        return True
    return wanted.isdigit() and info.slot is not None and int(wanted) == info.slot


class Router:
    """Chooses among the SIMs of a message's org that can take work now."""

    def __init__(self, config: RoutingConfig, priority_of: Callable[[SimBackend], int]) -> None:
        self.config = config
        self._priority_of = priority_of
        self._rotation: dict[str, itertools.count[int]] = {}
        self._sticky: OrderedDict[tuple[str, str], str] = OrderedDict()

    def remember_sender(self, org: str, peer: str, sim_id: str) -> None:
        """Note the SIM a peer last wrote to (sticky replies)."""
        key = (org, peer)
        self._sticky[key] = sim_id
        self._sticky.move_to_end(key)
        while len(self._sticky) > STICKY_CACHE:
            self._sticky.popitem(last=False)

    def choose(
        self,
        message: Pending,
        sims: Iterable[SimBackend],
        available: Callable[[SimBackend], bool],
        load: Callable[[SimBackend], int],
    ) -> SimBackend | None:
        """The SIM to send `message` on now, or None to keep it queued."""
        same_org = [s for s in sims if s.info.org == message.org]
        candidates = [s for s in same_org if s.info.id not in message.exclude]
        if not candidates:
            candidates = same_org  # every SIM failed it once: any may try again
        if message.sim_request:
            # An explicit SIM is a promise to the caller: wait for it rather than use another.
            chosen = [s for s in candidates if sim_matches(s, message.sim_request)]
            return next((s for s in chosen if available(s)), None)
        ready = [s for s in candidates if available(s)]
        for rule in self.config.rule:
            if message.peer.startswith(rule.prefix):
                ruled = [s for s in candidates if sim_matches(s, rule.sim)]
                hit = next((s for s in ruled if available(s)), None)
                if hit is not None or not self.config.failover:
                    return hit
                break
        if self.config.sticky_replies:
            sticky = self._sticky.get((message.org, message.peer))
            if sticky is not None:
                hit = next((s for s in ready if s.info.id == sticky), None)
                if hit is not None:
                    return hit
        if not ready:
            return None
        if self.config.policy == "priority":
            return max(ready, key=lambda s: (self._priority_of(s), -load(s)))
        if self.config.policy == "least_busy":
            return min(ready, key=lambda s: (load(s), s.info.id))
        counter = self._rotation.setdefault(message.org, itertools.count())
        ordered = sorted(ready, key=lambda s: s.info.id)
        return ordered[next(counter) % len(ordered)]
