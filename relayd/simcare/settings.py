"""What SIM care is told per SIM: the `[[modem]]` keys and the API's `care` object (one model).

A leaf module: the config models and the API both validate with `CareSettings`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

USSD_RE = re.compile(r"^[0-9*#+]{2,40}$")
DURATION_RE = re.compile(r"^([1-9][0-9]{0,3})([smhdw])$")  # 1s .. 9999w: no timer storm
E164_RE = re.compile(r"^\+[1-9][0-9]{5,14}$")
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
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration such as 30s, 15m, 6h, 1d or 7d (1 to 9999 of a unit)"
        )
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


def _duration(text: str) -> str:
    parse_duration(text)
    return text


def _ussd(code: str) -> str:
    if not USSD_RE.match(code):
        raise ValueError("use digits, * and #, e.g. *100#")
    return code


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return pattern


def _date(text: str) -> str:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date such as 2027-03-01") from None
    return text


def _e164(text: str) -> str:
    if not E164_RE.match(text):
        raise ValueError("give the number in E.164, e.g. +15551234567")
    return text


# Each type says in the OpenAPI document what its validator takes.
Duration = Annotated[
    str, AfterValidator(_duration), Field(json_schema_extra={"pattern": DURATION_RE.pattern})
]
UssdCode = Annotated[
    str, AfterValidator(_ussd), Field(json_schema_extra={"pattern": USSD_RE.pattern})
]
Regex = Annotated[str, AfterValidator(_regex), Field(json_schema_extra={"format": "regex"})]
IsoDate = Annotated[str, AfterValidator(_date), Field(json_schema_extra={"format": "date"})]
E164 = Annotated[str, AfterValidator(_e164), Field(json_schema_extra={"pattern": E164_RE.pattern})]


class CareSettings(BaseModel):
    """Balance, expiry and keepalive of one SIM; every key optional (unset: that care is off)."""

    model_config = ConfigDict(extra="forbid")

    balance_ussd: UssdCode | None = Field(None, description="USSD code that answers the balance")
    balance_every: Duration | None = Field(None, description="How often to check, e.g. 1d")
    balance_regex: Regex | None = Field(
        None, description="Finds the amount (group `amount`, else the first group, else the "
        "whole match) and the `currency` group, if it has one",
    )
    balance_low: float | None = Field(None, description="sim.balance_low under this amount")
    expires_on: IsoDate | None = Field(
        None, description="The SIM's expiry date (UTC), e.g. 2027-03-01"
    )
    topup_every: Duration | None = Field(None, description="Top up this long after the last")
    expiry_warn: Duration | None = Field(None, description="sim.expiring this long ahead (7d)")
    keepalive_every: Duration | None = Field(None, description="A keepalive this often, e.g. 30d")
    keepalive_to: E164 | None = Field(
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
