"""Acceptance 3: an SMS at the demo modem fires relayd_sms_received, pushed over relayd's SSE
stream; after relayd restarts mid-stream, an SMS stored while Home Assistant was not
connected arrives exactly once (Last-Event-ID resume), and nothing from before comes again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.relayd import stream as stream_module
from custom_components.relayd.const import DOMAIN, EVENT_SMS_RECEIVED, LEGACY_EVENT_SMS_RECEIVED
from tests_ha.conftest import wait_until
from tests_ha.relay import Relay

SENDER = "+15557654321"
HELD = 3600.0


@pytest.fixture
def reconnect_on_demand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream waits an hour before reconnecting: the test moves HA's clock to release it."""
    monkeypatch.setattr(stream_module, "RECONNECT_SECONDS", HELD)
    monkeypatch.setattr(stream_module, "RECONNECT_MAX_SECONDS", HELD)


async def test_inbound_sms_fires_relayd_sms_received_and_the_old_sms_event(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    legacy = async_capture_events(hass, LEGACY_EVENT_SMS_RECEIVED)
    await hass.async_add_executor_job(relay.inject_sms, SENDER, "Front door opened")
    await wait_until(lambda: events and legacy)
    [stored] = relay.messages("in")
    assert events[0].data == {
        "entry_id": entry.entry_id,
        "id": stored["id"],
        "from": SENDER,
        "text": "Front door opened",
        "sim": "modem:demo",
        "received_at": stored["received_at"],
        "partial": False,
        "source": stored["source"],
    }
    assert legacy[0].data["phone"] == SENDER
    assert legacy[0].data["message"] == legacy[0].data["text"] == "Front door opened"
    assert dt_util.parse_datetime(legacy[0].data["date"]) is not None
    received_today = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_modem:demo_received_today"
    )
    await wait_until(lambda: hass.states.get(received_today).state == "1")


@pytest.mark.parametrize("stop", ["stop", "kill"])
async def test_sms_stored_while_relayd_restarted_arrives_once_and_nothing_repeats(
    hass: HomeAssistant,
    relay: Relay,
    reconnect_on_demand: None,
    entry: MockConfigEntry,
    stop: str,
) -> None:
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    legacy = async_capture_events(hass, LEGACY_EVENT_SMS_RECEIVED)
    stream = entry.runtime_data.stream
    await hass.async_add_executor_job(relay.inject_sms, SENDER, "before the restart")
    await wait_until(lambda: len(events) == 1)

    await hass.async_add_executor_job(getattr(relay, stop))  # SIGTERM or SIGKILL mid-stream
    await wait_until(lambda: not stream.connected)
    await hass.async_add_executor_job(relay.start)
    await hass.async_add_executor_job(relay.inject_sms, SENDER, "while HA was away")
    await hass.async_add_executor_job(relay.wait_for, lambda: len(relay.messages("in")) == 2)
    assert not stream.connected and len(events) == 1  # held back: nothing can have come yet

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=HELD + 1))
    await wait_until(lambda: len(events) == 2)
    assert stream.connected
    await hass.async_add_executor_job(relay.inject_sms, SENDER, "after the reconnect")
    await wait_until(lambda: len(events) == 3)

    texts = ["before the restart", "while HA was away", "after the reconnect"]
    assert [e.data["text"] for e in events] == texts
    assert [e.data["message"] for e in legacy] == texts
    ids = [m["id"] for m in relay.messages("in")]
    assert [e.data["id"] for e in events] == ids


async def test_sms_received_while_the_entry_was_unloaded_fires_once_when_it_loads_again(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    await hass.async_add_executor_job(relay.inject_sms, SENDER, "before HA stopped")
    await wait_until(lambda: len(events) == 1)
    assert await hass.config_entries.async_unload(entry.entry_id)  # keeps the last event id
    await hass.async_block_till_done()

    await hass.async_add_executor_job(relay.inject_sms, SENDER, "while HA was stopped")
    await hass.async_add_executor_job(relay.wait_for, lambda: len(relay.messages("in")) == 2)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_until(lambda: len(events) == 2)
    await hass.async_add_executor_job(relay.inject_sms, SENDER, "after HA started")
    await wait_until(lambda: len(events) == 3)
    assert [e.data["text"] for e in events] == [
        "before HA stopped",
        "while HA was stopped",
        "after HA started",
    ]
