"""Phones running the "SMS Gateway for Android" app, in private-server mode, as SIMs.

The app pulls work: the relay says `MessageEnqueued` on the device's event stream, the
phone fetches `GET /message`, sends, and reports states with `PATCH /message`. One
`AsgDevice` per registered phone lives across its connections and holds every send
handed to it and not answered yet; one `AsgSimBackend` per SIM card is what the router
sees. Each hand-over gets its own id (the app dedupes by id): a send left in flight by a
restart is offered again under the same id, a retry after a failure under a new one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from relayd.bridges.base import (
    DeviceSim,
    OutboundSms,
    SendFailed,
    SendReceipt,
    SimInfo,
    abandon_sends,
    park_sends,
)
from relayd.store.asg import AsgStore

_LOGGER = logging.getLogger(__name__)

SIM_PREFIX = "asg:"
MAX_IN_FLIGHT = 100  # what one GET /message hands out at most
PULL_LIMIT = 100
DEFAULT_SIM = 0  # a phone that told no SIM cards: the app uses its default SIM
RECONNECT_GRACE = 30.0  # seconds a phone stays online after its event stream dropped
# An online phone pulls within a second of MessageEnqueued; one that has not fetched a send
# after this long is gone (a dead connection not noticed yet): the send goes elsewhere.
FETCH_TIMEOUT = 60.0
NANOID_ALPHABET = string.ascii_letters + string.digits + "_-"
STATES = ("Pending", "Processed", "Sent", "Delivered", "Failed", "Cancelling", "Cancelled")
StreamItem = tuple[str, str] | None  # (event, data); None closes the stream


def nanoid(size: int = 21) -> str:
    """A random id like the app's server makes (21 characters of A-Za-z0-9_-)."""
    return "".join(secrets.choice(NANOID_ALPHABET) for _ in range(size))


def asg_time(ts: float) -> str:
    """Epoch seconds as the app's date format: milliseconds and an offset (UTC: `Z`)."""
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_asg_time(value: Any) -> float | None:
    """The app's dates (`2024-05-01T10:00:00.123+07:00`; old builds: epoch milliseconds)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def asg_sim_id(device_id: str, sim_number: int) -> str:
    """The relay-wide id of one SIM card of an app phone."""
    return f"{SIM_PREFIX}{device_id}:{sim_number}"


@dataclass
class AsgSend:
    """One message handed to a phone, waiting for it to say Sent or Failed."""

    ext_id: str
    sms: OutboundSms
    sim_number: int
    future: asyncio.Future[SendReceipt]
    created_at: float
    state: Literal["Pending", "Processed"] = "Pending"
    fetched: bool = False  # a GET /message has handed it out

    def mobile_json(self) -> dict[str, Any]:
        """The item of GET /message (Gson on the phone: absent fields stay null)."""
        sms = self.sms
        item: dict[str, Any] = {
            "id": self.ext_id,
            "message": sms.text,
            "textMessage": {"text": sms.text},
            "phoneNumbers": [sms.to],
            "withDeliveryReport": sms.delivery_report,
            "state": "Pending",
            "createdAt": asg_time(self.created_at),
        }
        if self.sim_number != DEFAULT_SIM:
            item["simNumber"] = self.sim_number
        return item


class AsgSimBackend(DeviceSim):
    """One SIM card of an app phone, as the router sees it."""

    max_in_flight = MAX_IN_FLIGHT

    def __init__(self, device: AsgDevice, sim_number: int, slot: int | None) -> None:
        super().__init__(
            SimInfo(
                id=asg_sim_id(device.id, sim_number),
                kind="phone",
                name=f"{device.name}:{sim_number}" if sim_number else device.name,
                org=device.org,
                slot=slot,
                state="offline",
                extra={"device": device.id, "app": "android-sms-gateway"},
            )
        )
        self.device = device
        self.sim_number = sim_number
        self.retired = False  # the default-SIM line of a phone that later told its cards

    async def send(self, sms: OutboundSms) -> SendReceipt:
        """Offer the message to the phone and wait for its Sent (or Failed)."""
        return await self.device.submit(self.sim_number, sms)

    def update(
        self,
        *,
        online: bool,
        number: str | None = None,
        carrier: str | None = None,
        slot: int | None = None,
    ) -> bool:
        """Set the SIM's fields; a retired default-SIM line never comes online."""
        return super().update(
            online=online and not self.retired, number=number, carrier=carrier, slot=slot
        )


class AsgDevice:
    """One registered phone: its SIMs, its event streams and the sends it holds."""

    def __init__(
        self,
        *,
        device_id: str,
        org: str,
        login: str,
        name: str,
        signing_key: str,
        store: AsgStore,
        result_timeout: Callable[[], float],
    ) -> None:
        self.id = device_id
        self.org = org
        self.login = login
        self.name = name
        self.signing_key = signing_key
        self.store = store
        self.result_timeout = result_timeout
        self.push_token: str | None = None
        self.sim_cards: list[dict[str, Any]] = []
        self.created_at = time.time()
        self.updated_at = self.created_at
        self.last_seen: float | None = None
        self.slots: dict[int, AsgSimBackend] = {}
        self.outstanding: dict[str, AsgSend] = {}
        self.streams: set[asyncio.Queue[StreamItem]] = set()
        self._grace: asyncio.TimerHandle | None = None

    @property
    def online(self) -> bool:
        """An event stream is open, or dropped a moment ago (the app reconnects in 5 s)."""
        return bool(self.streams) or self._grace is not None

    # --- sends ----------------------------------------------------------------------

    async def submit(self, sim_number: int, sms: OutboundSms) -> SendReceipt:
        """Hand a send to the phone; wait (across reconnects) for its Sent or Failed."""
        if not self.online and not sms.redelivery:
            raise SendFailed("phone_offline", "the phone is offline", transient=True, not_sent=True)
        ext_id = await self.store.last_send(sms.message_id, self.id) if sms.redelivery else None
        if ext_id is None:
            ext_id = nanoid()
            await self.store.new_send(ext_id, sms.message_id, self.id)
        loop = asyncio.get_running_loop()
        entry = AsgSend(ext_id, sms, sim_number, loop.create_future(), time.time())
        self.outstanding[ext_id] = entry
        self.notify("MessageEnqueued")
        timeout = self.result_timeout()
        unfetched = (
            None
            if sms.redelivery
            else loop.call_later(min(FETCH_TIMEOUT, timeout), self._not_fetched, entry)
        )
        try:
            async with asyncio.timeout(timeout):
                return await entry.future
        except TimeoutError:
            if not entry.fetched and not sms.redelivery:
                raise SendFailed(
                    "not_fetched",
                    f"the phone did not fetch the message within {timeout:g} s",
                    transient=True,
                    not_sent=True,
                ) from None
            raise SendFailed(
                "no_result",
                f"the phone reported no result within {timeout:g} s; "
                "it may or may not have sent the SMS",
                transient=False,
                not_sent=False,
            ) from None
        finally:
            if unfetched is not None:
                unfetched.cancel()
            if self.outstanding.get(ext_id) is entry:
                del self.outstanding[ext_id]

    @staticmethod
    def _not_fetched(entry: AsgSend) -> None:
        if not entry.fetched and not entry.future.done():
            entry.future.set_exception(
                SendFailed(
                    "not_fetched",
                    "the phone did not fetch the message; it is taken back",
                    transient=True,
                    not_sent=True,
                )
            )

    def to_fetch(self, order: str) -> list[AsgSend]:
        """GET /message: sends the phone has not taken yet, `lifo` (default) or `fifo`."""
        waiting = [
            e for e in self.outstanding.values() if e.state == "Pending" and not e.future.done()
        ]
        waiting.sort(key=lambda e: (e.created_at, e.sms.message_id), reverse=order != "fifo")
        taken = waiting[:PULL_LIMIT]
        for entry in taken:
            entry.fetched = True
        return taken

    def apply(self, ext_id: str, state: str, error: str | None) -> AsgSend | None:
        """A state the phone reported for a send it still holds here; None if none waits."""
        entry = self.outstanding.get(ext_id)
        if entry is None or entry.future.done():
            return None
        entry.fetched = True
        if state in ("Pending", "Processed"):
            entry.state = "Processed"  # the phone has it: not offered again
        elif state in ("Sent", "Delivered"):
            entry.future.set_result(SendReceipt(references=[entry.sms.message_id]))
        elif state in ("Failed", "Cancelled"):
            entry.future.set_exception(
                SendFailed(
                    "phone_error",
                    error or f"the phone reported the message {state.lower()}",
                    transient=True,
                    not_sent=True,
                )
            )
        return entry

    def park(self) -> None:
        """Relay shutdown: stop waiting, leave the sends `sending` for the next start."""
        park_sends(e.future for e in self.outstanding.values())

    def abandon(self, reason: str) -> None:
        """The device was unregistered: unanswered sends fail without a retry."""
        abandon_sends((e.future for e in self.outstanding.values()), reason)

    # --- event streams --------------------------------------------------------------

    def notify(self, event: str, data: str = "null") -> None:
        """Say `event` on every open stream of this device."""
        for queue in self.streams:
            queue.put_nowait((event, data))

    def open_stream(self) -> asyncio.Queue[StreamItem]:
        """An event stream connected: the phone is online."""
        queue: asyncio.Queue[StreamItem] = asyncio.Queue()
        was_online = self.online
        self.streams.add(queue)
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self.last_seen = time.time()
        if not was_online:
            _LOGGER.info("App phone %s/%s online", self.org, self.id)
            self.set_online(True)
        if any(e.state == "Pending" and not e.future.done() for e in self.outstanding.values()):
            queue.put_nowait(("MessageEnqueued", "null"))
        return queue

    def close_stream(self, queue: asyncio.Queue[StreamItem]) -> None:
        """An event stream ended: offline unless the phone reconnects within the grace."""
        self.streams.discard(queue)
        self.last_seen = time.time()
        if not self.streams and self._grace is None:
            loop = asyncio.get_running_loop()
            self._grace = loop.call_later(RECONNECT_GRACE, self._went_away)

    def close_all_streams(self) -> None:
        """Shutdown: end every stream."""
        for queue in self.streams:
            queue.put_nowait(None)
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def set_online(self, online: bool) -> None:
        """Mark every SIM of the phone online or offline and notify the relay."""
        for backend in self.slots.values():
            if backend.update(online=online):
                backend.changed()

    def _went_away(self) -> None:
        self._grace = None
        if not self.streams:
            _LOGGER.info(
                "App phone %s/%s offline (%d send(s) awaiting its result)",
                self.org,
                self.id,
                len(self.outstanding),
            )
            self.set_online(False)
