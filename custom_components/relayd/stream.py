"""relayd's event stream (SSE) in Home Assistant: inbound SMS become events, pushed, never polled.

The last event id is kept in Home Assistant's storage, so a restart of relayd or of Home
Assistant resumes with `Last-Event-ID` from relayd's event log: nothing is missed and
nothing is fired twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import RelaydAuthError, RelaydClient, RelaydError, StreamEvent
from .const import DOMAIN, EVENT_SMS_RECEIVED, LEGACY_EVENT_SMS_RECEIVED

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from . import RelaydConfigEntry
    from .coordinator import RelaydCoordinator

_LOGGER = logging.getLogger(__name__)
STORAGE_VERSION = 1
SAVE_DELAY = 2.0
RECONNECT_SECONDS = 1.0
"""First pause before reconnecting; doubles up to RECONNECT_MAX_SECONDS."""
RECONNECT_MAX_SECONDS = 60.0
MAX_REPLAY_AGE = timedelta(days=1)
"""After a long outage, SMS older than this are not fired as fresh events (logged instead)."""
REFRESH_ON = frozenset(
    {"sms.received", "sms.sent", "sms.delivered", "sms.failed", "sms.queued",
     "sim.online", "sim.offline", "sim.updated", "sim.quarantined", "sim.recovered",
     "sim.balance_low", "sim.expiring"}
)  # fmt: skip


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.events")


async def async_remove_stored(hass: HomeAssistant, entry_id: str) -> None:
    """Forget a removed entry's last event id."""
    await _store(hass, entry_id).async_remove()


class EventStream:
    """One long-lived GET /api/v1/events per config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: RelaydConfigEntry,
        client: RelaydClient,
        coordinator: RelaydCoordinator,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.client = client
        self.coordinator = coordinator
        self.last_event_id: int | None = None
        self.last_message: dict[str, Any] | None = None
        """The last inbound SMS (diagnostics show it, masked)."""
        self.connected = False
        self._store = _store(hass, entry.entry_id)

    async def async_load(self) -> None:
        """Read the last event id a previous run got to."""
        stored = await self._store.async_load()
        if stored and isinstance(stored.get("last_event_id"), int):
            self.last_event_id = stored["last_event_id"]

    async def run(self) -> None:
        """Follow the stream for the life of the entry, reconnecting with backoff."""
        failures = 0
        while True:
            try:
                async for event in self.client.events(self.last_event_id, self._opened):
                    self._handle(event)
                _LOGGER.debug("relayd closed the event stream (restarting?)")
            except RelaydAuthError:
                _LOGGER.warning("relayd refused the key on the event stream: re-authenticate")
                self.entry.async_start_reauth(self.hass)
                return
            except RelaydError as exc:
                _LOGGER.debug("Event stream lost: %s", exc)
            except Exception:  # a bug here must not end the push path for good
                _LOGGER.exception("Unexpected error on relayd's event stream; reconnecting")
            if self.connected:
                failures = 0
                self.connected = False
                self.coordinator.async_update_listeners()
            await asyncio.sleep(min(RECONNECT_SECONDS * 2**failures, RECONNECT_MAX_SECONDS))
            failures += 1

    def _opened(self) -> None:
        self.connected = True
        self.coordinator.async_update_listeners()

    async def async_save(self) -> None:
        """Write the last event id now (on unload)."""
        if self.last_event_id is not None:
            await self._store.async_save({"last_event_id": self.last_event_id})

    def _handle(self, event: StreamEvent) -> None:
        if self.last_event_id is not None and event.id <= self.last_event_id:
            return  # relayd resumes after Last-Event-ID; this guards a replay anyway
        self.last_event_id = event.id
        self._store.async_delay_save(self._stored, SAVE_DELAY)
        if event.type == "sms.received" and event.data.get("direction", "in") == "in":
            self._fire_received(event)
        if event.type in REFRESH_ON:
            self.hass.async_create_task(self.coordinator.async_request_refresh())

    def _stored(self) -> dict[str, Any]:
        return {"last_event_id": self.last_event_id}

    def _fire_received(self, event: StreamEvent) -> None:
        message = event.data
        self.last_message = message
        when = message.get("received_at") or message.get("created_at") or event.timestamp
        parsed = dt_util.parse_datetime(str(when or ""))
        if parsed is not None and dt_util.utcnow() - parsed > MAX_REPLAY_AGE:
            _LOGGER.info("Not firing SMS #%s: older than %s", message.get("id"), MAX_REPLAY_AGE)
            return
        self.hass.bus.async_fire(
            EVENT_SMS_RECEIVED,
            {
                "entry_id": self.entry.entry_id,
                "id": message.get("id"),
                "from": message.get("peer"),
                "text": message.get("text"),
                "sim": message.get("sim"),
                "received_at": when,
                "partial": bool(message.get("partial")),
                "source": message.get("source"),
            },
        )
        # The shape of the removed `sms` integration's event, so old automations keep working.
        local = dt_util.as_local(parsed) if parsed else dt_util.now()
        self.hass.bus.async_fire(
            LEGACY_EVENT_SMS_RECEIVED,
            {
                "phone": message.get("peer"),
                "date": local.strftime("%Y-%m-%d %H:%M:%S"),
                "message": message.get("text"),  # the key the `sms` integration used
                "text": message.get("text"),  # the key relayd's homeassistant webhook uses
            },
        )
