"""The modem's terminal side: echo, command lines, the send prompt, answers and URCs.

Bytes from the client arrive in ``feed()``; complete command lines are executed one at a
time by a worker task, each command by the handler registered for it with ``@handles``
(see ``atcommand``). Answers are framed as a modem in verbose mode frames them::

    \\r\\n+CSQ: 20,0\\r\\n          information text, one block per command
    \\r\\nOK\\r\\n                  final result code

Unsolicited codes (``emit_urc``) are held while a command runs and written after its
final result, unless the profile lets them out at any time (Huawei).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..errors import CME_MEANINGS
from . import commands_basic, commands_calls, commands_sms, commands_vendor  # noqa: F401
from .atcommand import (
    AtError,
    CmeError,
    CmsError,
    Command,
    FinalResult,
    Kind,
    ParseError,
    UnknownCommand,
    find_handler,
    known_names,
    parse_command_line,
)
from .faults import Faults
from .profiles import Profile
from .settings import Settings
from .storage import SmsStorage

if TYPE_CHECKING:
    from .network import Network
    from .records import Call, SentSms

__all__ = ["Device", "Settings"]

_LOGGER = logging.getLogger(__name__)

CR, LF, BS, DEL, CTRL_Z, ESC = 0x0D, 0x0A, 0x08, 0x7F, 0x1A, 0x1B
_NUMERIC_RESULTS = {
    "OK": "0",
    "CONNECT": "1",
    "RING": "2",
    "NO CARRIER": "3",
    "ERROR": "4",
    "NO DIALTONE": "6",
    "BUSY": "7",
    "NO ANSWER": "8",
}


class Device:
    """State and terminal behaviour of one simulated modem; handlers work on it."""

    def __init__(self, profile: Profile, faults: Faults) -> None:
        self.profile = profile
        self.faults = faults
        self.settings = Settings.for_profile(profile)
        self.storage = SmsStorage(profile.capacity, profile.first_index)
        # Identity and SIM; set by ModemSimulator.
        self.imei = ""
        self.imsi = ""
        self.iccid = ""
        self.own_number: str | None = None
        self.operator = ""
        self.operator_numeric = "00101"
        self.signal_csq = 20
        self.registration = 1  # +CREG <stat> when the modem is on and the SIM is ready
        self.pin: str | None = None
        self.puk = "12345678"
        self.pin_attempts = 3
        self.puk_attempts = 10
        self.sim_state = "READY"
        self.sent: list[SentSms] = []
        self.calls: list[Call] = []
        self.active_call: Call | None = None
        self.ussd_answers: dict[str, str] = {}
        self.last_mr = 0
        self.network: Network | None = None
        # Called with no argument when the modem resets itself (AT+CFUN=1,1).
        self.on_reboot_request: Callable[[], None] = lambda: None
        self._write: Callable[[bytes], None] | None = None
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._input = bytearray()
        self._last_line = "AT"
        self._busy = False
        self._held: list[bytes] = []
        self._pdu: asyncio.Future[str | None] | None = None
        self._pdu_text_mode = False
        self._pdu_buffer = bytearray()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # ----------------------------------------------------------------- life cycle

    @property
    def attached(self) -> bool:
        """A port is plugged in."""
        return self._write is not None

    @property
    def idle(self) -> bool:
        """No command running or queued, no background job (USSD answer, hang-up) pending."""
        return self._idle.is_set() and not self._tasks

    @property
    def wait_free(self) -> bool:
        """No command line running or queued."""
        return self._idle.is_set()

    @property
    def jobs(self) -> set[asyncio.Task[Any]]:
        """Background jobs still running (USSD answers, callee hang-ups)."""
        return set(self._tasks)

    async def wait_commands_done(self) -> None:
        """Return once no command line is running or queued."""
        await self._idle.wait()

    @property
    def in_prompt(self) -> bool:
        """Waiting for a PDU or text after "> "."""
        return self._pdu is not None

    def attach(self, write: Callable[[bytes], None]) -> None:
        """Start answering on a freshly plugged port."""
        self._write = write
        self._worker = asyncio.get_running_loop().create_task(self._run_lines())

    async def detach(self) -> None:
        """Stop everything that talks on the port (unplug or stop)."""
        self._write = None
        tasks = list(self._tasks)
        if self._worker is not None:
            tasks.append(self._worker)
            self._worker = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._reset_terminal()

    def reset_settings(self) -> None:
        """Power-on defaults, as after a reboot or ATZ (echo back on)."""
        self.settings = Settings.for_profile(self.profile)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background job that is cancelled when the port goes away."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----------------------------------------------------------------- output

    def write(self, data: bytes) -> None:
        """Raw bytes to the client, unless muted or unplugged."""
        if self._write is not None and not self.faults.mute:
            self._write(data)

    def write_text(self, text: str) -> None:
        """Text in the modem's 8-bit character set."""
        self.write(text.encode("latin-1", errors="replace"))

    def emit_urc(self, *lines: str) -> None:
        """An unsolicited result code; several lines for +CMT/+CDS (header then PDU)."""
        data = ("\r\n" + "\r\n".join(lines) + "\r\n").encode("latin-1", errors="replace")
        held = self._busy or self._pdu is not None
        if held and not (self.profile.urc_during_command and self._pdu is None):
            self._held.append(data)
        else:
            self.write(data)

    def emit_garbage(self, length: int = 24) -> None:
        """Random line noise, with bytes that are not valid UTF-8."""
        self.write(b"\xff\xfe\xc3" + os.urandom(length))

    def _info(self, lines: list[str]) -> str:
        if self.settings.verbose:
            return "\r\n" + "".join(f"{line}\r\n" for line in lines)
        return "".join(f"{line}\r\n" for line in lines)

    def _final(self, result: str) -> str:
        if self.settings.verbose:
            return f"\r\n{result}\r\n"
        if result in _NUMERIC_RESULTS:
            return f"{_NUMERIC_RESULTS[result]}\r"
        return f"{result}\r\n"

    def error_text(self, error: AtError) -> str:
        """The final result of a failed command, as +CMEE asks."""
        if isinstance(error, UnknownCommand):
            return self.profile.unknown_command
        if isinstance(error, CmsError):
            return f"+CMS ERROR: {error.code}"
        if isinstance(error, CmeError):
            if self.settings.cmee == 1:
                return f"+CME ERROR: {error.code}"
            if self.settings.cmee == 2:
                return f"+CME ERROR: {CME_MEANINGS.get(error.code, 'unknown')}"
        return "ERROR"

    # ----------------------------------------------------------------- input

    def feed(self, data: bytes) -> None:
        """Bytes typed by the client."""
        if self.faults.mute:
            return
        echo = bytearray()
        for byte in data:
            if self._pdu is not None:
                self._feed_prompt(byte, echo)
                continue
            if byte == CR:
                echo.append(byte)
                self._line_done()
            elif byte == LF or byte in (CTRL_Z, ESC):
                continue
            elif byte in (BS, DEL):
                if self._input:
                    self._input.pop()
                    echo += b"\x08 \x08"
            else:
                self._input.append(byte)
                echo.append(byte)
        if echo and self._echoing:
            self.write(bytes(echo))

    @property
    def _echoing(self) -> bool:
        return self.settings.echo or self.faults.echo_after_ate0

    def _feed_prompt(self, byte: int, echo: bytearray) -> None:
        assert self._pdu is not None
        if byte == CTRL_Z:
            if not self._pdu.done():
                self._pdu.set_result(self._pdu_buffer.decode("latin-1"))
            self._pdu = None
        elif byte == ESC:
            if not self._pdu.done():
                self._pdu.set_result(None)
            self._pdu = None
        elif byte in (BS, DEL):
            if self._pdu_buffer:
                self._pdu_buffer.pop()
        elif byte == CR and self._pdu_text_mode:
            # Text mode: a new line inside the message, the modem prompts again.
            self._pdu_buffer.append(LF)
            self.write(b"\r\n> ")
        elif byte not in (CR, LF):
            self._pdu_buffer.append(byte)
            echo.append(byte)

    def _line_done(self) -> None:
        raw = self._input.decode("latin-1")
        self._input.clear()
        if raw[:2].upper() == "A/":
            raw = self._last_line
        start = raw.upper().find("AT")
        if start < 0:
            return  # no "AT": modems ignore the line
        line = raw[start:].strip()
        self._last_line = line
        self._idle.clear()
        self._lines.put_nowait(line)

    async def read_prompt(self, *, text_mode: bool = False) -> str | None:
        """Write the "> " prompt and wait for Ctrl-Z (the data) or ESC (None)."""
        if self.faults.prompt_delay:
            await asyncio.sleep(self.faults.prompt_delay)
        self._pdu = asyncio.get_running_loop().create_future()
        self._pdu_text_mode = text_mode
        self._pdu_buffer.clear()
        self.write(b"\r\n> ")
        try:
            return await self._pdu
        finally:
            self._pdu = None

    def _reset_terminal(self) -> None:
        self._input.clear()
        self._held.clear()
        if self._pdu is not None and not self._pdu.done():
            self._pdu.cancel()
        self._pdu = None
        while not self._lines.empty():
            self._lines.get_nowait()
        if not self._busy:
            self._idle.set()

    # ----------------------------------------------------------------- execution

    async def _run_lines(self) -> None:
        while True:
            line = await self._lines.get()
            self._busy = True
            try:
                await self.execute(line)
            except Exception:
                # Only the command name: a line may carry a PIN or a phone number.
                _LOGGER.exception("modem simulator failed on %s", line.split("=")[0][:16])
                self.write_text(self._final("ERROR"))
            finally:
                self._busy = False
                held, self._held = self._held, []
                for data in held:
                    self.write(data)
                if self._lines.empty():
                    self._idle.set()

    async def execute(self, line: str) -> None:
        """Run one command line and write its answers and final result."""
        if self.faults.answer_delay:
            await asyncio.sleep(self.faults.answer_delay)
        if self.faults.garbage > 0:
            self.faults.garbage -= 1
            self.emit_garbage()
        try:
            commands = parse_command_line(line)
        except ParseError:
            self.write_text(self._final("ERROR"))
            return
        try:
            for command in commands:
                lines = await self._run_command(command)
                out = self._info(lines) if lines else ""
                between = self._take_urc_between(command)
                if between:
                    out += "".join(f"\r\n{urc}\r\n" for urc in between)
                if out:
                    self.write_text(out)
        except FinalResult as result:
            self.write_text(self._final(result.text))
        except AtError as error:
            self.write_text(self._final(self.error_text(error)))
        else:
            self.write_text(self._final("OK"))

    async def _run_command(self, command: Command) -> list[str]:
        if self.faults.cme_busy > 0:
            self.faults.cme_busy -= 1
            raise CmeError(self.faults.cme_busy_code)
        handler = find_handler(command.key, self.profile.name)
        if handler is None:
            if command.kind is Kind.TEST and command.name in known_names(self.profile.name):
                return []
            raise UnknownCommand
        return await handler(self, command) or []

    def _take_urc_between(self, command: Command) -> list[str]:
        faults = self.faults
        if not faults.urc_between:
            return []
        wanted = faults.urc_between_on
        if wanted is not None and wanted.upper().removeprefix("AT") != command.name:
            return []
        urcs, faults.urc_between = faults.urc_between, []
        faults.urc_between_on = None
        return urcs

    # ----------------------------------------------------------------- SIM helpers

    def require_sim(self, *, sms: bool = False) -> None:
        """Raise the error a modem gives when the SIM is missing or locked."""
        state = self.sim_state
        if state == "READY":
            return
        cme, cms = {
            "NOT INSERTED": (10, 310),
            "SIM PIN": (11, 311),
            "SIM PUK": (12, 316),
        }.get(state, (13, 313))
        raise CmsError(cms) if sms else CmeError(cme)

    @property
    def creg_stat(self) -> int:
        """<stat> of +CREG: 0 while off or without a ready SIM."""
        if self.settings.cfun != 1 or self.sim_state != "READY":
            return 0
        return self.registration

    @property
    def registered(self) -> bool:
        """Home or roaming: SMS, calls and USSD can go out."""
        return self.creg_stat in (1, 5)

    def next_mr(self) -> int:
        """The next TP-MR, rotating 0..255 (it survives reboots, like on a SIM)."""
        self.last_mr = (self.last_mr + 1) % 256
        return self.last_mr
