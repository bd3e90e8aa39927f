"""mDNS on loopback (TESTING.md): the announcer, a real zeroconf browser, `relayd discover`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from zeroconf import DNSQuestionType, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from relayd import __version__, mdns
from relayd.cli.discover import browse
from relayd.config import Config, MdnsConfig
from relayd.mdns import Announcer, announce_addresses, choose_backend, instance_id, txt_record
from tests.support.daemon import clean_env, free_port, http_get
from tests.support.postgres import storage_toml

LOOPBACK = ["127.0.0.1"]
SPEC_TXT_KEYS = {"txtvers", "id", "version", "path", "ws", "docs", "auth", "tls", "sims"}


def _config(tmp_path: Path, name: str, **server: object) -> Config:
    config = Config()
    config.storage.path = str(tmp_path / "state" / "relayd.db")
    config.mdns.interfaces = list(LOOPBACK)
    config.mdns.name = name
    for key, value in server.items():
        setattr(config.server, key, value)
    return config


def _unique(prefix: str = "relayd-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Watcher:
    """A second zeroconf instance on loopback that records what it sees, as a client would."""

    def __init__(self) -> None:
        self.azc = AsyncZeroconf(interfaces=LOOPBACK, ip_version=IPVersion.V4Only)
        self.events: list[tuple[str, ServiceStateChange]] = []
        self.browser: AsyncServiceBrowser | None = None

    def start(self) -> None:
        def on_change(
            zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
        ) -> None:
            self.events.append((name, state_change))

        self.browser = AsyncServiceBrowser(
            self.azc.zeroconf, list(mdns.SERVICE_TYPES), handlers=[on_change]
        )

    async def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s: {self.events}"
            await asyncio.sleep(0.02)

    def seen(self, name: str, state: ServiceStateChange) -> bool:
        return (name, state) in self.events

    async def txt(self, type_: str, name: str) -> dict[str, str]:
        info = AsyncServiceInfo(type_, name)
        assert await info.async_request(self.azc.zeroconf, 2000), name
        return {k.decode(): (v or b"").decode() for k, v in info.properties.items()}

    async def close(self) -> None:
        if self.browser is not None:
            await self.browser.async_cancel()
        await self.azc.async_close()


@pytest.fixture
async def watcher() -> AsyncIterator[Watcher]:
    w = Watcher()
    w.start()
    yield w
    await w.close()


# --- pure parts -----------------------------------------------------------------------


def test_txt_record_has_the_spec_keys_and_nothing_secret() -> None:
    txt = txt_record("0123456789ab", 2, tls=False)
    assert set(txt) == SPEC_TXT_KEYS
    assert txt["txtvers"] == "1" and txt["sims"] == "2" and txt["tls"] == "0"
    assert txt["path"] == "/api/v1" and txt["ws"] == "/websocket" and txt["auth"] == "token"
    assert txt_record("0123456789ab", 0, tls=True)["tls"] == "1"


def test_backend_choice(tmp_path: Path) -> None:
    avahi_file = tmp_path / "relayd.service"
    assert choose_backend(MdnsConfig(), avahi_file) == "zeroconf"
    avahi_file.write_text("<service-group/>")
    assert choose_backend(MdnsConfig(), avahi_file) == "avahi"
    assert choose_backend(MdnsConfig(backend="zeroconf"), avahi_file) == "zeroconf"
    assert choose_backend(MdnsConfig(backend="off"), avahi_file) == "off"


def test_announced_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mdns, "lan_addresses", lambda: ["192.0.2.7"])
    config = Config()
    assert announce_addresses(config) == ["192.0.2.7"]  # 0.0.0.0: every LAN address
    config.server.host = "127.0.0.1"
    assert announce_addresses(config) == []  # loopback only: nothing to tell the LAN
    config.server.host = "192.0.2.9"
    assert announce_addresses(config) == ["192.0.2.9"]
    config.mdns.interfaces = ["127.0.0.1"]
    assert announce_addresses(config) == ["127.0.0.1"]


def test_lan_addresses_never_include_loopback() -> None:
    assert not [a for a in mdns.lan_addresses() if a.startswith("127.")]


def test_instance_id_is_stable(tmp_path: Path) -> None:
    first = instance_id(tmp_path / "state")
    assert len(first) == 12
    assert instance_id(tmp_path / "state") == first
    assert instance_id(tmp_path / "other") != first


async def test_off_and_avahi_backends_start_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path, _unique())
    config.mdns.backend = "off"
    assert await mdns.start_announcer(config, 8080, lambda: 0) is None
    config.mdns.backend = "avahi"
    assert await mdns.start_announcer(config, 8080, lambda: 0) is None


# --- on loopback ----------------------------------------------------------------------


async def test_announce_update_and_withdraw(
    tmp_path: Path, watcher: Watcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mdns, "SIMS_CHECK_SECONDS", 0.1)
    name = _unique()
    sims = [1]
    config = _config(tmp_path, name, port=18080)
    started = time.monotonic()
    announcer = await mdns.start_announcer(config, 18080, lambda: sims[0])
    assert announcer is not None
    try:
        full = {t: f"{name}.{t}" for t in mdns.SERVICE_TYPES}
        await watcher.wait_for(
            lambda: all(watcher.seen(n, ServiceStateChange.Added) for n in full.values()),
            3.0,
            "both services found",
        )
        assert time.monotonic() - started < 3.0
        for type_, full_name in full.items():
            txt = await watcher.txt(type_, full_name)
            assert set(txt) == SPEC_TXT_KEYS
            assert txt["sims"] == "1" and txt["version"] == __version__
            assert txt["id"] == instance_id(config.state_dir)

        sims[0] = 2  # a SIM came online: TXT follows
        smsrelay = full["_smsrelay._tcp.local."]
        deadline = time.monotonic() + 3
        while (await watcher.txt("_smsrelay._tcp.local.", smsrelay))["sims"] != "2":
            assert time.monotonic() < deadline, "sims not updated"
            await asyncio.sleep(0.1)
    finally:
        await announcer.stop()
    await watcher.wait_for(
        lambda: all(watcher.seen(n, ServiceStateChange.Removed) for n in full.values()),
        3.0,
        "both services withdrawn",
    )


class ListeningAnnouncer(Announcer):
    """An announcer whose zeroconf has heard the LAN before it probes, as on a real network.

    On one host every zeroconf socket shares port 5353, and the kernel hands a unicast
    answer to a probe to just one of them, not necessarily the prober's: so this one
    browses with multicast (QM) questions first, whose answers every socket receives.
    """

    async def _open_zeroconf(self, addresses: list[str]) -> AsyncZeroconf:
        azc = await super()._open_zeroconf(addresses)
        seen = asyncio.Event()
        browser = AsyncServiceBrowser(
            azc.zeroconf,
            "_smsrelay._tcp.local.",
            handlers=[lambda **_kw: seen.set()],
            question_type=DNSQuestionType.QM,
        )
        try:
            await asyncio.wait_for(seen.wait(), 3)
        finally:
            await browser.async_cancel()
        return azc


async def test_name_collision_renames(tmp_path: Path, watcher: Watcher) -> None:
    name = _unique()
    first = Announcer(_config(tmp_path / "a", name), 18081, lambda: 0, "aaaaaaaaaaaa")
    second = ListeningAnnouncer(_config(tmp_path / "b", name), 18082, lambda: 0, "bbbbbbbbbbbb")
    first.start()
    try:
        await asyncio.wait_for(first.registered.wait(), 5)
        second.start()
        await asyncio.wait_for(second.registered.wait(), 8)
        assert first.service_names[0] == f"{name}._smsrelay._tcp.local."
        assert second.service_names[0] == f"{name}-2._smsrelay._tcp.local."
        txt = await watcher.txt("_smsrelay._tcp.local.", second.service_names[0])
        assert txt["id"] == "bbbbbbbbbbbb"
    finally:
        await second.stop()
        await first.stop()


async def test_address_change_re_announces(
    tmp_path: Path, watcher: Watcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mdns, "SIMS_CHECK_SECONDS", 0.05)
    monkeypatch.setattr(mdns, "ADDRESS_CHECK_SECONDS", 0.1)
    name = _unique()
    full = f"{name}._smsrelay._tcp.local."
    addresses = list(LOOPBACK)
    announcer = Announcer(
        _config(tmp_path, name), 18085, lambda: 0, "eeeeeeeeeeee", addresses=lambda: addresses
    )
    announcer.start()
    try:
        await watcher.wait_for(lambda: watcher.seen(full, ServiceStateChange.Added), 3, "added")
        addresses = []  # the interface went down (Wi-Fi lost): goodbye
        await watcher.wait_for(lambda: watcher.seen(full, ServiceStateChange.Removed), 3, "gone")
        watcher.events.clear()
        addresses = list(LOOPBACK)  # and came back (DHCP): announced again
        await watcher.wait_for(lambda: watcher.seen(full, ServiceStateChange.Added), 3, "back")
    finally:
        await announcer.stop()


async def test_no_lan_address_means_no_announcement(tmp_path: Path) -> None:
    config = _config(tmp_path, _unique())
    announcer = Announcer(config, 18083, lambda: 0, "cccccccccccc", addresses=lambda: [])
    announcer.start()
    await asyncio.sleep(0.1)
    assert not announcer.registered.is_set()
    await announcer.stop()


async def test_discover_browse_finds_an_announcer(tmp_path: Path) -> None:
    name = _unique()
    announcer = Announcer(_config(tmp_path, name), 18084, lambda: 3, "dddddddddddd")
    announcer.start()
    try:
        relays = await browse(2.5, LOOPBACK)
    finally:
        await announcer.stop()
    mine = [r for r in relays if r["name"] == name]
    assert mine, relays
    assert mine[0]["url"] == "http://127.0.0.1:18084"
    assert mine[0]["sims"] == 3 and mine[0]["id"] == "dddddddddddd"


# --- the real daemon and the real command ------------------------------------------------


def test_relayd_announces_itself_and_discover_lists_it(tmp_path: Path) -> None:
    name = _unique()
    port = free_port()
    config_path = tmp_path / "relayd.toml"
    config_path.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndrain_seconds = 1.0\n\n'
        f'{storage_toml(tmp_path / "state" / "relayd.db")}\n'
        f'[mdns]\nbackend = "zeroconf"\ninterfaces = ["127.0.0.1"]\nname = "{name}"\n'
    )
    log = (tmp_path / "relayd.log").open("wb")
    relay = subprocess.Popen(
        [sys.executable, "-m", "relayd", "run", "--demo", "--config", str(config_path)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if http_get(f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert relay.poll() is None and time.monotonic() < deadline, (
                tmp_path / "relayd.log"
            ).read_text()
            time.sleep(0.05)
        found = subprocess.run(
            [
                sys.executable,
                "-m",
                "relayd",
                "discover",
                "--interface",
                "127.0.0.1",
                "--timeout",
                "3",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=30,
            check=True,
        )
        relays = {r["name"]: r for r in json.loads(found.stdout)}
        assert name in relays, found.stdout
        mine = relays[name]
        assert mine["url"] == f"http://127.0.0.1:{port}"
        assert mine["version"] == __version__ and mine["sims"] == 1  # the demo modem
        # Nothing secret in TXT: not the admin key, not a phone number.
        admin_key = (tmp_path / "state" / "admin.key").read_text().strip()
        assert set(mine["txt"]) == SPEC_TXT_KEYS
        blob = json.dumps(mine["txt"])
        assert admin_key not in blob and "+1" not in blob

        human = subprocess.run(
            [
                sys.executable,
                "-m",
                "relayd",
                "discover",
                "--interface",
                "127.0.0.1",
                "--timeout",
                "2",
            ],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=30,
            check=True,
        )
        line = next(ln for ln in human.stdout.splitlines() if ln.startswith(name))
        assert f"http://127.0.0.1:{port}" in line and "1 SIM " in line
    finally:
        relay.terminate()
        relay.wait(timeout=15)
        log.close()
