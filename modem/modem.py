"""Modem: one GSM modem kept alive — init, health, self-healing reconnect, SMS, USSD, calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable

from .calls import ring
from .codec import Deliver, RequestedEncoding, StatusReport, encode_submit
from .codec import normalize_address as _normalize
from .commands import REGISTRATION_STATES, mask_number, parse_registration
from .engine import ATEngine, Priority
from .errors import (
    ATTimeoutError,
    CommandError,
    ModemError,
    ModemGone,
    ModemNotReady,
    ModemRestarted,
    NoSimError,
    PortBusyError,
    PortOpenError,
    SendInterrupted,
    SimPinError,
)
from .inbox import Inbox, InboxJob
from .info import ModemInfo, ModemState
from .probe import find_modem
from .startup import SmsSetup, initialise, refresh_status, synchronise
from .urc import Urc, parse_stored_index
from .ussd import request_ussd

_LOGGER = logging.getLogger(__name__)

RECONNECT_MIN = 0.5
RECONNECT_MAX = 30.0
"""Capped exponential backoff between reconnect attempts."""
PORT_POLL_MAX = 5.0
"""Longest pause between looks for a vanished port path."""
IMEI_SEARCH_AFTER = 30.0
"""A vanished port not back after this long: look for the same IMEI on other ports."""
IMEI_SEARCH_INTERVAL = 30.0
PORT_SETTLE = 0.5
"""After the path reappears: time for udev to finish (permissions, links)."""
PORT_BUSY_RETRY = 60.0
"""A busy port is tried again this often (ModemManager may let go)."""
NO_SIM_RETRY = 60.0
RESET_AFTER_FAILURES = 3
"""Consecutive failed sessions before AT+CFUN=1,1 resets the modem."""
RESET_TIMEOUT = 10.0
"""AT+CFUN=1,1 answers OK before it reboots."""
REBOOT_WAIT = 20.0
"""After AT+CFUN=1,1: how long the modem may take to come back."""
SWEEP_EVERY = 10
"""Health checks between two AT+CMGL sweeps of the SIM storage."""

# After-PDU CMS errors where the network may have taken the message all the same.
_UNCERTAIN_CMS = frozenset({332, 535})
_REBOOT_URCS = frozenset({"RDY", "^SYSSTART"})

StateCallback = Callable[["Modem"], None]


class Modem:
    """A GSM modem on one port, kept initialised and healthy by a supervisor task."""

    def __init__(
        self,
        port: str,
        *,
        name: str,
        baudrate: int = 115200,
        pin: str | None = None,
        delivery_reports: bool = True,
        health_interval: float = 30.0,
        multipart_wait: float = 600,
        on_inbound: Callable[[Deliver], Awaitable[None]] | None = None,
        on_status_report: Callable[[StatusReport], Awaitable[None]] | None = None,
        on_state_changed: StateCallback | None = None,
    ) -> None:
        self.configured_port = port  # a path, socket://host:port, or "auto"
        self.port = port  # the port in use (resolved when "auto", or after a move)
        self.name = name
        self.baudrate = baudrate
        self.pin = pin or None
        self.delivery_reports = delivery_reports
        self.health_interval = health_interval
        # Kept for the consumer that reassembles multipart SMS; parts are passed as they come.
        self.multipart_wait = multipart_wait
        self.on_state_changed = on_state_changed
        self.info = ModemInfo()
        self.state_detail: str | None = None
        self._inbox = Inbox(name, on_inbound, on_status_report)
        self._state = ModemState.STARTING
        self._engine: ATEngine | None = None
        self._setup = SmsSetup()
        self._log = f"[{name}]"
        self._concat_ref = secrets.randbelow(256)
        self._jobs: asyncio.Queue[InboxJob] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._reinit = asyncio.Event()
        self._sms_ready = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._initialising = False
        self._rejected_pin: str | None = None
        self._failures = 0
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None

    # -- public API ---------------------------------------------------------------

    @property
    def on_inbound(self) -> Callable[[Deliver], Awaitable[None]] | None:
        """Awaited with each received SMS (part) before it is deleted from the modem."""
        return self._inbox.on_inbound

    @on_inbound.setter
    def on_inbound(self, callback: Callable[[Deliver], Awaitable[None]] | None) -> None:
        self._inbox.on_inbound = callback

    @property
    def on_status_report(self) -> Callable[[StatusReport], Awaitable[None]] | None:
        """Awaited with each status report before it is deleted from the modem."""
        return self._inbox.on_status_report

    @on_status_report.setter
    def on_status_report(
        self, callback: Callable[[StatusReport], Awaitable[None]] | None
    ) -> None:
        self._inbox.on_status_report = callback

    @property
    def state(self) -> ModemState:
        """Current life-cycle state."""
        return self._state

    async def start(self) -> None:
        """Start the supervisor; returns once the first init attempt has finished."""
        if self._supervisor is not None:
            return
        self._stopping = False
        self._worker = asyncio.create_task(self._inbox_worker(), name=f"modem-{self.name}-inbox")
        self._supervisor = asyncio.create_task(self._supervise(), name=f"modem-{self.name}")
        waiter = asyncio.ensure_future(self._first_attempt.wait())
        await asyncio.wait({waiter, self._supervisor}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter

    async def stop(self) -> None:
        """Stop every task and close the port."""
        self._stopping = True
        for task in (self._supervisor, self._worker):
            if task is not None:
                task.cancel()
        for task in (self._supervisor, self._worker):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._supervisor = self._worker = None
        if self._engine is not None:
            await self._engine.close()
            self._engine = None
        self._set_state(ModemState.OFFLINE, "stopped")

    async def send_sms(
        self,
        to: str,
        text: str,
        *,
        encoding: RequestedEncoding = "auto",
        status_report: bool | None = None,
    ) -> list[int]:
        """Send one SMS (split as needed); returns the TP-MR of each part.

        Raises ModemNotReady or CommandError/CmsError when nothing went out, and
        SendInterrupted (``not_sent`` says whether anything may have gone out) otherwise.
        """
        engine = self._ready_engine()
        report = self.delivery_reports if status_report is None else status_report
        reference = self._concat_ref
        parts = encode_submit(
            _normalize(to),
            text,
            reference=reference,
            status_report=report,
            encoding=encoding,
        )
        if len(parts) > 1:
            self._concat_ref = (reference + 1) % 256
        references: list[int] = []
        for part in parts:
            try:
                references.append(await engine.send_pdu(part.hex, part.tpdu_length))
            except SendInterrupted as err:
                raise SendInterrupted(
                    f"{self.name}: {err}",
                    not_sent=err.not_sent and not references,
                    references=references,
                    cause=err.cause,
                ) from err
            except CommandError as err:
                uncertain = err.after_pdu and err.code in _UNCERTAIN_CMS
                if references or uncertain:
                    raise SendInterrupted(
                        f"{self.name}: part {len(references) + 1}/{len(parts)}: {err}",
                        not_sent=False,
                        references=references,
                        cause=err,
                    ) from err
                raise
        _LOGGER.info(
            "%s sent %d part(s) to %s, TP-MR %s", self._log, len(parts), mask_number(to), references
        )
        return references

    async def ussd(self, code: str) -> str:
        """Send a USSD code (e.g. *100#) and return the network's answer."""
        engine = self._ready_engine()
        return await request_ussd(engine, code, packed=self._setup.ussd_packed)

    async def ring(self, number: str, seconds: float) -> str:
        """Call ``number``, let it ring ``seconds``, hang up; returns how it ended
        ("completed", "busy", "no_answer", "no_carrier", "no_dialtone")."""
        number = _normalize(number)
        engine = self._ready_engine()
        outcome = await ring(engine, number, seconds)
        _LOGGER.info("%s call to %s: %s", self._log, mask_number(number), outcome)
        return outcome

    # -- supervisor: the reconnect state machine ------------------------------------------

    async def _supervise(self) -> None:
        backoff = RECONNECT_MIN
        while not self._stopping:
            try:
                await self._session()
                backoff = RECONNECT_MIN
                continue
            except PortBusyError as err:
                self._set_state(ModemState.PORT_BUSY, str(err))
                _LOGGER.error("%s %s", self._log, err)
                delay = PORT_BUSY_RETRY
            except SimPinError as err:
                if err.reason == "wrong_pin":
                    self._rejected_pin = self.pin
                self._set_state(ModemState(err.reason), str(err))
                _LOGGER.error("%s %s", self._log, err)
                self._first_attempt.set()
                # Needs a human: no retries, nothing that could burn another PIN try.
                await asyncio.Event().wait()
                return
            except NoSimError as err:
                self._set_state(ModemState.NO_SIM, str(err))
                delay = NO_SIM_RETRY
            except ModemGone as err:
                self._set_state(ModemState.OFFLINE, str(err))
                _LOGGER.warning("%s offline: %s", self._log, err)
                self._first_attempt.set()
                await self._wait_for_port(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX)
                continue
            except (ATTimeoutError, CommandError, PortOpenError, ModemError) as err:
                self._failures += 1
                state = ModemState.OFFLINE if isinstance(err, ATTimeoutError) else ModemState.ERROR
                self._set_state(state, str(err))
                _LOGGER.warning("%s %s (failure %d)", self._log, err, self._failures)
                delay = backoff
                backoff = min(backoff * 2, RECONNECT_MAX)
            except Exception as err:  # a bug must not end the supervisor for good
                self._failures += 1
                self._set_state(ModemState.ERROR, repr(err))
                _LOGGER.exception("%s unexpected error", self._log)
                delay = RECONNECT_MAX
            self._first_attempt.set()
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """One open port: init, then watch until it fails; re-init after a reboot."""
        if self.configured_port == "auto":
            found = await find_modem(self.info.imei)
            if found is None:
                raise ModemGone("no modem answered on any serial port")
            self.port = found.stable_port
            _LOGGER.info("%s found on %s", self._log, self.port)
        engine = ATEngine(name=self.name, on_urc=self._on_urc, on_lost=self._on_lost)
        self._wake.clear()
        try:
            await engine.open(self.port, baudrate=self.baudrate)
            self._engine = engine
            while True:
                await self._initialise(engine)
                if await self._watch(engine) != "reinit":
                    return
                _LOGGER.warning("%s modem restarted by itself; initialising again", self._log)
        finally:
            self._ready.clear()
            self._engine = None
            await engine.close()

    async def _initialise(self, engine: ATEngine) -> None:
        self._set_state(ModemState.STARTING)
        self._initialising = True
        self._reinit.clear()
        try:
            if self._failures >= RESET_AFTER_FAILURES:
                await synchronise(engine)  # a mute modem cannot be reset by command
                await self._reset(engine)
            self._setup = await initialise(
                engine,
                self.info,
                pin=self.pin,
                pin_known_wrong=self.pin is not None and self.pin == self._rejected_pin,
                delivery_reports=self.delivery_reports,
                sms_ready=self._sms_ready,
            )
            await refresh_status(engine, self.info, has_cereg=self._setup.has_cereg)
        finally:
            self._initialising = False
        self._failures = 0
        self._set_state(ModemState.READY)
        self._ready.set()
        self._first_attempt.set()
        _LOGGER.info(
            "%s ready: %s %s, IMEI %s, operator %s, signal %s%%",
            self._log,
            self.info.maker,
            self.info.model,
            self.info.imei,
            self.info.operator,
            self.info.signal_percent,
        )
        self._jobs.put_nowait(InboxJob("sweep"))

    async def _watch(self, engine: ATEngine) -> str:
        """Health checks until the port fails (raises) or the modem rebooted ("reinit")."""
        checks = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.health_interval):
                    await self._wake.wait()
            self._wake.clear()
            if engine.error is not None:
                raise engine.error
            if self._reinit.is_set():
                return "reinit"
            before = (self.info.signal_percent, self.info.registration, self.info.operator)
            try:
                await refresh_status(engine, self.info, has_cereg=self._setup.has_cereg)
            except CommandError as err:  # an answer, even an error, proves it is alive
                _LOGGER.debug("%s health query failed: %s", self._log, err)
            after = (self.info.signal_percent, self.info.registration, self.info.operator)
            if after != before:
                self._notify()
            checks += 1
            if checks % SWEEP_EVERY == 0:
                self._jobs.put_nowait(InboxJob("sweep"))

    async def _reset(self, engine: ATEngine) -> None:
        """AT+CFUN=1,1 after repeated failures; the modem reboots (maybe re-enumerates)."""
        _LOGGER.warning("%s %d failures in a row: resetting the modem", self._log, self._failures)
        self._failures = 0
        with contextlib.suppress(ATTimeoutError, CommandError):
            await engine.command("AT+CFUN=1,1", timeout=RESET_TIMEOUT, priority=Priority.URGENT)
        self._reinit.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REBOOT_WAIT):
                while not self._reinit.is_set() and engine.error is None:
                    await self._wake.wait()
                    self._wake.clear()
        if engine.error is not None:
            raise engine.error

    async def _wait_for_port(self, backoff: float) -> None:
        """After an unplug: wait for the same path to come back (USB re-enumeration), or
        find the same IMEI on another port if it does not."""
        if self.configured_port == "auto" or "://" in self.port:
            await asyncio.sleep(backoff)
            return
        loop = asyncio.get_running_loop()
        search_at = loop.time() + IMEI_SEARCH_AFTER
        pause = min(backoff, PORT_POLL_MAX)
        while not await asyncio.to_thread(os.path.exists, self.port):
            if self.info.imei and loop.time() >= search_at:
                found = await find_modem(self.info.imei)
                if found is not None:
                    _LOGGER.warning("%s moved from %s to %s", self._log, self.port, found.port)
                    self.port = found.stable_port
                    return
                search_at = loop.time() + IMEI_SEARCH_INTERVAL
            await asyncio.sleep(pause)
            pause = min(pause * 2, PORT_POLL_MAX)
        await asyncio.sleep(PORT_SETTLE)

    # -- URCs and the inbox worker -------------------------------------------------------

    def _on_urc(self, urc: Urc) -> None:
        name = urc.name
        if name in ("+CMTI", "+CDSI"):
            stored = parse_stored_index(urc.value)
            if stored is not None:
                self._jobs.put_nowait(InboxJob("stored", mem=stored[0], index=stored[1]))
        elif name in ("+CMT", "+CDS"):
            self._jobs.put_nowait(InboxJob("direct", urc=urc))
        elif name == "SMS Ready" or urc.line.startswith("+QIND: SMS DONE"):
            self._sms_ready.set()
        elif name in _REBOOT_URCS or (name == "+CPIN" and not self._initialising):
            if not self._initialising and self._state is ModemState.READY:
                if name in _REBOOT_URCS and self._engine is not None:
                    # Nothing in flight will be answered by a modem that just booted.
                    self._engine.fail_pending(ModemRestarted(f"{self.name} restarted"))
                self._reinit.set()
                self._wake.set()
        elif name in ("+CREG", "+CEREG"):
            self._registration_changed(urc)

    def _on_lost(self, error: ModemError) -> None:
        self._ready.clear()
        self._wake.set()

    async def _inbox_worker(self) -> None:
        while True:
            job = await self._jobs.get()
            await self._ready.wait()
            engine = self._engine
            if engine is None:
                continue
            try:
                await self._inbox.run(engine, self._setup, job)
            except (ModemGone, ATTimeoutError) as err:
                # The sweep after the next init picks up whatever is still stored.
                _LOGGER.debug("%s inbox job %s dropped: %s", self._log, job.kind, err)
            except CommandError as err:
                _LOGGER.warning("%s reading %s failed: %s", self._log, job.kind, err)
            except Exception:
                # The consumer failed: the message stays on the SIM for the next sweep.
                _LOGGER.exception("%s handing over a received message failed", self._log)

    # -- helpers -------------------------------------------------------------------------

    def _ready_engine(self) -> ATEngine:
        engine = self._engine
        if self._state is not ModemState.READY or engine is None or not engine.connected:
            raise ModemNotReady(f"{self.name} is {self._state.value}")
        return engine

    def _registration_changed(self, urc: Urc) -> None:
        # URC form "+CREG: <stat>[,<lac>,<ci>]"; the health check reads the full picture.
        stat = parse_registration(urc.value, query=False)
        if stat is None:
            return
        registered = stat in (1, 5)
        if registered != self.info.registered:
            self.info.registered = registered
            self.info.roaming = stat == 5
            self.info.registration = REGISTRATION_STATES.get(stat, "unknown")
            self._notify()

    def _set_state(self, state: ModemState, detail: str | None = None) -> None:
        changed = state is not self._state or detail != self.state_detail
        if state is not self._state:
            level = logging.INFO if state is ModemState.READY else logging.DEBUG
            _LOGGER.log(level, "%s state %s -> %s", self._log, self._state.value, state.value)
        self._state = state
        self.state_detail = detail
        if changed:
            self._notify()

    def _notify(self) -> None:
        if self.on_state_changed is not None:
            try:
                self.on_state_changed(self)
            except Exception:
                _LOGGER.exception("%s state callback failed", self._log)

