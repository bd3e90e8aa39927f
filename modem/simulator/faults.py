"""Faults and quirks that tests (or the control API) switch on in a running simulator."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Faults"]


@dataclass
class Faults:
    """Mutable fault settings; counters are consumed one command at a time.

    Delays are in seconds. Every field can be set directly (``sim.faults.mute = True``)
    or from a JSON object with ``update({...})``.
    """

    # Between Ctrl-Z and "+CMGS: <mr>".
    send_delay: float = 0.0
    # Between a sent part and its status report.
    report_delay: float = 0.0
    # Between a received command line and its answer (the echo stays immediate).
    answer_delay: float = 0.0
    # Between "AT+CMGS=<n>" and the "> " prompt.
    prompt_delay: float = 0.0
    # Between "AT+CUSD=1,..." OK and the "+CUSD:" answer.
    ussd_delay: float = 0.0
    # The modem keeps echoing after ATE0 (seen on some firmwares).
    echo_after_ate0: bool = False
    # The next `cms_error` AT+CMGS answer "+CMS ERROR: <cms_error_code>" (after the PDU).
    cms_error: int = 0
    cms_error_code: int = 500
    # The next `cme_busy` commands (a bare "AT" excepted) answer "+CME ERROR: <code>".
    cme_busy: int = 0
    cme_busy_code: int = 515
    # URCs written between a command's answer line(s) and its final result, once each;
    # only for the command named by `urc_between_on` (e.g. "+CSQ") when it is set.
    urc_between: list[str] = field(default_factory=list)
    urc_between_on: str | None = None
    # The next `garbage` answers are preceded by random bytes (invalid UTF-8 included).
    garbage: int = 0
    # Stop answering (no echo, no answers, no URCs) until cleared.
    mute: bool = False
    # TP-Status of the status reports (0 delivered; 0x40+ permanent failure).
    report_status: int = 0
    # Sent parts get no status report at all.
    drop_reports: bool = False
    # The callee hangs up this many seconds after ATD (emits NO CARRIER); None: never.
    callee_hangup_after: float | None = None
    # Instead of ringing, the call ends at once with this result (BUSY, NO ANSWER...).
    call_result: str | None = None
    # AT+CFUN=1,1 and reboot() re-enumerate the port like a USB modem does.
    reboot_unplugs: bool = False
    # Time the port stays away during such a re-enumeration.
    reenumerate_delay: float = 0.5

    def update(self, values: dict[str, Any]) -> None:
        """Set several fields from a mapping; unknown names or wrong types raise ValueError."""
        known = {f.name for f in dataclasses.fields(self)}
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            checked[name] = _coerce(name, getattr(self, name), value)
        for name, value in checked.items():  # all or nothing
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view of every field."""
        return dataclasses.asdict(self)


def _coerce(name: str, current: Any, value: Any) -> Any:
    if name in {"urc_between"}:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ValueError(f"{name} takes a string or a list of strings")
    if name in {"urc_between_on", "call_result"}:
        if value is None or isinstance(value, str):
            return value
        raise ValueError(f"{name} takes a string or null")
    if name == "callee_hangup_after":
        if value is None:
            return None
        return _number(name, value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} takes true or false")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} takes a non-negative integer")
        return value
    return _number(name, value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} takes a non-negative number of seconds")
    return float(value)
