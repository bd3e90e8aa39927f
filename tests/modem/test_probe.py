"""Port probing against the simulator, and the config it suggests."""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import serial

from modem import engine as engine_module
from modem import startup as startup_module
from modem.probe import (
    ProbeResult,
    UsbIds,
    describe,
    format_modem_block,
    list_candidate_ports,
    probe_port,
    probe_ports,
    usb_ids,
)
from modem.simulator import ModemSimulator

MakeSim = Callable[..., Awaitable[ModemSimulator]]


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_module, "SYNC_TIMEOUT", 0.2)
    monkeypatch.setattr(engine_module, "RESYNC_TIMEOUT", 0.2)


@pytest.mark.parametrize("profile", ["sim800", "huawei", "quectel"])
async def test_probe_finds_modem(profile: str, make_modem_sim: MakeSim) -> None:
    sim = await make_modem_sim(profile=profile)
    result = await probe_port(str(sim.link), timeout=2)
    assert result is not None
    assert result.error is None
    assert result.info.imei == sim.imei
    assert result.info.maker == sim.profile.manufacturer
    assert result.sim_state == "READY"
    assert result.info.operator == "Demo Mobile"
    assert result.info.signal_percent == 65
    text = describe(result)
    assert sim.imei in text
    assert "Demo Mobile" in text
    assert "65%" in text


async def test_probe_never_enters_a_pin(make_modem_sim: MakeSim) -> None:
    sim = await make_modem_sim(pin="1234")
    result = await probe_port(str(sim.link), timeout=2)
    assert result is not None
    assert result.sim_state == "SIM PIN"
    assert sim.pin_attempts == 3
    assert "asks for one" in format_modem_block(result)


async def test_probe_silent_port_is_none(tmp_path: Path) -> None:
    master, slave = os.openpty()
    link = tmp_path / "silent"
    link.symlink_to(os.ttyname(slave))
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await probe_port(str(link), timeout=1.0) is None
        assert loop.time() - started < 1.5
    finally:
        os.close(master)
        os.close(slave)


async def test_probe_busy_port_explains_fix(make_modem_sim: MakeSim) -> None:
    sim = await make_modem_sim()
    holder = serial.Serial(str(sim.link), exclusive=True)
    try:
        result = await probe_port(str(sim.link), timeout=2)
    finally:
        holder.close()
    assert result is not None
    assert "ModemManager" in (result.error or "")


async def test_probe_ports_skips_missing(make_modem_sim: MakeSim, tmp_path: Path) -> None:
    sim = await make_modem_sim()
    results = await probe_ports([str(sim.link), str(tmp_path / "gone")], timeout=2)
    assert [r.port for r in results] == [str(sim.link)]


def test_list_candidate_ports(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    (dev / "serial" / "by-id").mkdir(parents=True)
    for name in ("ttyUSB0", "ttyUSB1", "ttyUSB10", "ttyUSB2", "ttyACM0", "ttyS0"):
        (dev / name).touch()
    (dev / "serial" / "by-id" / "usb-SimTech_SIM800-if00").symlink_to(dev / "ttyUSB1")
    ports = list_candidate_ports(str(dev))
    assert ports == [
        str(dev / "serial" / "by-id" / "usb-SimTech_SIM800-if00"),
        str(dev / "ttyACM0"),
        str(dev / "ttyUSB0"),
        str(dev / "ttyUSB2"),
        str(dev / "ttyUSB10"),
    ]


def test_usb_ids_from_sysfs(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    usb = sys_root / "devices" / "pci0" / "usb1" / "1-1"
    interface = usb / "1-1:1.2"
    (interface / "ttyUSB2").mkdir(parents=True)
    (usb / "idVendor").write_text("12d1\n")
    (usb / "idProduct").write_text("1001\n")
    (usb / "serial").write_text("ABC123\n")
    (interface / "bInterfaceNumber").write_text("02\n")
    (sys_root / "class" / "tty" / "ttyUSB2").mkdir(parents=True)
    (sys_root / "class" / "tty" / "ttyUSB2" / "device").symlink_to(interface)
    assert usb_ids("/dev/ttyUSB2", str(sys_root)) == UsbIds("12d1", "1001", "ABC123", "02")


def test_format_modem_block_is_valid_toml() -> None:
    result = ProbeResult("/dev/ttyUSB2", by_id="/dev/serial/by-id/usb-HUAWEI_E3531-if02")
    result.info.model = "E3531"
    result.usb = UsbIds("12d1", "1001", None, "02")
    text = format_modem_block(result)
    parsed = tomllib.loads(text)
    assert parsed["modem"] == [
        {
            "name": "e3531",
            "port": "/dev/serial/by-id/usb-HUAWEI_E3531-if02",
            "baudrate": 115200,
            "pin": "",
            "org": "default",
            "delivery_reports": True,
        }
    ]
    usb_rule, tty_rule = text.strip().splitlines()[-2:]
    assert usb_rule.startswith('# SUBSYSTEMS=="usb"')
    assert 'ATTRS{idVendor}=="12d1"' in usb_rule
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in usb_rule
    assert tty_rule.startswith('# SUBSYSTEM=="tty"')
    assert 'SYMLINK+="relayd/modem-' in tty_rule


def test_format_without_usb_ids_says_no_udev_rule_is_needed() -> None:
    result = ProbeResult("socket://10.0.0.5:2000")
    result.info.model = "SIMCOM_SIM800L"
    text = format_modem_block(result)
    assert tomllib.loads(text)["modem"][0]["name"] == "sim800l"
    assert "not a USB device" in text and "no rule needed" in text
