"""Acceptance 1: HA's own zeroconf discovery finds the announcing relay; a key sets it up.

Real mDNS on 127.0.0.1: relayd's announcer in its process, Home Assistant's
ZeroconfDiscovery (the class its zeroconf integration runs) browsing with a real
HaZeroconf in the test's loop, matching on the manifest's `_smsrelay._tcp.local.`.
"""

from __future__ import annotations

from homeassistant.components.zeroconf import HaAsyncZeroconf, HaZeroconf, ZeroconfDiscovery
from homeassistant.config_entries import SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.loader import async_get_zeroconf
from pytest_homeassistant_custom_component.common import async_capture_events
from zeroconf import IPVersion

from custom_components.relayd.const import CONF_CA, CONF_TLS, DOMAIN, EVENT_SMS_RECEIVED
from tests_ha.conftest import wait_until
from tests_ha.relay import Relay


async def discover(hass: HomeAssistant, relay: Relay) -> dict:
    """Run HA's zeroconf discovery on 127.0.0.1 until it has offered this relay."""
    matchers = await async_get_zeroconf(hass)
    assert {"domain": DOMAIN} in matchers["_smsrelay._tcp.local."]
    zc = HaZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    discovery = ZeroconfDiscovery(hass, zc, matchers, {}, {})
    await discovery.async_setup()

    def ours() -> list[dict]:
        # Other relays may announce on this host's loopback too (other test runs): ours by id.
        return [
            f
            for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if f["context"].get("unique_id") == relay.instance_id
        ]

    try:
        flows = await wait_until(ours)
    finally:
        await discovery.async_stop()
        await HaAsyncZeroconf(zc=zc).ha_async_close()
    assert len(flows) == 1
    return flows[0]


async def test_zeroconf_discovery_offers_the_relay_and_a_key_creates_entities_with_live_values(
    hass: HomeAssistant, announced_relay: Relay
) -> None:
    relay = announced_relay
    flow = await discover(hass, relay)
    assert flow["context"]["source"] == SOURCE_ZEROCONF
    assert flow["context"]["unique_id"] == relay.instance_id
    assert flow["context"]["title_placeholders"] == {"name": relay.mdns_name}
    assert flow["step_id"] == "zeroconf_confirm"

    # A wrong key is refused on the form, nothing is created.
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "rk_not-a-key"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    _, key = relay.create_key("homeassistant", ["send", "read"])
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_API_KEY: key})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["title"] == relay.mdns_name
    assert result["data"][CONF_HOST] == "127.0.0.1"
    assert result["data"][CONF_PORT] == relay.port
    await hass.async_block_till_done()

    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == relay.instance_id

    live = {sim["id"]: sim for sim in relay.sims()}["modem:demo"]
    registry = er.async_get(hass)

    def state(platform: str, key: str) -> str:
        entity_id = registry.async_get_entity_id(
            platform, DOMAIN, f"{relay.instance_id}_modem:demo_{key}"
        )
        assert entity_id, key
        return hass.states.get(entity_id).state

    assert state("sensor", "signal") == str(live["signal"])
    assert state("sensor", "signal_dbm") == str(live["signal_dbm"])
    assert state("sensor", "operator") == live["operator"]
    assert state("sensor", "registration") == "home"
    assert state("sensor", "queue_depth") == "0"
    assert state("sensor", "sent_today") == "0"
    assert state("sensor", "received_today") == "0"
    assert state("binary_sensor", "online") == "on"
    assert state("notify", "sim_notify") == "unknown"  # a notify entity has no state until used
    # No balance sensor: relayd's SIM has no balance to show.
    assert not registry.async_get_entity_id(
        "sensor", DOMAIN, f"{relay.instance_id}_modem:demo_balance"
    )

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_a_relay_announcing_tls_is_set_up_over_https_trusting_only_its_own_ca(
    hass: HomeAssistant, announced_tls_relay: Relay
) -> None:
    relay = announced_tls_relay
    flow = await discover(hass, relay)
    _, key = relay.create_key("homeassistant", ["send", "read"])
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_API_KEY: key})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"][CONF_PORT] == relay.https_port
    assert result["data"][CONF_TLS] is True
    ca = (relay.daemon.db_path.parent / "tls" / "ca.pem").read_text()
    assert result["data"][CONF_CA] == ca
    await hass.async_block_till_done()

    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED
    runtime = entry.runtime_data
    assert str(runtime.client.base) == f"https://127.0.0.1:{relay.https_port}"
    assert runtime.coordinator.data.sims["modem:demo"]["online"] is True
    await wait_until(lambda: runtime.stream.connected)
    events = async_capture_events(hass, EVENT_SMS_RECEIVED)
    await hass.async_add_executor_job(relay.inject_sms, "+15557654321", "over TLS")
    await wait_until(lambda: events)
    assert events[0].data["text"] == "over TLS"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
