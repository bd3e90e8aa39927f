"""ModemBackend: the modem driver as a SimBackend, against the simulator on a real pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from modem import engine as engine_module
from modem import modem as modem_module
from modem import startup as startup_module
from modem.modem import Modem
from modem.simulator import ModemSimulator
from relayd.bridges.base import DeliveryReport, InboundSms, OutboundSms, SendFailed, SimBackend
from relayd.bridges.modem import ModemBackend, backends_from_config, cms_is_transient
from relayd.config import Config, ModemConfig


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "COMMAND_TIMEOUT", 0.5)
    monkeypatch.setattr(engine_module, "CMGS_TIMEOUT", 1.0)
    monkeypatch.setattr(startup_module, "SYNC_TIMEOUT", 0.2)
    monkeypatch.setattr(modem_module, "RECONNECT_MIN", 0.02)
    monkeypatch.setattr(modem_module, "PORT_POLL_MAX", 0.05)
    monkeypatch.setattr(modem_module, "PORT_SETTLE", 0.01)


class Events:
    def __init__(self) -> None:
        self.inbound: list[InboundSms] = []
        self.reports: list[DeliveryReport] = []
        self.changes = 0
        self.fail_next_inbound = False
        self.seen_ids: list[str | None] = []

    async def on_inbound(self, sim_id: str, sms: InboundSms) -> None:
        assert sim_id == "modem:lte"
        self.seen_ids.append(sms.external_id)
        if self.fail_next_inbound:
            self.fail_next_inbound = False
            raise RuntimeError("disk full")
        self.inbound.append(sms)

    async def on_delivery_report(self, sim_id: str, report: DeliveryReport) -> None:
        self.reports.append(report)

    def on_sim_changed(self, sim_id: str) -> None:
        self.changes += 1


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[ModemSimulator]:
    simulator = ModemSimulator(tmp_path / "modem0", profile="quectel")
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def backend(sim: ModemSimulator) -> AsyncIterator[tuple[ModemBackend, Events]]:
    events = Events()
    config = ModemConfig(name="lte", port=str(sim.link), org="acme", health_interval=0.1)
    backend = ModemBackend.from_config(config)
    await backend.start(events)
    yield backend, events
    await backend.stop()


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def outbound(text: str = "hello", to: str = "+15550100001") -> OutboundSms:
    return OutboundSms(message_id=1, to=to, text=text)


async def test_info_and_capabilities(
    backend: tuple[ModemBackend, Events], sim: ModemSimulator
) -> None:
    b, events = backend
    assert isinstance(b, SimBackend)
    info = b.info
    assert info.id == "modem:lte"
    assert info.kind == "modem"
    assert info.org == "acme"
    assert info.online
    assert info.state == "ready"
    assert info.number == "+15550001111"
    assert info.operator == "Demo Mobile"
    assert (info.signal, info.signal_dbm) == (65, -73)
    assert info.registered
    assert info.extra["imei"] == sim.imei
    assert info.extra["model"] == "EC25"
    assert b.capabilities == {"sms", "ussd", "call", "delivery_reports"}
    assert events.changes >= 1


async def test_send_and_delivery_reports(
    backend: tuple[ModemBackend, Events], sim: ModemSimulator
) -> None:
    b, events = backend
    receipt = await b.send(outbound("é" * 200))
    assert len(receipt.references) == 2
    assert sim.sent_messages()[-1].text == "é" * 200
    await wait_until(lambda: len(events.reports) == 2)
    assert {r.reference for r in events.reports} == set(receipt.references)
    assert all(r.delivered and r.final and r.recipient == "+15550100001" for r in events.reports)


@pytest.mark.parametrize(("code", "transient"), [(42, True), (27, False), (38, True)])
async def test_cms_errors_are_classified(
    code: int, transient: bool, backend: tuple[ModemBackend, Events], sim: ModemSimulator
) -> None:
    b, _ = backend
    sim.faults.cms_error = 1
    sim.faults.cms_error_code = code
    with pytest.raises(SendFailed) as info:
        await b.send(outbound())
    assert info.value.code == f"cms_{code}"
    assert info.value.transient is transient
    assert info.value.not_sent is True


async def test_torn_send_is_interrupted_not_retried(
    backend: tuple[ModemBackend, Events], sim: ModemSimulator
) -> None:
    b, _ = backend
    sim.faults.send_delay = 0.3
    send = asyncio.create_task(b.send(outbound("torn")))
    await wait_until(lambda: len(sim.sent) == 1)
    await sim.unplug()
    with pytest.raises(SendFailed) as info:
        await send
    assert (info.value.code, info.value.not_sent, info.value.transient) == (
        "interrupted",
        False,
        False,
    )
    await wait_until(lambda: not b.info.online)
    with pytest.raises(SendFailed) as offline:
        await b.send(outbound())
    assert (offline.value.code, offline.value.not_sent, offline.value.transient) == (
        "offline",
        True,
        True,
    )
    await sim.replug()
    await wait_until(lambda: b.info.online)
    assert (await b.send(outbound("again"))).references


async def test_inbound_parts_and_stable_external_id(
    backend: tuple[ModemBackend, Events], sim: ModemSimulator
) -> None:
    _, events = backend
    sim.inject_sms("+15557654321", "Ω" * 200, order=[2, 1])
    await wait_until(lambda: len(events.inbound) == 2)
    parts = sorted(events.inbound, key=lambda p: p.concat_seq)
    assert [p.concat_seq for p in parts] == [1, 2]
    assert all(p.concat_total == 2 and p.concat_ref is not None for p in parts)
    assert "".join(p.text for p in parts) == "Ω" * 200
    assert all(p.received_at is not None and p.received_at.tzinfo for p in parts)
    assert parts[0].external_id != parts[1].external_id
    assert all(p.external_id and p.external_id.startswith("001010123456789:") for p in parts)


async def test_failed_store_keeps_sms_and_rereads_same_id(
    sim: ModemSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modem_module, "SWEEP_EVERY", 1)
    events = Events()
    events.fail_next_inbound = True
    b = ModemBackend(Modem(str(sim.link), name="lte", health_interval=0.05))
    await b.start(events)
    try:
        sim.inject_sms("+15557654321", "store me once")
        await wait_until(lambda: len(events.inbound) == 1)
        assert events.seen_ids[0] == events.seen_ids[-1]
        await wait_until(lambda: len(sim.storage) == 0)
    finally:
        await b.stop()


async def test_ussd_and_call(backend: tuple[ModemBackend, Events], sim: ModemSimulator) -> None:
    b, _ = backend
    assert await b.ussd("*100#") == "Your balance is 12.34 EUR"
    with pytest.raises(SendFailed) as info:
        await b.ussd('*100#"\r')
    assert info.value.code == "invalid"
    assert await b.call("+15550100002", 0.05) == "completed"
    assert sim.calls[-1].number == "+15550100002"


def test_cms_classification() -> None:
    assert cms_is_transient(331)
    assert cms_is_transient(500)
    assert not cms_is_transient(30)
    assert not cms_is_transient(144)
    assert cms_is_transient(192)


def test_backends_from_config() -> None:
    config = Config(modem=[ModemConfig(name="a", port="/dev/ttyUSB0", pin="1234")])
    config.sms.delivery_reports = False
    [backend] = backends_from_config(config)
    assert isinstance(backend, ModemBackend)
    assert backend.info.id == "modem:a"
    assert backend.info.state == "starting"
    assert backend.modem.pin == "1234"
    assert backend.modem.delivery_reports is False
    assert "delivery_reports" not in backend.capabilities

