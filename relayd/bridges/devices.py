"""Devices that bring SIMs over the network, of every kind, in one shape.

A `Device` outlives its connections: it holds its SIMs (registered with the relay, offline
while it is away) and every send handed to it and not answered yet. It is online while a
connection is open (a seed-004 socket, an app's event stream) or while a recent sign of
life lasts (a pull of the Android app, a stream that dropped a moment ago). A kind adds
only its wire protocol: how a send is offered, how the device takes it, what it answers.

`DeviceHub` owns the devices of one kind for the whole relay and gets narrow dependencies
(`HubDeps`): where SIMs are registered, how the outbox is woken, the numbering region.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from relayd.bridges.base import (
    DeliveryReport,
    DeviceSim,
    InboundSms,
    OutboundSms,
    SendFailed,
    SendReceipt,
    SimBackend,
    SimInfo,
    abandon_sends,
    park_sends,
)
from relayd.numbers import InvalidNumber, normalize_number
from relayd.store.rows import iso

_LOGGER = logging.getLogger(__name__)

SETTLE_STEP = 0.02  # seconds between looks while a pull waits for the outbox
K = TypeVar("K", int, str)  # how a device names a send: the message id, or its own hand-over id


@dataclass
class PendingSend(Generic[K]):
    """One send handed to a device and not answered yet."""

    key: K
    sms: OutboundSms
    slot: int
    future: asyncio.Future[SendReceipt]
    created_at: float = field(default_factory=time.time)
    taken: bool = False  # the device has it (pushed on its socket, or fetched by a pull)


P = TypeVar("P", bound=PendingSend[Any])


def offline_error(what: str = "the phone is offline") -> SendFailed:
    """Nothing went out: the send may go to another SIM."""
    return SendFailed("phone_offline", what, transient=True, not_sent=True)


def not_taken_error(what: str) -> SendFailed:
    """The device never took the send: it is taken back, certainly unsent."""
    return SendFailed("not_fetched", what, transient=True, not_sent=True)


class Device(Generic[K, P]):
    """One device across its connections: SIMs, liveness, unanswered sends."""

    kind: ClassVar[str]  # "websocket" (seed-004 phone) or "android-sms-gateway" (the app)

    def __init__(
        self, org: str, device_id: str, name: str, *, result_timeout: Callable[[], float]
    ) -> None:
        self.org = org
        self.id = device_id
        self.name = name
        self.result_timeout = result_timeout
        self.slots: dict[int, DeviceLine] = {}
        self.outstanding: dict[K, P] = {}
        self.connected_since: float | None = None
        self.last_seen: float | None = None
        self._alive_until = 0.0  # monotonic: a sign of life keeps the device online until then
        self._alive_timer: asyncio.TimerHandle | None = None

    # --- what a kind provides -------------------------------------------------------

    @property
    def connected(self) -> bool:
        """A connection (socket, event stream) is open now."""
        raise NotImplementedError

    async def _new_pending(self, slot: int, sms: OutboundSms) -> P:
        """The bookkeeping entry of a new hand-over (its key is what the device answers to)."""
        raise NotImplementedError

    async def _offer(self, entry: P) -> None:
        """Tell the device there is a send (push it, or announce it for the next pull)."""
        raise NotImplementedError

    def _take_within(self) -> float | None:
        """Seconds the device has to take an offered send (0: at once; None: while online)."""
        raise NotImplementedError

    async def _settled(self) -> None:
        """A send ended (answered, timed out or taken back)."""

    # --- liveness -------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Connected, or a sign of life that still counts."""
        return self.connected or time.monotonic() < self._alive_until

    def keep_alive(self, seconds: float) -> None:
        """A sign of life (a pull, a stream that just ended): online for `seconds` more."""
        was_online = self.online
        self.last_seen = time.time()
        until = time.monotonic() + seconds
        if until > self._alive_until:
            self._alive_until = until
            if self._alive_timer is not None:
                self._alive_timer.cancel()
            self._alive_timer = asyncio.get_running_loop().call_later(seconds, self._lapsed)
        if not was_online:
            self.came_online()

    def end_keep_alive(self) -> None:
        """Shutdown or revocation: no sign of life counts any more."""
        if self._alive_timer is not None:
            self._alive_timer.cancel()
            self._alive_timer = None
        self._alive_until = 0.0

    def came_online(self) -> None:
        """Offline to online: the SIMs take sends again."""
        _LOGGER.info("%s device %s/%s online", self.kind, self.org, self.id)
        self.set_slots_online(True)

    def went_offline(self) -> None:
        """Online to offline: SIMs offline; sends the device never took go back to the queue."""
        _LOGGER.info(
            "%s device %s/%s offline (%d send(s) awaiting its result)",
            self.kind,
            self.org,
            self.id,
            len(self.outstanding),
        )
        self.set_slots_online(False)
        for entry in list(self.outstanding.values()):
            if not entry.taken and not entry.sms.redelivery:
                self._take_back(entry, "the phone went offline before it took the message")

    def set_slots_online(self, online: bool, slots: set[int] | None = None) -> None:
        """Mark the SIMs (all, or those listed) online or offline and notify the relay."""
        for slot, backend in self.slots.items():
            if backend.update(online=online and (slots is None or slot in slots)):
                backend.changed()

    def _lapsed(self) -> None:
        self._alive_timer = None
        if not self.online:
            self.went_offline()

    # --- sends ----------------------------------------------------------------------

    async def submit(self, slot: int, sms: OutboundSms) -> SendReceipt:
        """Hand a send to the device; wait (across reconnects) for its result."""
        if not self.online and not sms.redelivery:
            raise offline_error()
        entry = await self._new_pending(slot, sms)
        self.outstanding[entry.key] = entry
        timeout = self.result_timeout()
        take_back: asyncio.TimerHandle | None = None
        try:
            await self._offer(entry)
            if not entry.taken and not sms.redelivery:
                within = self._take_within()
                if within is not None and within <= 0:
                    raise offline_error("the phone went offline")
                if within is not None:
                    take_back = asyncio.get_running_loop().call_later(
                        min(within, timeout),
                        self._take_back,
                        entry,
                        "the phone did not fetch the message; it is taken back",
                    )
            try:
                async with asyncio.timeout(timeout):
                    return await entry.future
            except TimeoutError:
                if not entry.taken and not sms.redelivery:
                    raise not_taken_error(
                        f"the phone did not fetch the message within {timeout:g} s"
                    ) from None
                raise SendFailed(
                    "no_result",
                    f"the phone sent no result within {timeout:g} s; "
                    "it may or may not have sent the SMS",
                    transient=False,
                    not_sent=False,
                ) from None
        finally:
            if take_back is not None:
                take_back.cancel()
            if self.outstanding.get(entry.key) is entry:
                del self.outstanding[entry.key]
            await self._settled()

    def waiting(self, key: K) -> P | None:
        """The unanswered send with this key, or None."""
        entry = self.outstanding.get(key)
        return None if entry is None or entry.future.done() else entry

    def succeeded(self, key: K) -> P | None:
        """The device sent it (one "part" whose reference is the message id)."""
        entry = self.waiting(key)
        if entry is not None:
            entry.taken = True
            entry.future.set_result(SendReceipt(references=[entry.sms.message_id]))
        return entry

    def failed(self, key: K, error: str) -> P | None:
        """The device could not send it: nothing went out, another SIM may try."""
        entry = self.waiting(key)
        if entry is not None:
            entry.taken = True
            entry.future.set_exception(
                SendFailed("phone_error", error, transient=True, not_sent=True)
            )
        return entry

    def park(self) -> None:
        """Relay shutdown: stop waiting, leave the sends `sending` for the next start."""
        park_sends(e.future for e in self.outstanding.values())

    def abandon(self, reason: str) -> None:
        """The device is gone for good (unpaired): unanswered sends fail without a retry."""
        abandon_sends((e.future for e in self.outstanding.values()), reason)

    def _take_back(self, entry: P, why: str) -> None:
        if not entry.taken and not entry.future.done():
            entry.future.set_exception(not_taken_error(why))


class DeviceLine(DeviceSim):
    """One SIM of a device, as the router sees it: its sends go through the device."""

    def __init__(self, device: Device[Any, Any], key: int, info: SimInfo) -> None:
        info.kind = "phone"
        info.org = device.org
        info.state = "offline"
        info.extra.setdefault("device", device.id)
        info.extra.setdefault("device_kind", device.kind)
        super().__init__(info)
        self.device = device
        self.key = key  # what the device calls this SIM (slot index, or the app's SIM number)

    async def send(self, sms: OutboundSms) -> SendReceipt:
        """Offer the message to the device and wait for its result."""
        return await self.device.submit(self.key, sms)


D = TypeVar("D", bound=Device[Any, Any])


class SimLines(Protocol):
    """What a hub needs of the relay's SIM registry."""

    async def add(self, backend: SimBackend) -> None: ...

    async def remove(self, sim_id: str) -> None: ...

    async def on_inbound(self, sim_id: str, sms: InboundSms) -> None: ...

    async def on_delivery_report(self, sim_id: str, report: DeliveryReport) -> None: ...


MessageLookup = Callable[[str, int], Awaitable[Any]]  # (org, id) -> message row or None


@dataclass(frozen=True)
class HubDeps:
    """Everything a hub may use of the relay, and no more."""

    sims: SimLines
    wake_outbox: Callable[[], None]
    region: str
    result_timeout: Callable[[], float]  # [phones] result_timeout, read when a send starts
    message: MessageLookup
    queued: Callable[[str], int]  # messages of an org waiting in the outbox for a SIM
    in_flight: Callable[[SimBackend], int]  # sends the outbox has started on a SIM


@dataclass(frozen=True)
class NotifyReach:
    """Phones of an org a notification was shown on, and online ones that cannot show it."""

    shown: int = 0
    cannot_show: int = 0


class DeviceHub(Generic[D]):
    """Owns the devices of one kind: start/stop, SIM registration, listing, reports."""

    kind: ClassVar[str]

    def __init__(self, deps: HubDeps) -> None:
        self.deps = deps
        self.sims = deps.sims
        self.region = deps.region
        self.devices: dict[str, D] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Register the known devices' SIMs (offline), then let the outbox resume sends."""
        await self._load()
        self.deps.wake_outbox()  # sends left `sending` on these SIMs may be resumed now

    async def close_connections(self) -> None:
        """Shutdown, first step: end every connection (the devices come back later)."""

    async def stop(self) -> None:
        """Shutdown, before the outbox drains: unanswered sends stay `sending`."""
        for device in self.devices.values():
            device.park()
            device.end_keep_alive()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _load(self) -> None:
        """The devices the store knows."""

    # --- devices --------------------------------------------------------------------

    def of_org(self, org: str) -> list[D]:
        """The devices of `org`, oldest first."""
        return [d for d in self.devices.values() if d.org == org]

    def online_devices(self, org: str) -> int:
        """How many devices of `org` are online (a device counts once, however many SIMs)."""
        return sum(1 for d in self.of_org(org) if d.online)

    def owns(self, sim_id: str) -> bool:
        """A SIM of one of this hub's devices."""
        return any(b.info.id == sim_id for d in self.devices.values() for b in d.slots.values())

    async def add_sim(self, device: D, slot: int, backend: DeviceLine) -> None:
        """A new SIM of `device`, registered with the relay."""
        device.slots[slot] = backend
        await self.sims.add(backend)

    async def drop(self, device: D) -> None:
        """Forget a device and unregister its SIMs."""
        if self.devices.get(device.id) is not device:
            return
        del self.devices[device.id]
        device.end_keep_alive()
        for backend in device.slots.values():
            await self.sims.remove(backend.info.id)

    def describe(self, org: str) -> list[dict[str, Any]]:
        """The devices of `org` as GET /api/v1/phones shows them."""
        return [self._describe(d) for d in self.of_org(org)]

    def _describe(self, device: D) -> dict[str, Any]:
        return {
            "id": device.id,
            "kind": device.kind,
            "name": device.name,
            "org": device.org,
            "online": device.online,
            "paired": True,
            "token_prefix": None,
            "connected_since": iso(device.connected_since),
            "last_seen_at": iso(time.time() if device.online else device.last_seen),
            "awaiting_result": len(device.outstanding),
            "sims": [
                {
                    "id": b.info.id,
                    "slot": b.info.slot,
                    "number": b.info.number,
                    "carrier": b.info.operator,
                    "online": b.info.online,
                }
                for _, b in sorted(device.slots.items())
            ],
        }

    async def notify(self, org: str, title: str, text: str) -> NotifyReach:
        """A notification to every online device of `org` that can show one."""
        return NotifyReach(cannot_show=self.online_devices(org))

    async def settle(self, device: D, within: float) -> None:
        """Wait (at most `within` s) until what the outbox routes to `device` now reached it.

        A device that just came online makes the outbox hand it the org's queue; a pull
        that brought it online answers with those sends instead of leaving them for the
        next pull, minutes later.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            held = [e.slot for e in device.outstanding.values()]
            arrived = all(self.deps.in_flight(b) <= held.count(k) for k, b in device.slots.items())
            if arrived and self.deps.queued(device.org) == 0:
                return
            await asyncio.sleep(SETTLE_STEP)

    # --- what devices report ----------------------------------------------------------

    def number(self, raw: object) -> str | None:
        """A number a device reported, in E.164 when it parses (short codes and names stay)."""
        if not isinstance(raw, str) or not raw.strip():
            return None
        try:
            return normalize_number(raw, self.region, allow_short_codes=True)
        except InvalidNumber:
            return raw.strip()

    async def report_delivery(
        self, sim_id: str, message_id: int, peer: str, delivered: bool, error: str | None
    ) -> None:
        """A final delivery state of a send, paired with its one part (reference = id)."""
        detail = error or ("delivered" if delivered else "not delivered")
        report = DeliveryReport(
            reference=message_id,
            recipient=peer,
            delivered=delivered,
            final=True,
            status_code=0 if delivered else 1,
            detail=detail,
            at=dt.datetime.now(dt.UTC),
        )
        await self.sims.on_delivery_report(sim_id, report)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a side job (closing an old socket, persisting last-seen) that stop waits for."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def all_devices(hubs: tuple[DeviceHub[Any], ...], org: str) -> Iterator[Device[Any, Any]]:
    """Every device of `org`, of every kind."""
    for hub in hubs:
        yield from hub.of_org(org)
