"""Reading a balance out of a network's USSD answer."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from relayd.simcare.settings import DEFAULT_BALANCE_REGEX

SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}


@dataclass(frozen=True)
class Amount:
    """An amount found in an answer, with its currency when the answer names one."""

    value: float
    currency: str | None


def parse_balance(answer: str, pattern: str | None = None) -> Amount | None:
    """The first amount in `answer` by `pattern` (default: an amount next to a currency).

    The pattern's group `amount` (else its first group, else the whole match) is the number,
    with `,` or `.` as the decimal mark; a group `currency`, when it has one, names the currency.
    """
    match = re.search(pattern or DEFAULT_BALANCE_REGEX, answer)
    if match is None:
        return None
    groups = match.groupdict()
    raw = groups.get("amount") or groups.get("amount2")
    if raw is None:
        raw = next((g for g in match.groups() if g), match.group(0))
    try:
        value = float(raw.replace(" ", "").replace(",", "."))
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    currency = groups.get("currency") or groups.get("pre") or groups.get("post")
    return Amount(value, SYMBOLS.get(currency, currency) if currency else None)


def is_low(amount: Amount | None, threshold: float | None) -> bool | None:
    """Under the threshold (False without one); None when no amount was found."""
    if amount is None:
        return None
    return threshold is not None and amount.value < threshold
