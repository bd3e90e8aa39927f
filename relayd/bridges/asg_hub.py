"""Every app phone of the relay: registration, SIM cards, reported states, inbound webhooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from modem.codec import is_gsm7
from relayd.bridges import asg
from relayd.bridges.asg import (
    DEFAULT_SIM,
    AsgDevice,
    AsgSend,
    AsgSimBackend,
    asg_sim_id,
    nanoid,
    parse_asg_time,
)
from relayd.bridges.base import InboundSms
from relayd.bridges.device_hub import DeviceHub, HubDeps
from relayd.numbers import mask_number
from relayd.store.asg import AsgAccount, AsgDeviceRow, AsgStore
from relayd.store.keys import hash_secret

_LOGGER = logging.getLogger(__name__)

# The events the relay asks each phone to post back to it (GET /webhooks).
RELAY_EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed")
EVENT_STATES = {"sms:sent": "Sent", "sms:delivered": "Delivered", "sms:failed": "Failed"}


class AsgHub(DeviceHub[AsgDevice]):
    """Owns the app phones (and so their SIMs) for the whole relay."""

    kind = AsgDevice.kind

    def __init__(self, deps: HubDeps, store: AsgStore, stream_queue: int = 100) -> None:
        super().__init__(deps)
        self.store = store
        self.stream_queue = stream_queue  # [limits] app_stream_queue
        self._by_token: dict[str, str] = {}  # token digest -> device id
        self.basic_cache: dict[str, tuple[float, AsgAccount]] = {}  # checked Basic credentials
        self.registering = asyncio.Lock()  # POST /device: the device limit, then the device

    # --- lifecycle ------------------------------------------------------------------

    async def _load(self) -> None:
        """Register the known phones' SIMs (offline) so sends left in flight can resume."""
        for row in await self.store.devices():
            await self._attach(row)

    async def close_connections(self) -> None:
        """Shutdown, first step: end every event stream."""
        for device in self.devices.values():
            device.close_all_streams()

    async def stop(self) -> None:
        """Shutdown, before the outbox drains: unanswered sends stay `sending`."""
        await self.close_connections()
        await super().stop()

    # --- devices --------------------------------------------------------------------

    def by_token(self, token: str) -> AsgDevice | None:
        """The device holding this token, or None."""
        device_id = self._by_token.get(hash_secret(token))
        device = self.devices.get(device_id) if device_id else None
        if device is not None:
            device.last_seen = time.time()
        return device

    async def register(
        self,
        *,
        org: str,
        login: str,
        name: str,
        push_token: str | None,
        sim_cards: Sequence[dict[str, Any]],
    ) -> tuple[AsgDevice, str]:
        """A new device of `login`'s account; returns it and its token (shown once)."""
        token = nanoid()
        row = await self.store.create_device(
            device_id=nanoid(),
            org=org,
            login=login,
            name=name,
            token=token,
            signing_key=secrets.token_urlsafe(24),
            push_token=push_token,
            sim_cards=sim_cards,
        )
        device = await self._attach(row)
        _LOGGER.info("App phone %s/%s registered (%s)", org, device.id, name)
        return device, token

    async def update(
        self,
        device: AsgDevice,
        *,
        push_token: str | None,
        sim_cards: Sequence[dict[str, Any]] | None,
    ) -> None:
        """PATCH /device: push token and SIM cards."""
        await self.store.update_device(device.id, push_token=push_token, sim_cards=sim_cards)
        device.push_token = push_token
        device.updated_at = time.time()
        if sim_cards is not None:
            device.sim_cards = list(sim_cards)
            await self._sync_slots(device)

    async def pull(self, device: AsgDevice, order: str) -> list[AsgSend]:
        """GET /message: a sign of life; hands out what waits for the phone, what is on its
        way to it, and (when this pull brought it online) what the outbox routes to it now."""
        came_online = not device.online
        device.keep_alive(asg.PULL_ALIVE)
        if came_online:  # a phone that only pulls never closes a stream, which would record it
            self.spawn(self.store.touch(device.id, time.time()))
        await self.settle(device, asg.PULL_SETTLE, backlog=came_online)
        return device.to_fetch(order)

    async def revoke(self, org: str, device_id: str) -> bool:
        """Unregister a device of `org`: token dead, streams closed, SIMs gone."""
        device = self.devices.get(device_id)
        if not await self.store.revoke_device(device_id, org):
            return False
        if device is not None:
            device.abandon("the phone was unregistered before it answered")
            device.close_all_streams()
            self._by_token = {k: v for k, v in self._by_token.items() if v != device_id}
            await self.drop(device)
        return True

    def notify_org(self, org: str, event: str) -> None:
        """Say `event` (e.g. WebhooksUpdated) to every connected phone of `org`."""
        for device in self.of_org(org):
            device.notify(event)

    # --- what the phone reports -----------------------------------------------------

    async def apply_state(
        self, device: AsgDevice, ext_id: str, state: str, error: str | None
    ) -> None:
        """One message state from PATCH /message or a sms:sent/delivered/failed webhook."""
        entry = device.apply(ext_id, state, error)
        if state not in ("Delivered", "Failed") or (entry is not None and state == "Failed"):
            return
        if entry is not None:
            message_id, peer = entry.sms.message_id, entry.sms.to
            sim = asg_sim_id(device.id, entry.slot)
        else:
            send = await self.store.send_by_ext_id(ext_id, device.id)
            message = (
                await self.deps.message(device.org, send.message_id) if send is not None else None
            )
            # `sending`: the phone's Sent is being recorded right now (or, after a restart,
            # the phone is offered it again); the report waits for the part to pair with.
            if message is None or message.status not in ("sending", "sent"):
                return  # unknown, or already final
            if not message.sim:
                return
            message_id, peer, sim = message.id, message.peer, message.sim
        delivered = state == "Delivered"
        reason = error or (None if delivered else "the phone reported it failed")
        await self.report_delivery(sim, message_id, peer, delivered, reason)

    async def webhook_event(
        self, device: AsgDevice, event_id: str, event: str, payload: dict[str, Any]
    ) -> None:
        """A webhook the phone posted back to the relay (it is signed: see the API)."""
        if event == "sms:received":
            await self._inbound(device, event_id, payload)
        elif event in EVENT_STATES:
            message_id = payload.get("messageId")
            if isinstance(message_id, str) and message_id:
                reason = payload.get("reason")
                await self.apply_state(
                    device,
                    message_id,
                    EVENT_STATES[event],
                    reason if isinstance(reason, str) else None,
                )

    async def webhooks_for(self, device: AsgDevice, base_url: str) -> list[dict[str, Any]]:
        """GET /webhooks: the relay's own (inbound SMS, states) and the 3rd-party API's."""
        own = [
            {
                "id": "relayd-" + event.replace(":", "-"),
                "deviceId": device.id,
                "url": f"{base_url}/api/mobile/v1/webhooks/{device.id}",
                "event": event,
            }
            for event in RELAY_EVENTS
        ]
        registered = [
            {"id": w.id, "deviceId": w.device, "url": w.url, "event": w.event}
            for w in await self.store.webhooks(device.org)
            if w.device in (None, device.id)
        ]
        return own + registered

    # --- internals ------------------------------------------------------------------

    async def _inbound(self, device: AsgDevice, event_id: str, payload: dict[str, Any]) -> None:
        text = payload.get("message")
        raw_sender = payload.get("sender") or payload.get("phoneNumber")
        if not isinstance(text, str) or not isinstance(raw_sender, str) or not raw_sender:
            _LOGGER.info("App phone %s posted an sms:received without sender or text", device.id)
            return
        sim_number = payload.get("simNumber")
        backend = device.slots.get(sim_number) if isinstance(sim_number, int) else None
        if backend is None:
            backend = next(iter(sorted(device.slots.items())))[1]
        received = parse_asg_time(payload.get("receivedAt"))
        sms = InboundSms(
            sender=self.number(raw_sender) or raw_sender.strip(),
            text=text,
            received_at=dt.datetime.fromtimestamp(received, dt.UTC) if received else None,
            external_id=f"asg:{device.id}:{event_id[:64]}",
            encoding="gsm7" if is_gsm7(text) else "ucs2",
        )
        await self.sims.on_inbound(backend.info.id, sms)
        _LOGGER.debug("App phone %s reported an SMS from %s", device.id, mask_number(sms.sender))

    async def _attach(self, row: AsgDeviceRow) -> AsgDevice:
        device = AsgDevice(
            device_id=row.id,
            org=row.org,
            login=row.login,
            name=row.name,
            signing_key=row.signing_key,
            store=self.store,
            result_timeout=self.deps.result_timeout,
            stream_queue=self.stream_queue,
        )
        device.push_token = row.push_token
        device.sim_cards = list(row.sim_cards)
        device.created_at = row.created_at
        device.updated_at = row.updated_at
        device.last_seen = row.last_seen_at
        self.devices[device.id] = device
        if row.token_hash:
            self._by_token[row.token_hash] = device.id
        await self._sync_slots(device)
        return device

    async def _sync_slots(self, device: AsgDevice) -> None:
        """One backend per SIM card the phone told; the phone's default SIM when it told none."""
        wanted: dict[int, dict[str, Any]] = {}
        for card in device.sim_cards:
            number = card.get("simNumber")
            slot = card.get("slotIndex")
            if not isinstance(number, int) or number < 1:
                number = slot + 1 if isinstance(slot, int) and slot >= 0 else None
            if number is not None:
                wanted[number] = card
        if not wanted:
            wanted[DEFAULT_SIM] = {}
        for sim_number, card in sorted(wanted.items()):
            backend = device.slots.get(sim_number)
            raw_slot = card.get("slotIndex")
            slot = raw_slot if isinstance(raw_slot, int) else None
            number = self.number(card.get("phoneNumber")) or ""
            carrier = str(card.get("carrierName") or "")
            if backend is None:
                backend = AsgSimBackend(device, sim_number, slot)
                backend.update(online=device.online, number=number, carrier=carrier)
                await self.add_sim(device, sim_number, backend)
                continue
            backend.retired = False
            if backend.update(online=device.online, number=number, carrier=carrier, slot=slot):
                backend.changed()
        for sim_number, backend in device.slots.items():
            if sim_number not in wanted:
                # A card that went away (or the default SIM, now that the cards are known).
                backend.retired = True
                if backend.update(online=False):
                    backend.changed()
