"""Seed-004 phones as SIMs (SPEC §7): one PhoneSession per socket, one PhoneDevice per phone.

A `PhoneDevice` (a `devices.Device`) outlives its sockets: it holds the slots and every
`send_sms` still waiting for a `send_result`. When the phone comes back, those are pushed
again with the same id; phones dedupe by id, so nothing goes out twice. This module is the
wire protocol only: frames, identities, the session. The hub (`phone_hub.py`) finds devices.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modem.codec import is_gsm7
from relayd.bridges.base import InboundSms, OutboundSms
from relayd.bridges.devices import Device, PendingSend
from relayd.jsontext import InvalidJson, decode_json
from relayd.numbers import InvalidNumber, normalize_number

_LOGGER = logging.getLogger(__name__)

MAX_SLOTS = 16


class PhoneLink(Protocol):
    """What a session needs of its socket (aiohttp's WebSocketResponse is one)."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(
        self, *, code: int = 1000, message: bytes = b"", drain: bool = True
    ) -> bool: ...


# --- frames from the phone -------------------------------------------------------------


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")


_F = TypeVar("_F", bound=_Frame)


class SlotFrame(_Frame):
    """One entry of a `sims` frame."""

    slot: int = Field(0, ge=0, lt=MAX_SLOTS)
    number: str | None = Field(None, max_length=40)
    carrier: str | None = Field(None, max_length=100)


class SimsFrame(_Frame):
    """`{"type":"sims","sims":[...]}`."""

    sims: list[SlotFrame] = Field(max_length=MAX_SLOTS)


class PhoneInbound(_Frame):
    """A received SMS as phones report it (WebSocket `inbound` and POST /webhook)."""

    address: str = Field(min_length=1, max_length=64)
    body: str = Field(max_length=10_000)
    date: float | None = Field(None, description="Network time, milliseconds since the epoch")
    sim_slot: int = Field(0, ge=0, lt=MAX_SLOTS)
    id: str | int | None = Field(None, description="The phone's own id of this SMS (dedupe)")


class InboundFrame(_Frame):
    """`{"type":"inbound","message":{...}}`."""

    message: PhoneInbound


class SendResultFrame(_Frame):
    """`{"type":"send_result","id":5,"success":true}` (`error` when false)."""

    id: int
    success: bool
    error: str | None = Field(None, max_length=500)


class DeliveryFrame(_Frame):
    """Extension: `{"type":"delivery","id":5,"delivered":true}`."""

    id: int
    delivered: bool
    error: str | None = Field(None, max_length=500)


class FrameError(Exception):
    """A frame the session answers with an error frame (the socket stays up)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Refused(FrameError):
    """The socket may not act as the phone it claims to be: error frame, then close."""

    def __init__(self, code: str, message: str, close_code: int) -> None:
        super().__init__(code, message)
        self.close_code = close_code


def parse_frame(text: str) -> tuple[str, dict[str, Any]]:
    """(type, object) of a text frame, or FrameError."""
    try:
        data = decode_json(text)
    except InvalidJson as exc:
        raise FrameError("invalid_json", f"the frame {exc}") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_message", "a frame must be a JSON object with a 'type'")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise FrameError("invalid_message", "the frame has no 'type'")
    return kind, data


def validate_frame(model: type[_F], kind: str, data: dict[str, Any]) -> _F:
    """`data` as `model`, or a FrameError naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "frame"
        what = "is required" if first["type"] == "missing" else first["msg"]
        raise FrameError("invalid_message", f"{kind}: {where} {what}") from None


# --- identities ------------------------------------------------------------------------


def sim_id(device_id: str, slot: int) -> str:
    """The relay-wide id of a phone slot."""
    return f"phone:{device_id}:{slot}"


def derived_device_id(org: str, basis: str) -> str:
    """A stable device id for a phone that did not pair: from its org and what it told us."""
    return "s" + hashlib.sha256(f"{org}\0{basis}".encode()).hexdigest()[:12]


def inbound_sms(device_id: str, message: PhoneInbound, region: str) -> InboundSms:
    """A phone's report of a received SMS, with the dedupe key of (device, phone id or content)."""
    try:
        sender = normalize_number(message.address, region, allow_short_codes=True)
    except InvalidNumber:
        sender = message.address.strip()  # alphanumeric senders ("BANK") stay as they are
    if message.id is not None and str(message.id).strip():
        key = f"id:{str(message.id).strip()[:100]}"
    else:
        digest = hashlib.sha256(
            f"{message.address}\0{message.date}\0{message.body}".encode("utf-8", "surrogatepass")
        ).hexdigest()[:24]
        key = f"h:{digest}"
    received = (
        dt.datetime.fromtimestamp(message.date / 1000, dt.UTC)
        if message.date is not None and 0 < message.date < 1e14
        else None
    )
    return InboundSms(
        sender=sender,
        text=message.body,
        received_at=received,
        external_id=f"phone:{device_id}:{key}",
        encoding="gsm7" if is_gsm7(message.body) else "ucs2",
    )


# --- sends waiting for a result --------------------------------------------------------


@dataclass
class Outstanding(PendingSend[int]):
    """One send_sms handed to a phone and not answered yet (keyed by message id)."""

    pushes: int = 0
    pushed_on: PhoneSession | None = None  # each socket gets a send once


class PhoneDevice(Device[int, Outstanding]):
    """One seed-004 phone across its sockets: slots, current session, unanswered sends."""

    kind = "websocket"

    def __init__(
        self,
        org: str,
        device_id: str,
        name: str,
        *,
        persistent: bool,
        result_timeout: Callable[[], float],
        on_idle: Callable[[PhoneDevice], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(org, device_id, name, result_timeout=result_timeout)
        self.persistent = persistent  # paired or identified: it can come back under this id
        self.owner: str | None = None  # the credential that made it (None: loaded, unclaimed)
        self.session: PhoneSession | None = None
        self._on_idle = on_idle

    @property
    def connected(self) -> bool:
        """A socket is attached now."""
        return self.session is not None

    def resolve(self, frame: SendResultFrame) -> bool:
        """Apply a `send_result`; False when no send with that id waits here."""
        if frame.success:
            return self.succeeded(frame.id) is not None
        return self.failed(frame.id, frame.error or "the phone could not send the SMS") is not None

    async def push_outstanding(self) -> None:
        """After a reconnect: every unanswered send again, same id, oldest first."""
        session = self.session
        for message_id in sorted(self.outstanding):
            entry = self.waiting(message_id)
            if session is None or entry is None:
                continue
            await session.push(entry)

    async def _new_pending(self, slot: int, sms: OutboundSms) -> Outstanding:
        return Outstanding(sms.message_id, sms, slot, asyncio.get_running_loop().create_future())

    async def _offer(self, entry: Outstanding) -> None:
        if self.session is not None:
            await self.session.push(entry)

    def _take_within(self) -> float | None:
        # Not on any socket now (a reconnect may have replayed it meanwhile): certainly unsent.
        return 0.0

    async def _settled(self) -> None:
        if self._on_idle is not None and not self.outstanding and self.session is None:
            await self._on_idle(self)


class PhoneSession:
    """One connected socket of a phone: frames in, frames out."""

    def __init__(
        self, link: PhoneLink, org: str, remote: str | None = None, credential: str = "secret"
    ) -> None:
        self.link = link
        self.org = org
        self.remote = remote
        self.credential = credential  # "secret", "key:<id>" or "device:<id>": never the secret
        self.device: PhoneDevice | None = None
        self._lock = asyncio.Lock()

    @property
    def label(self) -> str:
        """For logs: org and device, never a secret."""
        return f"{self.org}/{self.device.id if self.device else '?'}"

    async def send_json(self, data: dict[str, Any]) -> bool:
        """Write one frame; False when the socket is gone."""
        if self.link.closed:
            return False
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        try:
            async with self._lock:
                await self.link.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def push(self, entry: Outstanding) -> bool:
        """Write the `send_sms` of an unanswered send; True once it is on this socket."""
        if entry.pushed_on is self:
            return True
        entry.pushed_on = self  # before the await: a reconnect's replay and a new send may race
        line = self.device.slots.get(entry.slot) if self.device else None
        number = line.info.number if line is not None else None
        sms = entry.sms
        pushed = await self.send_json(
            {
                "type": "send_sms",
                "id": sms.message_id,
                "to": sms.to,
                "body": sms.text,
                "sim": number if number else entry.slot,
                "sim_slot": entry.slot,
            }
        )
        if pushed:
            entry.pushes += 1
            entry.taken = True
        else:
            entry.pushed_on = None
        return pushed

    async def error(self, code: str, message: str) -> None:
        """Answer a bad frame; the socket stays up."""
        await self.send_json({"type": "error", "code": code, "message": message})

    async def close(self, code: int, reason: str) -> None:
        """Close the socket with a reason the phone can show."""
        if not self.link.closed:
            await self.link.close(code=code, message=reason.encode()[:120])
