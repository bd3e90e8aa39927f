"""Voice calls (ATD, ATH, AT+CHUP, AT+CLCC) and USSD (AT+CUSD)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import TYPE_CHECKING

from .. import codec
from .atcommand import CmeError, Command, FinalResult, handles
from .records import Call
from .textmode import from_charset, to_charset

if TYPE_CHECKING:
    from .device import Device

Answer = list[str] | None
_DIAL_CHARS = re.compile(r"\+?[0-9*#]+")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def end_call(dev: Device, ended_by: str, result: str | None) -> None:
    """Finish the active call; ``result`` (NO CARRIER, BUSY...) is sent as a URC."""
    call = dev.active_call
    if call is None:
        return
    call.ended = dt.datetime.now(dt.UTC)
    call.ended_by = ended_by
    dev.active_call = None
    urcs: list[str] = []
    if dev.profile.call_urcs:
        urcs.append(f"^CEND:1,{int(call.duration or 0)},104,16")
    if result:
        urcs.append(result)
    for urc in urcs:
        dev.emit_urc(urc)


@handles("ATD")
async def dial(dev: Device, cmd: Command) -> Answer:
    voice = cmd.args.endswith(";")
    number = cmd.args.rstrip(";").strip()
    if not _DIAL_CHARS.fullmatch(number):
        raise CmeError(27)
    if not voice:
        raise FinalResult("NO CARRIER")  # no data calls on this modem
    dev.require_sim()
    if not dev.registered:
        raise FinalResult("NO CARRIER")
    if dev.active_call is not None:
        raise CmeError(3)
    call = Call(number, dt.datetime.now(dt.UTC))
    dev.calls.append(call)
    dev.active_call = call
    if dev.profile.call_urcs:
        dev.emit_urc("^ORIG:1,0")
        dev.emit_urc("^CONF:1")
    faults = dev.faults
    if faults.call_result:
        dev.spawn(_remote_end(dev, call, 0.0, faults.call_result.lower(), faults.call_result))
    elif faults.callee_hangup_after is not None:
        dev.spawn(_remote_end(dev, call, faults.callee_hangup_after, "remote", "NO CARRIER"))
    return None


async def _remote_end(dev: Device, call: Call, delay: float, ended_by: str, result: str) -> None:
    await asyncio.sleep(delay)
    if dev.active_call is call:
        end_call(dev, ended_by, result)


@handles("ATH", "AT+CHUP")
async def hang_up(dev: Device, cmd: Command) -> Answer:
    end_call(dev, "local", None)
    return None


@handles("ATA")
async def answer(dev: Device, cmd: Command) -> Answer:
    raise FinalResult("NO CARRIER")  # nobody is calling in


@handles("AT+CLCC")
async def list_calls(dev: Device, cmd: Command) -> Answer:
    call = dev.active_call
    if call is None:
        return None
    toa = 145 if call.number.startswith("+") else 129
    return [f'+CLCC: 1,0,3,0,0,"{call.number}",{toa}']


@handles("AT+CLIP=", "AT+COLP=", "AT+CRC=")
async def call_settings(dev: Device, cmd: Command) -> Answer:
    if cmd.name == "+CLIP":
        dev.settings.clip = cmd.int_param(0, 0, (0, 1))
    return None


@handles("AT+CUSD=")
async def cusd(dev: Device, cmd: Command) -> Answer:
    n = cmd.int_param(0, 0, (0, 1, 2))
    code = cmd.param(1)
    dcs = cmd.int_param(2, 15, range(256))
    if n == 2 or code is None:
        if n != 2:
            dev.settings.cusd = n
        return None
    dev.settings.cusd = n
    dev.require_sim()
    if not dev.registered:
        raise CmeError(30)
    packed = dev.profile.ussd_packed and dev.settings.ussdmode == 1
    if packed:
        # Huawei in transparent mode takes only packed GSM-7 hex.
        if not _HEX.fullmatch(code):
            raise CmeError(100)
        request = codec.decode_ussd(code, dcs)
    else:
        try:
            request = from_charset(code, dev.settings.cscs)
        except ValueError:
            raise CmeError(100) from None
    urcs = ["+CUSD: 2"] if dev.profile.ussd_stray_cusd2 else []
    answer_text = dev.ussd_answers.get(request.strip())
    if answer_text is None:
        urcs.append("+CUSD: 4")
    else:
        if packed:
            payload = codec.encode_ussd_packed(answer_text)
        else:
            payload = to_charset(answer_text, dev.settings.cscs)
        urcs.append(f'+CUSD: 0,"{payload}",15')
    if n == 0:
        return None  # result presentation disabled
    if dev.profile.ussd_answer_before_ok and not dev.faults.ussd_delay:
        return urcs
    dev.spawn(_ussd_answer(dev, urcs))
    return None


async def _ussd_answer(dev: Device, urcs: list[str]) -> None:
    await asyncio.sleep(dev.faults.ussd_delay)
    for urc in urcs:
        dev.emit_urc(urc)


@handles("AT+CUSD?")
async def cusd_read(dev: Device, cmd: Command) -> Answer:
    return [f"+CUSD: {dev.settings.cusd}"]


@handles("AT+CUSD=?")
async def cusd_test(dev: Device, cmd: Command) -> Answer:
    return ["+CUSD: (0-2)"]
