"""The modem simulator on a real pty, talked to through pyserial-asyncio-fast."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modem import codec
from modem.simulator import SIM800, ModemSimulator
from modem.simulator.cli import build_parser, serve
from modem.simulator.control import ControlServer, create_control_app
from modem.simulator.network import add_concat_header
from modem.simulator.records import SentSms, join_parts

from .conftest import SerialTestPort

Opener = Callable[[str | Path], Awaitable[SerialTestPort]]
SimFactory = Callable[..., Awaitable[ModemSimulator]]


async def connect(
    sim: ModemSimulator, serial_port: Opener, *, echo: bool = False
) -> SerialTestPort:
    port = await serial_port(sim.link)
    if not echo:
        assert await port.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    return port


def pdu_line(answer: bytes) -> str:
    """The PDU line following a +CMGR/+CMT/+CDS header line."""
    lines = [line for line in answer.decode().split("\r\n") if line]
    return lines[1]


# ------------------------------------------------------------------- terminal


async def test_echo_on_by_default_and_ate(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await serial_port(modem_sim.link)
    assert await port.command("AT") == b"AT\r\r\nOK\r\n"
    assert await port.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert await port.command("AT") == b"\r\nOK\r\n"
    assert await port.command("ATE1") == b"\r\nOK\r\n"
    assert await port.command("at") == b"at\r\r\nOK\r\n"


async def test_echo_after_ate0_quirk(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    modem_sim.faults.echo_after_ate0 = True
    port = await serial_port(modem_sim.link)
    assert await port.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert await port.command("AT+CSQ") == b"AT+CSQ\r\r\n+CSQ: 20,0\r\n\r\nOK\r\n"


async def test_chained_commands_and_failure_stops_the_chain(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    assert await port.command("AT+CMGF=0;+CNMI=2,1,0,1,0") == b"\r\nOK\r\n"
    assert await port.command("at+cmgf?;+cnmi?") == (
        b"\r\n+CMGF: 0\r\n\r\n+CNMI: 2,1,0,1,0\r\n\r\nOK\r\n"
    )
    # SIM800 has no ds=2: the chain stops there, the third command never runs.
    assert await port.command("AT+CMGF=1;+CNMI=2,1,0,2,0;+CMGF=0") == b"\r\n+CMS ERROR: 303\r\n"
    assert modem_sim.settings.cmgf == 1
    assert await port.command("AT+CNMI=?") == (
        b"\r\n+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)\r\n\r\nOK\r\n"
    )
    assert await port.command("ATI") == b"\r\nSIM800 R14.18\r\n\r\nOK\r\n"
    assert await port.command("AT+CGSN") == f"\r\n{modem_sim.imei}\r\n\r\nOK\r\n".encode()


async def test_error_formats_follow_cmee(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    modem_sim.sim_state = "NOT INSERTED"
    assert await port.command("AT+FOO") == b"\r\nERROR\r\n"
    assert await port.command("AT+CIMI") == b"\r\nERROR\r\n"
    await port.command("AT+CMEE=1")
    assert await port.command("AT+CIMI") == b"\r\n+CME ERROR: 10\r\n"
    assert await port.command("AT+CPIN?") == b"\r\n+CME ERROR: 10\r\n"
    await port.command("AT+CMEE=2")
    assert await port.command("AT+CIMI") == b"\r\n+CME ERROR: SIM not inserted\r\n"
    assert await port.command("AT+CMGL=4") == b"\r\n+CMS ERROR: 310\r\n"


async def test_numeric_results_with_atv0(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    port.write("ATV0\r")
    assert await port.read_until(b"0\r") == b"0\r"
    port.write("AT+CSQ\r")
    assert await port.read_until(b"\r\n0\r") == b"+CSQ: 20,0\r\n0\r"
    port.write("ATV1\r")
    assert await port.read_until(b"OK\r\n") == b"\r\nOK\r\n"


# ------------------------------------------------------------------- sending


async def test_cmgs_prompt_and_multipart_pdu_send(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    text = "Ünïcode ✓ " + "x" * 70
    parts = codec.encode_submit("+15551234567", text, reference=42, status_report=False)
    assert len(parts) == 2
    mrs = []
    for part in parts:
        port.write(f"AT+CMGS={part.tpdu_length}\r")
        assert await port.read_until(b"> ") == b"\r\n> "
        assert await port.quiet(0.05) == b""  # nothing after the prompt's space
        port.write(part.hex + "\x1a")
        answer = await port.read_until(b"OK\r\n")
        assert answer.startswith(b"\r\n+CMGS: ")
        mrs.append(int(answer.split(b": ")[1].split(b"\r")[0]))
    assert mrs[1] == (mrs[0] + 1) % 256
    sent = modem_sim.sent
    assert [(s.to, s.part, s.parts, s.concat_reference) for s in sent] == [
        ("+15551234567", 1, 2, 42),
        ("+15551234567", 2, 2, 42),
    ]
    assert [s.mr for s in sent] == mrs
    assert sent[0].encoding == "ucs2"
    [message] = modem_sim.sent_messages()
    assert (message.text, message.parts, message.complete) == (text, 2, True)


async def test_cmgs_with_echo_echoes_the_pdu(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port, echo=True)
    [part] = codec.encode_submit("+15551234567", "hi", reference=0, status_report=False)
    port.write(f"AT+CMGS={part.tpdu_length}\r")
    assert await port.read_until(b"> ") == f"AT+CMGS={part.tpdu_length}\r\r\n> ".encode()
    port.write(part.hex + "\x1a")
    assert await port.read_until(b"OK\r\n") == f"{part.hex}\r\n+CMGS: 1\r\n\r\nOK\r\n".encode()


async def test_cmgs_escape_aborts(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    port.write("AT+CMGS=20\r")
    await port.read_until(b"> ")
    port.write("0011000B91\x1b")
    assert await port.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    assert modem_sim.sent == []
    assert await port.command("AT") == b"\r\nOK\r\n"


async def test_cmgs_wrong_length_and_cms_fault(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    [part] = codec.encode_submit("+15551234567", "hello", reference=0, status_report=False)
    port.write(f"AT+CMGS={part.tpdu_length + 1}\r")
    await port.read_until(b"> ")
    port.write(part.hex + "\x1a")
    assert await port.read_until(b"\r\n+CMS ERROR: 304\r\n")
    modem_sim.faults.update({"cms_error": 1, "cms_error_code": 38})
    port.write(f"AT+CMGS={part.tpdu_length}\r")
    await port.read_until(b"> ")
    port.write(part.hex + "\x1a")
    assert await port.read_until(b"ERROR: 38\r\n") == b"\r\n+CMS ERROR: 38\r\n"
    assert modem_sim.sent == []
    port.write(f"AT+CMGS={part.tpdu_length}\r")
    await port.read_until(b"> ")
    port.write(part.hex + "\x1a")
    assert (await port.read_until(b"OK\r\n")).startswith(b"\r\n+CMGS: ")
    assert [s.text for s in modem_sim.sent] == ["hello"]


async def test_text_mode_send_and_read(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    await port.command('AT+CMGF=1;+CSCS="GSM"')
    port.write('AT+CMGS="+15551234567"\r')
    await port.read_until(b"> ")
    port.write("plain text\x1a")
    assert (await port.read_until(b"OK\r\n")).startswith(b"\r\n+CMGS: ")
    assert modem_sim.sent[0].text == "plain text"
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    modem_sim.inject_sms("+15550009999", "hi in text", when=when)
    await port.read_until(b'+CMTI: "SM",1\r\n')
    assert await port.command("AT+CMGR=1") == (
        b'\r\n+CMGR: "REC UNREAD","+15550009999","","24/05/01,12:30:00+00"\r\n'
        b"hi in text\r\n\r\nOK\r\n"
    )


# ------------------------------------------------------------------- receiving


async def test_cmti_cmgr_cmgd_cycle(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    modem_sim.inject_sms("+15557654321", "hello there")
    assert await port.read_until(b"\r\n") == b"\r\n"
    assert await port.read_until(b"\r\n") == b'+CMTI: "SM",1\r\n'
    answer = await port.command("AT+CMGR=1")
    assert answer.startswith(b"\r\n+CMGR: 0,,")
    deliver = codec.decode_pdu(pdu_line(answer))
    assert isinstance(deliver, codec.Deliver)
    assert (deliver.sender, deliver.text) == ("+15557654321", "hello there")
    assert (await port.command("AT+CMGR=1")).startswith(b"\r\n+CMGR: 1,,")  # now read
    assert await port.command("AT+CMGL=0") == b"\r\nOK\r\n"
    assert await port.command("AT+CMGD=1") == b"\r\nOK\r\n"
    assert await port.command("AT+CMGR=1") == b"\r\nOK\r\n"  # SIM800: empty slot, bare OK
    assert await port.command("AT+CMGR=31") == b"\r\n+CMS ERROR: 321\r\n"


async def test_multipart_out_of_order_delayed_and_missing(
    make_modem_sim: SimFactory, serial_port: Opener
) -> None:
    sim = await make_modem_sim(profile="quectel")
    port = await connect(sim, serial_port)
    text = "0123456789" * 50  # four GSM-7 parts
    injected = sim.inject_sms(
        "+15551110000", text, order=[3, 1, 2], delay_parts={2: 0.05}, drop_parts=[4]
    )
    assert len(injected.pdus) == 4
    await port.read_until(b'+CMTI: "SM",0\r\n')
    await port.read_until(b'+CMTI: "SM",1\r\n')
    await port.read_until(b'+CMTI: "SM",2\r\n')  # the delayed part
    assert injected.delivered == [3, 1, 2]
    listing = (await port.command("AT+CMGL=4")).decode().split("\r\n")
    pdus = [line for line in listing if line and not line.startswith(("+CMGL", "OK"))]
    decoded = [codec.decode_pdu(p) for p in pdus]
    assert all(isinstance(d, codec.Deliver) for d in decoded)
    seqs = [d.concat.seq for d in decoded if isinstance(d, codec.Deliver) and d.concat]
    assert seqs == [3, 1, 2]
    assert listing[1].startswith("+CMGL: 0,0,,")  # Quectel numbers storage from 0


async def test_forced_split_and_unicode(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    await port.command("AT+CNMI=2,2,0,0,0")
    injected = modem_sim.inject_sms("+15551110000", "Grüße 😀 aus Köln", split_parts=2)
    texts = []
    for _ in injected.pdus:
        header = await port.read_until(b"\r\n+CMT: ,")
        assert header.endswith(b"+CMT: ,")
        length = int(await port.read_until(b"\r\n"))
        pdu = (await port.read_until(b"\r\n")).decode().strip()
        assert length == len(pdu) // 2 - int(pdu[:2], 16) - 1
        deliver = codec.decode_pdu(pdu)
        assert isinstance(deliver, codec.Deliver)
        assert deliver.encoding == "ucs2"
        assert deliver.concat is not None
        texts.append(deliver.text)
    assert "".join(texts) == "Grüße 😀 aus Köln"
    assert len(modem_sim.storage) == 0  # mt=2 routes, does not store


def test_add_concat_header_round_trips() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    [pdu] = codec.encode_deliver("+15551234567", "part two of three", scts=when)
    decoded = codec.decode_pdu(add_concat_header(pdu, 7, 3, 2))
    assert isinstance(decoded, codec.Deliver)
    assert decoded.text == "part two of three"
    assert decoded.concat == codec.Concat(7, 3, 2)


async def test_full_storage_holds_sms_in_the_network(
    make_modem_sim: SimFactory, serial_port: Opener
) -> None:
    sim = await make_modem_sim(profile=SIM800.with_options(capacity=2))
    port = await connect(sim, serial_port)
    for i in range(3):
        sim.inject_sms("+15550000001", f"message {i}")
    await port.read_until(b'+CMTI: "SM",2\r\n')
    assert await port.quiet() == b""
    assert await port.command("AT+CPMS?") == (
        b'\r\n+CPMS: "SM",2,2,"SM",2,2,"SM",2,2\r\n\r\nOK\r\n'
    )
    assert await port.command("AT+CMGD=1") == b"\r\nOK\r\n"
    assert await port.read_until(b"\r\n", timeout=0.5) == b"\r\n"
    assert await port.read_until(b"\r\n", timeout=0.5) == b'+CMTI: "SM",1\r\n'


async def test_cnmi_mode_zero_buffers_indications(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    await port.command("AT+CNMI=0,1,0,0,0")
    modem_sim.inject_sms("+15550000001", "buffered")
    assert await port.quiet() == b""
    assert await port.command("AT+CNMI=2,1,0,0,0") == b"\r\nOK\r\n"
    assert await port.quiet() == b'\r\n+CMTI: "SM",1\r\n'


# ------------------------------------------------------------------- status reports


async def test_status_report_as_cds(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    await port.command("AT+CNMI=2,1,0,1,0")
    [part] = codec.encode_submit("+15551234567", "report me", reference=0, status_report=True)
    port.write(f"AT+CMGS={part.tpdu_length}\r")
    await port.read_until(b"> ")
    port.write(part.hex + "\x1a")
    answer = await port.read_until(b"OK\r\n")
    mr = int(answer.split(b": ")[1].split(b"\r")[0])
    await port.read_until(b"+CDS: ")
    length = int(await port.read_until(b"\r\n"))
    pdu = (await port.read_until(b"\r\n")).decode().strip()
    report = codec.decode_pdu(pdu)
    assert isinstance(report, codec.StatusReport)
    assert (report.reference, report.recipient, report.delivered) == (mr, "+15551234567", True)
    assert length == len(pdu) // 2 - int(pdu[:2], 16) - 1


async def test_status_report_stored_as_cdsi(
    make_modem_sim: SimFactory, serial_port: Opener
) -> None:
    sim = await make_modem_sim(profile="huawei", urc_interval=0)
    sim.faults.report_status = 0x46  # validity period expired
    port = await connect(sim, serial_port)
    assert await port.command("AT+CNMI=2,1,0,2,0") == b"\r\nOK\r\n"
    [part] = codec.encode_submit("+15551234567", "report me", reference=0, status_report=True)
    port.write(f"AT+CMGS={part.tpdu_length}\r")
    await port.read_until(b"> ")
    port.write(part.hex + "\x1a")
    await port.read_until(b"OK\r\n")
    assert await port.read_until(b'+CDSI: "SM",0\r\n')
    report = codec.decode_pdu(pdu_line(await port.command("AT+CMGR=0")))
    assert isinstance(report, codec.StatusReport)
    assert (report.status, report.delivered) == (0x46, False)


# ------------------------------------------------------------------- USSD, calls


async def test_cusd_text_unknown_and_quirks(
    make_modem_sim: SimFactory, serial_port: Opener
) -> None:
    sim = await make_modem_sim(profile=SIM800.with_options(ussd_stray_cusd2=True))
    port = await connect(sim, serial_port)
    assert await port.command('AT+CUSD=1,"*100#",15') == b"\r\nOK\r\n"
    assert await port.read_until(b"15\r\n") == (
        b'\r\n+CUSD: 2\r\n\r\n+CUSD: 0,"Your balance is 12.34 EUR",15\r\n'
    )
    assert await port.command('AT+CUSD=1,"*999#",15') == b"\r\nOK\r\n"
    assert await port.read_until(b"+CUSD: 4\r\n")
    fast = await make_modem_sim(profile=SIM800.with_options(ussd_answer_before_ok=True))
    port2 = await connect(fast, serial_port)
    assert await port2.command('AT+CUSD=1,"*100#",15') == (
        b'\r\n+CUSD: 0,"Your balance is 12.34 EUR",15\r\n\r\nOK\r\n'
    )


async def test_cusd_huawei_packed(make_modem_sim: SimFactory, serial_port: Opener) -> None:
    sim = await make_modem_sim(profile="huawei", urc_interval=0)
    port = await connect(sim, serial_port)
    assert await port.command('AT+CUSD=1,"*100#",15') == b"\r\nERROR\r\n"
    request = codec.encode_ussd_packed("*100#")
    assert await port.command(f'AT+CUSD=1,"{request}",15') == b"\r\nOK\r\n"
    line = (await port.read_until(b",15\r\n")).decode().strip()
    payload = line.split('"')[1]
    assert codec.decode_ussd(payload, 15) == "Your balance is 12.34 EUR"
    await port.command("AT^USSDMODE=0")
    assert await port.command('AT+CUSD=1,"*100#",15') == b"\r\nOK\r\n"
    assert await port.read_until(b",15\r\n") == (b'\r\n+CUSD: 0,"Your balance is 12.34 EUR",15\r\n')


async def test_dial_hang_up_and_callee_hang_up(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    assert await port.command("ATD+15551234567;") == b"\r\nOK\r\n"
    assert await port.command("AT+CLCC") == (
        b'\r\n+CLCC: 1,0,3,0,0,"+15551234567",145\r\n\r\nOK\r\n'
    )
    assert await port.command("ATH") == b"\r\nOK\r\n"
    call = modem_sim.calls[0]
    assert (call.number, call.ended_by) == ("+15551234567", "local")
    assert call.duration is not None
    assert call.duration >= 0
    modem_sim.faults.callee_hangup_after = 0.02
    assert await port.command("ATD+15550000002;") == b"\r\nOK\r\n"
    assert await port.read_until(b"NO CARRIER\r\n") == b"\r\nNO CARRIER\r\n"
    assert modem_sim.calls[1].ended_by == "remote"
    modem_sim.faults.update({"callee_hangup_after": None, "call_result": "BUSY"})
    assert await port.command("ATD+15550000003;") == b"\r\nOK\r\n"
    assert await port.read_until(b"BUSY\r\n") == b"\r\nBUSY\r\n"


# ------------------------------------------------------------------- faults


async def test_urc_between_answer_and_ok(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    modem_sim.faults.update({"urc_between": ['+CMTI: "SM",3'], "urc_between_on": "+CSQ"})
    assert await port.command("AT+CMGF?") == b"\r\n+CMGF: 0\r\n\r\nOK\r\n"
    assert await port.command("AT+CSQ") == (b'\r\n+CSQ: 20,0\r\n\r\n+CMTI: "SM",3\r\n\r\nOK\r\n')
    assert await port.command("AT+CSQ") == b"\r\n+CSQ: 20,0\r\n\r\nOK\r\n"


async def test_urcs_wait_for_the_running_command(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    modem_sim.faults.answer_delay = 0.1
    port.write("AT+CSQ\r")
    async with asyncio.timeout(1):
        while not modem_sim.busy:
            await asyncio.sleep(0.002)
    modem_sim.inject_sms("+15550000001", "during a command")
    assert await port.read_until(b'"SM",1\r\n') == (
        b'\r\n+CSQ: 20,0\r\n\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'
    )


async def test_busy_mute_and_garbage(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    await port.command("AT+CMEE=1")
    modem_sim.faults.cme_busy = 2
    assert await port.command("AT") == b"\r\nOK\r\n"  # a bare AT is never busy
    assert await port.command("AT+CSQ") == b"\r\n+CME ERROR: 515\r\n"
    assert await port.command("AT+CSQ") == b"\r\n+CME ERROR: 515\r\n"
    assert await port.command("AT+CSQ") == b"\r\n+CSQ: 20,0\r\n\r\nOK\r\n"
    modem_sim.faults.mute = True
    port.write("AT\r")
    assert await port.quiet(0.1) == b""
    modem_sim.faults.mute = False
    assert await port.command("AT") == b"\r\nOK\r\n"
    modem_sim.faults.garbage = 1
    answer = await port.command("AT")
    assert answer.endswith(b"\r\nOK\r\n")
    with pytest.raises(UnicodeDecodeError):
        answer.decode()


async def test_wrong_pin_attempts_then_puk(make_modem_sim: SimFactory, serial_port: Opener) -> None:
    sim = await make_modem_sim(pin="1234")
    port = await connect(sim, serial_port)
    await port.command("AT+CMEE=1")
    assert await port.command("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert await port.command("AT+CIMI") == b"\r\n+CME ERROR: 11\r\n"
    assert await port.command("AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    for left in (2, 1, 0):
        assert await port.command('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
        assert sim.pin_attempts == left
    assert await port.command("AT+CPIN?") == b"\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"
    assert await port.command('AT+CPIN="1234"') == b"\r\n+CME ERROR: 12\r\n"  # PUK wanted
    assert await port.command('AT+CPIN="00000000","1111"') == b"\r\n+CME ERROR: 16\r\n"
    answer = await port.command(f'AT+CPIN="{sim.puk}","4321"')
    assert answer == b"\r\nOK\r\n"
    assert await port.read_until(b"SMS Ready\r\n")  # SIM800 announces the ready SIM
    assert sim.sim_state == "READY"
    assert await port.command("AT+CIMI") == b"\r\n001010123456789\r\n\r\nOK\r\n"


async def test_correct_pin_delivers_waiting_sms(
    make_modem_sim: SimFactory, serial_port: Opener
) -> None:
    sim = await make_modem_sim(pin="1234")
    port = await connect(sim, serial_port)
    sim.inject_sms("+15550000001", "waited for the PIN")
    assert await port.quiet() == b""
    assert await port.command('AT+CPIN="1234"') == b"\r\nOK\r\n"
    assert await port.read_until(b'+CMTI: "SM",1\r\n')


# ------------------------------------------------------------------- plug, reboot


async def test_unplug_then_replug(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    imei = modem_sim.imei
    await modem_sim.unplug()
    async with asyncio.timeout(2):
        await port.lost
    assert not os.path.lexists(modem_sim.link)
    modem_sim.inject_sms("+15550000001", "while unplugged")
    await modem_sim.replug()
    assert os.path.lexists(modem_sim.link)
    # pyserial flushes the boot codes written before it opened the port, as with USB.
    port2 = await serial_port(modem_sim.link)
    assert await port2.command("AT+CGSN") == f"AT+CGSN\r\r\n{imei}\r\n\r\nOK\r\n".encode()
    # Delivered on boot while CNMI was at its default: stored for the driver to list.
    listing = await port2.command("AT+CMGL=4")
    assert b"+CMGL: 1,0,," in listing


async def test_plain_os_open_sees_eof_or_eio_on_unplug(modem_sim: ModemSimulator) -> None:
    fd = os.open(modem_sim.link, os.O_RDWR | os.O_NOCTTY)
    try:
        await modem_sim.unplug()
        try:
            data: bytes | int | None = os.read(fd, 10)
        except OSError as err:
            data = err.errno
        assert data in (b"", 5)  # EOF, or EIO
    finally:
        os.close(fd)


async def test_reboot_emits_boot_codes_and_resets_echo(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    await port.command("AT+CMGF=1")
    assert await port.command("AT+CFUN=1,1") == b"\r\nOK\r\n"
    assert await port.read_until(b"SMS Ready\r\n") == (
        b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"
    )
    assert await port.command("AT+CMGF?") == b"AT+CMGF?\r\r\n+CMGF: 0\r\n\r\nOK\r\n"
    await modem_sim.reboot()
    assert await port.read_until(b"SMS Ready\r\n")


async def test_reboot_reenumerates_when_asked(
    make_modem_sim: SimFactory, serial_port: Opener
) -> None:
    sim = await make_modem_sim(profile="quectel")
    sim.faults.update({"reboot_unplugs": True, "reenumerate_delay": 0.01})
    port = await connect(sim, serial_port)
    assert await port.command("AT+CFUN=1,1") == b"\r\nOK\r\n"
    async with asyncio.timeout(2):
        await port.lost
    await sim.settle()
    assert sim.plugged
    port2 = await serial_port(sim.link)
    assert await port2.command("AT") == b"AT\r\r\nOK\r\n"


# ------------------------------------------------------------------- profiles


async def test_huawei_quirks(make_modem_sim: SimFactory, serial_port: Opener) -> None:
    sim = await make_modem_sim(profile="huawei", urc_interval=0.02)
    port = await connect(sim, serial_port)
    assert await port.read_until(b"^RSSI:20\r\n")
    # Huawei's codes may land anywhere, even inside this command's answer.
    assert (await port.command("AT^CURC=0")).endswith(b"\r\nOK\r\n")
    await port.quiet(0.03)
    assert await port.quiet(0.06) == b""
    assert await port.command("AT+CEREG?") == b"\r\nCOMMAND NOT SUPPORT\r\n"
    assert await port.command("AT+CNMI=?") == (
        b"\r\n+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)\r\n\r\nOK\r\n"
    )
    assert await port.command("AT^ICCID?") == b"\r\n^ICCID: 98101430121181157002\r\n\r\nOK\r\n"


async def test_quectel_quirks(make_modem_sim: SimFactory, serial_port: Opener) -> None:
    sim = await make_modem_sim(profile="quectel")
    port = await connect(sim, serial_port)
    assert await port.command("AT+CEREG?") == b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"
    assert await port.command("AT+QCCID") == b"\r\n+QCCID: 89014103211118510720\r\n\r\nOK\r\n"
    assert await port.command("AT+COPS?") == b'\r\n+COPS: 0,0,"Demo Mobile",7\r\n\r\nOK\r\n'
    assert await port.command("AT+FOO") == b"\r\nERROR\r\n"
    await port.command("AT+CREG=1")
    sim.registration = 5
    assert await port.read_until(b"+CREG: 5\r\n")


# ------------------------------------------------------------------- records, control, CLI


def test_join_parts_groups_by_reference() -> None:
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def part(text: str, mr: int, seq: int, ref: int | None, total: int = 2) -> SentSms:
        return SentSms("+1555", text, mr, seq, total, ref, False, "gsm7", "", at)

    joined = join_parts(
        [part("b", 1, 2, 9), part("solo", 2, 1, None, 1), part("a", 3, 1, 9), part("x", 4, 1, 9)]
    )
    assert [(m.text, m.complete) for m in joined] == [("ab", True), ("solo", True), ("x", False)]


async def test_control_api(modem_sim: ModemSimulator, serial_port: Opener) -> None:
    port = await connect(modem_sim, serial_port)
    async with TestClient(TestServer(create_control_app(modem_sim))) as client:
        state = await (await client.get("/")).json()
        assert (state["profile"], state["plugged"]) == ("sim800", True)
        resp = await client.post("/inbound", json={"from": "+15550000001", "text": "hey"})
        assert resp.status == 201
        await port.read_until(b'+CMTI: "SM",1\r\n')
        bad = await client.post("/faults", json={"mute": True, "bogus": 1})
        assert bad.status == 400
        assert (await bad.json())["error"]["code"] == "bad_request"
        assert modem_sim.faults.mute is False
        resp = await client.post("/faults", json={"send_delay": 0.5, "sim_state": "SIM PIN"})
        assert (await resp.json())["sim_state"] == "SIM PIN"
        assert (await client.post("/unplug")).status == 200
        assert not modem_sim.plugged
        assert (await client.post("/replug")).status == 200
        assert modem_sim.plugged
        assert (await (await client.get("/calls")).json())["calls"] == []
        assert (await (await client.get("/sent")).json())["messages"] == []
        assert (await client.get("/nope")).status == 404


async def test_control_server_and_cli_serve(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--link", str(tmp_path / "cli0"), "--no-control"])
    stop = asyncio.Event()
    task = asyncio.create_task(serve(args, stop))
    async with asyncio.timeout(2):
        while not (tmp_path / "cli0").is_symlink():
            await asyncio.sleep(0.01)
    stop.set()
    await task
    assert not (tmp_path / "cli0").exists()
    async with ModemSimulator(tmp_path / "cli1") as sim:
        server = ControlServer(sim)
        await server.start()
        try:
            assert server.port > 0
            assert server.url.startswith("http://127.0.0.1:")
        finally:
            await server.stop()


async def test_basic_commands_chain_and_repeat(
    make_modem_sim: SimFactory, serial_port: Opener
) -> None:
    sim = await make_modem_sim(profile="huawei", urc_interval=0)
    port = await serial_port(sim.link)
    assert await port.command("ATE0V1") == b"ATE0V1\r\r\nOK\r\n"
    assert await port.command("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    sim.signal_csq = 7
    assert await port.command("A/") == b"\r\n+CSQ: 7,99\r\n\r\nOK\r\n"
    # Huawei numbers storage from 0 and refuses to read an empty slot.
    assert await port.command("AT+CMGR=0") == b"\r\n+CMS ERROR: 321\r\n"


async def test_settle_waits_for_delayed_work(
    modem_sim: ModemSimulator, serial_port: Opener
) -> None:
    port = await connect(modem_sim, serial_port)
    modem_sim.faults.update({"ussd_delay": 0.05})
    modem_sim.inject_sms("+15550000001", "a" * 200, delay_parts={2: 0.05})
    await port.read_until(b'+CMTI: "SM",1\r\n')
    assert await port.command('AT+CUSD=1,"*100#",15') == b"\r\nOK\r\n"
    async with asyncio.timeout(2):
        await modem_sim.settle()
    assert modem_sim.injected[0].delivered == [1, 2]
    received = await port.quiet(0.02)
    assert received.count(b"+CMTI:") == 1
    assert b"+CUSD: 0," in received
