"""relayd.ussd and relayd.ring answer with the relay's response (SupportsResponse)."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.relayd.const import DOMAIN
from tests_ha.relay import Relay


async def test_ussd_action_answers_with_the_network_reply(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    response = await hass.services.async_call(
        DOMAIN, "ussd", {"code": "*100#"}, blocking=True, return_response=True
    )
    assert response == {
        "ok": True,
        "sim": "modem:demo",
        "code": "*100#",
        "answer": "Your balance is 12.34 EUR",
    }


async def test_ussd_action_cannot_be_called_without_asking_for_the_response(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(DOMAIN, "ussd", {"code": "*100#"}, blocking=True)


async def test_ring_action_dials_through_the_demo_modem_and_answers_how_it_ended(
    hass: HomeAssistant, relay: Relay, entry: MockConfigEntry
) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "ring",
        {"to": "+15551230007", "ring_seconds": 1},
        blocking=True,
        return_response=True,
    )
    assert response["ok"] is True and response["sim"] == "modem:demo"
    assert response["to"] == "+15551230007" and response["result"]
    calls = await hass.async_add_executor_job(relay.modem_calls)
    assert [c["number"] for c in calls] == ["+15551230007"]


async def test_actions_without_a_loaded_relay_say_so(hass: HomeAssistant, relay: Relay) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "send_sms", {"to": "+15551230007", "text": "x"}, blocking=True
        )
    assert raised.value.translation_key == "no_relay"
