"""`DeviceHub`: the devices of one kind for the whole relay, whatever their wire protocol.

A hub registers its devices' SIMs with the relay, starts after the SIM registry and stops
before it, lists its devices, builds delivery reports, parses the numbers devices report
and runs side jobs. It gets narrow dependencies (`HubDeps`) from the composition root
(`relayd.relay.Relay`), never the relay itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from relayd.bridges.base import DeliveryReport, InboundSms, SimBackend
from relayd.bridges.devices import Device, DeviceLine
from relayd.limits import TooManyDevices
from relayd.numbers import InvalidNumber, normalize_number
from relayd.store.records import MessageRow
from relayd.timefmt import iso

SETTLE_STEP = 0.02  # seconds between looks while a pull waits for the outbox

D = TypeVar("D", bound=Device[Any, Any])


class SimLines(Protocol):
    """What a hub needs of the relay's SIM registry."""

    async def add(self, backend: SimBackend) -> None: ...

    async def remove(self, sim_id: str) -> None: ...

    async def on_inbound(self, sim_id: str, sms: InboundSms) -> None: ...

    async def on_delivery_report(self, sim_id: str, report: DeliveryReport) -> None: ...


MessageLookup = Callable[[str, int], Awaitable[MessageRow | None]]  # (org, id) -> message


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
    priority: int = 0  # [phones] priority, for every phone SIM
    devices_per_org: int = 0  # [limits] devices_per_org (0: no limit)
    org_devices: Callable[[str], int] = lambda org: 0  # devices of an org, every kind
    claim: Callable[[], Awaitable[None]] | None = None  # fleet: claim queued work for our SIMs now


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
        self._lines: dict[str, DeviceLine] = {}  # every SIM of these devices, by id
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

    def room_for_device(self, org: str) -> None:
        """TooManyDevices when `org` may not get one more device ([limits] devices_per_org)."""
        limit = self.deps.devices_per_org
        if limit and self.deps.org_devices(org) >= limit:
            raise TooManyDevices(limit)

    def owns(self, sim_id: str) -> bool:
        """A SIM of one of this hub's devices."""
        return sim_id in self._lines

    async def add_sim(self, device: D, slot: int, backend: DeviceLine) -> None:
        """A new SIM of `device`, registered with the relay."""
        backend.priority = self.deps.priority
        device.slots[slot] = backend
        self._lines[backend.info.id] = backend
        await self.sims.add(backend)

    async def drop(self, device: D) -> None:
        """Forget a device and unregister its SIMs."""
        if self.devices.get(device.id) is not device:
            return
        del self.devices[device.id]
        device.end_keep_alive()
        for backend in device.slots.values():
            self._lines.pop(backend.info.id, None)
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

    async def settle(self, device: D, within: float, *, backlog: bool) -> None:
        """Wait (at most `within` s) until the sends the outbox started on `device`'s SIMs
        have reached it, and with `backlog` until the org's queue was routed too.

        A send is `sending` a moment before the device holds it (its hand-over is stored
        first); and a device that just came online makes the outbox hand it the org's
        queue. A pull waits for both instead of leaving them for the next pull, minutes
        later.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        if backlog and self.deps.claim is not None:
            await self.deps.claim()  # fleet mode: the org's queue is in the database, unclaimed
        while loop.time() < deadline:
            held = [e.slot for e in device.outstanding.values()]
            arrived = all(self.deps.in_flight(b) <= held.count(k) for k, b in device.slots.items())
            if arrived and not (backlog and self.deps.queued(device.org)):
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
