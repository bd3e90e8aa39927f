"""Vendor commands: SIMCom (+SPIC, +CBC), Quectel (+QCCID, +QPINC), Huawei (^CURC, ^ICCID...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .atcommand import CmeError, Command, handles
from .commands_basic import swap_nibbles

if TYPE_CHECKING:
    from .device import Device

Answer = list[str] | None

# ------------------------------------------------------------------- SIMCom SIM800


@handles("AT+SPIC", profiles={"sim800"})
async def sim800_pin_counters(dev: Device, cmd: Command) -> Answer:
    return [f"+SPIC: {dev.pin_attempts},{dev.puk_attempts},3,10"]


@handles("AT+CBC", profiles={"sim800"})
async def sim800_battery(dev: Device, cmd: Command) -> Answer:
    return ["+CBC: 0,85,4012"]


@handles("AT+CCALR?", profiles={"sim800"})
async def sim800_call_ready(dev: Device, cmd: Command) -> Answer:
    return [f"+CCALR: {int(dev.registered)}"]


# ------------------------------------------------------------------- Quectel


@handles("AT+QCCID", profiles={"quectel"})
async def quectel_iccid(dev: Device, cmd: Command) -> Answer:
    if dev.sim_state == "NOT INSERTED":
        raise CmeError(10)
    return [f"+QCCID: {dev.iccid}"]


@handles("AT+QPINC?", "AT+QPINC=", profiles={"quectel"})
async def quectel_pin_counters(dev: Device, cmd: Command) -> Answer:
    return [f'+QPINC: "SC",{dev.pin_attempts},{dev.puk_attempts}', '+QPINC: "P2",3,10']


@handles("AT+QINDCFG=", "AT+QURCCFG=", profiles={"quectel"})
async def quectel_urc_config(dev: Device, cmd: Command) -> Answer:
    return None


# ------------------------------------------------------------------- Huawei


@handles("AT^CURC=", profiles={"huawei"})
async def huawei_curc_set(dev: Device, cmd: Command) -> Answer:
    dev.settings.curc = cmd.int_param(0, 0, (0, 1))
    return None


@handles("AT^CURC?", profiles={"huawei"})
async def huawei_curc_read(dev: Device, cmd: Command) -> Answer:
    return [f"^CURC: {dev.settings.curc}"]


@handles("AT^USSDMODE=", profiles={"huawei"})
async def huawei_ussdmode_set(dev: Device, cmd: Command) -> Answer:
    dev.settings.ussdmode = cmd.int_param(0, 0, (0, 1))
    return None


@handles("AT^USSDMODE?", profiles={"huawei"})
async def huawei_ussdmode_read(dev: Device, cmd: Command) -> Answer:
    return [f"^USSDMODE: {dev.settings.ussdmode}"]


@handles("AT^USSDMODE=?", profiles={"huawei"})
async def huawei_ussdmode_test(dev: Device, cmd: Command) -> Answer:
    return ["^USSDMODE: (0-1)"]


@handles("AT^ICCID?", profiles={"huawei"})
async def huawei_iccid(dev: Device, cmd: Command) -> Answer:
    if dev.sim_state == "NOT INSERTED":
        raise CmeError(10)
    # Huawei prints the ICCID as stored on the SIM: nibbles swapped.
    return [f"^ICCID: {swap_nibbles(dev.iccid)}"]


@handles("AT^SYSINFO", profiles={"huawei"})
async def huawei_sysinfo(dev: Device, cmd: Command) -> Answer:
    sim = {"READY": 1, "NOT INSERTED": 255}.get(dev.sim_state, 240)
    if not dev.registered:
        return [f"^SYSINFO:0,0,0,0,{sim}"]
    roaming = int(dev.creg_stat == 5)
    return [f"^SYSINFO:2,3,{roaming},5,{sim},,4"]


@handles("AT^CPIN?", profiles={"huawei"})
async def huawei_pin_counters(dev: Device, cmd: Command) -> Answer:
    if dev.sim_state == "NOT INSERTED":
        raise CmeError(10)
    state = dev.sim_state
    times = {"SIM PIN": dev.pin_attempts, "SIM PUK": dev.puk_attempts}.get(state, "")
    return [f"^CPIN: {state},{times},{dev.puk_attempts},{dev.pin_attempts},10,3"]


@handles("AT^HWVER", profiles={"huawei"})
async def huawei_hardware(dev: Device, cmd: Command) -> Answer:
    return ['^HWVER:"CH2E3531SM"']
