"""JSON Schema fragments the OpenAPI document shows for fields the code checks by hand.

Pydantic validates the type; relayd/numbers.py, relayd/webhooks.py and friends check the
rest. These fragments say the same in the document, so that a client (or a fuzzer) knows
what is accepted without being refused first.
"""

from __future__ import annotations

import re
from typing import Any

from relayd.webhook_rules import EVENT_PATTERN, HEADER_NAME, RESERVED_HEADERS

E164: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\+[1-9][0-9]{9,12}$",
    "examples": ["+15551230001"],
}
"""A phone number as the document shows it: E.164 (the API also reads national forms)."""

PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
URL_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": rf"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:{PORT})?(/[^\s]*)?$",
}
EVENTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "pattern": EVENT_PATTERN.pattern},
}
SECRET_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^whsec_([A-Za-z0-9+/]{4}){8,21}$"}


def any_case(names: list[str]) -> str:
    """A pattern matching any of `names` in any letter case (JSON Schema regexes have no flags)."""
    def spell(name: str) -> str:
        return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in name)

    return "^(" + "|".join(spell(n) for n in names) + ")$"


HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": 20,
    "propertyNames": {
        "pattern": HEADER_NAME.pattern,
        "not": {"pattern": any_case(sorted(RESERVED_HEADERS))},
    },
    "additionalProperties": {"type": "string", "pattern": r"^[^\r\n]{0,4096}$"},
}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null: an optional field that a PATCH may leave out or send as null."""
    return {"anyOf": [schema, {"type": "null"}]}


def not_null(**extra: Any) -> Any:
    """For an optional field that may be left out but not sent as null: drop the null branch
    pydantic documents for `str | None = None` (and add `extra`, e.g. minLength)."""

    def shape(schema: dict[str, Any]) -> None:
        branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            schema.update(branches[0])
        elif branches:
            schema["anyOf"] = branches
        schema.update(extra)

    return shape
