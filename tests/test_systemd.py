"""systemd without systemd: sd_notify on a real datagram socket, the unit checked by
systemd-analyze, the udev rule template and `relayd modem probe --udev`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from modem.info import ModemInfo
from modem.probe import ProbeResult, UsbIds, udev_rules
from relayd import sdnotify
from relayd.sdnotify import ServiceNotifier, notify, watchdog_interval
from tests.support.daemon import clean_env, free_port, write_config

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = REPO / "systemd"
UNIT = SYSTEMD / "relayd.service"
# .ci/run installs Debian's `systemd` package when this is missing, so CI never skips.
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (.ci/run installs systemd)"
)


class NotifyListener:
    """A socket systemd would own: collects every datagram relayd sends."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self.sock.bind(bind_to)
        self.sock.settimeout(0.05)
        self.address = address
        self.messages: list[tuple[float, str]] = []

    def collect(self, seconds: float) -> list[str]:
        """Read for `seconds`; return what arrived in that time."""
        start = len(self.messages)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))
        return [m for _, m in self.messages[start:]]

    def wait_for(self, line: str, timeout: float) -> list[str]:
        """Read until a datagram holds `line` (one of its newline-separated assignments)."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            seen += self.collect(0.05)
            if any(line in m.split("\n") for m in seen):
                return seen
        raise AssertionError(f"no {line!r} within {timeout} s; got {seen}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    sock = NotifyListener(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


# --- sd_notify ------------------------------------------------------------------------


def test_notify_reaches_a_path_socket(listener: NotifyListener) -> None:
    assert notify("READY=1\nSTATUS=up", {"NOTIFY_SOCKET": listener.address})
    assert listener.collect(0.1) == ["READY=1\nSTATUS=up"]


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"@relayd-test-{os.getpid()}-{time.monotonic_ns()}"
    listener = NotifyListener(name)
    try:
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": name})
        assert listener.collect(0.1) == ["WATCHDOG=1"]
    finally:
        listener.close()


def test_notify_without_systemd_is_a_no_op(tmp_path: Path) -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})


def test_watchdog_interval() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(mine) == 2.0
    assert watchdog_interval({**mine, "WATCHDOG_PID": "1"}) is None


def _fake_relay(*, answers: bool = True) -> SimpleNamespace:
    """What the notifier reads of a relay; `answers=False` is a worker stuck in a cycle."""
    outbox = SimpleNamespace(healthy=True, last_cycle=time.monotonic(), queued=0, intake=None)

    def wake() -> None:
        if answers:
            outbox.last_cycle = time.monotonic()

    outbox.wake = wake
    outbox.queued_count = lambda: outbox.queued
    return SimpleNamespace(
        sims=SimpleNamespace(online_count=2),
        outbox=outbox,
        store=SimpleNamespace(writer_alive=True),
    )


async def test_notifier_pings_while_healthy_and_stops_when_wedged(
    listener: NotifyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdnotify, "STATUS_TICK", 0.02)
    relay = _fake_relay()
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000"}
    service = ServiceNotifier(relay, env)  # type: ignore[arg-type]
    service.ready()
    await asyncio.sleep(0.45)
    relay.outbox.queued = 3
    await asyncio.sleep(0.1)
    got = listener.collect(0.05)
    assert got[0] == "READY=1\nSTATUS=2 SIMs online, 0 queued"
    assert got.count("WATCHDOG=1") >= 3
    assert "STATUS=2 SIMs online, 3 queued" in got

    relay.outbox.wake = lambda: None  # the worker no longer comes back for work
    await asyncio.sleep(0.4)
    listener.collect(0.01)
    await asyncio.sleep(0.5)
    assert "WATCHDOG=1" not in listener.collect(0.01)

    service.stopping()
    await service.close()
    assert listener.collect(0.05) == ["STOPPING=1\nSTATUS=Stopping: draining in-flight sends"]


async def test_notifier_stops_pinging_when_the_writer_dies(listener: NotifyListener) -> None:
    relay = _fake_relay()
    service = ServiceNotifier(relay, {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "100000"})  # type: ignore[arg-type]
    service.ready()
    await asyncio.sleep(0.2)
    relay.store.writer_alive = False
    await asyncio.sleep(0.05)
    listener.collect(0.01)
    await asyncio.sleep(0.3)
    await service.close()
    assert "WATCHDOG=1" not in listener.collect(0.01)


async def test_notifier_is_silent_without_notify_socket() -> None:
    service = ServiceNotifier(_fake_relay(), {})  # type: ignore[arg-type]
    service.ready()
    service.stopping()
    await service.close()
    assert service.pings == 0


# --- a real `relayd run` under a fake systemd -------------------------------------------

# Runs relayd's own main() after making the outbox worker hang in its next cycle once
# WEDGE_FILE exists: the way a real deadlock in the worker would look to the watchdog.
WEDGING_LAUNCHER = """
import asyncio, os, sys
from relayd.dispatch import outbox
_cycle = outbox.Outbox._cycle
async def wedged_cycle(self):
    if os.path.exists(os.environ["WEDGE_FILE"]):
        await asyncio.Event().wait()
    await _cycle(self)
outbox.Outbox._cycle = wedged_cycle
from relayd.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def _post(url: str, key: str, body: dict[str, object]) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return int(resp.status)


def test_relayd_run_talks_to_systemd(tmp_path: Path, listener: NotifyListener) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    wedge = tmp_path / "wedge"
    env = clean_env(NOTIFY_SOCKET=listener.address, WATCHDOG_USEC="1000000", WEDGE_FILE=str(wedge))
    log = (tmp_path / "relayd.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", WEDGING_LAUNCHER, "run", "--demo", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        seen = listener.wait_for("READY=1", timeout=20)
        ready = next(m for m in seen if "READY=1" in m.split("\n"))
        # READY only once the port listens: /health answers at once.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            assert resp.status == 200
        assert re.search(r"^STATUS=\d+ SIMs? online, 0 queued$", ready, re.M), ready

        # STATUS follows the queue: a message scheduled for later waits in it.
        key = (tmp_path / "state" / "admin.key").read_text().strip()
        journal = (tmp_path / "relayd.log").read_text()  # what journald gets: the path, not the key
        assert str(tmp_path / "state" / "admin.key") in journal and key not in journal
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        body = {"to": "+15555550123", "text": "later", "send_at": later}
        assert _post(f"http://127.0.0.1:{port}/api/v1/messages", key, body) == 202
        seen = listener.wait_for("STATUS=1 SIM online, 1 queued", timeout=5)

        pings = [m for m in listener.collect(1.6) if m == "WATCHDOG=1"]
        assert len(pings) >= 2, listener.messages  # every 0.5 s for WATCHDOG_USEC=1 s

        wedge.touch()  # the worker hangs on its next wake-up (the watchdog's own probe)
        listener.collect(1.6)  # up to one probe interval of grace, then silence
        assert "WATCHDOG=1" not in listener.collect(1.5), listener.messages
        assert process.poll() is None  # relayd itself keeps serving; systemd restarts it

        process.send_signal(signal.SIGTERM)
        listener.wait_for("STOPPING=1", timeout=5)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


# --- the unit -------------------------------------------------------------------------


def _unit_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart= on an executable that exists here (verify checks it)."""
    relayd = Path(sys.executable).with_name("relayd")
    text = UNIT.read_text().replace("/opt/relayd/bin/relayd", str(relayd))
    path = tmp_path / "relayd.service"
    path.write_text(text)
    return path


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=30, check=False
    )


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = _analyze("verify", str(_unit_copy(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "relayd.service" not in result.stderr, result.stderr  # no warnings about it either


@needs_analyze
def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The checks above can fail: a typo is reported, a missing program is an error."""
    unit = _unit_copy(tmp_path)
    unit.write_text(unit.read_text().replace("Type=notify", "Type=notfy"))
    result = _analyze("verify", str(unit))
    assert "relayd.service:" in result.stderr and "notfy" in result.stderr
    unit.write_text(UNIT.read_text())  # ExecStart=/opt/relayd/bin/relayd, not installed here
    assert _analyze("verify", str(unit)).returncode != 0


@needs_analyze
def test_unit_is_hardened(tmp_path: Path) -> None:
    unit = _unit_copy(tmp_path)
    result = _analyze("security", "--offline=yes", str(unit))
    assert result.returncode == 0, result.stderr
    score = float(re.findall(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)[-1])
    assert score <= 2.0, result.stdout  # README quotes 1.5; a bare unit scores 9.6
    report = json.loads(_analyze("security", "--offline=yes", "--json=short", str(unit)).stdout)
    passed = {item["name"] for item in report if item["set"]}
    for name in (
        "PrivateTmp=",
        "ProtectHome=",
        "NoNewPrivileges=",
        "ProtectSystem=",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "RestrictAddressFamilies=~AF_PACKET",
        "SystemCallFilter=~@mount",
    ):
        assert name in passed, name


def test_unit_settings_the_appliance_relies_on() -> None:
    lines = [ln.strip() for ln in UNIT.read_text().splitlines()]
    for line in (
        "Type=notify",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "User=relayd",
        "SupplementaryGroups=dialout",
        "StateDirectory=relayd",
        "ConfigurationDirectory=relayd",
        "ProtectSystem=strict",
        "DevicePolicy=closed",
        "DeviceAllow=char-ttyUSB rw",
        "DeviceAllow=char-ttyACM rw",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallFilter=@system-service",
    ):
        assert line in lines, line
    assert not any(ln.startswith("PrivateDevices=") for ln in lines)  # it would hide modems


# --- udev -----------------------------------------------------------------------------

RULE_TOKEN = re.compile(
    r'^(?P<key>[A-Z_]+)(\{(?P<attr>[^}]+)\})?(?P<op>==|!=|\+=|-=|:=|=)"(?P<value>(?:[^"\\]|\\.)*)"$'
)
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "ATTRS", "ATTR", "ENV", "KERNELS", "KERNEL"}
ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "SYMLINK", "GOTO", "LABEL"}


def check_udev_rules(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    """Parse udev rule lines the way udev splits them; fail on anything udev would reject."""
    rules = []
    labels, gotos = set(), set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = []
        for part in re.split(r",\s*(?=[A-Z_]+[{=!+:-])", line):
            m = RULE_TOKEN.match(part.strip())
            assert m, f"not a udev token: {part!r} in {line!r}"
            key, attr, op, value = m["key"], m["attr"], m["op"], m["value"]
            assert key in (MATCH_KEYS if op in ("==", "!=") else ASSIGN_KEYS), part
            tokens.append((key, attr, op, value))
            if key == "LABEL":
                labels.add(value)
            if key == "GOTO":
                gotos.add(value)
        rules.append(tokens)
    assert gotos <= labels, f"GOTO without LABEL: {gotos - labels}"
    return rules


def test_udev_template_is_well_formed() -> None:
    rules = check_udev_rules((SYSTEMD / "90-relayd-modem.rules").read_text())
    text = (SYSTEMD / "90-relayd-modem.rules").read_text()
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in text
    links = [v for rule in rules for k, _a, _o, v in rule if k == "SYMLINK"]
    assert links and all(v.startswith("relayd/modem-") for v in links)


def _probe(usb: UsbIds | None, port: str = "/dev/ttyUSB2") -> ProbeResult:
    info = ModemInfo(maker="SIMCOM INCORPORATED", model="SIMCOM_SIM7600E-H", imei="862636051234567")
    return ProbeResult(port, info=info, sim_state="READY", usb=usb)


def test_probe_udev_rules_for_a_modem_with_a_serial() -> None:
    text = udev_rules([_probe(UsbIds("1e0e", "9001", "0123456789ABCDEF", "02"))])
    rules = check_udev_rules(text)
    assert len(rules) == 2
    device, tty = (" ".join(f"{k}{a or ''}{o}{v}" for k, a, o, v in r) for r in rules)
    assert 'ATTRS{idVendor}=="1e0e"' in text and 'ATTRS{serial}=="0123456789ABCDEF"' in text
    assert "ID_MM_DEVICE_IGNORE=1" in device
    assert "ID_USB_INTERFACE_NUM==02" in tty
    assert "SYMLINK+=relayd/modem-0123456789ABCDEF" in tty


def test_probe_udev_rules_pin_a_modem_without_serial_to_its_socket(tmp_path: Path) -> None:
    # A sysfs tree as the kernel lays it out for a tty behind a USB interface.
    usb_dev = tmp_path / "sys/devices/pci0000:00/usb1/1-1/1-1.3"
    iface = usb_dev / "1-1.3:1.2"
    (iface / "ttyUSB2").mkdir(parents=True)
    (usb_dev / "idVendor").write_text("2c7c\n")
    (tmp_path / "sys/class/tty").mkdir(parents=True)
    (tmp_path / "sys/class/tty/ttyUSB2").symlink_to(iface / "ttyUSB2")
    (iface / "ttyUSB2/device").symlink_to(iface)
    text = udev_rules([_probe(UsbIds("2c7c", "0125", None, "02"))], sys_root=str(tmp_path / "sys"))
    check_udev_rules(text)
    assert 'KERNELS=="1-1.3"' in text
    assert 'SYMLINK+="relayd/modem-862636051234567"' in text


def test_probe_udev_for_a_port_that_is_not_usb() -> None:
    text = udev_rules([_probe(None, "/tmp/modem0")])
    assert check_udev_rules(text) == []
    assert "not a USB device" in text


async def test_modem_probe_cli_on_the_simulator(tmp_path: Path) -> None:
    from modem.simulator import ModemSimulator

    link = tmp_path / "modem0"
    async with ModemSimulator(link=link):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relayd",
            "modem",
            "probe",
            str(link),
            "--timeout",
            "5",
            stdout=asyncio.subprocess.PIPE,
            env=clean_env(),
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, out
        assert "[[modem]]" in out.decode()
        assert "relayd modem probe --udev" in out.decode()
        assert "77-relayd" not in out.decode()  # one udev story: 90-relayd-modem.rules
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relayd",
            "modem",
            "probe",
            str(link),
            "--udev",
            stdout=asyncio.subprocess.PIPE,
            env=clean_env(),
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0
        assert "90-relayd-modem.rules" in out.decode()
        check_udev_rules(out.decode())


def test_systemd_is_recognised_by_invocation_id_or_notify_socket() -> None:
    from relayd.relay import under_systemd

    assert under_systemd({"INVOCATION_ID": "0f1e"}) and under_systemd({"NOTIFY_SOCKET": "/run/x"})
    assert not under_systemd({"HOME": "/root"})
