"""Fixtures: Home Assistant (pytest-homeassistant-custom-component) beside a real relayd."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.relayd.const import CONF_RELAY_ID, CONF_TLS, DOMAIN
from tests_ha.relay import Relay

WAIT_SECONDS = 20.0


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/relayd in every test."""


def _running(directory: Path, mdns_name: str | None = None, tls: bool = False) -> Iterator[Relay]:
    daemon = Relay.create(directory, mdns_name=mdns_name, tls=tls)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def relay(tmp_path: Path, socket_enabled: None) -> Iterator[Relay]:
    """A started relayd with the demo modem online; stopped after the test."""
    yield from _running(tmp_path / "relay")


@pytest.fixture
def announced_relay(tmp_path: Path, socket_enabled: None) -> Iterator[Relay]:
    """A started relayd that announces itself by mDNS on 127.0.0.1 under a unique name."""
    yield from _running(tmp_path / "relay", f"relayd-ha-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def announced_tls_relay(tmp_path: Path, socket_enabled: None) -> Iterator[Relay]:
    """The same over HTTPS with relayd's own CA (`[server] tls = "auto"`)."""
    yield from _running(tmp_path / "relay", f"relayd-ha-{uuid.uuid4().hex[:8]}", tls=True)


@pytest.fixture
def ha_key(relay: Relay) -> tuple[int, str]:
    """A key for Home Assistant: send and read, admin for USSD."""
    return relay.create_key("homeassistant", ["send", "read", "admin"])


def entry_for(relay: Relay, key: str) -> MockConfigEntry:
    """A config entry as the user step of the flow leaves it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="relayd test",
        unique_id=f"{relay.host}:{relay.port}",
        data={
            CONF_HOST: relay.host,
            CONF_PORT: relay.port,
            CONF_API_KEY: key,
            CONF_TLS: False,
            CONF_RELAY_ID: None,
        },
    )


@pytest.fixture
async def entry(
    hass: HomeAssistant, relay: Relay, ha_key: tuple[int, str]
) -> AsyncIterator[MockConfigEntry]:
    """The integration set up against the relay, its event stream open."""
    config_entry = entry_for(relay, ha_key[1])
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    await wait_until(lambda: config_entry.runtime_data.stream.connected)
    yield config_entry
    if config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()


async def wait_until(check: Callable[[], Any], timeout: float = WAIT_SECONDS) -> Any:
    """Let the event loop run until `check()` is truthy (HA's tasks keep going meanwhile)."""
    async with asyncio.timeout(timeout):
        while not (result := check()):
            await asyncio.sleep(0.02)
    return result
