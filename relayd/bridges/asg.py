"""Phones running the "SMS Gateway for Android" app, in private-server mode, as SIMs.

The app pulls work: the relay says `MessageEnqueued` on the device's event stream, the
phone fetches `GET /message`, sends, and reports states with `PATCH /message`. When
Android has killed the stream the app still pulls on a schedule: a pull is a sign of life
(the phone counts online for `PULL_ALIVE`) and hands out what waits for it. One
`AsgDevice` (a `devices.Device`) per registered phone lives across its connections and
holds every send handed to it and not answered yet; one `AsgSimBackend` per SIM card is
what the router sees. Each hand-over gets its own id (the app dedupes by id): a send left
in flight by a restart is offered again under the same id, a retry after a failure under
a new one.
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

from relayd.bridges.base import OutboundSms, SimInfo
from relayd.bridges.devices import Device, DeviceLine, PendingSend
from relayd.store.asg import AsgStore
from relayd.timefmt import iso

_LOGGER = logging.getLogger(__name__)

SIM_PREFIX = "asg:"
MAX_IN_FLIGHT = 100  # what one GET /message hands out at most
PULL_LIMIT = 100
DEFAULT_SIM = 0  # a phone that told no SIM cards: the app uses its default SIM
RECONNECT_GRACE = 30.0  # seconds a phone stays online after its event stream dropped
# The app pulls `GET /message` on a schedule (PullMessagesWorker: WorkManager's 15-minute
# minimum) when Android has killed its stream; a pull keeps it online until the next is due.
PULL_ALIVE = 20 * 60.0
PULL_SETTLE = 3.0  # seconds a pull may wait for sends on their way to the phone
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
    return iso(ts) or ""  # the API's own format is the same


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
class AsgSend(PendingSend[str]):
    """One message handed to a phone (keyed by its hand-over id), waiting for Sent or Failed."""

    state: Literal["Pending", "Processed"] = "Pending"

    def mobile_json(self) -> dict[str, Any]:
        """The item of GET /message (Gson on the phone: absent fields stay null)."""
        sms = self.sms
        item: dict[str, Any] = {
            "id": self.key,
            "message": sms.text,
            "textMessage": {"text": sms.text},
            "phoneNumbers": [sms.to],
            "withDeliveryReport": sms.delivery_report,
            "state": "Pending",
            "createdAt": asg_time(self.created_at),
        }
        if self.slot != DEFAULT_SIM:
            item["simNumber"] = self.slot
        return item


class AsgSimBackend(DeviceLine):
    """One SIM card of an app phone, as the router sees it (keyed by the app's SIM number)."""

    max_in_flight = MAX_IN_FLIGHT

    def __init__(self, device: AsgDevice, sim_number: int, slot: int | None) -> None:
        name = f"{device.name}:{sim_number}" if sim_number else device.name
        info = SimInfo(id=asg_sim_id(device.id, sim_number), kind="phone", name=name)
        info.slot = slot
        info.extra["app"] = "android-sms-gateway"
        super().__init__(device, sim_number, info)


class AsgDevice(Device[str, AsgSend]):
    """One registered app phone: its SIMs, its event streams and the sends it holds."""

    kind = "android-sms-gateway"

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
        stream_queue: int = 100,
    ) -> None:
        super().__init__(org, device_id, name, result_timeout=result_timeout)
        self.stream_queue = stream_queue  # [limits] app_stream_queue: events kept per stream
        self.login = login
        self.signing_key = signing_key
        self.store = store
        self.push_token: str | None = None
        self.sim_cards: list[dict[str, Any]] = []
        self.created_at = time.time()
        self.updated_at = self.created_at
        self.streams: set[asyncio.Queue[StreamItem]] = set()

    @property
    def connected(self) -> bool:
        """An event stream is open."""
        return bool(self.streams)

    # --- sends ----------------------------------------------------------------------

    def to_fetch(self, order: str) -> list[AsgSend]:
        """GET /message: the sends the phone has not taken yet, `lifo` (default) or `fifo`."""
        # Until the phone says Processed a send stays Pending and is handed out again (as the
        # app's server does): the app dedupes by id and only reports the state once more.
        waiting = [e for e in self.outstanding.values() if e.state == "Pending"]
        waiting = [e for e in waiting if not e.future.done()]
        waiting.sort(key=lambda e: (e.created_at, e.sms.message_id), reverse=order != "fifo")
        taken = waiting[:PULL_LIMIT]
        for entry in taken:
            entry.taken = True
        return taken

    def apply(self, ext_id: str, state: str, error: str | None) -> AsgSend | None:
        """A state the phone reported for a send it still holds here; None if none waits."""
        entry = self.waiting(ext_id)
        if entry is None:
            return None
        entry.taken = True
        if state in ("Pending", "Processed"):
            entry.state = "Processed"  # the phone has it: not offered again
        elif state in ("Sent", "Delivered"):
            self.succeeded(ext_id)
        elif state in ("Failed", "Cancelled"):
            self.failed(ext_id, error or f"the phone reported the message {state.lower()}")
        return entry

    async def _new_pending(self, slot: int, sms: OutboundSms) -> AsgSend:
        # Each hand-over gets its own id; a send left in flight by a restart keeps its old one.
        ext_id = await self.store.last_send(sms.message_id, self.id) if sms.redelivery else None
        if ext_id is None:
            ext_id = nanoid()
            await self.store.new_send(ext_id, sms.message_id, self.id)
        return AsgSend(ext_id, sms, slot, asyncio.get_running_loop().create_future())

    async def _offer(self, entry: AsgSend) -> None:
        self.notify("MessageEnqueued")  # a phone without a stream gets it on its next pull

    def _take_within(self) -> float | None:
        # With a stream the phone pulls at once; without, it has until it stops counting online.
        return FETCH_TIMEOUT if self.streams else None

    # --- event streams --------------------------------------------------------------

    def notify(self, event: str, data: str = "null") -> None:
        """Say `event` on every open stream of this device."""
        for queue in self.streams:
            _put_dropping_oldest(queue, (event, data))

    def open_stream(self) -> asyncio.Queue[StreamItem]:
        """An event stream connected: the phone is online."""
        queue: asyncio.Queue[StreamItem] = asyncio.Queue(self.stream_queue)
        was_online = self.online
        self.streams.add(queue)
        self.last_seen = time.time()
        if not was_online:
            self.came_online()
        if any(e.state == "Pending" and not e.future.done() for e in self.outstanding.values()):
            queue.put_nowait(("MessageEnqueued", "null"))
        return queue

    def close_stream(self, queue: asyncio.Queue[StreamItem]) -> None:
        """An event stream ended: offline unless the phone reconnects (or pulls) soon."""
        self.streams.discard(queue)
        if not self.streams:
            self.keep_alive(RECONNECT_GRACE)

    def close_all_streams(self) -> None:
        """Shutdown or unregistration: end every stream."""
        for queue in self.streams:
            _put_dropping_oldest(queue, None)
        self.end_keep_alive()


def _put_dropping_oldest(queue: asyncio.Queue[StreamItem], item: StreamItem) -> None:
    """Queue `item`; a full queue (a phone that stopped reading) loses its oldest event, which
    is only a hint (the phone pulls what waits), never the end of the stream (None)."""
    if queue.full():
        oldest = queue.get_nowait()
        if oldest is None:
            queue.put_nowait(None)  # the stream is ending: the newer event is moot
            return
    queue.put_nowait(item)
