"""Phone numbers: everything the relay stores or sends to is E.164 (or an allowed short code)."""

from __future__ import annotations

import functools
import re

import phonenumbers

SHORT_CODE_RE = re.compile(r"^[0-9]{3,8}$")
_PUNCT_RE = re.compile(r"[\s().\-/]")


class InvalidNumber(ValueError):
    """The text is not a phone number the relay can send to."""


@functools.lru_cache(maxsize=8192)
def normalize_number(raw: str, region: str, *, allow_short_codes: bool = False) -> str:
    """`raw` as E.164 (`+15551234567`), or a short code when allowed; else InvalidNumber."""
    text = raw.strip()
    if not text:
        raise InvalidNumber("a phone number is required")
    compact = _PUNCT_RE.sub("", text)
    if SHORT_CODE_RE.match(compact) and not compact.startswith("0"):
        if allow_short_codes:
            return compact
        if len(compact) <= 6:
            raise InvalidNumber("short codes are not allowed for this key")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    try:
        parsed = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"not a phone number: {exc}") from None
    # Possible, not "valid": the validity tables reject fictional (555) and brand-new ranges.
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(
            "not a valid phone number; write it in international form, e.g. +15551234567"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_number(number: str | None) -> str:
    """`+15551234567` -> `+155*****67`: enough to tell numbers apart in logs, not to dial."""
    if not number:
        return "-"
    if len(number) <= 5:
        return number[:1] + "*" * (len(number) - 1)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]
