"""SMS commands of 3GPP 27.005, in PDU mode (AT+CMGF=0) and text mode (AT+CMGF=1)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import TYPE_CHECKING

from .. import codec
from .atcommand import CmsError, Command, ParamError, handles
from .records import SentSms
from .storage import SmsStatus, StoredSms, tpdu_length
from .textmode import from_charset, to_charset

if TYPE_CHECKING:
    from .device import Device

Answer = list[str] | None
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_TEXT_STATUS = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")


def _quoted(text: str) -> list[str]:
    return re.findall(r'"([^"]*)"', text)


# ------------------------------------------------------------------- settings


@handles("AT+CMGF=")
async def cmgf_set(dev: Device, cmd: Command) -> Answer:
    dev.settings.cmgf = cmd.int_param(0, 0, (0, 1))
    return None


@handles("AT+CMGF?")
async def cmgf_read(dev: Device, cmd: Command) -> Answer:
    return [f"+CMGF: {dev.settings.cmgf}"]


@handles("AT+CMGF=?")
async def cmgf_test(dev: Device, cmd: Command) -> Answer:
    return ["+CMGF: (0,1)"]


@handles("AT+CSCS=")
async def cscs_set(dev: Device, cmd: Command) -> Answer:
    charset = (cmd.param(0) or "").upper()
    if charset not in _quoted(dev.profile.cscs_test):
        raise ParamError
    dev.settings.cscs = charset
    return None


@handles("AT+CSCS?")
async def cscs_read(dev: Device, cmd: Command) -> Answer:
    return [f'+CSCS: "{dev.settings.cscs}"']


@handles("AT+CSCS=?")
async def cscs_test(dev: Device, cmd: Command) -> Answer:
    return [dev.profile.cscs_test]


@handles("AT+CSCA=")
async def csca_set(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    number = cmd.param(0)
    if not number:
        raise ParamError
    dev.settings.csca = number
    return None


@handles("AT+CSCA?")
async def csca_read(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    toa = 145 if dev.settings.csca.startswith("+") else 129
    return [f'+CSCA: "{dev.settings.csca}",{toa}']


@handles("AT+CSMP=")
async def csmp_set(dev: Device, cmd: Command) -> Answer:
    current = dev.settings.csmp
    dev.settings.csmp = [cmd.int_param(i, current[i], range(256)) for i in range(4)]
    return None


@handles("AT+CSMP?")
async def csmp_read(dev: Device, cmd: Command) -> Answer:
    return ["+CSMP: " + ",".join(map(str, dev.settings.csmp))]


@handles("AT+CSDH=")
async def csdh_set(dev: Device, cmd: Command) -> Answer:
    dev.settings.csdh = cmd.int_param(0, 0, (0, 1))
    return None


@handles("AT+CSMS=")
async def csms_set(dev: Device, cmd: Command) -> Answer:
    dev.settings.csms = cmd.int_param(0, None, (0, 1))
    return ["+CSMS: 1,1,1"]


@handles("AT+CSMS?")
async def csms_read(dev: Device, cmd: Command) -> Answer:
    return [f"+CSMS: {dev.settings.csms},1,1,1"]


@handles("AT+CSMS=?")
async def csms_test(dev: Device, cmd: Command) -> Answer:
    return ["+CSMS: (0,1)"]


@handles("AT+CNMA", "AT+CSCB=")
async def sms_accepted(dev: Device, cmd: Command) -> Answer:
    return None


@handles("AT+CPMS=")
async def cpms_set(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    groups = re_groups(dev.profile.cpms_test)
    mems = list(dev.settings.cpms)
    params = cmd.params
    if not params or len(params) > 3:
        raise ParamError
    for i, mem in enumerate(params):
        if mem is None:
            continue
        if mem.upper() not in groups[i]:
            raise CmsError(302)
        mems[i] = mem.upper()
    dev.settings.cpms = mems
    used, cap = len(dev.storage), dev.storage.capacity
    return [f"+CPMS: {used},{cap},{used},{cap},{used},{cap}"]


def re_groups(test: str) -> list[list[str]]:
    """``("SM","ME"),("SM")`` -> ``[["SM","ME"],["SM"]]``."""
    return [_quoted(group) for group in re.findall(r"\(([^)]*)\)", test)]


@handles("AT+CPMS?")
async def cpms_read(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    used, cap = len(dev.storage), dev.storage.capacity
    return ["+CPMS: " + ",".join(f'"{mem}",{used},{cap}' for mem in dev.settings.cpms)]


@handles("AT+CPMS=?")
async def cpms_test(dev: Device, cmd: Command) -> Answer:
    return [dev.profile.cpms_test]


@handles("AT+CNMI=")
async def cnmi_set(dev: Device, cmd: Command) -> Answer:
    values = list(dev.settings.cnmi)
    params = cmd.params
    if len(params) > 5:
        raise ParamError
    for i, raw in enumerate(params):
        if raw is None:
            continue
        if not raw.isdigit() or int(raw) not in dev.profile.cnmi_ranges[i]:
            raise CmsError(303)
        values[i] = int(raw)
    dev.settings.cnmi = values
    if dev.network is not None:
        dev.network.cnmi_changed()
    return None


@handles("AT+CNMI?")
async def cnmi_read(dev: Device, cmd: Command) -> Answer:
    return ["+CNMI: " + ",".join(map(str, dev.settings.cnmi))]


@handles("AT+CNMI=?")
async def cnmi_test(dev: Device, cmd: Command) -> Answer:
    return [dev.profile.cnmi_test]


# ------------------------------------------------------------------- sending


@handles("AT+CMGS=")
async def cmgs(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    if dev.settings.cmgf == 0:
        length = cmd.int_param(0)
        if not 7 <= length <= 180:
            raise CmsError(304)
        data = await dev.read_prompt()
        if data is None:
            return None  # ESC: nothing is sent
        pdu = "".join(data.split())
        if not _HEX.fullmatch(pdu) or tpdu_length(pdu) != length:
            raise CmsError(304)
        try:
            submit = codec.decode_submit(pdu)
        except codec.CodecError:
            raise CmsError(304) from None
        concat = submit.concat
        return await _transmit(
            dev,
            to=submit.to,
            text=submit.text,
            status_report=submit.status_report_requested,
            encoding=submit.encoding,
            part=concat.seq if concat else 1,
            parts=concat.total if concat else 1,
            concat_reference=concat.reference if concat else None,
            pdu=pdu.upper(),
        )
    number = cmd.param(0)
    if not number:
        raise ParamError
    data = await dev.read_prompt(text_mode=True)
    if data is None:
        return None
    try:
        to = from_charset(number, dev.settings.cscs)
        text = from_charset(data, dev.settings.cscs)
    except ValueError:
        raise CmsError(305) from None
    return await _transmit(
        dev,
        to=to,
        text=text,
        status_report=bool(dev.settings.csmp[0] & 0x20),
        encoding="text",
        part=1,
        parts=1,
        concat_reference=None,
        pdu="",
    )


async def _transmit(
    dev: Device,
    *,
    to: str,
    text: str,
    status_report: bool,
    encoding: str,
    part: int,
    parts: int,
    concat_reference: int | None,
    pdu: str,
) -> Answer:
    faults = dev.faults
    if faults.cms_error > 0:
        faults.cms_error -= 1
        await asyncio.sleep(faults.send_delay)
        raise CmsError(faults.cms_error_code)
    if not dev.registered:
        raise CmsError(331)
    # On air from here: the part is recorded even if the port vanishes before "+CMGS:".
    sms = SentSms(
        to=to,
        text=text,
        mr=dev.next_mr(),
        part=part,
        parts=parts,
        concat_reference=concat_reference,
        status_report=status_report,
        encoding=encoding,
        pdu=pdu,
        at=dt.datetime.now(dt.UTC),
    )
    dev.sent.append(sms)
    if dev.network is not None:
        dev.network.submitted(sms)
    if faults.send_delay:
        await asyncio.sleep(faults.send_delay)
    return [f"+CMGS: {sms.mr}"]


# ------------------------------------------------------------------- storage


def _listing(dev: Device, prefix: str, sms: StoredSms, with_index: bool) -> list[str]:
    head = f"{prefix}: {sms.index}," if with_index else f"{prefix}: "
    if dev.settings.cmgf == 0:
        return [f"{head}{int(sms.status)},,{sms.tpdu_length}", sms.pdu]
    label = f'"{sms.status.label}"'
    if sms.is_report:
        report = codec.decode_pdu(sms.pdu)
        if isinstance(report, codec.StatusReport):
            return [
                f'{head}{label},6,{report.reference},"{sms.address}",145,"{sms.scts}",'
                f'"{sms.scts}",{report.status}'
            ]
    body = to_charset(sms.text, dev.settings.cscs)
    return [f'{head}{label},"{sms.address}","","{sms.scts}"', body]


@handles("AT+CMGR=")
async def cmgr(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    index = cmd.int_param(0)
    keep_unread = cmd.int_param(1, 0, (0, 1)) == 1
    if not dev.storage.valid_index(index):
        raise CmsError(321)
    sms = dev.storage.get(index)
    if sms is None:
        if dev.profile.cmgr_empty_ok:
            return None
        raise CmsError(321)
    lines = _listing(dev, "+CMGR", sms, with_index=False)
    if sms.status is SmsStatus.REC_UNREAD and not keep_unread:
        sms.status = SmsStatus.REC_READ
    return lines


@handles("AT+CMGL", "AT+CMGL=")
async def cmgl(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    raw = cmd.param(0)
    keep_unread = cmd.int_param(1, 0, (0, 1)) == 1
    if dev.settings.cmgf == 0:
        if raw is None:
            wanted = 0
        elif raw.isdigit() and int(raw) in range(5):
            wanted = int(raw)
        else:
            raise CmsError(304)
    else:
        label = (raw or "REC UNREAD").upper()
        if label not in _TEXT_STATUS:
            raise CmsError(305)
        wanted = _TEXT_STATUS.index(label)
    lines: list[str] = []
    for sms in dev.storage:
        if wanted == 4 or sms.status == wanted:
            lines += _listing(dev, "+CMGL", sms, with_index=True)
            if sms.status is SmsStatus.REC_UNREAD and not keep_unread:
                sms.status = SmsStatus.REC_READ
    return lines


@handles("AT+CMGL=?")
async def cmgl_test(dev: Device, cmd: Command) -> Answer:
    if dev.settings.cmgf == 0:
        return ["+CMGL: (0-4)"]
    return ["+CMGL: (" + ",".join(f'"{s}"' for s in _TEXT_STATUS) + ")"]


@handles("AT+CMGD=")
async def cmgd(dev: Device, cmd: Command) -> Answer:
    dev.require_sim(sms=True)
    flag = cmd.int_param(1, 0, range(5))
    if flag:
        dev.storage.delete_flagged(flag)
    else:
        index = cmd.int_param(0)
        if not dev.storage.valid_index(index):
            raise CmsError(321)
        dev.storage.delete(index)
    if dev.network is not None:
        dev.network.flush()  # the network retries what a full storage refused
    return None


@handles("AT+CMGD=?")
async def cmgd_test(dev: Device, cmd: Command) -> Answer:
    used = ",".join(str(sms.index) for sms in dev.storage)
    return [f"+CMGD: ({used}),(0-4)"]
