"""The AT engine: one command in flight, every line classified, URCs dispatched."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .commands import ATResponse, answer_prefix, redact_command
from .errors import (
    ATTimeoutError,
    CmeError,
    CmsError,
    CommandError,
    ModemError,
    ModemGone,
    SendInterrupted,
    error_for_final,
)
from .priority_lock import Priority, PriorityLock
from .protocol import TRACE, ATLineProtocol, open_serial_port
from .urc import LineKind, Urc, classify, is_hex_pdu, is_two_line, parse_urc

__all__ = ["ATEngine", "Priority", "PriorityLock", "timeout_for"]

_LOGGER = logging.getLogger(__name__)

# Timeouts in seconds; module constants so tests can patch them down.
COMMAND_TIMEOUT = 5.0
"""Default for any command without a named timeout."""
CMGS_TIMEOUT = 75.0
"""From Ctrl-Z to +CMGS: the network may take a minute to accept a submit."""
PROMPT_TIMEOUT = 10.0
"""From AT+CMGS=<n> to the "> " prompt."""
LIST_TIMEOUT = 30.0
"""AT+CMGL over a full SIM."""
READ_TIMEOUT = 10.0
"""AT+CMGR, AT+CMGD."""
NETWORK_TIMEOUT = 30.0
"""Commands that talk to the network (AT+COPS?, AT+CUSD, AT+CFUN, ATD)."""
PIN_TIMEOUT = 10.0
"""AT+CPIN: the SIM checks the PIN."""
RESYNC_TIMEOUT = 2.0
"""After a timeout: how long a plain AT may take before the modem counts as mute."""
RESYNC_SETTLE = 0.05
"""After resync: quiet time in which late answers of the timed-out command are dropped."""
CLOSE_TIMEOUT = 5.0
"""How long closing the port may take."""

BUSY_RETRIES = 6
BUSY_BACKOFF = 0.5
BUSY_BACKOFF_MAX = 5.0
_BUSY_CME = frozenset({14, 515})
_BUSY_CMS = frozenset({314, 515})

CTRL_Z = b"\x1a"
ESC = b"\x1b"


def timeout_for(command: str) -> float:
    """The named timeout of a command."""
    name = command[2:].upper() if command[:2].upper() == "AT" else command.upper()
    if name.startswith("+CMGS"):
        return CMGS_TIMEOUT
    if name.startswith("+CMGL"):
        return LIST_TIMEOUT
    if name.startswith(("+CMGR", "+CMGD", "+CNMA")):
        return READ_TIMEOUT
    if name.startswith("+CPIN="):
        return PIN_TIMEOUT
    if name.startswith(("+COPS", "+CUSD", "+CFUN", "D", "H", "+CHUP")):
        return NETWORK_TIMEOUT
    return COMMAND_TIMEOUT


@dataclass
class _Pending:
    command: str
    prefix: str | None
    future: asyncio.Future[ATResponse]
    prompt: asyncio.Future[None] | None = None
    lines: list[str] = field(default_factory=list)


class ATEngine:
    """Correlates AT commands with their answers over one open port."""

    def __init__(
        self,
        *,
        name: str = "modem",
        on_urc: Callable[[Urc], None] | None = None,
        on_lost: Callable[[ModemError], None] | None = None,
    ) -> None:
        self.name = name
        self._on_urc = on_urc
        self._on_lost = on_lost
        self._log_prefix = f"[{name}] "
        self._protocol: ATLineProtocol | None = None
        self._lock = PriorityLock()
        self._pending: _Pending | None = None
        self._two_line_head: str | None = None
        self._subscribers: dict[str, list[asyncio.Queue[Urc]]] = {}
        self._error: ModemError | None = None
        self._closing = False
        self._closed = asyncio.Event()
        self._stale = False
        self._tasks: set[asyncio.Task[int]] = set()
        self._connected: asyncio.Future[None] | None = None

    # -- connection --------------------------------------------------------------

    async def open(self, port: str, *, baudrate: int = 115200) -> None:
        """Open the port (device path, by-id link or socket://host:port)."""
        self._connected = asyncio.get_running_loop().create_future()
        transport, _ = await open_serial_port(port, self.make_protocol, baudrate=baudrate)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._connected  # connection_made comes on the next loop turn
        except TimeoutError:
            transport.close()
            raise ModemGone(f"port {port} did not come up") from None

    def make_protocol(self) -> ATLineProtocol:
        """A framing protocol wired to this engine (for any transport)."""
        self._protocol = ATLineProtocol(
            self._line_received,
            self._prompt_received,
            self._connection_lost,
            on_connected=self._connection_made,
            log_prefix=self._log_prefix,
        )
        return self._protocol

    @property
    def connected(self) -> bool:
        """True while the port is open and no fatal error happened."""
        return self._error is None and self._protocol is not None and self._protocol.connected

    @property
    def error(self) -> ModemError | None:
        """The first fatal error, if any."""
        return self._error

    async def close(self) -> None:
        """Close the port and fail whatever is pending; waits until the port is shut."""
        self._closing = True
        protocol = self._protocol
        if protocol is not None and protocol.connected:
            protocol.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._closed.wait()
        self._fatal(ModemGone("port closed"))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Let the transport's own close task run to its end.
        await asyncio.sleep(0)

    # -- commands ------------------------------------------------------------------

    async def command(
        self,
        command: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - per-phase limit, not a cancel scope
        prefix: str | None = None,
        priority: int = Priority.SEND,
        retry_busy: bool = True,
    ) -> ATResponse:
        """Run one command; returns its lines or raises CommandError / ATTimeoutError.

        ``prefix`` names the answer lines ("+CSQ:"); by default it is derived from the
        command, and "" means that no prefixed line belongs to this command.
        """
        answer = answer_prefix(command) if prefix is None else (prefix or None)
        delay = BUSY_BACKOFF
        for attempt in itertools.count():
            try:
                async with self._lock.hold(priority):
                    return await self._execute(command, answer, timeout)
            except (CmeError, CmsError) as err:
                if not retry_busy or not _is_busy(err) or attempt >= BUSY_RETRIES:
                    raise
                _LOGGER.debug(
                    "%s%s: SIM busy, retry in %.1f s", self._log_prefix, err.command, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, BUSY_BACKOFF_MAX)
        raise AssertionError("unreachable")  # pragma: no cover

    async def send_pdu(
        self,
        pdu: str,
        tpdu_length: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - per-phase limit, not a cancel scope
        prompt_timeout: float | None = None,
        priority: int = Priority.SEND,
    ) -> int:
        """AT+CMGS=<n>, wait for "> ", write the PDU and Ctrl-Z, return the TP-MR.

        Once the PDU is written the answer is read even if the caller is cancelled.
        Raises CmsError (the modem refused; nothing went out) or SendInterrupted.
        """
        delay = BUSY_BACKOFF
        for attempt in itertools.count():
            try:
                return await self._send_pdu_once(
                    pdu, tpdu_length, timeout, prompt_timeout, priority
                )
            except (CmeError, CmsError) as err:
                if err.after_pdu or not _is_busy(err) or attempt >= BUSY_RETRIES:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, BUSY_BACKOFF_MAX)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def subscribe(self, *names: str) -> Iterator[asyncio.Queue[Urc]]:
        """Queue the URCs with these names ("+CUSD", "NO CARRIER") while inside."""
        queue: asyncio.Queue[Urc] = asyncio.Queue()
        for name in names:
            self._subscribers.setdefault(name, []).append(queue)
        try:
            yield queue
        finally:
            for name in names:
                queues = self._subscribers.get(name, [])
                if queue in queues:
                    queues.remove(queue)
                if not queues:
                    self._subscribers.pop(name, None)

    def fail_pending(self, error: ModemError) -> None:
        """Fail the command in flight without closing (the modem rebooted under it)."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._stale = True
        for future in (pending.prompt, pending.future):
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()

    def write_raw(self, data: bytes) -> None:
        """Write bytes outside any command (ESC to leave a stale prompt)."""
        self._require_open()
        assert self._protocol is not None
        self._protocol.write(data)

    # -- internals: running commands ---------------------------------------------------

    async def _execute(self, command: str, prefix: str | None, limit: float | None) -> ATResponse:
        if self._stale:
            await self._resync()
        self._require_open()
        limit = timeout_for(command) if limit is None else limit
        pending = _Pending(command, prefix, asyncio.get_running_loop().create_future())
        self._pending = pending
        try:
            _LOGGER.debug("%s-> %s", self._log_prefix, redact_command(command))
            self._write(command.encode("ascii", errors="replace") + b"\r")
            try:
                async with asyncio.timeout(limit):
                    return await pending.future
            except TimeoutError:
                self._stale = True
                raise ATTimeoutError(redact_command(command), limit) from None
        finally:
            if self._pending is pending:
                self._pending = None

    async def _send_pdu_once(
        self,
        pdu: str,
        tpdu_length: int,
        answer_limit: float | None,
        prompt_limit: float | None,
        priority: int,
    ) -> int:
        command = f"AT+CMGS={tpdu_length}"
        await self._lock.acquire(priority)
        pending: _Pending | None = None
        try:
            try:
                if self._stale:
                    await self._resync()
                self._require_open()
            except (ModemGone, ATTimeoutError) as err:
                raise SendInterrupted(str(err), not_sent=True, cause=err) from err
            loop = asyncio.get_running_loop()
            pending = _Pending(command, "+CMGS:", loop.create_future(), loop.create_future())
            self._pending = pending
            _LOGGER.debug("%s-> %s", self._log_prefix, command)
            try:
                self._write(command.encode() + b"\r")
                await self._wait_prompt(pending, prompt_limit)
                _LOGGER.log(TRACE, "%s-> <pdu %d octets>", self._log_prefix, tpdu_length)
                self._write(pdu.encode("ascii") + CTRL_Z)
            except ModemGone as err:
                raise SendInterrupted(str(err), not_sent=True, cause=err) from err
            except asyncio.CancelledError:
                self._abort_prompt()
                raise
        except BaseException:
            if pending is not None and self._pending is pending:
                self._pending = None
            self._lock.release()
            raise
        # From here the PDU is on the wire: the answer is read to the end, even if the
        # caller goes away, and the lock is released only then.
        limit = CMGS_TIMEOUT if answer_limit is None else answer_limit
        task = asyncio.create_task(self._finish_send(pending, limit))
        self._tasks.add(task)
        task.add_done_callback(self._send_task_done)
        return await asyncio.shield(task)

    def _abort_prompt(self) -> None:
        """Leave the modem's text-entry state so the next command is not taken as PDU."""
        self._stale = True
        with contextlib.suppress(ModemGone):
            self._write(ESC)

    async def _wait_prompt(self, pending: _Pending, prompt_limit: float | None) -> None:
        assert pending.prompt is not None
        limit = PROMPT_TIMEOUT if prompt_limit is None else prompt_limit
        try:
            async with asyncio.timeout(limit):
                await pending.prompt
        except TimeoutError:
            self._abort_prompt()
            err = ATTimeoutError(pending.command + " (prompt)", limit)
            raise SendInterrupted(str(err), not_sent=True, cause=err) from None

    async def _finish_send(self, pending: _Pending, limit: float) -> int:
        try:
            try:
                async with asyncio.timeout(limit):
                    response = await pending.future
            except TimeoutError:
                self._stale = True
                err = ATTimeoutError("AT+CMGS (after PDU)", limit)
                raise SendInterrupted(str(err), not_sent=False, cause=err) from None
            except ModemGone as err:
                raise SendInterrupted(
                    f"port lost after the PDU was written: {err}", not_sent=False, cause=err
                ) from err
            except CommandError as err:
                err.after_pdu = True
                raise
            value = response.value("+CMGS:")
            if value is None or not value.split(",")[0].strip().isdigit():
                # OK without a reference: it went out, the TP-MR is unknown.
                _LOGGER.warning("%sAT+CMGS answered without a reference", self._log_prefix)
                return -1
            return int(value.split(",")[0])
        finally:
            if self._pending is pending:
                self._pending = None
            self._lock.release()

    def _send_task_done(self, task: asyncio.Task[int]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.debug("%ssend finished with %r", self._log_prefix, task.exception())

    async def _resync(self) -> None:
        """After a timeout: make sure a late answer cannot end the next command."""
        self._stale = False
        self._require_open()
        pending = _Pending("AT", None, asyncio.get_running_loop().create_future())
        self._pending = pending
        try:
            self._write(b"AT\r")
            try:
                async with asyncio.timeout(RESYNC_TIMEOUT):
                    with contextlib.suppress(CommandError):
                        await pending.future
            except TimeoutError:
                self._stale = True
                raise ATTimeoutError("AT (resync)", RESYNC_TIMEOUT) from None
        finally:
            if self._pending is pending:
                self._pending = None
        await asyncio.sleep(RESYNC_SETTLE)

    def _write(self, data: bytes) -> None:
        self._require_open()
        assert self._protocol is not None
        self._protocol.write(data)

    def _require_open(self) -> None:
        if self._error is not None:
            raise self._error
        if self._protocol is None or not self._protocol.connected:
            raise ModemGone("port is not open")

    # -- internals: received lines --------------------------------------------------

    def _line_received(self, line: str) -> None:
        head = self._two_line_head
        if head is not None:
            self._two_line_head = None
            if is_hex_pdu(line):
                self._dispatch(parse_urc(head, pdu=line))
                return
            self._dispatch(parse_urc(head))
        pending = self._pending
        dialing = pending is not None and pending.command[:3].upper() in ("ATD", "ATA")
        prefix = pending.prefix if pending else None
        kind = classify(line, pending_prefix=prefix, pending=pending is not None, dialing=dialing)
        if kind is LineKind.ECHO:
            return
        if kind is LineKind.URC:
            if is_two_line(line):
                self._two_line_head = line
            else:
                self._dispatch(parse_urc(line))
            return
        if pending is None:
            _LOGGER.debug("%sstray line %r", self._log_prefix, line)
            return
        if kind is LineKind.ANSWER:
            pending.lines.append(line)
            return
        self._complete(pending, line)

    def _complete(self, pending: _Pending, final: str) -> None:
        # Lines after the final result (in the same read) belong to no command.
        self._pending = None
        error = error_for_final(redact_command(pending.command), final)
        if pending.prompt is not None and not pending.prompt.done():
            pending.prompt.set_exception(error or CommandError(pending.command, None, final))
            # The prompt waiter reports; keep the final from being "never retrieved".
            pending.prompt.exception()
        if pending.future.done():
            return
        if error is None:
            pending.future.set_result(ATResponse(pending.command, list(pending.lines), final))
        else:
            _LOGGER.debug("%s<- %s", self._log_prefix, error)
            pending.future.set_exception(error)
            pending.future.exception()

    def _prompt_received(self) -> None:
        pending = self._pending
        if pending is not None and pending.prompt is not None and not pending.prompt.done():
            pending.prompt.set_result(None)
        else:
            _LOGGER.debug("%sstray prompt", self._log_prefix)

    def _dispatch(self, urc: Urc) -> None:
        _LOGGER.debug("%sURC %s", self._log_prefix, urc.name)
        for queue in self._subscribers.get(urc.name, []):
            queue.put_nowait(urc)
        if self._on_urc is not None:
            try:
                self._on_urc(urc)
            except Exception:
                _LOGGER.exception("%sURC handler failed on %s", self._log_prefix, urc.name)

    def _connection_made(self) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(None)

    def _connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()
        reason = f"connection lost: {exc}" if exc else "connection closed"
        self._fatal(ModemGone(reason))

    def _fatal(self, error: ModemError) -> None:
        """The one fatal-error path: keep the first error, fail everything, close."""
        first = self._error is None
        if first:
            self._error = error
        error = self._error or error
        pending = self._pending
        if pending is not None:
            for future in (pending.prompt, pending.future):
                if future is not None and not future.done():
                    future.set_exception(error)
                    future.exception()
        if self._protocol is not None and self._protocol.connected:
            self._protocol.close()
        if first and not self._closing and self._on_lost is not None:
            _LOGGER.debug("%sfatal: %s", self._log_prefix, error)
            self._on_lost(error)


def _is_busy(err: CommandError) -> bool:
    if isinstance(err, CmeError):
        return err.code in _BUSY_CME
    return isinstance(err, CmsError) and err.code in _BUSY_CMS
