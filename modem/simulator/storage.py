"""The SIM's SMS storage: numbered slots holding PDUs with a 27.005 status."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["SmsStatus", "SmsStorage", "StoredSms"]


class SmsStatus(enum.IntEnum):
    """<stat> of AT+CMGL / AT+CMGR in PDU mode; the text-mode names are in ``label``."""

    REC_UNREAD = 0
    REC_READ = 1
    STO_UNSENT = 2
    STO_SENT = 3

    @property
    def label(self) -> str:
        """Text-mode name, e.g. ``REC UNREAD``."""
        return self.name.replace("_", " ")

    @classmethod
    def from_label(cls, label: str) -> SmsStatus:
        """Parse ``REC UNREAD``; ValueError otherwise."""
        return cls[label.strip().upper().replace(" ", "_")]


@dataclass
class StoredSms:
    """One occupied slot."""

    index: int
    status: SmsStatus
    pdu: str  # full PDU hex, SMSC included
    # For text mode: originator (or recipient of a status report), text, timestamp string.
    address: str = ""
    text: str = ""
    scts: str = ""
    is_report: bool = False

    @property
    def tpdu_length(self) -> int:
        """Octets after the SMSC field: the <length> of +CMGR/+CMGL/+CMT/+CDS."""
        return tpdu_length(self.pdu)


def tpdu_length(pdu: str) -> int:
    """TPDU octet count of a full PDU hex string (SMSC length octet first)."""
    smsc_len = int(pdu[:2], 16)
    return len(pdu) // 2 - smsc_len - 1


class SmsStorage:
    """Fixed-capacity slots numbered from ``first_index`` (1 on SIM800, 0 on Huawei/Quectel)."""

    def __init__(self, capacity: int = 30, first_index: int = 1) -> None:
        self.capacity = capacity
        self.first_index = first_index
        self._slots: dict[int, StoredSms] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def __iter__(self) -> Iterator[StoredSms]:
        return iter(sorted(self._slots.values(), key=lambda s: s.index))

    @property
    def full(self) -> bool:
        """No free slot left."""
        return len(self._slots) >= self.capacity

    def valid_index(self, index: int) -> bool:
        """Inside the numbering of this storage."""
        return self.first_index <= index < self.first_index + self.capacity

    def store(
        self,
        pdu: str,
        status: SmsStatus = SmsStatus.REC_UNREAD,
        *,
        address: str = "",
        text: str = "",
        scts: str = "",
        is_report: bool = False,
    ) -> StoredSms | None:
        """Put a PDU in the lowest free slot; None when the storage is full."""
        for index in range(self.first_index, self.first_index + self.capacity):
            if index not in self._slots:
                sms = StoredSms(index, status, pdu, address, text, scts, is_report)
                self._slots[index] = sms
                return sms
        return None

    def get(self, index: int) -> StoredSms | None:
        """The SMS in slot ``index``, or None when empty."""
        return self._slots.get(index)

    def delete(self, index: int) -> bool:
        """Empty one slot; True when it held a message."""
        return self._slots.pop(index, None) is not None

    def delete_flagged(self, flag: int) -> int:
        """AT+CMGD <delflag>: 1 read, 2 read+sent, 3 read+sent+unsent, 4 all. Returns count."""
        statuses = {
            1: {SmsStatus.REC_READ},
            2: {SmsStatus.REC_READ, SmsStatus.STO_SENT},
            3: {SmsStatus.REC_READ, SmsStatus.STO_SENT, SmsStatus.STO_UNSENT},
            4: set(SmsStatus),
        }[flag]
        doomed = [i for i, sms in self._slots.items() if sms.status in statuses]
        for index in doomed:
            del self._slots[index]
        return len(doomed)

    def clear(self) -> None:
        """Empty every slot."""
        self._slots.clear()
