"""Devices that bring SIMs over the network, of every kind, in one shape.

A `Device` outlives its connections: it holds its SIMs (registered with the relay, offline
while it is away) and every send handed to it and not answered yet. It is online while a
connection is open (a seed-004 socket, an app's event stream) or while a recent sign of
life lasts (a pull of the Android app, a stream that dropped a moment ago). A kind adds
only its wire protocol: how a send is offered, how the device takes it, what it answers.
`device_hub.DeviceHub` owns the devices of one kind for the whole relay.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from relayd.bridges.base import (
    DeviceSim,
    OutboundSms,
    SendFailed,
    SendReceipt,
    SimInfo,
    abandon_sends,
    park_sends,
)

_LOGGER = logging.getLogger(__name__)

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


class Device(abc.ABC, Generic[K, P]):
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
    @abc.abstractmethod
    def connected(self) -> bool:
        """A connection (socket, event stream) is open now."""

    @abc.abstractmethod
    async def _new_pending(self, slot: int, sms: OutboundSms) -> P:
        """The bookkeeping entry of a new hand-over (its key is what the device answers to)."""

    @abc.abstractmethod
    async def _offer(self, entry: P) -> None:
        """Tell the device there is a send (push it, or announce it for the next pull)."""

    @abc.abstractmethod
    def _take_within(self) -> float | None:
        """Seconds the device has to take an offered send (0: at once; None: while online)."""

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
