"""AT command vocabulary: answer prefixes, parsers of answers, choices from `=?` ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Set commands ("AT+X=...") whose answer carries the "+X:" prefix; for every other set
# command a "+X:" line is unsolicited (e.g. +CUSD after AT+CUSD=1,...).
_SET_WITH_ANSWER = frozenset(
    {"+CMGS", "+CMGR", "+CMGL", "+CMGW", "+CMSS", "+CPMS", "+CRSM", "+CSIM", "+CPBR", "+CPBF"}
)
_NAME = re.compile(r"[+^$*%#][A-Za-z0-9]+")
_PIN = re.compile(r'(\+CPIN=)"?([^",]*)"?(?:,"?([^"]*)"?)?', re.IGNORECASE)


@dataclass(frozen=True)
class ATResponse:
    """The solicited lines of one command and its final result."""

    command: str
    lines: list[str]
    final: str = "OK"

    def value(self, prefix: str | None = None) -> str | None:
        """Text after ``prefix`` (e.g. "+CSQ:") on the first line that has it, else the
        first line when no prefix is given."""
        for line in self.lines:
            if prefix is None:
                return line
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        return None

    def values(self, prefix: str) -> list[str]:
        """Text after ``prefix`` on every line that has it."""
        return [line[len(prefix) :].strip() for line in self.lines if line.startswith(prefix)]


def answer_prefix(command: str) -> str | None:
    """The prefix of the information lines a command answers with, if any."""
    body = command[2:] if command[:2].upper() == "AT" else command
    match = _NAME.match(body)
    if match is None:
        return None
    name = match.group(0).upper()
    rest = body[match.end() :]
    if rest == "" or rest.startswith(("?", "=?")) or name in _SET_WITH_ANSWER:
        return name + ":"
    return None


def split_params(value: str) -> list[str]:
    """Split `a,"b,c",d` into ["a", "b,c", "d"], quotes removed."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    out.append("".join(current).strip())
    return out


def parse_ranges(value: str) -> list[set[int]]:
    """`(0-2),(0,1),3` of a test command -> [{0,1,2}, {0,1}, {3}]."""
    groups = re.findall(r"\(([^)]*)\)|([0-9]+)", value)
    result: list[set[int]] = []
    for inner, bare in groups:
        allowed: set[int] = set()
        for item in (inner or bare).split(","):
            item = item.strip()
            if "-" in item:
                low, _, high = item.partition("-")
                if low.strip().isdigit() and high.strip().isdigit():
                    allowed.update(range(int(low), int(high) + 1))
            elif item.isdigit():
                allowed.add(int(item))
        result.append(allowed)
    return result


def parse_string_groups(value: str) -> list[list[str]]:
    """`("SM","ME"),("SM")` of AT+CPMS=? -> [["SM", "ME"], ["SM"]]."""
    return [re.findall(r'"([^"]*)"', group) for group in re.findall(r"\(([^)]*)\)", value)]


def choose_cnmi(test_value: str | None, *, delivery_reports: bool) -> str:
    """Pick AT+CNMI values from the `=?` ranges: stored SMS with +CMTI, reports as +CDSI."""
    preferred: list[tuple[int, ...]] = [
        (2, 1, 3, 0),  # mode: buffer URCs while the link is busy, flush later
        (1, 2, 0),  # mt: store and indicate (+CMTI), else route directly (+CMT)
        (0,),  # bm: no cell broadcast
        (2, 1, 0) if delivery_reports else (0,),  # ds: stored report (+CDSI), else +CDS
        (0,),  # bfr: flush buffered URCs
    ]
    if not test_value:
        return "2,1,0,2,0" if delivery_reports else "2,1,0,0,0"
    ranges = parse_ranges(test_value)
    chosen: list[str] = []
    for position, prefs in enumerate(preferred):
        if position >= len(ranges) or not ranges[position]:
            break
        allowed = ranges[position]
        pick = next((p for p in prefs if p in allowed), min(allowed))
        chosen.append(str(pick))
    return ",".join(chosen)


def choose_storage(test_value: str | None) -> tuple[str, str, str]:
    """Pick mem1, mem2, mem3 from AT+CPMS=?: the SIM where possible (it survives a
    modem swap), else the phone memory."""
    groups = parse_string_groups(test_value or "")
    picks: list[str] = []
    for index in range(3):
        options = groups[index] if index < len(groups) else []
        pick = next((m for m in ("SM", "ME", "MT") if m in options), options[0] if options else "")
        picks.append(pick or "SM")
    return picks[0], picks[1], picks[2]


def parse_csq(value: str | None) -> int | None:
    """`18,99` -> 18; None when unknown (99)."""
    if not value:
        return None
    first = split_params(value)[0]
    if not first.isdigit():
        return None
    rssi = int(first)
    return None if rssi == 99 or rssi > 31 else rssi


def rssi_to_dbm(rssi: int | None) -> int | None:
    """CSQ 0..31 -> -113..-51 dBm."""
    return None if rssi is None else -113 + 2 * rssi


def rssi_to_percent(rssi: int | None) -> int | None:
    """CSQ 0..31 -> 0..100 %."""
    return None if rssi is None else round(rssi * 100 / 31)


REGISTRATION_STATES = {
    0: "not_registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
    6: "home",  # SMS only
    7: "roaming",  # SMS only
    8: "emergency_only",
    9: "home",  # CSFB not preferred
    10: "roaming",
}


def parse_registration(value: str | None, *, query: bool = True) -> int | None:
    """`+CREG: n,stat[,...]` (query) or `+CREG: stat[,...]` (URC) -> stat."""
    if not value:
        return None
    params = split_params(value)
    field = params[1] if query and len(params) >= 2 else params[0]
    return int(field) if field.isdigit() else None


def parse_operator(value: str | None) -> str | None:
    """`0,0,"Operator",7` -> "Operator"."""
    if not value:
        return None
    params = split_params(value)
    return params[2] or None if len(params) >= 3 else None


def parse_own_number(values: list[str]) -> str | None:
    """`"","+4917012345",145` of +CNUM -> "+4917012345" (first non-empty)."""
    for value in values:
        params = split_params(value)
        if len(params) >= 2 and params[1]:
            number = params[1]
            if len(params) >= 3 and params[2] == "145" and not number.startswith("+"):
                number = "+" + number
            return number
    return None


def parse_index(value: str) -> int | None:
    """First field of `+CMGL: 3,1,,23` -> 3."""
    first = split_params(value)[0]
    return int(first) if first.isdigit() else None


def parse_cpin(value: str | None) -> str:
    """`READY` / `SIM PIN` / `SIM PUK` ..."""
    return (value or "").strip().strip('"').upper()


def parse_iccid(value: str | None) -> str | None:
    """An ICCID from +CCID / +QCCID / ^ICCID (digits, maybe nibble-swapped)."""
    if not value:
        return None
    raw = split_params(value)[0].strip().upper()
    if raw.startswith("98") and len(raw) >= 18:
        raw = swap_nibbles(raw)
    digits = raw.rstrip("F")
    return digits if digits.isdigit() and len(digits) >= 10 else None


def parse_crsm_iccid(value: str | None) -> str | None:
    """`144,0,"98941..."` of AT+CRSM=176,12258,0,0,10 -> ICCID."""
    if not value:
        return None
    params = split_params(value)
    if len(params) < 3 or params[0] != "144":
        return None
    digits = swap_nibbles(params[2].upper()).rstrip("F")
    return digits if digits.isdigit() else None


def swap_nibbles(raw: str) -> str:
    """BCD as stored on the SIM: "9894" -> "8949"."""
    return "".join(raw[i + 1 : i + 2] + raw[i] for i in range(0, len(raw), 2))


def first_token(value: str | None, prefix: str | None = None) -> str | None:
    """First line's text without a `prefix`, e.g. AT+CGSN answering `+CGSN: 8612...`."""
    if not value:
        return None
    text = value.strip()
    if prefix and text.upper().startswith(prefix):
        text = text[len(prefix) :].strip()
    return text.strip('"') or None


def mask_number(number: str) -> str:
    """Keep the first 3 and the last 2 digits: +491701234567 -> +491*******67."""
    digits = sum(c.isdigit() for c in number)
    if digits <= 5:
        return number
    seen = 0
    out: list[str] = []
    for char in number:
        if char.isdigit():
            seen += 1
            out.append(char if seen <= 3 or seen > digits - 2 else "*")
        else:
            out.append(char)
    return "".join(out)


def redact_command(command: str) -> str:
    """A command as it may appear in a log: no PIN, dialled numbers masked."""
    if command.upper().startswith("AT+CPIN="):
        return "AT+CPIN=<redacted>"
    if command.upper().startswith("ATD") and len(command) > 3:
        return "ATD" + mask_number(command[3:])
    return command
