"""The receive path: stored and direct SMS and status reports, handed over, then deleted.

The callbacks are awaited before anything is deleted or acknowledged, so a message is
the caller's responsibility only once the caller has returned (durability is theirs).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .codec import CodecError, Deliver, StatusReport, decode_pdu
from .commands import mask_number, parse_index
from .engine import ATEngine, Priority
from .errors import CmsError, CommandError
from .startup import SmsSetup
from .urc import Urc, is_hex_pdu

_LOGGER = logging.getLogger(__name__)

InboundCallback = Callable[[Deliver], Awaitable[None]]
ReportCallback = Callable[[StatusReport], Awaitable[None]]


@dataclass(frozen=True)
class InboxJob:
    """One thing to fetch: a stored message (``mem``/``index``), a direct URC, or a sweep."""

    kind: str  # "stored" | "direct" | "sweep"
    mem: str = ""
    index: int = -1
    urc: Urc | None = None


class Inbox:
    """Reads what the modem received and hands it to the callbacks."""

    def __init__(
        self,
        name: str,
        on_inbound: InboundCallback | None,
        on_status_report: ReportCallback | None,
    ) -> None:
        self.name = name
        self.on_inbound = on_inbound
        self.on_status_report = on_status_report

    async def run(self, engine: ATEngine, setup: SmsSetup, job: InboxJob) -> None:
        """Carry out one job on the current connection."""
        if job.kind == "sweep":
            await self.sweep(engine)
        elif job.kind == "stored":
            await self.read_stored(engine, setup, job.mem, job.index)
        elif job.kind == "direct" and job.urc is not None:
            await self.take_direct(engine, setup, job.urc)

    async def sweep(self, engine: ATEngine) -> int:
        """AT+CMGL=4: everything stored (arrived while we were away); returns the count."""
        response = await engine.command("AT+CMGL=4", priority=Priority.INBOUND)
        entries: list[tuple[int, str]] = []
        index: int | None = None
        for line in response.lines:
            if line.startswith("+CMGL:"):
                index = parse_index(line[6:])
            elif index is not None and is_hex_pdu(line):
                entries.append((index, line))
                index = None
        for index, pdu in entries:
            await self._take_stored(engine, index, pdu)
        if entries:
            _LOGGER.info("[%s] swept %d stored message(s)", self.name, len(entries))
        return len(entries)

    async def read_stored(self, engine: ATEngine, setup: SmsSetup, mem: str, index: int) -> None:
        """+CMTI / +CDSI: read one stored message, hand it over, delete it."""
        switched = bool(mem) and mem != setup.storage[0]
        if switched:
            # Status reports may live in their own memory ("SR") on some modems.
            await engine.command(f'AT+CPMS="{mem}"', priority=Priority.INBOUND)
        try:
            try:
                response = await engine.command(f"AT+CMGR={index}", priority=Priority.INBOUND)
            except CmsError as err:
                if err.code == 321:  # empty index: already swept
                    return
                raise
            pdu = next((line for line in response.lines if is_hex_pdu(line)), None)
            if pdu is not None:
                await self._take_stored(engine, index, pdu)
        finally:
            if switched:
                await engine.command(
                    f'AT+CPMS="{setup.storage[0]}"', priority=Priority.INBOUND
                )

    async def take_direct(self, engine: ATEngine, setup: SmsSetup, urc: Urc) -> None:
        """+CMT / +CDS: the PDU came with the URC; acknowledge it when the modem wants."""
        if urc.pdu is None:
            return
        decoded = self._decode(urc.pdu, where=urc.name)
        if decoded is not None:
            await self._hand_over(decoded)
        if setup.ack_needed:
            try:
                await engine.command("AT+CNMA", priority=Priority.INBOUND)
            except CommandError as err:
                _LOGGER.debug("[%s] AT+CNMA: %s", self.name, err.describe())

    async def _take_stored(self, engine: ATEngine, index: int, pdu: str) -> None:
        decoded = self._decode(pdu, where=f"index {index}")
        if decoded is None:
            return  # kept on the SIM for a human; never silently dropped
        if not await self._hand_over(decoded):
            return  # a sent copy (SMS-SUBMIT) stored by someone else: not ours
        await engine.command(f"AT+CMGD={index}", priority=Priority.INBOUND)

    async def _hand_over(self, decoded: Deliver | StatusReport | object) -> bool:
        if isinstance(decoded, Deliver):
            part = (
                f" part {decoded.concat.seq}/{decoded.concat.total}" if decoded.concat else ""
            )
            _LOGGER.info("[%s] SMS from %s%s", self.name, mask_number(decoded.sender), part)
            if self.on_inbound is not None:
                await self.on_inbound(decoded)
            return True
        if isinstance(decoded, StatusReport):
            _LOGGER.info(
                "[%s] status report for TP-MR %d: %s",
                self.name,
                decoded.reference,
                decoded.meaning,
            )
            if self.on_status_report is not None:
                await self.on_status_report(decoded)
            return True
        return False

    def _decode(self, pdu: str, *, where: str) -> Deliver | StatusReport | object | None:
        try:
            return decode_pdu(pdu)
        except (CodecError, ValueError, IndexError) as err:
            _LOGGER.warning("[%s] cannot decode the PDU at %s: %s", self.name, where, err)
            _LOGGER.debug("[%s] undecodable PDU %s", self.name, pdu)
            return None
