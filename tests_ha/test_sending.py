"""Acceptance 2: notify.send_message and relayd.send_sms make messages the demo modem sends.

Also the options flow (default SIM, notify recipients) that the notify entities use.
"""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.relayd.const import CONF_DEFAULT_SIM, CONF_RECIPIENTS, DOMAIN
from tests_ha.conftest import wait_until
from tests_ha.relay import Relay

RECIPIENT = "+15551230001"
OTHER = "+15551230002"


async def _set_options(hass: HomeAssistant, entry: MockConfigEntry, sim: str, to: str) -> None:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_DEFAULT_SIM: sim, CONF_RECIPIENTS: to}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # the entry reloads with the new options


async def _sent_by_modem(hass: HomeAssistant, relay: Relay, text: str) -> list[dict]:
    """Wait until relayd's messages with `text` are sent, and check the demo modem sent them."""

    def sent() -> list[dict] | None:
        mine = [m for m in relay.messages("out") if m["text"] == text]
        done = mine and all(m["status"] in ("sent", "delivered") for m in mine)
        return mine if done else None

    messages = await hass.async_add_executor_job(relay.wait_for, sent)
    on_air = await hass.async_add_executor_job(relay.modem_sent)
    assert sorted(m["to"] for m in on_air if m["text"] == text) == sorted(
        m["peer"] for m in messages
    )
    return messages


def _entity(hass: HomeAssistant, entry: MockConfigEntry, unique: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("notify", DOMAIN, unique)
    assert entity_id, unique
    return entity_id


async def test_notify_send_message_is_sent_by_the_demo_modem_to_the_options_recipients(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    await _set_options(hass, entry, "modem:demo", f"{RECIPIENT}, {OTHER}")
    assert entry.options == {CONF_DEFAULT_SIM: "modem:demo", CONF_RECIPIENTS: [RECIPIENT, OTHER]}
    await wait_until(lambda: entry.runtime_data.stream.connected)

    relay_notify = _entity(hass, entry, f"{entry.unique_id}_notify")
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": relay_notify, "message": "Garage door open", "title": "Alarm"},
        blocking=True,
    )
    both = await _sent_by_modem(hass, relay, "Alarm\nGarage door open")
    assert sorted(m["peer"] for m in both) == [RECIPIENT, OTHER]
    assert {(m["sim"], m["source"]) for m in both} == {("modem:demo", "homeassistant")}

    sim_notify = _entity(hass, entry, f"{entry.unique_id}_modem:demo_sim_notify")
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": sim_notify, "message": "from the SIM"},
        blocking=True,
    )
    again = await _sent_by_modem(hass, relay, "from the SIM")
    assert sorted(m["peer"] for m in again) == [RECIPIENT, OTHER]
    assert {m["sim"] for m in again} == {"modem:demo"}


async def test_notify_without_recipients_is_refused_with_a_clear_error(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            "notify",
            "send_message",
            {"entity_id": _entity(hass, entry, f"{entry.unique_id}_notify"), "message": "x"},
            blocking=True,
        )
    assert raised.value.translation_key == "no_recipients"
    assert relay.messages("out") == []


async def test_send_sms_action_answers_the_message_id_and_the_demo_modem_sends_it(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "send_sms",
        {"to": RECIPIENT, "text": "Water leak in the basement", "sim": "demo"},
        blocking=True,
        return_response=True,
    )
    [answer] = response["messages"]
    assert answer["to"] == RECIPIENT and answer["status"] == "queued"
    [message] = await _sent_by_modem(hass, relay, "Water leak in the basement")
    assert message["id"] == answer["id"] and message["sim"] == "modem:demo"
    # The counters follow: sms.sent is pushed and refreshes the coordinator.
    registry = er.async_get(hass)
    sent_today = registry.async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_modem:demo_sent_today"
    )
    await wait_until(lambda: hass.states.get(sent_today).state == "1")


async def test_send_sms_refused_by_relayd_names_the_field(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "send_sms", {"to": "not a number", "text": "x"}, blocking=True
        )
    assert raised.value.translation_key == "refused"
    assert "(to)" in raised.value.translation_placeholders["error"]
    assert relay.messages("out") == []
