"""Which SIM sends a message: explicit choice, prefix rules, sticky replies, then policy."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
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
    resume_sim: str | None = None  # still `sending` on this SIM from before a restart
    detail: str | None = None  # the status_detail stored for it (why it waits)


def sim_matches(backend: SimBackend, wanted: str) -> bool:
    """`wanted` is a SIM's id, name, number or slot index."""
    info = backend.info
    if wanted in (info.id, info.name) or (info.number and wanted == info.number):
        return True
    # ASCII digits only: '²'.isdigit() is True, and int('²') raises.
    if not (wanted.isascii() and wanted.isdigit()) or info.slot is None:
        return False
    return int(wanted) == info.slot


class Router:
    """Chooses among the SIMs of a message's org that can take work now."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
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
        org_sims: Sequence[SimBackend],
        available: Callable[[SimBackend], bool],
        load: Callable[[SimBackend], int],
    ) -> SimBackend | None:
        """The SIM to send `message` on now, or None to keep it queued.

        `org_sims` are the SIMs of the message's org in a stable order (by id); the cost
        is O(1) per message for round robin with a free SIM, O(SIMs) otherwise.
        """
        exclude: Collection[str] = message.exclude
        if exclude and all(s.info.id in exclude for s in org_sims):
            exclude = ()  # every SIM failed it once: any may try again

        def usable(sim: SimBackend) -> bool:
            return sim.info.id not in exclude and available(sim)

        if message.sim_request:
            # An explicit SIM is a promise to the caller: wait for it rather than use another.
            wanted = message.sim_request
            return next((s for s in org_sims if sim_matches(s, wanted) and available(s)), None)
        for rule in self.config.rule:
            if message.peer.startswith(rule.prefix):
                hit = next((s for s in org_sims if sim_matches(s, rule.sim) and usable(s)), None)
                if hit is not None or not self.config.failover:
                    return hit
                break
        if self.config.sticky_replies:
            sticky = self._sticky.get((message.org, message.peer))
            if sticky is not None:
                hit = next((s for s in org_sims if s.info.id == sticky), None)
                if hit is not None and usable(hit):
                    return hit
        if self.config.policy == "round_robin":
            count = len(org_sims)
            start = next(self._rotation.setdefault(message.org, itertools.count())) % max(1, count)
            for step in range(count):
                sim = org_sims[(start + step) % count]
                if usable(sim):
                    return sim
            return None
        ready = [s for s in org_sims if usable(s)]
        if not ready:
            return None
        if self.config.policy == "priority":
            return max(ready, key=lambda s: (s.priority, -load(s)))
        return min(ready, key=lambda s: (load(s), s.info.id))
