"""The simulated network: SMS towards the modem, status reports for what it sent.

Like a real SMSC, the network keeps a message until the modem takes it: while the modem
is unplugged, switched off (AT+CFUN=0), waits for its PIN, or has a full storage, inbound
SMS and status reports queue here and go out, in order, once it can take them again.
How the modem then tells the client follows AT+CNMI:

=====  ===============================================================
mt=0   stored, no indication
mt=1   stored, ``+CMTI: "SM",<index>``
mt=2   not stored, ``+CMT: ,<length>`` then the PDU on the next line
ds=1   ``+CDS: <length>`` then the status-report PDU on the next line
ds=2   stored, ``+CDSI: "SM",<index>``
mode=0 indications are buffered until AT+CNMI sets mode 1 or 2 (bfr=0 flushes them)
=====  ===============================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gsmmodem import pdu as gsm_pdu

from .. import codec
from .records import InjectedSms, SentSms
from .storage import SmsStatus, tpdu_length
from .textmode import scts_text, to_charset

if TYPE_CHECKING:
    from .device import Device

__all__ = ["Network", "add_concat_header"]

_LOGGER = logging.getLogger(__name__)


@dataclass
class _Delivery:
    pdu: str
    address: str
    text: str
    scts: dt.datetime
    is_report: bool = False
    report_fields: tuple[int, int] = (0, 0)  # (mr, status) for text-mode +CDS
    on_delivered: Callable[[], None] | None = None


class Network:
    """Delivers to one Device; owns the timers of delayed parts and status reports."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.injected: list[InjectedSms] = []
        self.pending: deque[_Delivery] = deque()
        self._buffered: list[tuple[str, ...]] = []
        self._next_concat_ref = 0
        self._timers: set[asyncio.Task[Any]] = set()

    async def close(self) -> None:
        """Cancel every timer."""
        timers = list(self._timers)
        for task in timers:
            task.cancel()
        for task in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def timers(self) -> set[asyncio.Task[Any]]:
        """Delayed parts and status reports still to come."""
        return set(self._timers)

    # ----------------------------------------------------------------- inbound SMS

    def inject(
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
        """Encode ``text`` as SMS-DELIVER part(s) and deliver them (see ModemSimulator)."""
        scts = when or dt.datetime.now(dt.UTC).replace(microsecond=0)
        if scts.utcoffset() is None:
            scts = scts.replace(tzinfo=dt.UTC)
        reference = self._next_concat_ref
        self._next_concat_ref = (self._next_concat_ref + 1) % 256
        if split_parts is not None:
            segments = (
                _cut(text, split_parts) if isinstance(split_parts, int) else list(split_parts)
            )
            if "".join(segments) != text or not all(segments):
                raise ValueError("split_parts must be non-empty segments that join to the text")
            # One alphabet for every part, as a real sender does.
            alphabet = codec.split_text(text, encoding).encoding
            pdus = [
                codec.encode_deliver(sender, segment, scts=scts, encoding=alphabet)[0]
                for segment in segments
            ]
            if len(pdus) > 1:
                pdus = [
                    add_concat_header(p, reference, len(pdus), seq)
                    for seq, p in enumerate(pdus, start=1)
                ]
        else:
            pdus = codec.encode_deliver(
                sender, text, scts=scts, encoding=encoding, concat_reference=reference
            )
        record = InjectedSms(
            sender, text, pdus, reference if len(pdus) > 1 else None, [], sorted(drop_parts)
        )
        self.injected.append(record)
        sequence = list(order) if order is not None else list(range(1, len(pdus) + 1))
        if sorted(set(sequence) | set(drop_parts)) != list(range(1, len(pdus) + 1)):
            raise ValueError(f"order/drop_parts must cover parts 1..{len(pdus)}")
        delays = dict(delay_parts or {})
        for seq in sequence:
            if seq in drop_parts:
                continue
            part_text = _part_text(pdus[seq - 1])
            delivery = _Delivery(
                pdus[seq - 1],
                codec.normalize_address(sender),
                part_text,
                scts,
                on_delivered=lambda seq=seq: record.delivered.append(seq),  # type: ignore[misc]
            )
            if delays.get(seq):
                self._later(delays[seq], lambda d=delivery: self.deliver(d))  # type: ignore[misc]
            else:
                self.deliver(delivery)
        return record

    # ----------------------------------------------------------------- status reports

    def submitted(self, sms: SentSms) -> None:
        """A part went out: schedule its status report if it asked for one."""
        faults = self.device.faults
        if not sms.status_report or faults.drop_reports:
            return
        status = faults.report_status
        self._later(faults.report_delay, lambda: self._report(sms, status))

    def _report(self, sms: SentSms, status: int) -> None:
        discharge = dt.datetime.now(dt.UTC).replace(microsecond=0)
        pdu = codec.encode_status_report(
            sms.mr, sms.to, status=status, scts=sms.at.replace(microsecond=0), discharge=discharge
        )
        self.deliver(
            _Delivery(pdu, sms.to, "", discharge, is_report=True, report_fields=(sms.mr, status))
        )

    # ----------------------------------------------------------------- delivery

    def deliver(self, delivery: _Delivery) -> None:
        """Hand over now if the modem can take it, else keep it (in order)."""
        self.pending.append(delivery)
        self.flush()

    def flush(self) -> None:
        """Deliver what waits, in order, as far as the modem can take it."""
        while self.pending and self._reachable():
            delivery = self.pending[0]
            if not self._hand_over(delivery):
                break
            self.pending.popleft()
            if delivery.on_delivered is not None:
                delivery.on_delivered()

    def cnmi_changed(self) -> None:
        """AT+CNMI was set: flush or drop the indications buffered under mode 0."""
        settings = self.device.settings
        if settings.cnmi[0] == 0:
            return
        buffered, self._buffered = self._buffered, []
        if settings.cnmi[4] == 0:
            for lines in buffered:
                self.device.emit_urc(*lines)

    def _reachable(self) -> bool:
        device = self.device
        return device.attached and device.registered

    def _hand_over(self, delivery: _Delivery) -> bool:
        device = self.device
        settings = device.settings
        mem3 = settings.cpms[2]
        text_mode = settings.cmgf == 1
        if delivery.is_report:
            ds = settings.cnmi[3]
            if ds == 0:
                return True  # not routed to the TE: the report is lost
            if ds == 1:
                if text_mode:
                    mr, status = delivery.report_fields
                    stamp = scts_text(delivery.scts)
                    header = f'+CDS: 6,{mr},"{delivery.address}",145,"{stamp}","{stamp}",{status}'
                    self._indicate((header,))
                else:
                    self._indicate((f"+CDS: {tpdu_length(delivery.pdu)}", delivery.pdu))
                return True
            stored = device.storage.store(
                delivery.pdu,
                address=delivery.address,
                scts=scts_text(delivery.scts),
                is_report=True,
            )
            if stored is None:
                return False
            self._indicate((f'+CDSI: "{mem3}",{stored.index}',))
            return True
        mt = settings.cnmi[1]
        if mt == 2:
            if text_mode:
                body = to_charset(delivery.text, settings.cscs)
                self._indicate(
                    (f'+CMT: "{delivery.address}","","{scts_text(delivery.scts)}"', body)
                )
            else:
                self._indicate((f"+CMT: ,{tpdu_length(delivery.pdu)}", delivery.pdu))
            return True
        stored = device.storage.store(
            delivery.pdu,
            SmsStatus.REC_UNREAD,
            address=delivery.address,
            text=delivery.text,
            scts=scts_text(delivery.scts),
        )
        if stored is None:
            _LOGGER.debug("modem simulator storage full; the network keeps the SMS")
            return False
        if mt in (1, 3):
            self._indicate((f'+CMTI: "{mem3}",{stored.index}',))
        return True

    def _indicate(self, lines: tuple[str, ...]) -> None:
        if self.device.settings.cnmi[0] == 0:
            self._buffered.append(lines)
        else:
            self.device.emit_urc(*lines)

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            action()

        task = asyncio.get_running_loop().create_task(run())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)


def _cut(text: str, parts: int) -> list[str]:
    if not 1 <= parts <= min(len(text), 255):
        raise ValueError(f"cannot cut {len(text)} characters into {parts} parts")
    size, extra = divmod(len(text), parts)
    cuts, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        cuts.append(text[start:end])
        start = end
    return cuts


def _part_text(pdu: str) -> str:
    decoded = codec.decode_pdu(pdu)
    return decoded.text if isinstance(decoded, codec.Deliver) else ""


def add_concat_header(pdu: str, reference: int, total: int, seq: int) -> str:
    """Give a single-part SMS-DELIVER PDU an 8-bit concatenation header (part seq/total)."""
    data = bytearray.fromhex(pdu)
    pos = data[0] + 1  # after the SMSC field
    data[pos] |= 0x40  # TP-UDHI
    address_digits = data[pos + 1]
    dcs_pos = pos + 2 + 1 + (address_digits + 1) // 2 + 1
    dcs = data[dcs_pos]
    udl_pos = dcs_pos + 1 + 7
    udl = data[udl_pos]
    body = bytes(data[udl_pos + 1 :])
    header = bytes([5, 0x00, 0x03, reference, total, seq])
    if dcs & 0x0C == 0x08:  # UCS-2: UDL counts octets
        if udl + len(header) > 140:
            raise ValueError(f"part {seq} is too long for one SMS with a header")
        user_data = bytes([udl + len(header)]) + header + body
    else:  # GSM-7: the header takes 7 septets (6 octets plus one fill bit)
        if udl + 7 > 160:
            raise ValueError(f"part {seq} is too long for one SMS with a header")
        septets = bytes(gsm_pdu.unpackSeptets(bytearray(body), udl))
        packed = bytes(gsm_pdu.packSeptets(bytearray(bytes(7) + septets)))
        user_data = bytes([udl + 7]) + header + packed[len(header) :]
    return (bytes(data[:udl_pos]) + user_data).hex().upper()
