"""ModemSimulator: the public face of the fake modem (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import zlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import codec
from .commands_basic import announce_registration
from .commands_calls import end_call
from .device import Device, Settings
from .faults import Faults
from .network import Network
from .profiles import Profile, get_profile
from .pty import PtyLink
from .records import Call, InjectedSms, SentMessage, SentSms, join_parts
from .storage import SmsStorage

__all__ = ["SIM_STATES", "ModemSimulator", "normalize_sim_state"]

_LOGGER = logging.getLogger(__name__)

SHUTDOWN_DELAY = 0.05
SIM_STATES = ("READY", "SIM PIN", "SIM PUK", "NOT INSERTED")
DEFAULT_USSD_ANSWERS = {
    "*100#": "Your balance is 12.34 EUR",
    "*101#": "You have 250 SMS and 1.5 GB left until 2030-01-31",
    "*135#": "Your number is +15550001111",
}


def _imei_for(seed: str) -> str:
    body = "35209900" + f"{zlib.crc32(seed.encode()) % 1_000_000:06d}"
    total = 0
    for i, digit in enumerate(int(d) for d in reversed(body)):
        doubled = digit * 2 if i % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def normalize_sim_state(state: str) -> str:
    """``"no sim"`` -> ``"NOT INSERTED"``; ValueError for anything but SIM_STATES."""
    state = state.strip().upper()
    if state in ("NO SIM", "NONE", "ABSENT"):
        state = "NOT INSERTED"
    if state not in SIM_STATES:
        raise ValueError(f"sim_state must be one of {', '.join(SIM_STATES)}")
    return state


class ModemSimulator:
    """A fake GSM modem on a pseudo-terminal, driven from the caller's event loop."""

    def __init__(
        self,
        link: str | Path,
        *,
        profile: str | Profile = "sim800",
        send_delay: float = 0.0,
        report_delay: float = 0.0,
        pin: str | None = None,
        imei: str | None = None,
        own_number: str | None = "+15550001111",
        operator: str = "Demo Mobile",
        signal_csq: int = 20,
        imsi: str = "001010123456789",
        iccid: str = "89014103211118510720",
        urc_interval: float | None = None,
    ) -> None:
        self.link = Path(link)
        self.profile = get_profile(profile)
        self.faults = Faults(send_delay=send_delay, report_delay=report_delay)
        device = Device(self.profile, self.faults)
        device.imei = imei or _imei_for(str(self.link))
        device.imsi = imsi
        device.iccid = iccid
        device.own_number = own_number
        device.operator = operator
        device.signal_csq = signal_csq
        device.pin = pin
        device.ussd_answers = dict(DEFAULT_USSD_ANSWERS)
        device.on_reboot_request = self._reboot_soon
        self._device = device
        self._network = Network(device)
        device.network = self._network
        self.sim_inserted = True
        self.urc_interval = (
            urc_interval if urc_interval is not None else self.profile.periodic_interval
        )
        self._port: PtyLink | None = None
        self._periodic: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> None:
        """Create the port at ``link``; the modem is on, as if it booted long ago."""
        async with self._lock:
            if self._port is None:
                self._plug(boot_urcs=False)

    async def stop(self) -> None:
        """Remove the port and cancel every timer; safe to call twice."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            await self._unplug()
        await self._network.close()

    async def __aenter__(self) -> ModemSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def unplug(self) -> None:
        """Pull the USB plug: the port and its link vanish, the client sees EOF/EIO."""
        async with self._lock:
            await self._unplug()

    async def replug(self, *, boot_urcs: bool = True) -> None:
        """Plug back in: a fresh pty at the same link path, same IMEI, settings reset."""
        async with self._lock:
            if self._port is None:
                self._plug(boot_urcs=boot_urcs)

    async def reboot(self) -> None:
        """Reset like AT+CFUN=1,1: settings back to defaults (echo on), boot URCs again."""
        async with self._lock:
            if self._port is None:
                return
            if self.faults.reboot_unplugs:
                # A modem takes a moment to shut down: its OK reaches the host first.
                await asyncio.sleep(SHUTDOWN_DELAY)
                await self._unplug()
                await asyncio.sleep(self.faults.reenumerate_delay)
                self._plug(boot_urcs=True)
                return
            port = self._port
            await self._detach()
            self._attach(port)
            self._boot(announce=True)

    @property
    def busy(self) -> bool:
        """A command line is running or waiting to run."""
        return not self._device.wait_free

    @property
    def plugged(self) -> bool:
        """The port exists."""
        return self._port is not None

    @property
    def device_name(self) -> str:
        """The pty slave behind the link (``/dev/pts/N``), "" while unplugged."""
        return self._port.device_name if self._port else ""

    # ----------------------------------------------------------------- network side

    def inject_sms(
        self,
        sender: str,
        text: str,
        *,
        when: dt.datetime | None = None,
        encoding: codec.RequestedEncoding = "auto",
        split_parts: Sequence[str] | int | None = None,
        order: Sequence[int] | None = None,
        delay_parts: Mapping[int, float] | None = None,
        drop_parts: Collection[int] = (),
    ) -> InjectedSms:
        """The network delivers an SMS from ``sender`` (see the package docstring)."""
        return self._network.inject(
            sender,
            text,
            when=when,
            encoding=encoding,
            split_parts=split_parts,
            order=order,
            delay_parts=delay_parts,
            drop_parts=drop_parts,
        )

    def sent_messages(self) -> list[SentMessage]:
        """Sent parts joined into whole messages, in order of their first part."""
        return join_parts(self._device.sent)

    def callee_hangs_up(self) -> None:
        """The called party hangs up now: the modem reports NO CARRIER."""
        end_call(self._device, "remote", "NO CARRIER")

    def emit_urc(self, *lines: str) -> None:
        """Write an unsolicited result code now (held while a command runs, as usual)."""
        self._device.emit_urc(*lines)

    def emit_garbage(self, length: int = 24) -> None:
        """Write random bytes (invalid UTF-8 included) now."""
        self._device.emit_garbage(length)

    async def settle(self) -> None:
        """Wait until no command runs and no timer (delayed part, report, USSD) is pending.

        Wrap it in ``asyncio.timeout()``: a long ``callee_hangup_after`` keeps it waiting.
        """
        while True:
            await self._device.wait_commands_done()
            pending = self._network.timers | self._device.jobs | self._tasks
            if not pending and self._device.idle:
                return
            if pending:
                await asyncio.wait(pending)

    # ----------------------------------------------------------------- state

    @property
    def sent(self) -> list[SentSms]:
        """Every part the modem accepted, in order."""
        return self._device.sent

    @property
    def calls(self) -> list[Call]:
        """Every call dialled, in order; the last may still be active."""
        return self._device.calls

    @property
    def active_call(self) -> Call | None:
        """The call in progress, if any."""
        return self._device.active_call

    @property
    def ussd_answers(self) -> dict[str, str]:
        """Network answers per USSD code; edit freely. Unknown codes answer ``+CUSD: 4``."""
        return self._device.ussd_answers

    @property
    def injected(self) -> list[InjectedSms]:
        """Every SMS given to inject_sms, with the parts delivered so far."""
        return self._network.injected

    @property
    def storage(self) -> SmsStorage:
        """The SIM's message storage."""
        return self._device.storage

    @property
    def settings(self) -> Settings:
        """Current AT settings (echo, cmee, cmgf, cnmi, ...)."""
        return self._device.settings

    @property
    def imei(self) -> str:
        """The modem's IMEI (stable across replug)."""
        return self._device.imei

    @property
    def sim_state(self) -> str:
        """READY, SIM PIN, SIM PUK, NOT INSERTED (or BLOCKED after 10 wrong PUKs)."""
        return self._device.sim_state

    @sim_state.setter
    def sim_state(self, state: str) -> None:
        state = normalize_sim_state(state)
        device = self._device
        before = device.creg_stat
        self.sim_inserted = state != "NOT INSERTED"
        if state == "SIM PIN" and device.pin is None:
            device.pin = "1234"
        if state == "SIM PUK":
            device.pin_attempts = 0
        if state == "READY":
            device.pin_attempts = 3
        device.sim_state = state
        announce_registration(device, before)

    @property
    def puk(self) -> str:
        """The SIM's PUK (unlocks a SIM in SIM PUK state with AT+CPIN="<puk>","<new pin>")."""
        return self._device.puk

    @property
    def pin_attempts(self) -> int:
        """PIN tries left before the SIM wants its PUK."""
        return self._device.pin_attempts

    @property
    def signal_csq(self) -> int:
        """The RSSI of AT+CSQ (0-31, 99 unknown)."""
        return self._device.signal_csq

    @signal_csq.setter
    def signal_csq(self, value: int) -> None:
        self._device.signal_csq = value

    @property
    def registration(self) -> int:
        """+CREG <stat> while on with a ready SIM: 1 home, 5 roaming, 2 searching, 3 denied."""
        return self._device.registration

    @registration.setter
    def registration(self, stat: int) -> None:
        device = self._device
        before = device.creg_stat
        device.registration = stat
        announce_registration(device, before)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly state for the control API."""
        device = self._device
        return {
            "link": str(self.link),
            "device": self.device_name,
            "profile": self.profile.name,
            "plugged": self.plugged,
            "imei": device.imei,
            "sim_state": device.sim_state,
            "pin_attempts": device.pin_attempts,
            "registered": device.registered,
            "registration": device.creg_stat,
            "operator": device.operator,
            "own_number": device.own_number,
            "signal_csq": device.signal_csq,
            "storage": {"used": len(device.storage), "capacity": device.storage.capacity},
            "sent": len(device.sent),
            "calls": len(device.calls),
            "active_call": device.active_call.as_dict() if device.active_call else None,
            "pending_deliveries": len(self._network.pending),
            "faults": self.faults.as_dict(),
        }

    # ----------------------------------------------------------------- internals

    def _plug(self, *, boot_urcs: bool) -> None:
        port = PtyLink(self.link, self._device.feed)
        port.open()
        self._port = port
        self._attach(port)
        self._boot(announce=boot_urcs)

    async def _unplug(self) -> None:
        if self._port is None:
            return
        end_call(self._device, "unplug", None)
        await self._detach()
        self._port.close()
        self._port = None

    def _attach(self, port: PtyLink) -> None:
        self._device.attach(port.write)
        if self.profile.periodic_urcs and self.urc_interval > 0:
            self._periodic = asyncio.get_running_loop().create_task(self._periodic_urcs())

    async def _detach(self) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic
            self._periodic = None
        await self._device.detach()

    def _boot(self, *, announce: bool) -> None:
        device = self._device
        device.reset_settings()
        end_call(device, "reboot", None)
        if not self.sim_inserted:
            device.sim_state = "NOT INSERTED"
        elif device.sim_state not in ("SIM PUK", "BLOCKED"):
            device.sim_state = "SIM PIN" if device.pin else "READY"
        if announce:
            urcs = list(self.profile.boot_urcs)
            if device.sim_state == "READY":
                urcs += self.profile.sim_ready_urcs
            elif self.profile.sim_ready_urcs[:1] == ("+CPIN: READY",):
                urcs.append(f"+CPIN: {device.sim_state}")
            device.write(b"".join(f"\r\n{urc}\r\n".encode() for urc in urcs))
        self._network.flush()

    def _reboot_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reboot())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _periodic_urcs(self) -> None:
        device = self._device
        while True:
            await asyncio.sleep(self.urc_interval)
            if device.settings.curc:
                for urc in self.profile.periodic_urcs:
                    device.emit_urc(urc.format(csq=device.signal_csq))
