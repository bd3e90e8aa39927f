"""Modem against the simulator on a real pty: init, SMS both ways, USSD, calls, self-healing."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import serial

from modem import engine as engine_module
from modem import modem as modem_module
from modem import probe as probe_module
from modem import startup as startup_module
from modem import ussd as ussd_module
from modem.codec import Deliver, StatusReport, encode_deliver
from modem.errors import CmsError, ModemNotReady, SendInterrupted, UssdError
from modem.info import ModemState
from modem.modem import Modem
from modem.protocol import TRACE
from modem.simulator import SIM800, ModemSimulator

MakeSim = Callable[..., Awaitable[ModemSimulator]]


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    for module, values in {
        engine_module: {
            "COMMAND_TIMEOUT": 0.5,
            "PROMPT_TIMEOUT": 0.5,
            "CMGS_TIMEOUT": 1.0,
            "NETWORK_TIMEOUT": 1.0,
            "LIST_TIMEOUT": 1.0,
            "READ_TIMEOUT": 0.5,
            "PIN_TIMEOUT": 0.5,
            "RESYNC_TIMEOUT": 0.3,
            "RESYNC_SETTLE": 0.01,
            "BUSY_BACKOFF": 0.01,
            "BUSY_BACKOFF_MAX": 0.02,
        },
        startup_module: {
            "SYNC_TIMEOUT": 0.2,
            "SMS_READY_TIMEOUT": 1.0,
            "SMS_READY_POLL": 0.05,
            "SIM_READY_TIMEOUT": 1.0,
            "HEALTH_TIMEOUT": 0.3,
        },
        ussd_module: {"USSD_TIMEOUT": 1.0},
        modem_module: {
            "RECONNECT_MIN": 0.02,
            "RECONNECT_MAX": 0.1,
            "PORT_POLL_MAX": 0.05,
            "PORT_SETTLE": 0.01,
            "PORT_BUSY_RETRY": 0.1,
            "NO_SIM_RETRY": 0.1,
            "REBOOT_WAIT": 0.5,
            "RESET_TIMEOUT": 0.5,
        },
    }.items():
        for name, value in values.items():
            monkeypatch.setattr(module, name, value)


class Recorder:
    def __init__(self, sim: ModemSimulator | None = None) -> None:
        self.sim = sim
        self.inbound: list[Deliver] = []
        self.reports: list[StatusReport] = []
        self.states: list[ModemState] = []
        self.stored_when_handed: list[int] = []
        self.fail_inbound = False

    async def on_inbound(self, part: Deliver) -> None:
        if self.sim is not None:
            self.stored_when_handed.append(len(self.sim.storage))
        if self.fail_inbound:
            raise RuntimeError("database is down")
        self.inbound.append(part)

    async def on_status_report(self, report: StatusReport) -> None:
        self.reports.append(report)

    def on_state_changed(self, modem: Modem) -> None:
        if not self.states or self.states[-1] is not modem.state:
            self.states.append(modem.state)


@pytest.fixture
async def make_modem() -> AsyncIterator[Callable[..., Awaitable[tuple[Modem, Recorder]]]]:
    modems: list[Modem] = []

    async def make(
        port: Path, sim: ModemSimulator | None = None, *, start: bool = True, **kwargs: Any
    ) -> tuple[Modem, Recorder]:
        recorder = Recorder(sim)
        kwargs.setdefault("health_interval", 0.2)
        modem = Modem(
            str(port),
            name="test",
            on_inbound=recorder.on_inbound,
            on_status_report=recorder.on_status_report,
            on_state_changed=recorder.on_state_changed,
            **kwargs,
        )
        modems.append(modem)
        if start:
            await modem.start()
        return modem, recorder

    yield make
    for modem in modems:
        await modem.stop()


async def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("profile", ["sim800", "huawei", "quectel"])
async def test_init_each_profile(profile: str, make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(profile=profile)
    modem, recorder = await make_modem(sim.link, sim)
    assert modem.state is ModemState.READY
    info = modem.info
    assert info.imei == sim.imei
    assert info.imsi == "001010123456789"
    assert info.iccid == "89014103211118510720"
    assert info.own_number == "+15550001111"
    assert info.operator == "Demo Mobile"
    assert (info.rssi, info.signal_percent, info.signal_dbm) == (20, 65, -73)
    assert info.registered
    assert info.registration == "home"
    assert not info.roaming
    assert info.maker == sim.profile.manufacturer
    assert sim.settings.echo is False
    assert sim.settings.cmgf == 0
    assert sim.settings.cnmi[1] == 1  # stored, with +CMTI
    assert sim.settings.cnmi[3] in (1, 2)  # status reports routed to us
    assert recorder.states == [ModemState.READY]


@pytest.mark.parametrize(
    "text",
    [
        "Hello from relayd",
        "x" * 400,
        "Привет, мир! 👋🏽 " * 6,
    ],
    ids=["ascii", "three-parts", "cyrillic-emoji"],
)
@pytest.mark.parametrize("profile", ["sim800", "huawei"])
async def test_send(text: str, profile: str, make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(profile=profile)
    modem, recorder = await make_modem(sim.link, sim)
    references = await modem.send_sms("+1 555 010 9999", text)
    [sent] = sim.sent_messages()
    assert sent.text == text
    assert sent.to == "+15550109999"
    assert sent.complete
    assert list(sent.mrs) == references
    await sim.settle()
    await wait_until(lambda: len(recorder.reports) == len(references))
    assert sorted(r.reference for r in recorder.reports) == sorted(references)
    assert all(r.delivered and r.final for r in recorder.reports)
    assert len(sim.storage) == 0  # stored reports were deleted after hand-over


async def test_concat_reference_rotates(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    modem, _ = await make_modem(sim.link, sim, delivery_reports=False)
    await modem.send_sms("+15550100001", "a" * 200)
    await modem.send_sms("+15550100001", "b" * 200)
    first, second = sim.sent[0].concat_reference, sim.sent[2].concat_reference
    assert first is not None
    assert second == (first + 1) % 256
    assert not any(part.status_report for part in sim.sent)


async def test_inbound_handed_over_before_delete(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    _modem, recorder = await make_modem(sim.link, sim)
    sim.inject_sms("+15551230000", "first")
    sim.inject_sms("+15551230001", "Grüße 😀 " * 12)  # UCS-2, two parts
    await wait_until(lambda: len(recorder.inbound) == 3)
    await sim.settle()
    assert next(p.text for p in recorder.inbound) == "first"
    assert "".join(p.text for p in recorder.inbound[1:]) == "Grüße 😀 " * 12
    assert {p.concat.seq for p in recorder.inbound[1:] if p.concat} == {1, 2}
    assert all(count >= 1 for count in recorder.stored_when_handed)
    await wait_until(lambda: len(sim.storage) == 0)


async def test_failed_handover_keeps_message_for_sweep(
    make_modem_sim: MakeSim, make_modem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modem_module, "SWEEP_EVERY", 1)
    sim = await make_modem_sim()
    _modem, recorder = await make_modem(sim.link, sim, health_interval=0.05)
    recorder.fail_inbound = True
    sim.inject_sms("+15551230000", "keep me")
    await wait_until(lambda: len(recorder.stored_when_handed) >= 1)
    await sim.settle()
    assert len(sim.storage) == 1
    recorder.fail_inbound = False
    await wait_until(lambda: len(recorder.inbound) == 1)
    await wait_until(lambda: len(sim.storage) == 0)


async def test_sweep_at_start(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(profile="quectel")
    sim.inject_sms("+15551230000", "while you were away")
    await sim.settle()
    assert len(sim.storage) == 1
    _, recorder = await make_modem(sim.link, sim)
    await wait_until(lambda: len(recorder.inbound) == 1)
    assert recorder.inbound[0].text == "while you were away"
    await wait_until(lambda: len(sim.storage) == 0)


async def test_cms_error_is_typed(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    modem, _ = await make_modem(sim.link, sim)
    sim.faults.cms_error = 1
    sim.faults.cms_error_code = 38
    with pytest.raises(CmsError) as info:
        await modem.send_sms("+15550100001", "hi")
    assert info.value.code == 38
    assert info.value.meaning == "network out of order"
    assert await modem.send_sms("+15550100001", "again")


async def test_busy_and_garbage_survived(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    modem, _ = await make_modem(sim.link, sim)
    sim.faults.cme_busy = 3
    sim.faults.garbage = 3
    sim.emit_garbage(40)
    assert await modem.send_sms("+15550100001", "through the noise")
    assert modem.state is ModemState.READY
    assert sim.sent_messages()[-1].text == "through the noise"


async def test_unplug_mid_send_then_replug(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(send_delay=0.3)
    modem, recorder = await make_modem(sim.link, sim)
    send = asyncio.create_task(modem.send_sms("+15550100001", "torn"))
    await wait_until(lambda: len(sim.sent) == 1)  # the PDU is complete: on air
    await sim.unplug()
    with pytest.raises(SendInterrupted) as info:
        await send
    assert info.value.not_sent is False
    await wait_until(lambda: modem.state is ModemState.OFFLINE)
    with pytest.raises(ModemNotReady):
        await modem.send_sms("+15550100001", "not now")
    sim.faults.send_delay = 0.0
    await sim.replug()
    await wait_until(lambda: modem.state is ModemState.READY)
    assert await modem.send_sms("+15550100001", "back")
    assert [m.text for m in sim.sent_messages()] == ["torn", "back"]
    assert ModemState.OFFLINE in recorder.states


async def test_unplug_before_pdu_is_not_sent(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    modem, _ = await make_modem(sim.link, sim)
    sim.faults.prompt_delay = 0.3
    send = asyncio.create_task(modem.send_sms("+15550100001", "never"))
    await asyncio.sleep(0.1)
    await sim.unplug()
    with pytest.raises(SendInterrupted) as info:
        await send
    assert info.value.not_sent is True
    assert sim.sent == []


async def test_start_without_port_then_plug(tmp_path: Path, make_modem: Any) -> None:
    link = tmp_path / "late0"
    modem, _ = await make_modem(link)
    assert modem.state is ModemState.OFFLINE
    sim = ModemSimulator(link, profile="quectel")
    await sim.start()
    try:
        await wait_until(lambda: modem.state is ModemState.READY)
    finally:
        await modem.stop()
        await sim.stop()


async def test_reboot_triggers_reinit(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    modem, recorder = await make_modem(sim.link, sim, health_interval=5)
    await sim.reboot()
    await wait_until(
        lambda: ModemState.STARTING in recorder.states and modem.state is ModemState.READY
    )
    await wait_until(lambda: sim.settings.echo is False and sim.settings.cnmi[1] == 1)
    sim.inject_sms("+15551230000", "after reboot")
    await wait_until(lambda: len(recorder.inbound) == 1)


async def test_wrong_pin_is_tried_once(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(pin="1234")
    modem, _ = await make_modem(sim.link, sim, pin="0000")
    assert modem.state is ModemState.WRONG_PIN
    assert "rejected" in (modem.state_detail or "")
    await asyncio.sleep(0.3)
    assert sim.pin_attempts == 2  # one try burnt, never a second
    assert modem.state is ModemState.WRONG_PIN


async def test_pin_entered(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(pin="1234")
    modem, _ = await make_modem(sim.link, sim, pin="1234")
    assert modem.state is ModemState.READY
    assert sim.pin_attempts == 3


@pytest.mark.parametrize(
    ("sim_state", "pin", "expected"),
    [
        ("SIM PIN", None, ModemState.SIM_PIN_REQUIRED),
        ("SIM PUK", "1234", ModemState.SIM_PUK_REQUIRED),
        ("NOT INSERTED", None, ModemState.NO_SIM),
    ],
)
async def test_sim_needs_a_human(
    sim_state: str, pin: str | None, expected: ModemState, make_modem_sim: MakeSim, make_modem: Any
) -> None:
    sim = await make_modem_sim()
    sim.sim_state = sim_state
    modem, _ = await make_modem(sim.link, sim, pin=pin)
    assert modem.state is expected
    assert modem.state_detail


async def test_mute_modem_is_reopened(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    modem, recorder = await make_modem(sim.link, sim, health_interval=0.05)
    sim.faults.mute = True
    await wait_until(lambda: modem.state is ModemState.OFFLINE)
    sim.faults.mute = False
    await wait_until(lambda: modem.state is ModemState.READY)
    assert recorder.states[-3:] == [ModemState.OFFLINE, ModemState.STARTING, ModemState.READY]


async def test_repeated_failures_reset_the_modem(
    make_modem_sim: MakeSim, make_modem: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(TRACE, logger="modem.protocol")
    sim = await make_modem_sim()
    sim.faults.cme_busy = 10_000  # every command but a bare AT answers +CME ERROR: 515
    modem, _ = await make_modem(sim.link, sim)
    assert modem.state is ModemState.ERROR
    await wait_until(lambda: "AT+CFUN=1,1" in caplog.text, timeout=3)
    sim.faults.cme_busy = 0
    await wait_until(lambda: modem.state is ModemState.READY, timeout=3)


async def test_port_busy(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim()
    holder = serial.Serial(str(sim.link), exclusive=True)
    try:
        modem, _ = await make_modem(sim.link, sim)
        assert modem.state is ModemState.PORT_BUSY
        assert "ModemManager" in (modem.state_detail or "")
    finally:
        holder.close()
    await wait_until(lambda: modem.state is ModemState.READY)


@pytest.mark.parametrize("profile", ["sim800", "huawei", "quectel"])
async def test_ussd(profile: str, make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(profile=profile)
    modem, _ = await make_modem(sim.link, sim)
    assert await modem.ussd("*100#") == "Your balance is 12.34 EUR"
    sim.ussd_answers["*102#"] = "Баланс: 5 ₽"
    assert await modem.ussd("*102#") == "Баланс: 5 ₽"
    with pytest.raises(UssdError):
        await modem.ussd("*999#")


async def test_ussd_stray_cusd2_and_answer_before_ok(
    make_modem_sim: MakeSim, make_modem: Any
) -> None:
    profile = SIM800.with_options(ussd_stray_cusd2=True, ussd_answer_before_ok=True)
    sim = await make_modem_sim(profile=profile)
    modem, _ = await make_modem(sim.link, sim)
    assert await modem.ussd("*101#") == "You have 250 SMS and 1.5 GB left until 2030-01-31"


async def test_ring(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(profile="quectel")
    modem, _ = await make_modem(sim.link, sim)
    assert await modem.ring("+15550100002", 0.1) == "completed"
    assert sim.calls[-1].ended_by == "local"
    sim.faults.callee_hangup_after = 0.02
    assert await modem.ring("+15550100002", 1) == "no_carrier"
    sim.faults.callee_hangup_after = None
    sim.faults.call_result = "BUSY"
    assert await modem.ring("+15550100002", 1) == "busy"
    assert sim.active_call is None


async def test_info_logs_mask_numbers(
    make_modem_sim: MakeSim, make_modem: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sim = await make_modem_sim()
    modem, recorder = await make_modem(sim.link, sim)
    await modem.send_sms("+15550109999", "hello")
    sim.inject_sms("+15551234567", "hi")
    await wait_until(lambda: len(recorder.inbound) == 1)
    assert "+155******99" in caplog.text
    assert "5550109999" not in caplog.text
    assert "5551234567" not in caplog.text


async def test_same_imei_on_another_port(
    make_modem_sim: MakeSim, make_modem: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(modem_module, "IMEI_SEARCH_AFTER", 0.05)
    monkeypatch.setattr(modem_module, "IMEI_SEARCH_INTERVAL", 0.05)
    first = await make_modem_sim()
    modem, _ = await make_modem(first.link, first)
    await first.unplug()
    await wait_until(lambda: modem.state is ModemState.OFFLINE)
    other = await make_modem_sim(tmp_path / "other0", profile="quectel")  # not ours
    moved = await make_modem_sim(tmp_path / "moved0", imei=first.imei)
    monkeypatch.setattr(
        probe_module, "list_candidate_ports", lambda: [str(other.link), str(moved.link)]
    )
    await wait_until(lambda: modem.state is ModemState.READY, timeout=3)
    assert modem.port == str(moved.link)
    assert await modem.send_sms("+15550100001", "from the new port")
    assert moved.sent_messages()[-1].text == "from the new port"


async def test_auto_port(make_modem_sim: MakeSim, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = await make_modem_sim(profile="huawei")
    monkeypatch.setattr(probe_module, "list_candidate_ports", lambda: [str(sim.link)])
    modem = Modem("auto", name="auto")
    try:
        await modem.start()
        assert modem.state is ModemState.READY
        assert modem.port == str(sim.link)
    finally:
        await modem.stop()


async def test_cmti_inside_health_csq_is_not_lost(
    make_modem_sim: MakeSim, make_modem: Any
) -> None:
    sim = await make_modem_sim()
    modem, recorder = await make_modem(sim.link, sim, health_interval=0.05)
    [pdu] = encode_deliver("+15551230000", "quiet arrival", scts=dt.datetime.now(dt.UTC))
    stored = sim.storage.store(pdu)  # in storage without its own indication
    assert stored is not None
    sim.signal_csq = 9
    sim.faults.urc_between = [f'+CMTI: "SM",{stored.index}']
    sim.faults.urc_between_on = "+CSQ"
    await wait_until(lambda: len(recorder.inbound) == 1)
    assert recorder.inbound[0].text == "quiet arrival"
    await wait_until(lambda: modem.info.rssi == 9)
    assert modem.state is ModemState.READY


async def test_echo_that_survives_ate0(make_modem_sim: MakeSim, make_modem: Any) -> None:
    sim = await make_modem_sim(profile="quectel")
    sim.faults.echo_after_ate0 = True
    modem, recorder = await make_modem(sim.link, sim)
    assert modem.state is ModemState.READY
    assert await modem.send_sms("+15550100001", "echo, echo")
    sim.inject_sms("+15551230000", "heard")
    await wait_until(lambda: len(recorder.inbound) == 1)
    assert await modem.ussd("*100#") == "Your balance is 12.34 EUR"


async def test_direct_delivery_with_cmt(make_modem_sim: MakeSim, make_modem: Any) -> None:
    no_storage = frozenset({0, 2})
    profile = SIM800.with_options(
        cnmi_ranges=(frozenset({0, 1, 2}), no_storage, no_storage, frozenset({0, 1}), no_storage),
        cnmi_test="+CNMI: (0-2),(0,2),(0,2),(0,1),(0,2)",
    )
    sim = await make_modem_sim(profile=profile)
    modem, recorder = await make_modem(sim.link, sim)
    assert sim.settings.cnmi[:2] == [2, 2]
    sim.inject_sms("+15551230000", "straight through")
    await wait_until(lambda: len(recorder.inbound) == 1)
    assert recorder.inbound[0].text == "straight through"
    assert len(sim.storage) == 0
    assert modem.state is ModemState.READY


async def test_multipart_failing_half_way_is_not_resent(
    make_modem_sim: MakeSim, make_modem: Any
) -> None:
    sim = await make_modem_sim(send_delay=0.05)
    modem, _ = await make_modem(sim.link, sim)
    send = asyncio.create_task(modem.send_sms("+15550100001", "z" * 400))
    await wait_until(lambda: len(sim.sent) == 1)
    sim.faults.cms_error = 1
    sim.faults.cms_error_code = 42
    with pytest.raises(SendInterrupted) as info:
        await send
    assert info.value.not_sent is False
    assert len(info.value.references) >= 1
    assert isinstance(info.value.cause, CmsError)
