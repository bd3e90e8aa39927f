"""Fleet intake of the outbox: a relay claims the queued messages its own SIMs can carry.

In fleet mode a send accepted by any relay is only stored (`queued`, no node) and announced
with NOTIFY; every relay listening claims what its free SIMs can take, oldest first, with
`FOR UPDATE SKIP LOCKED`, and hands the claimed messages to its outbox, which runs them as
on a single relay. A relay claims its SIMs' capacity plus `ahead` per SIM, so a modem never
waits for a round trip to the database, and a dead relay strands at most that many (they are
released when its heartbeat stops). Claims run when work is announced, when a lane frees up
and when a SIM changes; there is no polling loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

from relayd.bridges.base import SimBackend
from relayd.dispatch.outbox import Outbox
from relayd.dispatch.queue import pending_of
from relayd.dispatch.router import Pending, sim_matches
from relayd.store import Store
from relayd.store.fleet import WORK_CHANNEL, ClaimScope

_LOGGER = logging.getLogger(__name__)
CLAIM_AHEAD = 2  # messages claimed per online SIM beyond what it can take at once


class Claims:
    """Claims queued work for this relay's SIMs; the outbox's `intake` in fleet mode."""

    def __init__(self, store: Store, node: str, outbox: Outbox, ahead: int = CLAIM_AHEAD) -> None:
        self.store = store
        self.node = node
        self.outbox = outbox
        self.ahead = ahead
        self.claimed = 0  # messages claimed since start
        self._running = False
        self._claiming: asyncio.Task[None] | None = None
        self._claim_again = False
        self._announcing: asyncio.Task[None] | None = None
        self._announce_again: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None  # the next unclaimed message's ttl

    async def start(self) -> None:
        """Listen for announced work and claim what is waiting now."""
        self._running = True
        await self.store.listen(WORK_CHANNEL, self._on_work)
        self.want()

    async def stop(self) -> None:
        """Stop claiming (claims already held stay with the outbox until it drains)."""
        self._running = False
        for timer in (self._timer, self._expiry):
            if timer is not None:
                timer.cancel()
        self._timer = self._expiry = None
        for task in (self._claiming, self._announcing):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # --- the outbox's intake --------------------------------------------------------

    def queued(self, message: Pending) -> None:
        """A message was stored `queued` here: tell the fleet, and claim if a SIM is free."""
        self.announce(message.org)
        self.want()

    def want(self) -> None:
        """Claim if this relay has room (coalesced: one claim in flight, then one more)."""
        if not self._running:
            return
        if self._claiming is not None and not self._claiming.done():
            self._claim_again = True
            return
        self._claiming = asyncio.create_task(self._claim_loop(), name="relayd-claims")

    async def claim_now(self) -> None:
        """Claim for this relay's SIMs now and return when done: a phone that just came
        online gets the fleet's queued work on this pull/connect, not on a later one."""
        self.want()
        task = self._claiming
        if task is not None and not task.done():
            await asyncio.shield(task)  # a coalesced `want` runs in this same task

    def announce(self, org: str = "") -> None:
        """NOTIFY the fleet that `org` has claimable work (coalesced like `want`)."""
        if not self._running:
            return
        if self._announcing is not None and not self._announcing.done():
            self._announce_again.add(org)
            return
        self._announcing = asyncio.create_task(self._announce_loop(org), name="relayd-announce")

    # --- internals ------------------------------------------------------------------

    def _on_work(self, _payload: str) -> None:
        self.want()

    async def _announce_loop(self, org: str) -> None:
        pending = {org}
        while pending:
            for name in sorted(pending):
                try:
                    await self.store.notify(WORK_CHANNEL, name)
                except Exception:
                    _LOGGER.exception("Announcing queued work failed")
            pending, self._announce_again = self._announce_again, set()

    async def _claim_loop(self) -> None:
        while True:
            self._claim_again = False
            try:
                await self._release_stranded()
                await self._expire_unclaimed()
                await self._claim_once()
            except Exception:
                _LOGGER.exception("Claiming queued messages failed")
                return
            if not self._claim_again or not self._running:
                return

    async def _claim_once(self) -> None:
        online = [s for s in self.outbox.sims() if s.info.online]
        if not online:
            return
        room = sum(self.outbox.lane(s).capacity + self.ahead for s in online)
        held = sum(self.outbox.lane(s).load for s in online) + self.outbox.queued_count()
        limit = room - held
        if limit <= 0 or (limit < self.ahead and self.outbox.queued_count() > 0):
            return  # claims come in batches of `ahead`, unless a SIM would wait for work
        scopes = claim_scopes(online)
        now = time.time()
        rows = await self.store.fleet.claim(self.node, scopes, limit, now)
        for row in rows:
            self.outbox.take(pending_of(row))
        self.claimed += len(rows)
        if len(rows) < limit:
            await self._arm_timer(scopes, now)

    async def _arm_timer(self, scopes: list[ClaimScope], now: float) -> None:
        """Scheduled messages become claimable with time, not with an event: wake then."""
        due = await self.store.fleet.next_due(scopes, now)
        self._timer = self._wake_at(self._timer, due)

    async def _expire_unclaimed(self) -> None:
        """What no relay claimed expires when its ttl passes, as the outbox expires its own
        (any relay may do it: the transition only moves a row that is still `queued`)."""
        expired, later = await self.store.fleet.unclaimed_expiries(time.time())
        for message_id in expired:
            await self.store.messages.transition(
                message_id,
                "expired",
                error="ttl passed before a SIM could send it",
                only_from=("queued",),
            )
        self._expiry = self._wake_at(self._expiry, later)

    def _wake_at(
        self, timer: asyncio.TimerHandle | None, when: float | None
    ) -> asyncio.TimerHandle | None:
        """Replace `timer` by one that claims again at `when` (None: no timer)."""
        if timer is not None:
            timer.cancel()
        if when is None or not self._running:
            return None
        return asyncio.get_running_loop().call_later(max(0.0, when - time.time()), self.want)

    async def _release_stranded(self) -> None:
        """Messages held here that no online SIM of this relay can carry go back to the fleet."""
        online = [s for s in self.outbox.sims() if s.info.online]
        stranded = [m.id for m in self.outbox.waiting() if not _carried(m, online)]
        if not stranded:
            return
        for message_id in stranded:
            self.outbox.forget(message_id)
        await self.store.fleet.release(self.node, stranded)
        _LOGGER.info("Released %d queued message(s) no SIM here can send now", len(stranded))
        self.announce()


def claim_scopes(sims: list[SimBackend]) -> list[ClaimScope]:
    """Per org: the names its online SIMs answer to, and "any SIM"."""
    names: dict[str, set[str]] = defaultdict(set)
    for sim in sims:
        info = sim.info
        found = names[info.org]
        found.update(n for n in (info.id, info.name, info.number) if n)
        if info.slot is not None:
            found.add(str(info.slot))
    return [ClaimScope(org, tuple(sorted(found))) for org, found in sorted(names.items())]


def _carried(message: Pending, online: list[SimBackend]) -> bool:
    org_sims = [s for s in online if s.info.org == message.org]
    if message.sim_request:
        return any(sim_matches(s, message.sim_request) for s in org_sims)
    return bool(org_sims)
