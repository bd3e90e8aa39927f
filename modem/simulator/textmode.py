"""Text-mode (AT+CMGF=1) details: the TE character set of AT+CSCS and timestamps."""

from __future__ import annotations

import datetime as dt

__all__ = ["from_charset", "scts_text", "to_charset"]


def to_charset(text: str, cscs: str) -> str:
    """Text as the modem prints it in character set ``cscs`` (UCS2 is hex of UTF-16-BE)."""
    if cscs.upper() == "UCS2":
        return text.encode("utf-16-be").hex().upper()
    if cscs.upper() == "HEX":
        return text.encode("latin-1", errors="replace").hex().upper()
    return text


def from_charset(value: str, cscs: str) -> str:
    """Text typed by the client in character set ``cscs``; ValueError on bad hex."""
    if cscs.upper() == "UCS2":
        raw = bytes.fromhex(value)
        return raw.decode("utf-16-be", errors="surrogatepass")
    if cscs.upper() == "HEX":
        return bytes.fromhex(value).decode("latin-1")
    return value


def scts_text(when: dt.datetime) -> str:
    """``yy/MM/dd,hh:mm:ss±zz`` with the offset in quarter hours, as text mode shows it."""
    offset = when.utcoffset() or dt.timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    sign = "+" if quarters >= 0 else "-"
    return f"{when:%y/%m/%d,%H:%M:%S}{sign}{abs(quarters):02d}"
