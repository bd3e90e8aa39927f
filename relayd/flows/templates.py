"""Templates with `{placeholders}` and sends to a group: one order becomes the orders it means.

`TemplateExpander.expand` is the first step of `SendService.submit_all`, so every surface that
sends (native API, MCP, schedules, the web UI) gets the same expansion and the same refusals,
before anything is stored: a placeholder with no value is a 422 naming it, an unknown
template or group a 404 naming it (`unknown_template`, `unknown_group`).

A placeholder is `{name}` (letters, digits, `_`); `{{` and `}}` write a brace. For a group
send the values are the contact's `name`, `number` and fields, then the request's `vars` for
what the contact does not have (the contact's own value wins).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from relayd.exceptions import Conflict, InvalidField, NotFound
from relayd.sending import SendOrder
from relayd.store import ApiKey, Store

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"
"""What a template or group name may be: it appears in send bodies and URLs of the UI."""
VARS: dict[str, Any] = {
    "type": "object",
    "maxProperties": 50,
    "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
    "additionalProperties": {"type": "string", "maxLength": 1000},
}
"""Placeholder values as the OpenAPI document shows them (send `vars`, contact `fields`)."""


def placeholders(text: str) -> list[str]:
    """The placeholder names of `text`, in order of first use."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name is not None and name not in seen:
            seen.append(name)
    return seen


def fill(text: str, values: Mapping[str, str], *, who: str = "") -> str:
    """`text` with every placeholder replaced; InvalidField naming the first one missing."""
    missing = [name for name in placeholders(text) if name not in values]
    if missing:
        names = ", ".join(f"{{{n}}}" for n in missing)
        whom = f" for {who}" if who else ""
        raise InvalidField(
            "vars",
            f"vars: no value for {names}{whom}; give it in `vars` or the contact's fields",
            "missing_placeholder",
        )

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values[match.group(1)]

    return PLACEHOLDER.sub(replace, text)


FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_fields(values: Mapping[str, str], field: str = "fields") -> None:
    """Placeholder values: at most 50, names usable as `{placeholder}`, values ≤ 1000 chars."""
    if len(values) > 50:
        raise InvalidField(field, f"{field}: at most 50 values")
    for name, value in values.items():
        if not FIELD.match(name):
            raise InvalidField(field, f"{field}: '{name[:70]}' is not a placeholder name "
                               "(letters, digits and _, not starting with a digit)")  # fmt: skip
        if len(value) > 1000:
            raise InvalidField(field, f"{field}: the value of '{name}' is over 1000 characters")


class TemplateExpander:
    """Resolves `template`, `vars` and `group` of a send order against the org's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def expand(self, key: ApiKey, order: SendOrder) -> list[SendOrder]:
        """The orders `order` stands for: itself, its template filled, or one per contact."""
        if order.template is None and order.group is None and order.vars is None:
            return [order]
        text = order.text
        if order.template is not None:
            template = await self.store.templates.by_name(key.org, order.template)
            if template is None:  # a name that names nothing: 404, as for a path (and Stripe's)
                raise NotFound(f"template: no template '{order.template}' in this org",
                               code="unknown_template", field="template")  # fmt: skip
            text = template.text
        given = dict(order.vars or {})
        check_fields(given, "vars")
        plain = dataclasses.replace(order, template=None, vars=None, group=None)
        if order.group is None:
            return [dataclasses.replace(plain, text=fill(text, given))]
        group = await self.store.contacts.group_by_name(key.org, order.group)
        if group is None:
            raise NotFound(f"group: no group '{order.group}' in this org", code="unknown_group",
                           field="group")
        contacts = await self.store.contacts.list_contacts(key.org, group.id)
        if not contacts:  # a state, not a bad field: 409 as for other states that refuse
            raise Conflict(f"group: '{order.group}' has no contacts", code="empty_group",
                           field="group")
        orders = []
        for contact in contacts:
            values = given | contact.fields | {"name": contact.name, "number": contact.number}
            orders.append(
                dataclasses.replace(
                    plain,
                    to=[contact.number],
                    text=fill(text, values, who=f"contact {contact.id} ({contact.name})"),
                    idempotency_key=(
                        None if order.idempotency_key is None
                        else f"{order.idempotency_key}#{contact.number}"
                    ),
                    # a group send goes to those members who did not opt out
                    optout="skip" if order.optout == "refuse" else order.optout,
                )
            )
        return orders
