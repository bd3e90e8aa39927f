"""Acceptance 4: revoking the key starts Home Assistant's re-auth flow; a new key restores it.

Also the user step (host, port, key typed in) and its errors.
"""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.relayd.const import DOMAIN
from tests.support.daemon import free_port
from tests_ha.conftest import entry_for, wait_until
from tests_ha.relay import Relay


async def test_revoked_key_starts_reauth_and_a_new_key_reloads_the_entry(
    hass: HomeAssistant, relay: Relay, ha_key: tuple[int, str], entry: MockConfigEntry
) -> None:
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    await hass.async_add_executor_job(relay.revoke_key, ha_key[0])
    await entry.runtime_data.coordinator.async_refresh()  # the next poll
    await hass.async_block_till_done()

    flows = await wait_until(lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN))
    [flow] = flows
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert flow["context"]["entry_id"] == entry.entry_id
    assert flow["step_id"] == "reauth_confirm"

    # The revoked key again is refused on the form.
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: ha_key[1]}
    )
    assert result["type"] is FlowResultType.FORM and result["errors"] == {"base": "invalid_auth"}

    _, new_key = await hass.async_add_executor_job(
        relay.create_key, "homeassistant-2", ["send", "read"]
    )
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: new_key}
    )
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_API_KEY] == new_key
    assert entry.state is ConfigEntryState.LOADED
    await wait_until(lambda: entry.runtime_data.stream.connected)
    assert entry.runtime_data.coordinator.last_update_success


async def test_user_step_checks_address_and_key_before_creating_the_entry(
    hass: HomeAssistant, relay: Relay, ha_key: tuple[int, str]
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"

    nobody = free_port()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: nobody, CONF_API_KEY: ha_key[1]}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: relay.port, CONF_API_KEY: "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: relay.port, CONF_API_KEY: ha_key[1]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == relay.port
    await hass.async_block_till_done()
    [entry] = hass.config_entries.async_entries(DOMAIN)
    assert entry.state is ConfigEntryState.LOADED

    # The same relay again is refused.
    again = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    again = await hass.config_entries.flow.async_configure(
        again["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: relay.port, CONF_API_KEY: ha_key[1]},
    )
    assert again["type"] is FlowResultType.ABORT and again["reason"] == "already_configured"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_relay_down_when_home_assistant_starts_is_retried_and_loads_once_it_answers(
    hass: HomeAssistant, relay: Relay, ha_key: tuple[int, str]
) -> None:
    await hass.async_add_executor_job(relay.stop)
    entry = entry_for(relay, ha_key[1])
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)  # not an auth matter

    await hass.async_add_executor_job(relay.start)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await wait_until(lambda: entry.runtime_data.stream.connected)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
