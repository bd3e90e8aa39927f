"""Acceptance 5: the diagnostics download holds no key, phone number or text unmasked."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.relayd.const import DOMAIN
from tests_ha.conftest import wait_until
from tests_ha.relay import Relay

RECIPIENT = "+15551230009"
SENDER = "+15557650000"


async def test_diagnostics_download_masks_key_numbers_and_texts(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    relay: Relay,
    ha_key: tuple[int, str],
    entry: MockConfigEntry,
) -> None:
    hass.config_entries.async_update_entry(
        entry, options={"default_sim": "auto", "recipients": [RECIPIENT]}
    )
    await hass.async_block_till_done()
    await wait_until(lambda: entry.runtime_data.stream.connected)
    await hass.services.async_call(
        DOMAIN, "send_sms", {"to": RECIPIENT, "text": "secret outbound text"}, blocking=True
    )
    await hass.async_add_executor_job(relay.inject_sms, SENDER, "secret inbound text")
    await wait_until(lambda: entry.runtime_data.stream.last_message is not None)
    await entry.runtime_data.coordinator.async_refresh()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    blob = json.dumps(diagnostics)
    sim_number = relay.sims()[0]["number"]
    for secret in (ha_key[1], relay.admin_key(), RECIPIENT, SENDER, sim_number,
                   "secret outbound text", "secret inbound text"):  # fmt: skip
        assert secret not in blob, secret
    # What support needs is there, masked where it must be.
    assert diagnostics["entry"]["data"]["api_key"] == "**REDACTED**"
    assert diagnostics["entry"]["options"]["recipients"] == "**REDACTED**"
    [sim] = diagnostics["sims"]
    assert sim["id"] == "modem:demo" and sim["number"] == "**REDACTED**"
    assert sim["signal"] == relay.sims()[0]["signal"]
    assert diagnostics["stream"]["connected"] is True
    last = diagnostics["stream"]["last_message"]
    assert last["peer"] == last["text"] == "**REDACTED**" and last["sim"] == "modem:demo"
