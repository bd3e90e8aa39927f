"""The outbox worker: wakes on new work, hands queued messages to SIMs, drives their states."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Protocol

from relayd.bridges.base import OutboundSms, SendFailed, SimBackend
from relayd.config import RoutingConfig
from relayd.dispatch.caps import CapBook
from relayd.dispatch.health import HealthBook
from relayd.dispatch.lane import Lane
from relayd.dispatch.queue import PendingQueue, pending_of
from relayd.dispatch.router import Pending, Router
from relayd.dispatch.waiting import say_why_waiting
from relayd.numbers import mask_number
from relayd.store import Store, Usage

_LOGGER = logging.getLogger(__name__)
RETRY_BACKOFF = 1.0  # seconds per attempt before a SIM that failed a message tries it again
HANDOVER_TURNS = 3  # loop turns from the wake to the next send's first write (cycle, task)


class Intake(Protocol):
    """Where queued work comes from in fleet mode (`claims.Claims`); None on a single relay."""

    node: str

    def queued(self, message: Pending) -> None:
        """A message was stored `queued` by this relay."""
        ...

    def want(self) -> None:
        """The outbox has room, or its SIMs changed: claim more if there is work."""
        ...


class Outbox:
    """Holds queued messages in memory (the store holds them durably) and dispatches them."""

    def __init__(
        self,
        store: Store,
        router: Router,
        config: RoutingConfig,
        sims: Callable[[], list[SimBackend]],
        *,
        caps: CapBook,
        health: HealthBook,
    ) -> None:
        self.store = store
        self.caps = caps  # per-SIM daily/monthly send caps
        self.health = health  # quarantine of failing SIMs
        self.router = router
        self.config = config
        self._sims = sims
        self._pending = PendingQueue()
        self._lanes: dict[str, Lane] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._accepting = True
        self.last_cycle = time.monotonic()
        self.intake: Intake | None = None  # fleet mode: work is claimed, not handed in

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Load what is queued (and what a stop tore), settle torn sends, start dispatching."""
        await self.caps.load()
        await self.health.load()
        now = time.time()
        torn_elsewhere: list[int] = []
        node = self.intake.node if self.intake is not None else None
        for row in await self.store.messages.pending_outbound(node):
            sending = row.status == "sending"
            if row.channel != "sms" or (sending and not row.sim):
                if sending:
                    torn_elsewhere.append(row.id)  # e-mail, notify: no line dedupes them
                continue  # queued e-mail and notifications are the channel worker's
            self._pending.add(pending_of(row, resume_sim=row.sim if sending else None), now)
        await self._interrupt(torn_elsewhere)
        for sim in self._sims():
            await self.adopt(sim)
        self._task = asyncio.create_task(self._run(), name="relayd-outbox")
        self.wake()

    async def adopt(self, sim: SimBackend) -> None:
        """A SIM joined: what it had in flight at the last stop resumes or fails (SPEC §5).

        A line that dedupes by message id gets those sends again; any other cannot tell
        whether they went on air, so they fail as `interrupted` and are never resent.
        """
        if sim.redelivers_by_id:
            self.wake()
            return
        sim_id = sim.info.id
        torn = [p.id for p in self._pending.resumable() if p.resume_sim == sim_id]
        for message_id in torn:
            self._pending.discard(message_id)
        await self._interrupt(torn)

    async def drain(self, grace: float) -> None:
        """Stop assigning; give in-flight sends `timeout` seconds, then cancel them."""
        self._accepting = False
        if self._timer is not None:
            self._timer.cancel()
        tasks = {t for lane in self._lanes.values() for t in lane.tasks}
        if tasks:
            _LOGGER.info("Waiting for %d in-flight send(s)", len(tasks))
            _done, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def healthy(self) -> bool:
        """The worker task is alive (the systemd watchdog asks)."""
        return self._task is not None and not self._task.done()

    # --- work intake ----------------------------------------------------------------

    def enqueue(self, message: Pending) -> None:
        """A message was stored as queued: consider it on the next cycle (fleet: claim it)."""
        if self.intake is not None:
            self.intake.queued(message)
            return
        self.take(message)

    def take(self, message: Pending) -> None:
        """Hold a queued message (stored by this relay, or claimed) and dispatch it."""
        self._pending.add(message, time.time())
        self.wake()

    def waiting(self) -> list[Pending]:
        """Messages held here and not yet assigned to a SIM (scheduled ones included)."""
        resuming = {p.id for p in self._pending.resumable()}
        return [p for p in self._pending.all() if p.id not in resuming]

    def sims(self) -> list[SimBackend]:
        """The SIMs this outbox dispatches to."""
        return self._sims()

    def forget(self, message_id: int) -> bool:
        """Drop a queued message (cancelled); True when it was waiting here."""
        return self._pending.discard(message_id) is not None

    def wake(self) -> None:
        """Something changed (new work, a SIM came online, a lane freed up)."""
        self._wake.set()

    def lane(self, sim: SimBackend) -> Lane:
        """The lane of a SIM, created on first use."""
        lane = self._lanes.get(sim.info.id)
        if lane is None:
            lane = self._lanes[sim.info.id] = Lane.for_sim(sim)
        return lane

    def queued_count(self, org: str | None = None) -> int:
        """Messages waiting for a SIM (or for their send_at)."""
        if org is None:
            return len(self._pending)
        return sum(1 for p in self._pending.all() if p.org == org)

    async def queued_total(self, org: str | None = None) -> int:
        """Messages waiting for a SIM: this relay's queue, or in fleet mode the fleet's."""
        if self.intake is None:
            return self.queued_count(org)
        return await self.store.fleet.queued_count(org)

    def queue_depth(self, sim: SimBackend) -> int:
        """In-flight sends on this SIM plus messages asked for it by name."""
        waiting = sum(
            1
            for p in self._pending.all()
            if p.sim_request
            and p.org == sim.info.org
            and p.sim_request in (sim.info.id, sim.info.name, sim.info.number)
        )
        return self.lane(sim).load + waiting

    # --- the loop -------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self.last_cycle = time.monotonic()
            if self._accepting:
                await self._cycle()

    def _load(self, sim: SimBackend) -> int:
        return self.lane(sim).load

    def _available(self, sim: SimBackend) -> bool:
        return (
            sim.info.online
            and self.lane(sim).ready(time.monotonic())
            and self.caps.room(sim)
            and self.health.allows(sim)
        )

    async def _cycle(self) -> None:
        now = time.time()
        for message in self._pending.pop_expired(now):
            await self.store.messages.transition(
                message.id,
                "expired",
                error="ttl passed before a SIM could send it",
                only_from=("queued",),
            )
        self._pending.release_due(now)
        sims = sorted(self._sims(), key=lambda s: s.info.id)
        by_id = {s.info.id: s for s in sims}
        for message in self._pending.resumable():
            # Left `sending` on a phone by a restart: only that SIM may have it (it dedupes
            # by id); its backend waits for the phone, so "online" does not matter here.
            owner = by_id.get(message.resume_sim or "")
            if owner is not None and owner.redelivers_by_id:
                self._pending.discard(message.id)
                self._start_send(message, owner, counted=True)
        by_org: dict[str, list[SimBackend]] = {}
        for backend in sims:
            by_org.setdefault(backend.info.org, []).append(backend)
        for org in self._pending.ready_orgs():
            org_sims = by_org.get(org, [])
            if not any(self._available(s) for s in org_sims):
                await say_why_waiting(
                    self.store, self.caps, self.health, partial(self._pending.ready, org), org_sims
                )
                continue  # nothing can move: its backlog is not walked
            for message in self._pending.ready(org):
                sim = self.router.choose(message, org_sims, self._available, self._load)
                if sim is None:
                    if message.sim_request:
                        await say_why_waiting(
                            self.store, self.caps, self.health, partial(list, [message]), org_sims
                        )
                    continue
                self._pending.discard(message.id)
                self._start_send(message, sim)
                if not self._available(sim) and not any(self._available(s) for s in org_sims):
                    break
        # Scheduled messages and rate-limited lanes free up with time, not with an event.
        mono = time.monotonic()
        next_due = self._pending.next_due()
        delays = [next_due - now] if next_due is not None else []
        if len(self._pending):
            tokens = (lane.wait_until(mono) for lane in self._lanes.values())
            delays += [at - mono for at in tokens if at is not None]
            # A day turn resets the caps, a back-off's end lets a probe through.
            turns = (self.caps.reset_in(), self.health.wake_in())
            delays += [t for t in turns if t is not None]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if delays:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, min(delays)), self.wake)
        if self.intake is not None:
            self.intake.want()

    def _start_send(self, message: Pending, sim: SimBackend, *, counted: bool = False) -> None:
        lane = self.lane(sim)
        lane.assign()
        message.detail = None  # the claim clears the stored status_detail
        usage = None if counted else self.caps.reserve(sim)  # counted before a restart
        probe = self.health.assign(sim)
        task = asyncio.create_task(
            self._send(message, sim, lane, usage, probe), name=f"send-{message.id}"
        )
        lane.tasks.add(task)
        task.add_done_callback(lane.tasks.discard)

    async def _send(
        self, message: Pending, sim: SimBackend, lane: Lane, usage: Usage | None, probe: bool
    ) -> None:
        sim_id = sim.info.id
        resumed = message.resume_sim is not None
        handed = finished = False
        try:
            claimed = await self.store.messages.transition(
                message.id,
                "sending",
                sim=sim_id,
                only_from=("sending",) if resumed else ("queued",),
                count_attempt=not resumed,
                usage=None if usage is None else (usage, 1),
            )
            if claimed is None:
                if usage is not None:
                    self.caps.release(usage)
                self.health.unassign(sim, probe)
                return  # cancelled while waiting
            if not resumed:
                message.attempts += 1
            sms = OutboundSms(
                message_id=message.id,
                to=message.peer,
                text=message.text,
                encoding="gsm7" if message.force_gsm7 else "auto",
                delivery_report=message.delivery_report,
                redelivery=resumed,
            )
            handed = True
            if lane.hand_off() and len(self._pending):
                self.wake()  # the lane's next token time is known now: set the timer
            try:
                receipt = await sim.send(sms)
            except Exception as exc:  # a backend bug must not lose the message's state
                if not isinstance(exc, SendFailed):
                    _LOGGER.exception("Send %d on %s raised", message.id, sim_id)
                    reason = str(exc) or type(exc).__name__
                    exc = SendFailed("interrupted", reason, transient=False, not_sent=False)
                await self.health.failed(sim, probe, exc)
                await self._on_failure(message, sim_id, exc, usage)
                return
            lane.sent += 1
            # The line is free once it answered: the next send need not wait for this commit
            # (a crash before it leaves the row `sending`, which a restart fails as interrupted).
            lane.finish(handed=True)
            handed = finished = True
            self.wake()
            # Let the cycle start the lane's next send first: its `sending` commit and this
            # `sent` one then share one group commit instead of queueing one behind the other.
            for _ in range(HANDOVER_TURNS):
                await asyncio.sleep(0)
            await self.store.messages.mark_sent(message.id, sim_id, receipt.references)
            await self.health.succeeded(sim, probe)
            _LOGGER.info(
                "Message %d sent to %s via %s", message.id, mask_number(message.peer), sim_id
            )
        finally:
            if not finished:
                lane.finish(handed=handed)
                self.wake()

    async def _interrupt(self, message_ids: list[int]) -> None:
        if not message_ids:
            return
        failed = await self.store.messages.interrupt(message_ids)
        if failed:
            _LOGGER.warning(
                "%d send(s) were in flight at the last stop: failed as interrupted", len(failed)
            )

    async def _on_failure(
        self, message: Pending, sim_id: str, exc: SendFailed, usage: Usage | None
    ) -> None:
        message.resume_sim = None
        refund = None
        if usage is not None and exc.not_sent:  # it never went out: it does not count
            self.caps.release(usage)
            refund = (usage, -1)
        retry = (
            exc.not_sent
            and exc.transient
            and self.config.failover
            and message.attempts < self.config.max_attempts
            and self._accepting
        )
        if retry:
            message.exclude.add(sim_id)
            others = [
                s
                for s in self._sims()
                if s.info.org == message.org and s.info.online and s.info.id not in message.exclude
            ]
            if message.sim_request or not others:
                # No other SIM to fail over to: the same one tries again after a pause.
                message.exclude.clear()
                message.send_at = time.time() + RETRY_BACKOFF * message.attempts
            await self.store.messages.transition(
                message.id,
                "queued",
                error=f"{exc.code}: {exc.message}; retrying",
                only_from=("sending",),
                usage=refund,
            )
            self._pending.add(message, time.time())
            _LOGGER.info("Message %d failed on %s (%s): queued again", message.id, sim_id, exc.code)
            return
        error = exc.code if exc.code == "interrupted" else f"{exc.code}: {exc.message}"
        await self.store.messages.transition(
            message.id, "failed", error=error, only_from=("sending",), usage=refund
        )
        _LOGGER.warning("Message %d failed on %s: %s", message.id, sim_id, error)
