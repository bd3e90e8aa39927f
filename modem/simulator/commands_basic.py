"""V.250 basics, identification, SIM, signal and registration commands (3GPP 27.007)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from .atcommand import AtError, CmeError, Command, ParamError, handles

if TYPE_CHECKING:
    from .device import Device

Answer = list[str] | None


def swap_nibbles(digits: str) -> str:
    """BCD as the SIM stores it: ``8949...`` -> ``9894...`` (padded with F)."""
    if len(digits) % 2:
        digits += "F"
    return "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2))


def announce_registration(dev: Device, before: int) -> None:
    """Emit +CREG/+CGREG/+CEREG: <stat> when registration changed and reporting is on."""
    after = dev.creg_stat
    if after == before:
        return
    names = ("+CREG", "+CGREG", "+CEREG") if dev.profile.has_cereg else ("+CREG", "+CGREG")
    for name in names:
        n = getattr(dev.settings, name[1:].lower())
        if n == 2 and after in (1, 5):
            dev.emit_urc(f'{name}: {after},"1A2B","01C3"')
        elif n:
            dev.emit_urc(f"{name}: {after}")
    if dev.network is not None and dev.registered:
        dev.network.flush()


def sim_became_ready(dev: Device, before: int) -> None:
    """After a correct PIN/PUK: the vendor's ready URCs, registration, waiting SMS."""
    if dev.profile.sim_ready_urcs:
        dev.emit_urc(*dev.profile.sim_ready_urcs)
    announce_registration(dev, before)


# ------------------------------------------------------------------- V.250 basics


@handles("ATE")
async def echo(dev: Device, cmd: Command) -> Answer:
    if cmd.args not in ("", "0", "1"):
        raise AtError
    dev.settings.echo = cmd.args == "1"
    return None


@handles("ATV")
async def verbose(dev: Device, cmd: Command) -> Answer:
    if cmd.args not in ("", "0", "1"):
        raise AtError
    dev.settings.verbose = cmd.args == "1"
    return None


@handles("ATQ", "ATX", "ATL", "ATM", "AT&C", "AT&D", "AT&W")
async def accepted(dev: Device, cmd: Command) -> Answer:
    if cmd.name == "Q" and cmd.args not in ("", "0"):
        raise AtError  # quiet mode would hide every result code
    return None


@handles("ATZ", "AT&F")
async def reset_profile(dev: Device, cmd: Command) -> Answer:
    dev.reset_settings()
    return None


@handles("ATS")
async def s_register(dev: Device, cmd: Command) -> Answer:
    register, _, value = cmd.args.partition(",")
    number = int(register)
    if value:
        dev.settings.sregs[number] = int(value)
        return None
    return [f"{dev.settings.sregs.get(number, 0):03d}"]


@handles("ATI")
async def identify(dev: Device, cmd: Command) -> Answer:
    return [line.format(imei=dev.imei) for line in dev.profile.ati]


# ------------------------------------------------------------------- identification


@handles("AT+CGMI", "AT+GMI")
async def manufacturer(dev: Device, cmd: Command) -> Answer:
    return [dev.profile.manufacturer]


@handles("AT+CGMM", "AT+GMM")
async def model(dev: Device, cmd: Command) -> Answer:
    return [dev.profile.model]


@handles("AT+CGMR", "AT+GMR")
async def revision(dev: Device, cmd: Command) -> Answer:
    return [dev.profile.revision]


@handles("AT+CGSN", "AT+GSN")
async def imei(dev: Device, cmd: Command) -> Answer:
    return [dev.imei]


@handles("AT+GCAP")
async def capabilities(dev: Device, cmd: Command) -> Answer:
    return ["+GCAP: +CGSM,+FCLASS,+DS"]


@handles("AT+CIMI")
async def imsi(dev: Device, cmd: Command) -> Answer:
    dev.require_sim()
    return [dev.imsi]


@handles("AT+CCID")
async def iccid(dev: Device, cmd: Command) -> Answer:
    if dev.sim_state == "NOT INSERTED":
        raise CmeError(10)
    return [f"{dev.profile.ccid_prefix}{dev.iccid}"]


@handles("AT+CRSM=")
async def restricted_sim_access(dev: Device, cmd: Command) -> Answer:
    if dev.sim_state == "NOT INSERTED":
        raise CmeError(10)
    # Only READ BINARY (176) of EF_ICCID (12258 = 0x2FE2) is on this SIM.
    if cmd.int_param(0) == 176 and cmd.int_param(1, 0) == 12258:
        return [f'+CRSM: 144,0,"{swap_nibbles(dev.iccid)}"']
    return ["+CRSM: 106,130"]  # file not found


@handles("AT+CNUM")
async def own_number(dev: Device, cmd: Command) -> Answer:
    dev.require_sim()
    if not dev.own_number:
        return None  # many prepaid SIMs do not store their MSISDN
    toa = 145 if dev.own_number.startswith("+") else 129
    return [f'+CNUM: "","{dev.own_number}",{toa}']


@handles("AT+CCLK?")
async def clock(dev: Device, cmd: Command) -> Answer:
    now = dt.datetime.now(dt.UTC)
    return [f'+CCLK: "{now:%y/%m/%d,%H:%M:%S}+00"']


@handles("AT+IPR?")
async def baud_read(dev: Device, cmd: Command) -> Answer:
    return ["+IPR: 115200"]


@handles("AT+IPR=", "AT+IFC=", "AT+ICF=")
async def port_settings(dev: Device, cmd: Command) -> Answer:
    return None


# ------------------------------------------------------------------- errors, power


@handles("AT+CMEE=")
async def cmee_set(dev: Device, cmd: Command) -> Answer:
    dev.settings.cmee = cmd.int_param(0, 0, range(3))
    return None


@handles("AT+CMEE?")
async def cmee_read(dev: Device, cmd: Command) -> Answer:
    return [f"+CMEE: {dev.settings.cmee}"]


@handles("AT+CMEE=?")
async def cmee_test(dev: Device, cmd: Command) -> Answer:
    return ["+CMEE: (0-2)"]


@handles("AT+CFUN=")
async def cfun_set(dev: Device, cmd: Command) -> Answer:
    fun = cmd.int_param(0, None, (0, 1, 4))
    reset = cmd.int_param(1, 0, (0, 1))
    if reset:
        dev.on_reboot_request()
        return None
    before = dev.creg_stat
    dev.settings.cfun = fun
    announce_registration(dev, before)
    return None


@handles("AT+CFUN?")
async def cfun_read(dev: Device, cmd: Command) -> Answer:
    return [f"+CFUN: {dev.settings.cfun}"]


@handles("AT+CFUN=?")
async def cfun_test(dev: Device, cmd: Command) -> Answer:
    return ["+CFUN: (0,1,4),(0,1)"]


# ------------------------------------------------------------------- SIM


@handles("AT+CPIN?")
async def cpin_read(dev: Device, cmd: Command) -> Answer:
    if dev.sim_state == "NOT INSERTED":
        raise CmeError(10)
    if dev.sim_state == "BLOCKED":
        raise CmeError(13)
    return [f"+CPIN: {dev.sim_state}"]


@handles("AT+CPIN=")
async def cpin_set(dev: Device, cmd: Command) -> Answer:
    state = dev.sim_state
    if state == "NOT INSERTED":
        raise CmeError(10)
    if state == "BLOCKED":
        raise CmeError(13)
    if state == "READY":
        raise CmeError(3)  # nothing to unlock
    code = cmd.param(0)
    if not code:
        raise ParamError
    before = dev.creg_stat
    if state == "SIM PIN":
        if code != dev.pin:
            dev.pin_attempts -= 1
            if dev.pin_attempts <= 0:
                dev.sim_state = "SIM PUK"
            raise CmeError(16)
        dev.pin_attempts = 3
    else:  # SIM PUK: AT+CPIN="<puk>","<new pin>"
        new_pin = cmd.param(1)
        if not new_pin:
            raise CmeError(12)  # a PIN alone does not unlock a SIM that wants its PUK
        if code != dev.puk:
            dev.puk_attempts -= 1
            if dev.puk_attempts <= 0:
                dev.sim_state = "BLOCKED"
            raise CmeError(16)
        dev.pin, dev.pin_attempts, dev.puk_attempts = new_pin, 3, 10
    dev.sim_state = "READY"
    sim_became_ready(dev, before)
    return None


# ------------------------------------------------------------------- radio


@handles("AT+CSQ")
async def signal(dev: Device, cmd: Command) -> Answer:
    if dev.settings.cfun != 1:
        return ["+CSQ: 99,99"]
    return [f"+CSQ: {dev.signal_csq},{dev.profile.csq_ber}"]


@handles("AT+CSQ=?")
async def signal_test(dev: Device, cmd: Command) -> Answer:
    return ["+CSQ: (0-31,99),(0-7,99)"]


@handles("AT+CREG=", "AT+CGREG=")
@handles("AT+CEREG=", profiles={"quectel"})
async def registration_set(dev: Device, cmd: Command) -> Answer:
    setattr(dev.settings, cmd.name[1:].lower(), cmd.int_param(0, 0, range(3)))
    return None


@handles("AT+CREG?", "AT+CGREG?")
@handles("AT+CEREG?", profiles={"quectel"})
async def registration_read(dev: Device, cmd: Command) -> Answer:
    n = getattr(dev.settings, cmd.name[1:].lower())
    stat = dev.creg_stat
    if n == 2 and stat in (1, 5):
        return [f'{cmd.name}: 2,{stat},"1A2B","01C3"']
    return [f"{cmd.name}: {n},{stat}"]


@handles("AT+CREG=?", "AT+CGREG=?")
@handles("AT+CEREG=?", profiles={"quectel"})
async def registration_test(dev: Device, cmd: Command) -> Answer:
    return [f"{cmd.name}: (0-2)"]


@handles("AT+COPS?")
async def operator_read(dev: Device, cmd: Command) -> Answer:
    if not dev.registered:
        return ["+COPS: 0"]
    fmt = dev.settings.cops_format
    name = {0: dev.operator, 1: dev.operator[:8], 2: dev.operator_numeric}[fmt]
    act = f",{dev.profile.cops_act}" if dev.profile.cops_act is not None else ""
    return [f'+COPS: 0,{fmt},"{name}"{act}']


@handles("AT+COPS=")
async def operator_set(dev: Device, cmd: Command) -> Answer:
    mode = cmd.int_param(0, 0, range(5))
    if cmd.param(1) is not None:
        dev.settings.cops_format = cmd.int_param(1, 0, range(3))
    if mode in (1, 4) and cmd.param(2) not in (dev.operator, dev.operator_numeric):
        raise CmeError(30) if mode == 1 else CmeError(0)
    return None


@handles("AT+COPS=?")
async def operator_test(dev: Device, cmd: Command) -> Answer:
    short = dev.operator[:8]
    return [f'+COPS: (2,"{dev.operator}","{short}","{dev.operator_numeric}"),,(0-4),(0-2)']
