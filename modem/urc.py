"""Unsolicited result codes: which lines are URCs, and what they say."""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Final result codes end a command. Checked before anything else.
FINAL_OK = ("OK",)
FINAL_ERROR_EXACT = (
    "ERROR",
    "COMMAND NOT SUPPORT",
    "TOO MANY PARAMETERS",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "NO DIALTONE",
)
FINAL_ERROR_PREFIXES = ("+CME ERROR:", "+CMS ERROR:")
CALL_RESULTS = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})

# Lines that are unsolicited whatever is pending. Codes that can also be a
# command's answer (+CREG, +CUSD, +CPIN, ...) are solicited only while the pending
# command asked for that very prefix.
URC_PREFIXES = (
    "+CMTI:",
    "+CMT:",
    "+CDSI:",
    "+CDS:",
    "+CBM:",
    "+CBMI:",
    "+CUSD:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CPIN:",
    "+CRING:",
    "+CLIP:",
    "+CCWA:",
    "+CIEV:",
    "+CTZV:",
    "+CTZE:",
    "+CFUN:",
    "+CSQN:",
    "+QIND:",
    "+QUSIM:",
    "+QSTK:",
    "*PSUTTZ:",
    "DST:",
    "^RSSI:",
    "^HCSQ:",
    "^BOOT:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^STIN:",
    "^CEND:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
    "^DSFLOWRPT:",
    "^RFSWITCH:",
    "^NDISSTAT:",
)
URC_EXACT = frozenset(
    {
        "RING",
        "RDY",
        "Call Ready",
        "SMS Ready",
        "^SYSSTART",
        "PB DONE",
        "UNDER-VOLTAGE POWER DOWN",
        "UNDER-VOLTAGE WARNNING",
        "OVER-VOLTAGE POWER DOWN",
        "NORMAL POWER DOWN",
        "POWERED DOWN",
    }
)
# These URCs carry their PDU on the following line.
TWO_LINE_PREFIXES = ("+CMT:", "+CDS:", "+CBM:")


class LineKind(enum.Enum):
    """What one received line is."""

    ECHO = "echo"
    FINAL = "final"
    ANSWER = "answer"
    URC = "urc"


@dataclass(frozen=True)
class Urc:
    """One unsolicited result code; ``pdu`` is the second line of +CMT/+CDS."""

    name: str  # "+CMTI", "RDY", "NO CARRIER", ...
    value: str  # text after "name: ", "" for bare codes
    line: str
    pdu: str | None = None


def classify(
    line: str, *, pending_prefix: str | None, pending: bool, dialing: bool = True
) -> LineKind:
    """Decide what a line is by its content; ``pending_prefix`` is the awaited answer.

    ``dialing``: the pending command places or answers a call (ATD, ATA). A call result
    (NO CARRIER, BUSY, ...) answers only those: with nothing pending, or with any other
    command pending (a health query while a call rings), it is the end of a call.
    """
    upper = line.upper()
    if upper.startswith("AT"):
        return LineKind.ECHO
    if is_final(line):
        if line in CALL_RESULTS and not (pending and dialing):
            return LineKind.URC
        return LineKind.FINAL
    if pending_prefix and line.startswith(pending_prefix):
        return LineKind.ANSWER
    if line in URC_EXACT or line.startswith(URC_PREFIXES):
        return LineKind.URC
    return LineKind.ANSWER if pending else LineKind.URC


def is_final(line: str) -> bool:
    """True for a line that ends a command."""
    return line in FINAL_OK or line in FINAL_ERROR_EXACT or line.startswith(FINAL_ERROR_PREFIXES)


def is_two_line(line: str) -> bool:
    """True for a URC whose PDU follows on the next line."""
    return line.startswith(TWO_LINE_PREFIXES)


def parse_urc(line: str, pdu: str | None = None) -> Urc:
    """Split a URC line into name and value."""
    name, sep, value = line.partition(":")
    if sep and (name.startswith(("+", "^", "*")) or name in ("DST",)):
        return Urc(name=name.strip(), value=value.strip(), line=line, pdu=pdu)
    return Urc(name=line.strip(), value="", line=line, pdu=pdu)


def parse_stored_index(value: str) -> tuple[str, int] | None:
    """`"SM",3` of +CMTI / +CDSI -> ("SM", 3)."""
    mem, _, index = value.partition(",")
    try:
        return mem.strip().strip('"'), int(index.strip())
    except ValueError:
        return None


def is_hex_pdu(line: str) -> bool:
    """True when the line looks like a PDU (even-length hex)."""
    return len(line) >= 2 and len(line) % 2 == 0 and all(c in _HEX for c in line)


_HEX = frozenset("0123456789abcdefABCDEF")
