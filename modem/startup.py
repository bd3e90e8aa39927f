"""Bringing a modem up: sync, echo off, identity, SIM PIN, SMS setup, vendor quirks;
and the status queries the health check repeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from .commands import (
    REGISTRATION_STATES,
    ATResponse,
    choose_cnmi,
    choose_storage,
    parse_cpin,
    parse_crsm_iccid,
    parse_csq,
    parse_iccid,
    parse_operator,
    parse_own_number,
    parse_registration,
    rssi_to_dbm,
    rssi_to_percent,
)
from .engine import ESC, ATEngine, Priority
from .errors import (
    ATTimeoutError,
    CmeError,
    CommandError,
    NoSimError,
    SimPinError,
)
from .info import ModemInfo

_LOGGER = logging.getLogger(__name__)

SYNC_TIMEOUT = 1.0
"""Each plain AT while finding the modem's attention."""
SYNC_ATTEMPTS = 3
SIM_READY_TIMEOUT = 15.0
"""After the PIN: how long the SIM may take to report READY."""
SMS_READY_TIMEOUT = 45.0
"""After boot: how long SMS commands may keep failing (SIM800 waits for "SMS Ready")."""
SMS_READY_POLL = 1.0
HEALTH_TIMEOUT = 5.0
"""A health query unanswered this long means the modem is mute."""

_NO_SIM_CME = frozenset({10, 13, 15})
_CNMI_FALLBACKS = ("2,1,0,2,0", "2,1,0,1,0", "2,1,0,0,0", "1,1,0,0,0")
_REGISTERED = frozenset({1, 5, 6, 7, 9, 10})
_ROAMING = frozenset({5, 7, 10})


@dataclass
class SmsSetup:
    """What init chose; the rest of the driver follows it."""

    storage: tuple[str, str, str] = ("SM", "SM", "SM")
    cnmi: str = ""
    ack_needed: bool = False  # AT+CSMS service 1: +CMT/+CDS must be acknowledged (AT+CNMA)
    has_cereg: bool = False
    ussd_packed: bool = False  # Huawei in transparent USSD mode: codes go as packed GSM-7


async def synchronise(engine: ATEngine) -> None:
    """Get the modem's attention: leave a stale "> " prompt, then AT until OK."""
    engine.write_raw(ESC)
    for _ in range(SYNC_ATTEMPTS):
        try:
            await engine.command("AT", timeout=SYNC_TIMEOUT, priority=Priority.URGENT)
        except ATTimeoutError:
            continue
        except CommandError:
            return  # it answers, that is what we wanted to know
        return
    raise ATTimeoutError("AT", SYNC_TIMEOUT * SYNC_ATTEMPTS)


async def initialise(
    engine: ATEngine,
    info: ModemInfo,
    *,
    pin: str | None,
    pin_known_wrong: bool,
    delivery_reports: bool,
    sms_ready: asyncio.Event,
) -> SmsSetup:
    """Run the whole init sequence; raises SimPinError / NoSimError for a human to fix."""
    await synchronise(engine)
    await _command(engine, "ATE0")  # its own echo may still come back; the engine drops it
    await optional(engine, "AT+CMEE=1")
    await read_identity(engine, info)
    setup = SmsSetup()
    if info.vendor == "huawei":
        # Periodic ^RSSI/^BOOT codes only add noise; text-mode USSD saves packing codes.
        await optional(engine, "AT^CURC=0")
        setup.ussd_packed = await optional(engine, "AT^USSDMODE=0") is None
    await unlock_sim(engine, pin=pin, pin_known_wrong=pin_known_wrong)
    await read_sim_identity(engine, info)
    await configure_sms(engine, setup, delivery_reports=delivery_reports, sms_ready=sms_ready)
    await optional(engine, "AT+COPS=3,0")  # operator as long alphanumeric name
    setup.has_cereg = await optional(engine, "AT+CEREG?") is not None
    return setup


async def read_identity(engine: ATEngine, info: ModemInfo) -> None:
    """Maker, model, revision, IMEI."""
    info.maker = await _text(engine, "AT+CGMI", "+CGMI:")
    info.model = await _text(engine, "AT+CGMM", "+CGMM:")
    revision = await _text(engine, "AT+CGMR", "+CGMR:")
    if revision and revision.lower().startswith("revision:"):
        revision = revision[9:].strip()
    info.revision = revision
    imei = await _text(engine, "AT+CGSN", "+CGSN:")
    info.imei = imei if imei and imei.isdigit() else info.imei


async def unlock_sim(engine: ATEngine, *, pin: str | None, pin_known_wrong: bool) -> None:
    """Enter the PIN when asked, once. A wrong PIN or a PUK stops here for good."""
    state = await sim_state(engine)
    if state == "READY":
        return
    if state == "SIM PUK":
        raise SimPinError(
            "sim_puk_required",
            "the SIM is blocked and wants its PUK: unblock it in a phone, then restart",
        )
    if state != "SIM PIN":
        raise SimPinError("sim_pin_required", f"the SIM asks for {state or 'an unknown code'}")
    if not pin:
        raise SimPinError(
            "sim_pin_required", "the SIM asks for a PIN and none is configured (pin = ...)"
        )
    if pin_known_wrong:
        raise SimPinError("wrong_pin", "the configured PIN was rejected before; not trying again")
    try:
        await engine.command(f'AT+CPIN="{pin}"', priority=Priority.URGENT, retry_busy=False)
    except CommandError as err:
        if isinstance(err, CmeError) and err.code == 12:
            raise SimPinError("sim_puk_required", "the SIM wants its PUK") from err
        # Never retried: each attempt burns one of the SIM's three tries.
        raise SimPinError(
            "wrong_pin",
            f"the SIM rejected the configured PIN ({err.describe()}); fix pin and restart",
        ) from err
    async with asyncio.timeout(SIM_READY_TIMEOUT):
        while (state := await sim_state(engine)) != "READY":
            if state == "SIM PUK":
                raise SimPinError("sim_puk_required", "the SIM wants its PUK")
            await asyncio.sleep(SMS_READY_POLL / 2)


async def sim_state(engine: ATEngine) -> str:
    """READY, SIM PIN, SIM PUK, ...; NoSimError when there is no usable SIM."""
    try:
        response = await engine.command("AT+CPIN?", priority=Priority.URGENT)
    except CmeError as err:
        if err.code in _NO_SIM_CME:
            raise NoSimError(f"no usable SIM: {err.describe()}") from err
        raise
    return parse_cpin(response.value("+CPIN:"))


async def read_sim_identity(engine: ATEngine, info: ModemInfo) -> None:
    """IMSI, ICCID, own number (often not stored on the SIM)."""
    imsi = await _text(engine, "AT+CIMI", "+CIMI:")
    info.imsi = imsi if imsi and imsi.isdigit() else None
    info.iccid = await read_iccid(engine, info.vendor)
    cnum = await optional(engine, "AT+CNUM")
    info.own_number = parse_own_number(cnum.values("+CNUM:")) if cnum else None


async def read_iccid(engine: ATEngine, vendor: str) -> str | None:
    """The SIM's ICCID by whichever command this modem knows."""
    commands = ["AT+CCID", "AT+ICCID"]
    if vendor == "quectel":
        commands.insert(0, "AT+QCCID")
    if vendor == "huawei":
        commands.insert(0, "AT^ICCID?")
    for command in commands:
        response = await optional(engine, command)
        if response is None or not response.lines:
            continue
        line = response.lines[0]
        _, sep, rest = line.partition(":")
        iccid = parse_iccid(rest if sep and not line[0].isdigit() else line)
        if iccid:
            return iccid
    response = await optional(engine, "AT+CRSM=176,12258,0,0,10")
    return parse_crsm_iccid(response.value("+CRSM:")) if response else None


async def configure_sms(
    engine: ATEngine, setup: SmsSetup, *, delivery_reports: bool, sms_ready: asyncio.Event
) -> None:
    """PDU mode, storage, new-message indications; waits while SMS is not ready yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SMS_READY_TIMEOUT
    while True:
        try:
            await _command(engine, "AT+CMGF=0")
            test = await optional(engine, "AT+CPMS=?")
            setup.storage = choose_storage(test.value("+CPMS:") if test else None)
            await _command(engine, "AT+CPMS=" + ",".join(f'"{m}"' for m in setup.storage))
            break
        except CommandError as err:
            if loop.time() >= deadline:
                raise
            _LOGGER.debug("[%s] SMS not ready yet (%s)", engine.name, err.describe())
            sms_ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SMS_READY_POLL):
                    await sms_ready.wait()
    csms = await optional(engine, "AT+CSMS?")
    service = (csms.value("+CSMS:") or "0").split(",")[0].strip() if csms else "0"
    setup.ack_needed = service == "1"
    test = await optional(engine, "AT+CNMI=?")
    chosen = choose_cnmi(test.value("+CNMI:") if test else None, delivery_reports=delivery_reports)
    for candidate in (chosen, *_CNMI_FALLBACKS):
        if await optional(engine, f"AT+CNMI={candidate}") is not None:
            setup.cnmi = candidate
            break
    else:
        _LOGGER.warning("[%s] no AT+CNMI setting accepted; relying on polling", engine.name)


async def refresh_status(engine: ATEngine, info: ModemInfo, *, has_cereg: bool) -> None:
    """Signal, registration and operator into ``info``; ATTimeoutError if the modem is mute."""
    csq = await engine.command("AT+CSQ", timeout=HEALTH_TIMEOUT, priority=Priority.BACKGROUND)
    info.rssi = parse_csq(csq.value("+CSQ:"))
    info.signal_percent = rssi_to_percent(info.rssi)
    info.signal_dbm = rssi_to_dbm(info.rssi)
    stats: list[int] = []
    for command, prefix in (("AT+CREG?", "+CREG:"), ("AT+CEREG?", "+CEREG:")):
        if prefix == "+CEREG:" and not has_cereg:
            continue
        response = await optional(
            engine, command, timeout=HEALTH_TIMEOUT, priority=Priority.BACKGROUND
        )
        stat = parse_registration(response.value(prefix)) if response else None
        if stat is not None:
            stats.append(stat)
    if stats:
        stat = next((s for s in stats if s in _REGISTERED), stats[0])
        info.registration = REGISTRATION_STATES.get(stat, "unknown")
        info.registered = stat in _REGISTERED
        info.roaming = stat in _ROAMING
    cops = await optional(engine, "AT+COPS?", timeout=HEALTH_TIMEOUT, priority=Priority.BACKGROUND)
    info.operator = parse_operator(cops.value("+COPS:")) if cops else None


async def optional(
    engine: ATEngine,
    command: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - the command's own limit
    priority: int = Priority.URGENT,
) -> ATResponse | None:
    """Run a command some modems do not know; None when it fails."""
    try:
        return await engine.command(command, timeout=timeout, priority=priority)
    except CommandError as err:
        _LOGGER.debug("[%s] %s not available: %s", engine.name, command, err.describe())
        return None


async def _command(engine: ATEngine, command: str) -> ATResponse:
    return await engine.command(command, priority=Priority.URGENT)


async def _text(engine: ATEngine, command: str, prefix: str) -> str | None:
    response = await optional(engine, command)
    if response is None or not response.lines:
        return None
    text = response.lines[0].strip()
    if text.upper().startswith(prefix):
        text = text[len(prefix) :].strip()
    return text.strip('"') or None
