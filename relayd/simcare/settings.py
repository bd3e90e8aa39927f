"""What SIM care is told per SIM: the `[[modem]]` keys and the API's `care` object (one model).

A leaf module: the config models and the API both validate with `CareSettings`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

USSD_RE = re.compile(r"^[0-9*#+]{2,40}$")
DURATION_RE = re.compile(r"^\s*(\d{1,9}(?:\.\d{1,6})?)\s*([smhdw])\s*$")
MIN_SECONDS, MAX_SECONDS = 1.0, 3650 * 86400.0  # no timer storm, no overflow
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# An amount and a currency in the usual answers: "Your balance is 1.50 EUR", "EUR 1,50",
# "Guthaben: 3,20 €", "Balance $4.75". Groups `amount` and `currency` (one side or the other).
_CURRENCY = r"(?!SMS\b|MMS\b|MIN\b)[A-Z]{3}\b|[$€£¥₹]"
DEFAULT_BALANCE_REGEX = (
    rf"(?:(?P<pre>{_CURRENCY})\s?(?P<amount>-?\d+(?:[.,]\d+)?)"
    rf"|(?P<amount2>-?\d+(?:[.,]\d+)?)\s?(?P<post>{_CURRENCY}))"
)


def parse_duration(text: str) -> float:
    """Seconds of `30s`, `15m`, `6h`, `1d`, `7d`, `2w`; ValueError otherwise."""
    match = DURATION_RE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 6h, 1d or 7d")
    seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"{text!r}: give a duration from 1s to 3650d")
    return seconds


def _duration(text: str) -> str:
    parse_duration(text)
    return text.strip()


def _ussd(code: str) -> str:
    if not USSD_RE.match(code):
        raise ValueError("use digits, * and #, e.g. *100#")
    return code


def _regex(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    if not compiled.groupindex and compiled.groups == 0:
        raise ValueError("give a group for the amount, e.g. (?P<amount>\\d+[.,]\\d+)")
    return pattern


def _date(text: str) -> str:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date such as 2027-03-01") from None
    return text


def _e164(text: str) -> str:
    if not re.fullmatch(r"\+[1-9]\d{5,14}", text):
        raise ValueError("give the number in E.164, e.g. +15551234567")
    return text


Duration = Annotated[str, AfterValidator(_duration)]
UssdCode = Annotated[str, AfterValidator(_ussd)]


class CareSettings(BaseModel):
    """Balance, expiry and keepalive of one SIM; every key optional (unset: that care is off)."""

    model_config = ConfigDict(extra="forbid")

    balance_ussd: UssdCode | None = Field(None, description="USSD code that answers the balance")
    balance_every: Duration | None = Field(None, description="How often to check, e.g. 1d")
    balance_regex: Annotated[str, AfterValidator(_regex)] | None = Field(
        None, description="Finds the amount (group `amount` or the first group) and `currency`"
    )
    balance_low: float | None = Field(None, description="sim.balance_low under this amount")
    expires_on: Annotated[str, AfterValidator(_date)] | None = Field(
        None, description="The SIM's expiry date (UTC), e.g. 2027-03-01"
    )
    topup_every: Duration | None = Field(None, description="Top up this long after the last")
    expiry_warn: Duration | None = Field(None, description="sim.expiring this long ahead (7d)")
    keepalive_every: Duration | None = Field(None, description="A keepalive this often, e.g. 30d")
    keepalive_to: Annotated[str, AfterValidator(_e164)] | None = Field(
        None, description="Number the keepalive SMS or call goes to"
    )
    keepalive_kind: Literal["sms", "ussd", "call"] | None = Field(None, description="Default sms")
    keepalive_ussd: UssdCode | None = Field(None, description="Code of a `ussd` keepalive")
    keepalive_text: str | None = Field(None, max_length=160, description="Text of the SMS")

    def problems(self) -> list[tuple[str, str]]:
        """(key, reason) for settings that cannot work together."""
        found = []
        kind = self.keepalive_kind or "sms"
        if self.keepalive_every and kind in ("sms", "call") and not self.keepalive_to:
            found.append(("keepalive_to", f"a {kind} keepalive needs keepalive_to"))
        if self.keepalive_every and kind == "ussd" and not self.keepalive_ussd:
            found.append(("keepalive_ussd", "a ussd keepalive needs keepalive_ussd"))
        if self.expires_on and self.topup_every:
            found.append(("topup_every", "give expires_on or topup_every, not both"))
        return found


CARE_KEYS = tuple(CareSettings.model_fields)
DEFAULT_EXPIRY_WARN = "7d"
DEFAULT_KEEPALIVE_TEXT = "keepalive"
