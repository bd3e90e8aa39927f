"""Every org's phones: devices by id, their sessions, and what their frames do in the relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from relayd.bridges.base import SimInfo
from relayd.bridges.device_hub import DeviceHub, HubDeps, NotifyReach
from relayd.bridges.devices import DeviceLine
from relayd.bridges.phone import (
    DeliveryFrame,
    FrameError,
    InboundFrame,
    PhoneDevice,
    PhoneLink,
    PhoneSession,
    Refused,
    SendResultFrame,
    SimsFrame,
    derived_device_id,
    inbound_sms,
    parse_frame,
    sim_id,
    validate_frame,
)
from relayd.limits import TooManyDevices
from relayd.numbers import mask_number
from relayd.store.phones import PhoneDeviceRow, PhoneSlot, PhoneStore

_LOGGER = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_REPLACED = 4001  # the same phone connected again: this older socket is closed
CLOSE_UNPAIRED = 4003  # the device was unpaired
CLOSE_CLAIMED = 4009  # the device id or a SIM number belongs to a phone of another credential
CLOSE_TOO_MANY = 4029  # the org has [limits] devices_per_org devices already
KNOWN_TYPES = ("sims", "inbound", "send_result", "delivery", "ping")


def device_credential(device_id: str) -> str:
    """The credential label of a paired device's token."""
    return f"device:{device_id}"


@dataclass(frozen=True)
class Identity:
    """Who a socket is: the device id its SIMs are named after, and whether it can return."""

    device_id: str
    name: str
    persistent: bool
    token_prefix: str | None = None


class PhoneHub(DeviceHub[PhoneDevice]):
    """Owns the seed-004 phones (and so their SIMs) for the whole relay."""

    kind = PhoneDevice.kind

    def __init__(self, deps: HubDeps, store: PhoneStore) -> None:
        super().__init__(deps)
        self.store = store
        self.sessions: set[PhoneSession] = set()
        self.token_prefixes: dict[str, str] = {}

    # --- lifecycle ------------------------------------------------------------------

    async def _load(self) -> None:
        """Register the known phones' SIMs (offline) so sends can name them and resume."""
        for row in await self.store.devices():
            self.remember_paired(row)
            device = self.devices[row.id]
            for slot in row.slots:
                await self._add_slot(device, slot.slot, slot.number, slot.carrier)

    async def close_connections(self) -> None:
        """Shutdown, first step: tell every phone the relay is going away."""
        await asyncio.gather(
            *(s.close(CLOSE_GOING_AWAY, "the relay is shutting down") for s in list(self.sessions)),
            return_exceptions=True,
        )

    # --- sessions -------------------------------------------------------------------

    def open(
        self, link: PhoneLink, org: str, remote: str | None, credential: str = "secret"
    ) -> PhoneSession:
        """A socket was accepted for `org`, made with `credential` (see PhoneSession)."""
        session = PhoneSession(link, org, remote, credential)
        self.sessions.add(session)
        return session

    async def welcome(self, session: PhoneSession, identity: Identity | None) -> None:
        """Send `connected`; a phone known by token or device id gets its pending sends now."""
        await session.send_json({"type": "connected", "org_id": session.org})
        if identity is None:
            return  # a seed phone: it is identified by the SIMs it reports
        try:
            device = self.identify(session, identity)
        except Refused as exc:
            await self._refuse(session, exc)
            return
        device.set_slots_online(True)
        await device.push_outstanding()

    def check_claim(self, org: str, credential: str, device_id: str) -> None:
        """Refused unless a socket of `credential` may be the device `device_id` of `org`:
        a device is bound to the credential that made it, and new ones count against
        `[limits] devices_per_org`."""
        device = self.devices.get(device_id)
        if device is None:
            try:
                self.room_for_device(org)
            except TooManyDevices as exc:
                raise Refused("too_many_devices", str(exc), CLOSE_TOO_MANY) from None
        elif device.owner is not None and device.owner != credential:
            raise Refused(
                "device_claimed",
                "this device id belongs to a phone connected with another credential",
                CLOSE_CLAIMED,
            )

    def identify(self, session: PhoneSession, identity: Identity) -> PhoneDevice:
        """Attach the session to its device, replacing an older socket of the same phone
        (same credential; another one is Refused and the device keeps its socket)."""
        self.check_claim(session.org, session.credential, identity.device_id)
        device = self.devices.get(identity.device_id)
        if device is None:
            device = self._new_device(session.org, identity)
        if device.owner is None:
            device.owner = session.credential
        old = device.session
        if old is not None and old is not session:
            old.device = None
            self.spawn(old.close(CLOSE_REPLACED, "replaced by a newer connection of this phone"))
            _LOGGER.info("Phone %s reconnected: closing its older socket", session.label)
        device.session = session
        device.connected_since = time.time()
        session.device = device
        _LOGGER.info("Phone %s/%s connected from %s", session.org, device.id, session.remote)
        return device

    async def closed(self, session: PhoneSession) -> None:
        """The socket ended (phone left, heartbeat lost, replaced, or shutdown)."""
        self.sessions.discard(session)
        device = session.device
        if device is None or device.session is not session:
            return
        device.session = None
        device.connected_since = None
        device.last_seen = time.time()
        device.went_offline()
        if device.persistent:
            with contextlib.suppress(Exception):
                await self.store.touch(device.id)
        elif not device.outstanding:
            await self._forget(device)

    async def handle_text(self, session: PhoneSession, text: str) -> None:
        """One text frame from a phone; problems are answered with an error frame."""
        try:
            kind, data = parse_frame(text)
            if kind == "sims":
                await self._on_sims(session, validate_frame(SimsFrame, kind, data))
            elif kind == "inbound":
                await self._on_inbound(session, validate_frame(InboundFrame, kind, data))
            elif kind == "send_result":
                self._on_send_result(session, validate_frame(SendResultFrame, kind, data))
            elif kind == "delivery":
                await self._on_delivery(session, validate_frame(DeliveryFrame, kind, data))
            elif kind == "ping":
                await session.send_json({"type": "pong"})
            else:
                raise FrameError(
                    "unknown_type",
                    f"unknown message type {kind[:40]!r}; known: {', '.join(KNOWN_TYPES)}",
                )
        except Refused as exc:
            await self._refuse(session, exc)
        except FrameError as exc:
            _LOGGER.info("Phone %s sent a bad frame: %s", session.label, exc.message)
            await session.error(exc.code, exc.message)
        except Exception:
            _LOGGER.exception("Handling a frame of phone %s failed", session.label)
            await session.error("internal", "the relay could not handle this frame; see its log")

    # --- admin ----------------------------------------------------------------------

    def remember_paired(self, row: PhoneDeviceRow) -> None:
        """A device from the store (or paired just now) becomes known, without SIMs yet."""
        if row.id not in self.devices:
            identity = Identity(row.id, row.name, persistent=True, token_prefix=row.token_prefix)
            device = self._new_device(row.org, identity)
            # only its token can be a paired phone; others keep the credential they came with
            device.owner = device_credential(row.id) if row.token_prefix else row.owner
        if row.last_seen_at is not None:
            self.devices[row.id].last_seen = row.last_seen_at

    async def unpair(self, device_id: str) -> None:
        """Forget a revoked device: close its socket, fail its unanswered sends, drop its SIMs."""
        device = self.devices.get(device_id)
        if device is None:
            return
        device.abandon("the phone was unpaired before it answered")
        if device.session is not None:
            session, device.session = device.session, None
            session.device = None
            self.spawn(session.close(CLOSE_UNPAIRED, "this phone was unpaired by an admin"))
        await self._forget(device)

    def _describe(self, device: PhoneDevice) -> dict[str, Any]:
        return super()._describe(device) | {
            "paired": device.id in self.token_prefixes,
            "token_prefix": self.token_prefixes.get(device.id),
        }

    async def notify(self, org: str, title: str, text: str) -> NotifyReach:
        """Extension: `{"type":"notify",...}` on every connected phone of `org`."""
        frame = {"type": "notify", "title": title, "text": text}
        sent = await asyncio.gather(
            *(s.send_json(frame) for s in list(self.sessions) if s.org == org and s.device)
        )
        return NotifyReach(shown=sum(sent))

    # --- frames ---------------------------------------------------------------------

    async def _on_sims(self, session: PhoneSession, frame: SimsFrame) -> None:
        slots = {s.slot: s for s in frame.sims}
        numbers = {slot: self.number(s.number) for slot, s in slots.items()}
        first = session.device is None
        known = sorted(n for n in numbers.values() if n)
        if session.device is None:
            if known:
                device_id = derived_device_id(session.org, "numbers:" + ",".join(known))
                identity = Identity(device_id, f"phone-{device_id[1:7]}", persistent=True)
            else:
                identity = self._anonymous()
            self._check_numbers(session, identity.device_id, known)
            self.identify(session, identity)
        else:
            self._check_numbers(session, session.device.id, known)
        device = session.device
        assert device is not None
        for slot, entry in slots.items():
            backend = device.slots.get(slot)
            if backend is None:
                await self._add_slot(device, slot, numbers[slot], entry.carrier, online=True)
            elif backend.update(
                online=True, number=numbers[slot] or "", carrier=entry.carrier or ""
            ):
                backend.changed()
        device.set_slots_online(True, set(slots))
        if device.persistent:
            await self.store.remember(
                device.id,
                device.org,
                device.name,
                [PhoneSlot(s, numbers[s], slots[s].carrier) for s in sorted(slots)],
                device.owner,
            )
        _LOGGER.info(
            "Phone %s reports %d SIM(s): %s",
            session.label,
            len(slots),
            ", ".join(f"{s}={mask_number(numbers[s])}" for s in sorted(slots)),
        )
        if first:
            await device.push_outstanding()

    async def _on_inbound(self, session: PhoneSession, frame: InboundFrame) -> None:
        device = session.device or self.identify(session, self._anonymous())
        message = frame.message
        backend = device.slots.get(message.sim_slot)
        if backend is None:
            backend = await self._add_slot(device, message.sim_slot, online=True)
        await self.sims.on_inbound(
            backend.info.id, inbound_sms(device.id, message, self.region)
        )
        if message.id is not None:
            await session.send_json({"type": "inbound_ack", "id": message.id})

    def _on_send_result(self, session: PhoneSession, frame: SendResultFrame) -> None:
        # Only the device the send was pushed to may settle it: another socket's answer
        # (a forged one) changes nothing.
        if session.device is not None and session.device.resolve(frame):
            return
        _LOGGER.debug("Phone %s answered send %d, which waits nowhere", session.label, frame.id)

    async def _on_delivery(self, session: PhoneSession, frame: DeliveryFrame) -> None:
        message = await self.deps.message(session.org, frame.id)
        sim: str = (message.sim or "") if message is not None else ""
        device = session.device
        mine = device is not None and any(b.info.id == sim for b in device.slots.values())
        if message is None or message.direction != "out" or not mine:
            _LOGGER.debug("Phone %s reported delivery of unknown send %d", session.label, frame.id)
            return
        await self.report_delivery(sim, frame.id, message.peer, frame.delivered, frame.error)

    # --- internals ------------------------------------------------------------------

    def _check_numbers(self, session: PhoneSession, device_id: str, numbers: list[str]) -> None:
        """Refused when a SIM number is another device's (of another credential, or online)."""
        for other in self.of_org(session.org):
            if other.id == device_id or not (other.owner != session.credential or other.online):
                continue
            taken = [b.info.number for b in other.slots.values() if b.info.number in numbers]
            if taken:
                raise Refused(
                    "sim_claimed",
                    f"SIM number {mask_number(taken[0])} belongs to another phone of this org",
                    CLOSE_CLAIMED,
                )

    async def _refuse(self, session: PhoneSession, refused: Refused) -> None:
        _LOGGER.info("Phone socket of %s refused: %s", session.org, refused.message)
        await session.error(refused.code, refused.message)
        await session.close(refused.close_code, refused.message)

    def _anonymous(self) -> Identity:
        device_id = "a" + secrets.token_hex(6)
        return Identity(device_id, f"phone-{device_id[1:7]}", persistent=False)

    def _new_device(self, org: str, identity: Identity) -> PhoneDevice:
        device = PhoneDevice(
            org,
            identity.device_id,
            identity.name,
            persistent=identity.persistent,
            result_timeout=self.deps.result_timeout,
            on_idle=None if identity.persistent else self._forget,
        )
        self.devices[device.id] = device
        if identity.token_prefix:
            self.token_prefixes[device.id] = identity.token_prefix
        return device

    async def _add_slot(
        self,
        device: PhoneDevice,
        slot: int,
        number: str | None = None,
        carrier: str | None = None,
        *,
        online: bool = False,
    ) -> DeviceLine:
        info = SimInfo(id=sim_id(device.id, slot), kind="phone", name=f"{device.name}:{slot}")
        info.slot = slot
        line = DeviceLine(device, slot, info)
        line.update(online=online, number=number or "", carrier=carrier or "")
        await self.add_sim(device, slot, line)
        return line

    async def _forget(self, device: PhoneDevice) -> None:
        """Drop a device that cannot come back (anonymous and idle, or unpaired)."""
        if self.devices.get(device.id) is device:
            self.token_prefixes.pop(device.id, None)
        await self.drop(device)
