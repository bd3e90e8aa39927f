"""What the simulated network saw: sent parts, whole sent messages, calls, injected SMS."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "InjectedSms", "SentMessage", "SentSms", "join_parts"]


@dataclass(frozen=True)
class SentSms:
    """One SMS-SUBMIT part the modem accepted (answered ``+CMGS: <mr>``)."""

    to: str
    text: str
    mr: int  # the TP-MR the modem answered with "+CMGS: <mr>"
    part: int  # 1-based sequence number; 1 for a single-part message
    parts: int  # total parts; 1 for a single-part message
    concat_reference: int | None  # the UDH concatenation reference, None when single
    status_report: bool  # the PDU asked for a status report (TP-SRR)
    encoding: str  # "gsm7" | "ucs2" | "8bit" (text mode: "text")
    pdu: str  # the PDU hex as written by the client ("" in text mode)
    at: dt.datetime

    @property
    def reference(self) -> int:
        """The TP-MR (same as ``mr``): what status reports refer to."""
        return self.mr

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "to": self.to,
            "text": self.text,
            "mr": self.mr,
            "part": self.part,
            "parts": self.parts,
            "concat_reference": self.concat_reference,
            "status_report": self.status_report,
            "encoding": self.encoding,
            "pdu": self.pdu,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class SentMessage:
    """Parts of one sent message joined back together."""

    to: str
    text: str
    parts: int
    mrs: tuple[int, ...]
    complete: bool  # every part 1..parts was sent
    at: dt.datetime  # time of the last part

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "to": self.to,
            "text": self.text,
            "parts": self.parts,
            "mrs": list(self.mrs),
            "complete": self.complete,
            "at": self.at.isoformat(),
        }


@dataclass
class Call:
    """One voice call dialled with ATD."""

    number: str
    started: dt.datetime
    ended: dt.datetime | None = None
    ended_by: str | None = None  # "local" (ATH / AT+CHUP) | "remote" | "busy" | ...

    @property
    def duration(self) -> float | None:
        """Seconds between ATD and the hang-up; None while the call lasts."""
        if self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "number": self.number,
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat() if self.ended else None,
            "ended_by": self.ended_by,
            "duration": self.duration,
        }


@dataclass
class InjectedSms:
    """An SMS the simulated network delivers to the modem."""

    sender: str
    text: str
    pdus: list[str]  # full DELIVER PDUs (with SMSC), in sequence order
    concat_reference: int | None
    delivered: list[int] = field(default_factory=list)  # 1-based parts delivered so far
    dropped: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "from": self.sender,
            "text": self.text,
            "parts": len(self.pdus),
            "concat_reference": self.concat_reference,
            "delivered": list(self.delivered),
            "dropped": list(self.dropped),
        }


def join_parts(sent: list[SentSms]) -> list[SentMessage]:
    """Group sent parts by recipient and concatenation reference, in order of first part."""
    groups: list[list[SentSms]] = []
    open_groups: dict[tuple[str, int, int], list[SentSms]] = {}
    for sms in sent:
        if sms.concat_reference is None or sms.parts <= 1:
            groups.append([sms])
            continue
        key = (sms.to, sms.concat_reference, sms.parts)
        group = open_groups.get(key)
        # A reference reused after its message was complete starts a new message.
        if group is None or any(p.part == sms.part for p in group):
            group = []
            groups.append(group)
            open_groups[key] = group
        group.append(sms)
    return [_joined(group) for group in groups]


def _joined(group: list[SentSms]) -> SentMessage:
    parts = sorted(group, key=lambda p: p.part)
    total = max(p.parts for p in parts)
    return SentMessage(
        to=parts[0].to,
        text="".join(p.text for p in parts),
        parts=total,
        mrs=tuple(p.mr for p in group),
        complete={p.part for p in parts} == set(range(1, total + 1)),
        at=max(p.at for p in parts),
    )
