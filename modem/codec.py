"""SMS PDU and text codec: a checked wrapper over gsmmodem.pdu plus what it lacks.

gsmmodem.pdu supplies the GSM-7 tables, septet packing, semi-octets and timestamps. Parsing,
DELIVER/STATUS-REPORT encoding, UTF-16, data-coding groups and splitting are ours because its
versions crash or silently mis-encode (see tests/modem/test_codec.py, one test per defect).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from gsmmodem import pdu as _pdu

from modem import _gsm7

Encoding = Literal["gsm7", "ucs2"]
RequestedEncoding = Literal["auto", "gsm7", "ucs2"]

GSM7_SINGLE, GSM7_MULTI = 160, 153  # septets
UCS2_SINGLE, UCS2_MULTI = 70, 67  # UTF-16 code units
MAX_PARTS = 255  # the 8-bit concatenation IE counts parts in one octet
DEFAULT_SMSC = "+15550000000"


class CodecError(ValueError):
    """A text or PDU that cannot be encoded or decoded; the message says why."""


@dataclass(frozen=True)
class SplitText:
    """How a text goes out: its alphabet and the text of each part, in order."""

    encoding: Encoding
    segments: list[str]

    @property
    def parts(self) -> int:
        """Number of SMS parts."""
        return len(self.segments)


@dataclass(frozen=True)
class SubmitPdu:
    """One SMS-SUBMIT part; ``tpdu_length`` is the <n> of AT+CMGS=<n> (SMSC octets excluded)."""

    hex: str
    tpdu_length: int
    segment: str


@dataclass(frozen=True)
class Concat:
    """Concatenation information element: shared reference, part count, this part's number."""

    reference: int
    total: int
    seq: int


@dataclass(frozen=True)
class Deliver:
    """A received SMS-DELIVER (one part)."""

    sender: str
    text: str
    scts: datetime
    encoding: str  # "gsm7" | "ucs2" | "8bit"
    concat: Concat | None
    smsc: str | None
    protocol_id: int = 0  # 0x40 is a "type 0" (silent) SMS: acknowledge, do not show
    message_class: int | None = None  # 0 is a flash SMS


@dataclass(frozen=True)
class StatusReport:
    """An SMS-STATUS-REPORT; ``reference`` is the TP-MR the modem gave in +CMGS."""

    reference: int
    recipient: str
    status: int
    meaning: str
    delivered: bool
    final: bool
    scts: datetime | None
    discharge: datetime | None


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT (one part), as a modem receives it after the AT+CMGS prompt."""

    to: str
    text: str
    reference: int
    status_report_requested: bool
    concat: Concat | None
    encoding: str


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM 03.38 basic or extension table."""
    return _gsm7.first_unencodable(text) is None


def split_text(text: str, encoding: RequestedEncoding = "auto") -> SplitText:
    """Choose the alphabet and cut ``text`` into SMS parts exactly as encode_submit sends them."""
    if encoding not in ("auto", "gsm7", "ucs2"):
        raise CodecError(f"unknown encoding {encoding!r}; use 'auto', 'gsm7' or 'ucs2'")
    bad = _gsm7.first_unencodable(text)
    if encoding == "gsm7" and bad is not None:
        index, char = bad
        raise CodecError(
            f"character {char!r} (U+{ord(char):04X}) at position {index} is not in the GSM-7 "
            "alphabet; use encoding 'auto' or 'ucs2'"
        )
    use_gsm7 = encoding == "gsm7" or (encoding == "auto" and bad is None)
    chosen: Encoding = "gsm7" if use_gsm7 else "ucs2"
    if chosen == "gsm7":
        segments = _split(text, _gsm7.septet_cost, GSM7_SINGLE, GSM7_MULTI)
    else:
        # Python strings hold code points, so a surrogate pair is one unit of the cut.
        segments = _split(text, _utf16_units, UCS2_SINGLE, UCS2_MULTI)
    if len(segments) > MAX_PARTS:
        raise CodecError(f"text needs {len(segments)} SMS parts; at most {MAX_PARTS} are possible")
    return SplitText(chosen, segments)


def encode_submit(
    to: str,
    text: str,
    *,
    reference: int,
    status_report: bool,
    encoding: RequestedEncoding = "auto",
    validity_minutes: int | None = None,
    smsc: str | None = None,
) -> list[SubmitPdu]:
    """SMS-SUBMIT PDUs for ``text``; ``reference`` (0-255) is the TP-MR and concatenation ref."""
    _check_octet("reference", reference)
    split = split_text(text, encoding)
    destination = _address_field(to, allow_alphanumeric=False)
    smsc_field = _smsc_field(smsc)
    first = 0x01 | (0x20 if status_report else 0)
    validity = b""
    if validity_minutes is not None:
        first |= 0x10  # TP-VPF: relative
        validity = bytes([_relative_validity(validity_minutes)])
    multipart = split.parts > 1
    result: list[SubmitPdu] = []
    for seq, segment in enumerate(split.segments, start=1):
        udh = bytes([0x00, 0x03, reference, split.parts, seq]) if multipart else b""
        tpdu = (
            bytes([first | (0x40 if udh else 0), reference])
            + destination
            + bytes([0x00, _DCS[split.encoding]])
            + validity
            + _user_data(segment, split.encoding, udh)
        )
        result.append(SubmitPdu((smsc_field + tpdu).hex().upper(), len(tpdu), segment))
    return result


def decode_pdu(hex_pdu: str, *, has_smsc: bool = True) -> Deliver | StatusReport | Submit:
    """Decode a PDU as read from AT+CMGR, AT+CMGL, +CMT or +CDS."""
    reader = _Reader(hex_pdu)
    smsc = _read_smsc(reader) if has_smsc else None
    first = reader.octet()
    kind = first & 0x03
    if kind == 0x00:
        return _read_deliver(reader, first, smsc)
    if kind == 0x01:
        return _read_submit(reader, first)
    if kind == 0x02:
        return _read_status_report(reader)
    raise CodecError(f"reserved TP-MTI 3 in first octet {first:#04x}")


def decode_submit(hex_pdu: str, *, has_smsc: bool = True) -> Submit:
    """Decode the SMS-SUBMIT a modem receives after the AT+CMGS prompt."""
    decoded = decode_pdu(hex_pdu, has_smsc=has_smsc)
    if not isinstance(decoded, Submit):
        raise CodecError(f"expected an SMS-SUBMIT, got {type(decoded).__name__}")
    return decoded


def encode_deliver(
    sender: str,
    text: str,
    *,
    scts: datetime,
    encoding: RequestedEncoding = "auto",
    concat_reference: int | None = None,
    smsc: str | None = DEFAULT_SMSC,
) -> list[str]:
    """Full SMS-DELIVER PDUs (SMSC octets included) for each part, as +CMGR/+CMT show them."""
    split = split_text(text, encoding)
    if concat_reference is None:
        # Stable but varied, so two simulated long messages rarely share a reference.
        concat_reference = zlib.crc32(f"{sender}\0{text}\0{scts}".encode()) & 0xFF
    _check_octet("concat_reference", concat_reference)
    head = _smsc_field(smsc)
    originator = _address_field(sender, allow_alphanumeric=True)
    timestamp = _encode_timestamp(scts, "scts")
    result: list[str] = []
    for seq, segment in enumerate(split.segments, start=1):
        udh = bytes([0x00, 0x03, concat_reference, split.parts, seq]) if split.parts > 1 else b""
        first = 0x04 | (0x40 if udh else 0)  # TP-MMS: no more messages waiting
        tpdu = (
            bytes([first])
            + originator
            + bytes([0x00, _DCS[split.encoding]])
            + timestamp
            + _user_data(segment, split.encoding, udh)
        )
        result.append((head + tpdu).hex().upper())
    return result


def encode_status_report(
    reference: int,
    recipient: str,
    *,
    status: int = 0,
    scts: datetime,
    discharge: datetime,
    smsc: str | None = DEFAULT_SMSC,
) -> str:
    """Full SMS-STATUS-REPORT PDU (SMSC octets included), as +CDS shows it."""
    _check_octet("reference", reference)
    _check_octet("status", status)
    tpdu = (
        bytes([0x06, reference])  # TP-MTI status report, TP-MMS
        + _address_field(recipient, allow_alphanumeric=False)
        + _encode_timestamp(scts, "scts")
        + _encode_timestamp(discharge, "discharge")
        + bytes([status])
    )
    return (_smsc_field(smsc) + tpdu).hex().upper()


def status_meaning(status: int) -> tuple[str, bool, bool]:
    """(meaning, delivered, final) of a TP-Status, per 3GPP TS 23.040 §9.2.3.15."""
    _check_octet("status", status)
    if status in _STATUS_MEANINGS:
        meaning = _STATUS_MEANINGS[status]
    elif status < 0x80 and status & 0x10:  # 0x10-0x1F, 0x30-0x3F, 0x50-0x5F, 0x70-0x7F
        meaning = f"SC-specific status {status:#04x}"
    else:
        # 23.040: a reserved value is treated as "service rejected".
        return f"reserved status {status:#04x}, treated as service rejected", False, True
    if status < 0x20:
        return meaning, True, True
    return meaning, False, not 0x20 <= status < 0x40


def decode_ussd(payload: str, dcs: int) -> str:
    """Text of a +CUSD answer: GSM-7 packed hex, UCS-2 hex, or text the modem already decoded."""
    payload = payload.strip()
    if not payload or len(payload) % 2 or not _HEX.fullmatch(payload):
        return payload
    data = bytes.fromhex(payload)
    alphabet = _ussd_alphabet(dcs)
    if alphabet == "ucs2":
        return _utf16_text(data[2:] if dcs == 0x11 else data) if len(data) % 2 == 0 else payload
    if alphabet == "8bit":
        return _eight_bit_text(data)
    if len(payload) % 4 == 0 and all(payload[i : i + 2] == "00" for i in range(0, len(payload), 4)):
        return _utf16_text(data)  # modem in AT+CSCS="UCS2" re-encodes 7-bit answers as UCS-2
    septets = _gsm7.unpack(data, len(data) * 8 // 7)
    if len(data) * 8 % 7 == 0 and septets.endswith(b"\r"):
        septets = septets[:-1]  # 23.038 §6.1.2.3.1: CR fills 7 spare bits
    text = _gsm7.decode(septets)
    return text[3:] if dcs == 0x10 and text[2:3] == "\r" else text


def encode_ussd_packed(text: str) -> str:
    """GSM-7 packed hex of ``text`` with 23.038 CR padding, as a network sends USSD (dcs 15)."""
    septets = _gsm7_septets(text)
    if len(septets) % 8 == 7 or (len(septets) % 8 == 0 and septets.endswith(b"\r")):
        septets += b"\r"
    return _gsm7.pack(septets).hex().upper()


def normalize_address(number: str) -> str:
    """'+1 555-123 4567' -> '+15551234567'; an alphanumeric sender is kept as it is."""
    stripped = number.strip()
    compact = _SEPARATORS.sub("", stripped)
    return compact if _NUMBER.fullmatch(compact) else stripped


# --- private helpers -------------------------------------------------------------------------

_DCS: dict[Encoding, int] = {"gsm7": 0x00, "ucs2": 0x08}
_HEX = re.compile(r"[0-9A-Fa-f]+")
_NUMBER = re.compile(r"\+?[0-9]+")
_SEPARATORS = re.compile(r"[\s\-().]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = str.maketrans("abcde", "*#abc")  # semi-octet nibbles A-E of TS 23.040 §9.1.2.3
_MAX_DIGITS = 20

_STATUS_MEANINGS: dict[int, str] = {
    0x00: "received by the recipient",
    0x01: "forwarded to the recipient, delivery unconfirmed",
    0x02: "replaced by the service centre",
    0x20: "congestion, still trying",
    0x21: "recipient busy, still trying",
    0x22: "no response from recipient, still trying",
    0x23: "service rejected, still trying",
    0x24: "quality of service not available, still trying",
    0x25: "error in recipient, still trying",
    0x40: "remote procedure error",
    0x41: "incompatible destination",
    0x42: "connection rejected by recipient",
    0x43: "not obtainable",
    0x44: "quality of service not available",
    0x45: "no interworking available",
    0x46: "validity period expired",
    0x47: "deleted by the sender",
    0x48: "deleted by service centre administration",
    0x49: "message does not exist",
    0x60: "congestion, gave up",
    0x61: "recipient busy, gave up",
    0x62: "no response from recipient, gave up",
    0x63: "service rejected",
    0x64: "quality of service not available, gave up",
    0x65: "error in recipient, gave up",
}


class _Reader:
    """Octets of a hex PDU, read front to back; running short is a CodecError."""

    def __init__(self, hex_pdu: str) -> None:
        text = "".join(hex_pdu.split())
        if not text or len(text) % 2 or not _HEX.fullmatch(text):
            raise CodecError(f"not a hex PDU: {hex_pdu[:40]!r}")
        self._data = bytes.fromhex(text)
        self._pos = 0

    def octet(self) -> int:
        return self.take(1)[0]

    def take(self, count: int) -> bytes:
        if self._pos + count > len(self._data):
            raise CodecError(f"PDU truncated: wanted {count} octets at offset {self._pos}")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def rest(self) -> bytes:
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk


def _split(text: str, cost: Callable[[str], int], single: int, multi: int) -> list[str]:
    if sum(map(cost, text)) <= single:
        return [text]
    segments: list[str] = []
    start, used = 0, 0
    for index, char in enumerate(text):
        # A character is never cut: escape pairs and surrogate pairs stay in one part.
        if used + cost(char) > multi:
            segments.append(text[start:index])
            start, used = index, 0
        used += cost(char)
    segments.append(text[start:])
    return segments


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _gsm7_septets(text: str) -> bytes:
    bad = _gsm7.first_unencodable(text)
    if bad is not None:
        raise CodecError(f"character {bad[1]!r} at position {bad[0]} is not in the GSM-7 alphabet")
    return _gsm7.encode(text)


def _user_data(segment: str, encoding: Encoding, udh: bytes) -> bytes:
    """TP-UDL followed by TP-UD (header and body)."""
    header = bytes([len(udh)]) + udh if udh else b""
    if encoding == "ucs2":
        body = segment.encode("utf-16-be")
        return bytes([len(header) + len(body)]) + header + body
    septets = _gsm7_septets(segment)
    # The header takes whole septets (fill bits after it): pack zero septets in its place,
    # then lay the header octets over them.
    skip = (len(header) * 8 + 6) // 7
    packed = _gsm7.pack(bytes(skip) + septets)
    return bytes([skip + len(septets)]) + header + packed[len(header) :]


def _check_octet(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise CodecError(f"{name} must be 0-255 (8-bit), got {value}")


def _address_field(address: str, *, allow_alphanumeric: bool) -> bytes:
    number = normalize_address(address)
    if _NUMBER.fullmatch(number):
        digits = number.lstrip("+")
        if len(digits) > _MAX_DIGITS:
            raise CodecError(f"number {address!r} has more than {_MAX_DIGITS} digits")
        toa = 0x91 if number.startswith("+") else 0x81  # international / unknown, ISDN plan
        return bytes([len(digits), toa]) + bytes(_pdu.encodeSemiOctets(digits))
    if not allow_alphanumeric or not number:
        raise CodecError(f"not a phone number: {address!r}")
    septets = _gsm7_septets(number)
    if len(septets) > 11:
        raise CodecError(f"alphanumeric sender {address!r} is longer than 11 GSM-7 characters")
    return bytes([(len(septets) * 7 + 3) // 4, 0xD0]) + _gsm7.pack(septets)


def _smsc_field(smsc: str | None) -> bytes:
    if not smsc:
        return b"\x00"  # the modem uses the SIM's service centre
    field = _address_field(smsc, allow_alphanumeric=False)
    return bytes([len(field) - 1]) + field[1:]  # SMSC length counts octets, not digits


def _relative_validity(minutes: int) -> int:
    """TP-VP (relative, 23.040 §9.2.3.12.1), rounded up; gsmmodem's yields -1 under 5 minutes."""
    if minutes <= 0:
        raise CodecError(f"validity_minutes must be positive, got {minutes}")
    if minutes <= 720:
        return -(-minutes // 5) - 1
    if minutes <= 1440:
        return 143 + -(-(minutes - 720) // 30)
    days = -(-minutes // 1440)
    return 166 + days if days <= 30 else min(255, 192 + -(-days // 7))


def _encode_timestamp(value: datetime, name: str) -> bytes:
    if value.utcoffset() is None:
        raise CodecError(f"{name} must be timezone-aware")
    if not 1969 <= value.year <= 2068:  # two digits, read back with the %y pivot (69 -> 1969)
        raise CodecError(f"{name}: a PDU timestamp holds years 1969-2068, not {value.year}")
    return bytes(_pdu._encodeTimestamp(value))


def _decode_timestamp(raw: bytes) -> datetime:
    try:
        parsed: datetime = _pdu._decodeTimestamp(iter(raw))
        if (offset := parsed.utcoffset()) is None:
            raise ValueError("no offset")
        return parsed.replace(tzinfo=timezone(offset))
    except (ValueError, TypeError) as err:
        raise CodecError(f"bad timestamp {raw.hex().upper()}: {err}") from err


def _read_smsc(reader: _Reader) -> str | None:
    if (length := reader.octet()) == 0:
        return None
    toa = reader.octet()
    digits = str(_pdu.decodeSemiOctets(bytearray(reader.take(length - 1)))).translate(_DIGITS)
    return "+" + digits if toa & 0x70 == 0x10 else digits


def _read_address(reader: _Reader) -> str:
    length = reader.octet()  # useful semi-octets
    toa = reader.octet()
    raw = reader.take((length + 1) // 2)
    if toa & 0x70 == 0x50:  # alphanumeric, GSM-7 packed
        return _gsm7.decode(_gsm7.unpack(raw, length * 4 // 7))
    digits = str(_pdu.decodeSemiOctets(bytearray(raw)))[:length].translate(_DIGITS)
    return "+" + digits if toa & 0x70 == 0x10 else digits


def _read_deliver(reader: _Reader, first: int, smsc: str | None) -> Deliver:
    sender = _read_address(reader)
    pid, dcs = reader.octet(), reader.octet()
    scts = _decode_timestamp(reader.take(7))
    text, encoding, concat = _read_user_data(reader, first, dcs)
    has_class = dcs & 0xF0 == 0xF0 or (dcs < 0x80 and dcs & 0x10)
    klass = dcs & 0x03 if has_class else None
    return Deliver(sender, text, scts, encoding, concat, smsc, pid, klass)


def _read_submit(reader: _Reader, first: int) -> Submit:
    reference = reader.octet()
    to = _read_address(reader)
    _pid, dcs = reader.octet(), reader.octet()
    reader.take({0x00: 0, 0x08: 7, 0x10: 1, 0x18: 7}[first & 0x18])  # TP-VP by TP-VPF
    text, encoding, concat = _read_user_data(reader, first, dcs)
    return Submit(to, text, reference, bool(first & 0x20), concat, encoding)


def _read_status_report(reader: _Reader) -> StatusReport:
    reference = reader.octet()
    recipient = _read_address(reader)
    stamps: list[datetime | None] = []
    for raw in (reader.take(7), reader.take(7)):
        try:
            stamps.append(_decode_timestamp(raw))
        except CodecError:
            stamps.append(None)  # the status matters more than a modem's broken clock
    status = reader.octet()
    meaning, delivered, final = status_meaning(status)
    return StatusReport(
        reference, recipient, status, meaning, delivered, final, stamps[0], stamps[1]
    )


def _read_user_data(reader: _Reader, first: int, dcs: int) -> tuple[str, str, Concat | None]:
    udl = reader.octet()
    payload = reader.rest()
    alphabet = _sms_alphabet(dcs)
    if alphabet == "gsm7":
        data = payload[: (udl * 7 + 7) // 8]
        skip, concat = 0, None
        if first & 0x40 and data:
            concat = _parse_udh(data[1 : 1 + data[0]])
            skip = ((data[0] + 1) * 8 + 6) // 7
        septets = _gsm7.unpack(data, min(udl, len(data) * 8 // 7))
        return _gsm7.decode(septets[skip:]), alphabet, concat
    # UDL counts octets here; a too-large UDL (seen in the wild) just takes what is there.
    data, concat = payload[:udl], None
    if first & 0x40 and data:
        concat = _parse_udh(data[1 : 1 + data[0]])
        data = data[1 + data[0] :]
    text = _utf16_text(data) if alphabet == "ucs2" else _eight_bit_text(data)
    return text, alphabet, concat


def _parse_udh(udh: bytes) -> Concat | None:
    concat = None
    pos = 0
    while pos + 2 <= len(udh):
        iei, size = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + size]
        pos += 2 + size
        if iei == 0x00 and len(value) == 3:
            reference, total, seq = value
        elif iei == 0x08 and len(value) == 4:
            reference, total, seq = value[0] << 8 | value[1], value[2], value[3]
        else:
            continue  # port addressing, national language shift, ...
        if 1 <= seq <= total:  # 23.040: total 0 means "ignore this element"
            concat = Concat(reference, total, seq)
    return concat


def _sms_alphabet(dcs: int) -> Literal["gsm7", "ucs2", "8bit"]:
    """Alphabet of an SMS data coding scheme (3GPP TS 23.038 §4), every group."""
    group = dcs >> 4
    if group <= 0x7:  # 00xx general, 01xx automatic deletion: same low six bits
        if dcs & 0x20:
            return "8bit"  # compressed: we cannot inflate it, so show the octets
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group == 0xE:  # message waiting, store, UCS-2
        return "ucs2"
    if group == 0xF:  # data coding / message class
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"  # message waiting groups 0xC/0xD and reserved ones are GSM-7


def _ussd_alphabet(dcs: int) -> Literal["gsm7", "ucs2", "8bit"]:
    """Alphabet of a cell-broadcast/USSD data coding scheme (3GPP TS 23.038 §5)."""
    group = dcs >> 4
    if group == 0x1:
        return "ucs2" if dcs == 0x11 else "gsm7"
    if 0x4 <= group <= 0x7 or group == 0x9:
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def _utf16_text(data: bytes) -> str:
    # gsmmodem decodes UCS-2 unit by unit and leaves emoji as two lone surrogates.
    # surrogatepass joins valid pairs and keeps stray halves, which are then replaced
    # because they cannot be stored as UTF-8.
    text = data[: len(data) // 2 * 2].decode("utf-16-be", errors="surrogatepass")
    return _LONE_SURROGATE.sub("\ufffd", text)


def _eight_bit_text(data: bytes) -> str:
    """Latin-1 if it reads as text, else uppercase hex (WAP push, OTA settings, ...)."""
    text = data.decode("latin-1")
    return text if all(c.isprintable() or c in "\r\n\t" for c in text) else data.hex().upper()
