"""ATEngine through a real pseudo-terminal, with a scripted peer on the master side."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from modem import engine as engine_module
from modem import errors
from modem.engine import ATEngine, Priority, PriorityLock
from modem.errors import (
    ATTimeoutError,
    CmeError,
    CmsError,
    ModemGone,
    PortBusyError,
    SendInterrupted,
)
from modem.urc import Urc

TRANSCRIPTS = Path(__file__).parent.parent / "fixtures" / "transcripts"


class PtyPeer:
    """The modem side of a pty: collects what the host writes, answers by script."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        link.symlink_to(os.ttyname(self.slave))
        self.received = bytearray()
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.on_chunk: Callable[[bytes], None] | None = None
        self._buffer = bytearray()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.master, self._readable)

    @property
    def path(self) -> str:
        return str(self.link)

    def send(self, data: str | bytes) -> None:
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def unplug(self) -> None:
        if self.master < 0:
            return
        self._loop.remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = -1
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        self.received += data
        self._buffer += data
        # A chunk ends at CR (a command), Ctrl-Z (a PDU) or ESC (an aborted PDU).
        while True:
            ends = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\x1a"),
                                self._buffer.find(b"\x1b")) if i >= 0]
            if not ends:
                break
            cut = min(ends) + 1
            chunk = bytes(self._buffer[:cut])
            del self._buffer[:cut]
            self.chunks.put_nowait(chunk)
            if self.on_chunk is not None:
                self.on_chunk(chunk)

    def answer(self, script: dict[str, str | list[str]]) -> None:
        """Answer each command by a fixed reply (a list: successive replies)."""

        def on_chunk(chunk: bytes) -> None:
            key = chunk.decode(errors="replace").rstrip("\r\x1a")
            reply = script.get(key)
            if isinstance(reply, list):
                reply = reply.pop(0) if len(reply) > 1 else reply[0]
            if reply is not None:
                self.send(reply)

        self.on_chunk = on_chunk


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "COMMAND_TIMEOUT", 0.3)
    monkeypatch.setattr(engine_module, "PROMPT_TIMEOUT", 0.3)
    monkeypatch.setattr(engine_module, "CMGS_TIMEOUT", 0.3)
    monkeypatch.setattr(engine_module, "RESYNC_TIMEOUT", 0.3)
    monkeypatch.setattr(engine_module, "RESYNC_SETTLE", 0.01)
    monkeypatch.setattr(engine_module, "BUSY_BACKOFF", 0.01)
    monkeypatch.setattr(engine_module, "BUSY_BACKOFF_MAX", 0.02)


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[PtyPeer]:
    p = PtyPeer(tmp_path / "modem0")
    yield p
    p.unplug()


class Harness:
    def __init__(self) -> None:
        self.urcs: list[Urc] = []
        self.lost: list[errors.ModemError] = []
        self.engine = ATEngine(name="test", on_urc=self.urcs.append, on_lost=self.lost.append)


@pytest.fixture
async def harness(peer: PtyPeer, fast: None) -> AsyncIterator[Harness]:
    h = Harness()
    await h.engine.open(peer.path)
    yield h
    await h.engine.close()


def _urc_text(urc: Urc) -> str | dict[str, Any]:
    line = urc.line
    return {"line": line, "pdu": urc.pdu} if urc.pdu else line


@pytest.mark.parametrize("name", sorted(p.stem for p in TRANSCRIPTS.glob("*.json")))
async def test_transcript(name: str, harness: Harness, peer: PtyPeer) -> None:
    transcript = json.loads((TRANSCRIPTS / f"{name}.json").read_text())
    replies: list[str] = []

    def on_chunk(chunk: bytes) -> None:
        if replies:
            peer.send(replies.pop(0))

    peer.on_chunk = on_chunk
    for step in transcript["exchanges"]:
        harness.urcs.clear()
        replies[:] = [step["reply"]] + ([step["pdu_reply"]] if "pdu" in step else [])
        if "pdu" in step:
            length = int(step["send"].split("=")[1])
            if "error" in step:
                with pytest.raises(getattr(errors, step["error"])) as info:
                    await harness.engine.send_pdu(step["pdu"], length)
                assert info.value.code == step.get("code")
            else:
                assert await harness.engine.send_pdu(step["pdu"], length) == step["mr"]
        elif "error" in step:
            with pytest.raises(getattr(errors, step["error"])) as info:
                await harness.engine.command(step["send"], retry_busy=False)
            assert info.value.code == step.get("code")
        else:
            response = await harness.engine.command(step["send"])
            assert response.lines == step["answer"], step["send"]
            assert response.final == step["final"]
        await asyncio.sleep(0.02)  # URCs after the final result
        assert [_urc_text(u) for u in harness.urcs] == step.get("urcs", []), step["send"]
    assert not harness.lost


async def test_cmti_between_csq_and_ok(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({"AT+CSQ": '\r\n+CSQ: 21,99\r\n\r\n+CMTI: "SM",7\r\n\r\nOK\r\n'})
    response = await harness.engine.command("AT+CSQ")
    assert response.lines == ["+CSQ: 21,99"]
    assert response.value("+CSQ:") == "21,99"
    assert [(u.name, u.value) for u in harness.urcs] == [("+CMTI", '"SM",7')]


async def test_a_call_ending_during_another_command_is_the_end_of_the_call(
    harness: Harness, peer: PtyPeer
) -> None:
    # The callee hangs up while a health query is pending: NO CARRIER is not that query's
    # answer (it was taken for one, and the ringing call never learned it had ended).
    peer.answer({"AT+CSQ": "\r\n+CSQ: 21,99\r\n\r\nNO CARRIER\r\n\r\nOK\r\n"})
    with harness.engine.subscribe("NO CARRIER") as ended:
        response = await harness.engine.command("AT+CSQ")
        urc = await asyncio.wait_for(ended.get(), 1)
    assert response.final == "OK" and response.lines == ["+CSQ: 21,99"]
    assert urc.name == "NO CARRIER"


async def test_urc_split_across_reads_and_while_idle(harness: Harness, peer: PtyPeer) -> None:
    peer.send("\r\n+CMT: ,29\r\n07919471")
    await asyncio.sleep(0.02)
    peer.send("01670000040D91947110325476F80000423010210350400AC8309BFD065DCB6C3A\r\n")
    peer.send("\r\nRING\r\n")
    await asyncio.sleep(0.05)
    assert [(u.name, u.pdu) for u in harness.urcs] == [
        ("+CMT", "0791947101670000040D91947110325476F80000423010210350400AC8309BFD065DCB6C3A"),
        ("RING", None),
    ]


async def test_ambiguous_codes_follow_the_pending_command(harness: Harness, peer: PtyPeer) -> None:
    peer.answer(
        {
            "AT+CREG?": "\r\n+CREG: 0,1\r\n\r\nOK\r\n",
            "AT+CUSD?": "\r\n+CUSD: 1\r\n\r\nOK\r\n",
            'AT+CUSD=1,"*100#",15': '\r\n+CUSD: 0,"hi",15\r\n\r\nOK\r\n',
        }
    )
    assert (await harness.engine.command("AT+CREG?")).lines == ["+CREG: 0,1"]
    assert (await harness.engine.command("AT+CUSD?")).lines == ["+CUSD: 1"]
    with harness.engine.subscribe("+CUSD") as answers:
        response = await harness.engine.command('AT+CUSD=1,"*100#",15')
        assert response.lines == []
        urc = await asyncio.wait_for(answers.get(), 1)
    assert urc.value == '0,"hi",15'
    peer.send("\r\n+CREG: 5\r\n")
    await asyncio.sleep(0.02)
    assert harness.urcs[-1].line == "+CREG: 5"


async def test_send_pdu_with_echoed_pdu(harness: Harness, peer: PtyPeer) -> None:
    pdu = "0021000D91947110325476F8000004D4F29C0E"
    peer.answer({"AT+CMGS=18": "AT+CMGS=18\r\r\n> ", pdu: f"{pdu}\x1a\r\n+CMGS: 44\r\n\r\nOK\r\n"})
    assert await harness.engine.send_pdu(pdu, 18) == 44
    assert peer.received.endswith(pdu.encode() + b"\x1a")


async def test_prompt_followed_by_urc_in_one_read(harness: Harness, peer: PtyPeer) -> None:
    pdu = "0021000D91947110325476F8000004D4F29C0E"
    peer.answer(
        {"AT+CMGS=18": '\r\n> \r\n+CMTI: "SM",2\r\n', pdu: "\r\n+CMGS: 45\r\n\r\nOK\r\n"}
    )
    assert await harness.engine.send_pdu(pdu, 18) == 45
    assert [u.name for u in harness.urcs] == ["+CMTI"]


async def test_prompt_that_never_comes_is_escaped(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({"AT+CMGS=18": "", "AT": "\r\nOK\r\n"})
    with pytest.raises(SendInterrupted) as info:
        await harness.engine.send_pdu("00", 18)
    assert info.value.not_sent is True
    assert isinstance(info.value.cause, ATTimeoutError)
    await asyncio.sleep(0.02)
    assert peer.received.endswith(b"\x1b")
    # The engine resynchronises before the next command.
    peer.answer({"AT": "\r\nOK\r\n", "AT+CSQ": "\r\n+CSQ: 5,0\r\n\r\nOK\r\n"})
    assert (await harness.engine.command("AT+CSQ")).lines == ["+CSQ: 5,0"]


async def test_no_answer_after_pdu_is_not_certain(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({"AT+CMGS=18": "\r\n> "})
    with pytest.raises(SendInterrupted) as info:
        await harness.engine.send_pdu("00", 18)
    assert info.value.not_sent is False


async def test_cms_error_before_prompt(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({"AT+CMGS=18": "\r\n+CMS ERROR: 330\r\n"})
    with pytest.raises(CmsError) as info:
        await harness.engine.send_pdu("00", 18)
    assert info.value.code == 330
    assert info.value.meaning == "SMSC address unknown"
    assert info.value.after_pdu is False


async def test_cancelled_sender_still_reads_the_answer(harness: Harness, peer: PtyPeer) -> None:
    pdu = "0021000D91947110325476F8000004D4F29C0E"
    peer.answer({"AT+CMGS=18": "\r\n> ", "AT+CSQ": "\r\n+CSQ: 9,0\r\n\r\nOK\r\n"})
    send = asyncio.create_task(harness.engine.send_pdu(pdu, 18))
    await peer.chunks.get()  # AT+CMGS=18
    await peer.chunks.get()  # the PDU
    send.cancel()
    with pytest.raises(asyncio.CancelledError):
        await send
    csq = asyncio.create_task(harness.engine.command("AT+CSQ"))
    await asyncio.sleep(0.02)
    assert not csq.done()  # still behind the send's lock
    peer.send("\r\n+CMGS: 3\r\n\r\nOK\r\n")
    assert (await csq).lines == ["+CSQ: 9,0"]


async def test_timeout_then_late_answer_is_dropped(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({"AT+COPS?": "", "AT": "\r\nOK\r\n", "AT+CSQ": "\r\n+CSQ: 7,0\r\n\r\nOK\r\n"})
    with pytest.raises(ATTimeoutError) as info:
        await harness.engine.command("AT+COPS?", timeout=0.1)
    assert isinstance(info.value, TimeoutError)
    peer.send('\r\n+COPS: 0,0,"Late"\r\n\r\nOK\r\n')
    assert (await harness.engine.command("AT+CSQ")).lines == ["+CSQ: 7,0"]


async def test_sim_busy_is_retried(harness: Harness, peer: PtyPeer) -> None:
    busy = "\r\n+CME ERROR: 515\r\n"
    answer = '\r\n+CPMS: "SM",1,50\r\n\r\nOK\r\n'
    peer.answer({"AT+CPMS?": [busy, "\r\n+CME ERROR: 14\r\n", answer]})
    response = await harness.engine.command("AT+CPMS?")
    assert response.value("+CPMS:") == '"SM",1,50'
    assert peer.received.count(b"AT+CPMS?\r") == 3


async def test_sim_busy_gives_up(
    harness: Harness, peer: PtyPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "BUSY_RETRIES", 2)
    peer.answer({"AT+CPMS?": "\r\n+CME ERROR: 14\r\n"})
    with pytest.raises(CmeError) as info:
        await harness.engine.command("AT+CPMS?")
    assert info.value.meaning == "SIM busy"
    assert peer.received.count(b"AT+CPMS?\r") == 3


async def test_garbage_bytes_are_survived(harness: Harness, peer: PtyPeer) -> None:
    peer.send(b"\xff\xfe\x00\x80garbage\r\n\x00\x00")
    peer.answer({"AT": b"\xc3\x28\r\n\x00OK\r\n".decode("latin-1")})
    await asyncio.sleep(0.02)
    assert (await harness.engine.command("AT")).final == "OK"
    assert harness.engine.connected


async def test_verbose_cme_error_is_mapped(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({"AT+CPIN?": "\r\n+CME ERROR: SIM not inserted\r\n"})
    with pytest.raises(CmeError) as info:
        await harness.engine.command("AT+CPIN?")
    assert info.value.code == 10


async def test_port_lost_mid_command(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({})
    task = asyncio.create_task(harness.engine.command("AT+CSQ", timeout=5))
    await peer.chunks.get()
    peer.unplug()
    with pytest.raises(ModemGone):
        await task
    assert len(harness.lost) == 1
    with pytest.raises(ModemGone):
        await harness.engine.command("AT")


async def test_port_lost_after_pdu(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({"AT+CMGS=18": "\r\n> "})
    task = asyncio.create_task(harness.engine.send_pdu("00", 18, timeout=5))
    await peer.chunks.get()
    await peer.chunks.get()
    peer.unplug()
    with pytest.raises(SendInterrupted) as info:
        await task
    assert info.value.not_sent is False


async def test_port_lost_before_pdu(harness: Harness, peer: PtyPeer) -> None:
    peer.answer({})
    task = asyncio.create_task(harness.engine.send_pdu("00", 18, prompt_timeout=5))
    await peer.chunks.get()
    peer.unplug()
    with pytest.raises(SendInterrupted) as info:
        await task
    assert info.value.not_sent is True


async def test_port_busy(peer: PtyPeer, harness: Harness) -> None:
    second = ATEngine(name="second")
    with pytest.raises(PortBusyError) as info:
        await second.open(peer.path)
    assert "ID_MM_DEVICE_IGNORE" in str(info.value)
    assert "systemctl stop ModemManager" in str(info.value)


async def test_missing_port(tmp_path: Path) -> None:
    with pytest.raises(ModemGone):
        await ATEngine().open(str(tmp_path / "nothing"))


async def test_socket_url(fast: None) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readuntil(b"\r")
        assert line == b"AT+CGMI\r"
        writer.write(b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = ATEngine()
    await engine.open(f"socket://127.0.0.1:{port}")
    try:
        assert (await engine.command("AT+CGMI")).lines == ["SIMCOM_Ltd"]
    finally:
        await engine.close()
        server.close()
        await server.wait_closed()


async def test_priority_lock_serves_urgent_first() -> None:
    lock = PriorityLock()
    order: list[str] = []
    await lock.acquire(Priority.SEND)

    async def take(name: str, priority: int) -> None:
        async with lock.hold(priority):
            order.append(name)

    tasks = [
        asyncio.create_task(take("health", Priority.BACKGROUND)),
        asyncio.create_task(take("send", Priority.SEND)),
        asyncio.create_task(take("init", Priority.URGENT)),
    ]
    cancelled = asyncio.create_task(take("gone", Priority.URGENT))
    await asyncio.sleep(0)
    cancelled.cancel()
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["init", "send", "health"]
    assert not lock.locked


async def test_sms_commands_wait_for_sms_ready(
    harness: Harness, peer: PtyPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modem import startup

    monkeypatch.setattr(startup, "SMS_READY_POLL", 5.0)  # only the URC can end the wait quickly
    not_ready = "\r\n+CMS ERROR: 302\r\n"
    peer.answer(
        {
            "AT+CMGF=0": [not_ready, "\r\nOK\r\n"],
            "AT+CPMS=?": '\r\n+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")\r\n\r\nOK\r\n',
            'AT+CPMS="SM","SM","SM"': "\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n",
            "AT+CSMS?": "\r\n+CSMS: 0,1,1,1\r\n\r\nOK\r\n",
            "AT+CNMI=?": "\r\n+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)\r\n\r\nOK\r\n",
            "AT+CNMI=2,1,0,1,0": "\r\nOK\r\n",
        }
    )
    ready = asyncio.Event()
    harness.engine._on_urc = lambda urc: ready.set() if urc.name == "SMS Ready" else None
    setup = startup.SmsSetup()
    task = asyncio.create_task(
        startup.configure_sms(harness.engine, setup, delivery_reports=True, sms_ready=ready)
    )
    await asyncio.sleep(0.05)
    assert not task.done()
    peer.send("\r\nSMS Ready\r\n")
    async with asyncio.timeout(1):
        await task
    assert setup.storage == ("SM", "SM", "SM")
    assert setup.cnmi == "2,1,0,1,0"
    assert setup.ack_needed is False
