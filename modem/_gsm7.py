"""GSM 03.38 7-bit default alphabet: gsmmodem.pdu's tables (corrected) and septet packing."""

from __future__ import annotations

from gsmmodem import pdu as _pdu

ESCAPE = 0x1B

# gsmmodem's basic table has "`" at 0x5F where 3GPP TS 23.038 has "§"; nothing else differs.
BASIC: str = str(_pdu.GSM7_BASIC).replace("`", "§")

# gsmmodem keys the extension table's page break (0x0A) as "ÿ" with an int value, which makes
# its encoder raise TypeError on "ÿ"; the standard character is form feed.
EXTENSION: dict[str, int] = {
    str(char): ord(code) for char, code in _pdu.GSM7_EXTENDED.items() if isinstance(code, str)
} | {"\f": 0x0A}

_SEPTETS: dict[str, bytes] = {
    char: bytes([code]) for code, char in enumerate(BASIC) if code != ESCAPE
} | {char: bytes([ESCAPE, code]) for char, code in EXTENSION.items()}
_EXTENSION_BY_CODE: dict[int, str] = {code: char for char, code in EXTENSION.items()}


def septet_cost(char: str) -> int:
    """Septets one character takes (2 for the extension table), 0 if it is not GSM-7."""
    return len(_SEPTETS.get(char, b""))


def first_unencodable(text: str) -> tuple[int, str] | None:
    """Position and character of the first character outside GSM-7, or None."""
    for index, char in enumerate(text):
        if char not in _SEPTETS:
            return index, char
    return None


def encode(text: str) -> bytes:
    """Unpacked septets of ``text``; KeyError on a character outside GSM-7."""
    return b"".join(_SEPTETS[char] for char in text)


def decode(septets: bytes) -> str:
    """Text of unpacked septets; an unknown escape shows its basic-table character."""
    chars: list[str] = []
    escaped = False
    for code in septets:
        if escaped:
            # 23.038 §6.2.1.1: a code missing from the extension table shows as the basic one;
            # ESC ESC (reserved for a further table) shows as a space.
            fallback = " " if code == ESCAPE else BASIC[code & 0x7F]
            chars.append(_EXTENSION_BY_CODE.get(code, fallback))
            escaped = False
        elif code == ESCAPE:
            escaped = True
        else:
            chars.append(BASIC[code & 0x7F])
    return "".join(chars)


def pack(septets: bytes) -> bytes:
    """Pack septets into octets, least significant bit first."""
    return bytes(_pdu.packSeptets(bytearray(septets)))


def unpack(data: bytes, count: int) -> bytes:
    """Unpack exactly ``count`` septets.

    gsmmodem's unpackSeptets counts octets instead of septets and drops a final "@" (0x00)
    when the length is a multiple of 8, so the user-data length decides here.
    """
    value = int.from_bytes(data, "little")
    return bytes((value >> (7 * index)) & 0x7F for index in range(count))
