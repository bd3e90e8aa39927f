"""The SimBackend protocol: what the router needs from any line that can send SMS."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

SimKind = Literal["modem", "phone"]
Capability = Literal["sms", "ussd", "call", "delivery_reports"]


@dataclass
class SimInfo:
    """Live description of one SIM, as shown on GET /api/v1/sims."""

    id: str  # stable, unique across the relay ("modem:demo", "phone:<device>:<slot>")
    kind: SimKind
    name: str
    org: str = "default"
    number: str | None = None
    operator: str | None = None
    signal: int | None = None  # 0-100
    signal_dbm: int | None = None
    registered: bool = False
    roaming: bool = False
    online: bool = False
    slot: int | None = None
    # ready | starting | offline | sim_pin_required | sim_puk_required | wrong_pin | port_busy
    state: str = "starting"
    state_detail: str | None = None
    online_since: dt.datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)  # maker, model, imei, control_url, ...


@dataclass(frozen=True)
class OutboundSms:
    """One message as handed to a backend: text already normalised, number in E.164."""

    message_id: int
    to: str
    text: str
    encoding: Literal["auto", "gsm7"] = "auto"
    delivery_report: bool = True
    redelivery: bool = False  # handed again after a restart: the line may have it already


@dataclass(frozen=True)
class SendReceipt:
    """What a backend reports once every part of a message went out."""

    references: list[int]  # TP-MR of each part, in part order (empty for phones)


class SendFailed(Exception):
    """A send did not succeed.

    ``not_sent`` is True only when the backend is certain nothing went on air
    (so the message may be retried elsewhere); ``transient`` says whether another
    attempt (on this or another SIM) might succeed.
    """

    def __init__(self, code: str, message: str, *, transient: bool, not_sent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient
        self.not_sent = not_sent


@dataclass(frozen=True)
class InboundSms:
    """One received SMS or one part of a concatenated SMS."""

    sender: str
    text: str
    received_at: dt.datetime | None  # network timestamp (SCTS), aware
    concat_ref: int | None = None  # concatenation reference, when a part
    concat_total: int = 1
    concat_seq: int = 1
    external_id: str | None = None  # backend-side id, used for dedupe
    encoding: str = "gsm7"


@dataclass(frozen=True)
class DeliveryReport:
    """An SMS-STATUS-REPORT matched to a part by (sim, reference, recipient)."""

    reference: int
    recipient: str
    delivered: bool
    final: bool  # False for "still trying" statuses
    status_code: int
    detail: str
    at: dt.datetime | None


class BackendEvents(Protocol):
    """What a backend calls back into the relay. Inbound must be durable when it returns."""

    async def on_inbound(self, sim_id: str, sms: InboundSms) -> None: ...

    async def on_delivery_report(self, sim_id: str, report: DeliveryReport) -> None: ...

    def on_sim_changed(self, sim_id: str) -> None: ...


@runtime_checkable
class SimBackend(Protocol):
    """A line that can send SMS: a modem or a phone slot.

    Besides `info`, these members are everything the outbox and the router read.
    """

    @property
    def info(self) -> SimInfo: ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    @property
    def max_in_flight(self) -> int:
        """Sends the outbox may hand this SIM before one is answered (at least 1)."""
        ...

    @property
    def rate_per_minute(self) -> float:
        """At most this many sends a minute (the outbox spaces them); 0 is unlimited."""
        ...

    @property
    def priority(self) -> int:
        """Higher wins with `[routing] policy = "priority"`."""
        ...

    @property
    def redelivers_by_id(self) -> bool:
        """The line dedupes sends by message id, so a send of unknown outcome (cut by a
        restart) may be handed to it again; otherwise it is failed as `interrupted`."""
        ...

    async def start(self, events: BackendEvents) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, sms: OutboundSms) -> SendReceipt: ...


UssdFunc = Callable[[str], Awaitable[str]]


class DeviceSim:
    """A SIM of a phone-like device; the device owns the connection and the pending sends."""

    max_in_flight = 64
    rate_per_minute = 0.0  # the phone paces its own sends
    redelivers_by_id = True  # the phone dedupes by message id (SPEC §7)

    def __init__(self, info: SimInfo) -> None:
        self._info = info
        self.priority = 0  # the hub sets [phones] priority
        self.events: BackendEvents | None = None
        self.retired = False  # the device no longer has this SIM: it never comes online

    @property
    def info(self) -> SimInfo:
        """Live fields of this SIM."""
        return self._info

    @property
    def capabilities(self) -> frozenset[Capability]:
        """Phones send SMS and may report delivery."""
        return frozenset({"sms", "delivery_reports"})

    async def start(self, events: BackendEvents) -> None:
        """Remember the relay's sink."""
        self.events = events

    async def stop(self) -> None:
        """Nothing to release: the device owns the connection."""

    def update(
        self,
        *,
        online: bool,
        number: str | None = None,
        carrier: str | None = None,
        slot: int | None = None,
    ) -> bool:
        """Set the SIM's fields (None leaves one as it is); True when something changed."""
        info = self._info
        before = (info.online, info.number, info.operator, info.slot)
        online = online and not self.retired
        info.online = online
        info.registered = online
        info.state = "ready" if online else "offline"
        if number is not None:
            info.number = number or None
        if carrier is not None:
            info.operator = carrier or None
        if slot is not None:
            info.slot = slot
        return before != (info.online, info.number, info.operator, info.slot)

    def changed(self) -> None:
        """Tell the relay (events, outbox wake-up)."""
        if self.events is not None:
            self.events.on_sim_changed(self._info.id)


def park_sends(futures: Iterable[asyncio.Future[SendReceipt]]) -> None:
    """Relay shutdown: stop waiting; the sends stay `sending` and go back to the device."""
    for future in futures:
        if not future.done():
            future.cancel()


def abandon_sends(futures: Iterable[asyncio.Future[SendReceipt]], reason: str) -> None:
    """The device is gone for good: unanswered sends fail, never retried (they may be out)."""
    for future in futures:
        if not future.done():
            future.set_exception(SendFailed("no_result", reason, transient=False, not_sent=False))
