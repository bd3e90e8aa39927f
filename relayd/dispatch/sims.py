"""The SIMs of the relay: backends, their events (inbound, reports, state) into the store."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from relayd.bridges.base import DeliveryReport, InboundSms, SimBackend, SimInfo
from relayd.dispatch.caps import CapStatus
from relayd.dispatch.health import SimHealth
from relayd.dispatch.outbox import Outbox
from relayd.dispatch.router import Router
from relayd.numbers import mask_number
from relayd.store import Store

_LOGGER = logging.getLogger(__name__)
PARTIAL_SWEEP_SECONDS = 30.0


class SimRegistry:
    """Owns the backends and is their BackendEvents sink.

    `describe` shapes a SIM (and its queue depth) for the `sim.*` events; the composition
    root hands in the API's presenter so an event reads like `GET /api/v1/sims`.
    """

    def __init__(
        self,
        store: Store,
        router: Router,
        multipart_wait: float,
        describe: Callable[[SimInfo, int, CapStatus | None, SimHealth | None], dict[str, Any]],
    ) -> None:
        self.store = store
        self.describe = describe
        self.router = router
        self.multipart_wait = multipart_wait
        self.outbox: Outbox | None = None
        self.observer: Callable[[SimBackend], None] | None = None  # fleet: the SIM's row
        self._backends: dict[str, SimBackend] = {}
        self._last_seen: dict[str, tuple[Any, ...]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # --- membership -----------------------------------------------------------------

    def all(self) -> list[SimBackend]:
        """Every backend, in a stable order."""
        return list(self._backends.values())

    def for_org(self, org: str) -> list[SimBackend]:
        """The backends of one org."""
        return [b for b in self._backends.values() if b.info.org == org]

    def get(self, sim_id: str) -> SimBackend | None:
        """A backend by id."""
        return self._backends.get(sim_id)

    async def add(self, backend: SimBackend) -> None:
        """Register and start a backend; settle what it had in flight at the last stop."""
        self._backends[backend.info.id] = backend
        if self.outbox is not None:
            await self.outbox.adopt(backend)
        await backend.start(self)
        self.on_sim_changed(backend.info.id)

    async def remove(self, sim_id: str) -> None:
        """Stop and forget a backend."""
        backend = self._backends.pop(sim_id, None)
        if backend is not None:
            await backend.stop()

    async def start(self) -> None:
        """Seed sticky routing from the store and start the partial-multipart sweeper."""
        for sender in await self.store.messages.recent_senders():
            if sender.sim:
                self.router.remember_sender(sender.org, sender.peer, sender.sim)
        self._sweeper = asyncio.create_task(self._sweep_partials(), name="relayd-partials")

    async def stop(self) -> None:
        """Stop every backend and background task."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for backend in list(self._backends.values()):
            try:
                await backend.stop()
            except Exception:
                _LOGGER.exception("Stopping %s failed", backend.info.id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def snapshot(self, backend: SimBackend) -> dict[str, Any]:
        """A SIM as its `sim.*` events and GET /api/v1/sims show it."""
        outbox = self.outbox
        if outbox is None:
            return self.describe(backend.info, 0, None, None)
        return self.describe(
            backend.info,
            outbox.queue_depth(backend),
            outbox.caps.status(backend),
            outbox.health.of(backend.info.id),
        )

    @property
    def online_count(self) -> int:
        """SIMs online now."""
        return sum(1 for b in self._backends.values() if b.info.online)

    # --- BackendEvents --------------------------------------------------------------

    async def on_inbound(self, sim_id: str, sms: InboundSms) -> None:
        """Store an SMS or part durably; returns only once it is committed."""
        backend = self._backends.get(sim_id)
        org = backend.info.org if backend is not None else "default"
        concat = (
            (sms.concat_ref, sms.concat_total, sms.concat_seq)
            if sms.concat_ref is not None and sms.concat_total > 1
            else None
        )
        message = await self.store.inbound.store(
            org,
            sim_id,
            sms.sender,
            sms.text,
            encoding=sms.encoding,
            received_at=sms.received_at.timestamp() if sms.received_at else None,
            external_id=sms.external_id,
            concat=concat,
        )
        if message is not None:
            self.router.remember_sender(org, sms.sender, sim_id)
            _LOGGER.info("SMS received from %s on %s", mask_number(sms.sender), sim_id)

    async def on_delivery_report(self, sim_id: str, report: DeliveryReport) -> None:
        """Pair a status report with its part; final reports move the message."""
        if not report.final:
            return
        message = await self.store.messages.apply_delivery_report(
            sim_id,
            report.reference,
            report.recipient,
            delivered=report.delivered,
            detail=report.detail,
        )
        if message is None:
            _LOGGER.debug(
                "Status report %d on %s matched no pending part", report.reference, sim_id
            )

    def on_sim_changed(self, sim_id: str) -> None:
        """A backend's state or fields changed: emit sim.* events and wake the outbox."""
        backend = self._backends.get(sim_id)
        if backend is None:
            return
        info = backend.info
        if info.online and info.online_since is None:
            info.online_since = dt.datetime.now(dt.UTC)
        elif not info.online:
            info.online_since = None
        snapshot = (
            info.online,
            info.state,
            info.signal,
            info.registered,
            info.operator,
            info.number,
            info.roaming,
        )
        previous = self._last_seen.get(sim_id)
        self._last_seen[sim_id] = snapshot
        if previous == snapshot:
            return
        if previous is None or previous[0] != info.online:
            kind = "sim.online" if info.online else "sim.offline"
        else:
            kind = "sim.updated"
        self._spawn(self.store.events.record(info.org, kind, self.snapshot(backend)))
        if self.observer is not None:
            self.observer(backend)
        if self.outbox is not None and (info.online or self.outbox.intake is not None):
            self.outbox.wake()  # online: it takes work; offline (fleet): its claims may move on

    # --- internals ------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep_partials(self) -> None:
        while True:
            await asyncio.sleep(min(PARTIAL_SWEEP_SECONDS, self.multipart_wait / 2))
            try:
                for message in await self.store.inbound.flush_stale(self.multipart_wait):
                    _LOGGER.warning(
                        "Multipart SMS %d from %s stored with parts missing",
                        message.id,
                        mask_number(message.peer),
                    )
            except Exception:
                _LOGGER.exception("Sweeping partial multipart messages failed")
