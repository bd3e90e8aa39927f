"""MCP tools for message workflows: send a template or to a contact group, list templates and
contacts, create a recurring send. Each is one call of the relay's API with the agent's key."""

from __future__ import annotations

from typing import Any

from relayd.cli.mcp_tools import RelayApi, Tool, ToolError, post_send

NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"}
VARS = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "Values for the template's {placeholders}, e.g. {\"code\": \"4711\"}",
}
RECIPIENTS = {
    "to": {
        "description": "Recipient(s) in E.164 form; or give `group` instead",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                        "maxItems": 100}],
    },
    "group": {**NAME, "description": "A contact group's name (see list_contacts)"},
}


def _target(args: dict[str, Any]) -> dict[str, Any]:
    """`to` or `group`, exactly one."""
    to, group = args.get("to"), args.get("group")
    if (to is None) == (group is None):
        raise ToolError("give either `to` (numbers) or `group` (a contact group's name)")
    return {"to": to} if to is not None else {"group": group}


def _vars(args: dict[str, Any]) -> dict[str, Any]:
    values = args.get("vars")
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise ToolError("vars: an object of placeholder names to text values")
    return {"vars": values}


async def send_template(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/messages with a template (to numbers or a group)."""
    template = args.get("template")
    if not isinstance(template, str) or not template:
        raise ToolError("template: give a template's name (see list_templates)")
    body = {**_target(args), "template": template, **_vars(args)}
    return await post_send(api, body, args.get("idempotency_key"))


async def send_to_group(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/messages to a group with a text (placeholders from each contact)."""
    group, text = args.get("group"), args.get("text")
    if not isinstance(group, str) or not group:
        raise ToolError("group: give a contact group's name (see list_contacts)")
    if not isinstance(text, str) or not text.strip():
        raise ToolError("text: give the message text")
    body = {"group": group, "text": text, **_vars(args)}
    return await post_send(api, body, args.get("idempotency_key"))


async def list_templates(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """GET /api/v1/templates."""
    return dict(await api.call("GET", "/api/v1/templates"))


async def list_contacts(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """GET /api/v1/contacts and /api/v1/groups."""
    contacts = await api.call("GET", "/api/v1/contacts")
    groups = await api.call("GET", "/api/v1/groups")
    return {"contacts": contacts["contacts"], "groups": groups["groups"]}


async def create_schedule(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/schedules."""
    body = {**_target(args), **_vars(args)}
    for name in ("rule", "start", "timezone", "text", "template", "name"):
        if args.get(name) is not None:
            body[name] = args[name]
    return dict(await api.call("POST", "/api/v1/schedules", json=body))


_ID_KEY = {"type": "string", "maxLength": 200,
           "description": "Reuse the key of an earlier call to retry it safely"}

FLOW_TOOLS = (
    Tool(
        "send_template",
        "Send a template",
        "Send a named template (see list_templates) to numbers (`to`) or to every contact of a "
        "group (`group`). Placeholders such as {name} are filled from each contact and from "
        "`vars`; a missing value is refused naming the placeholder, nothing is sent. Numbers "
        "that opted out (sent STOP) are refused, and skipped in a group. Confirm with the user "
        "first. Returns the messages with their ids.",
        {
            "type": "object",
            "properties": {**RECIPIENTS, "template": NAME, "vars": VARS,
                           "idempotency_key": _ID_KEY},
            "required": ["template"],
            "additionalProperties": False,
        },
        send_template,
        read_only=False,
    ),
    Tool(
        "send_to_group",
        "Send to a contact group",
        "Send one SMS to every contact of a group (see list_contacts); {name}, {number} and "
        "the contact's fields in the text are filled per contact, then `vars`. Contacts who "
        "opted out are skipped. Confirm with the user first.",
        {
            "type": "object",
            "properties": {"group": RECIPIENTS["group"], "text": {"type": "string"},
                           "vars": VARS, "idempotency_key": _ID_KEY},
            "required": ["group", "text"],
            "additionalProperties": False,
        },
        send_to_group,
        read_only=False,
    ),
    Tool(
        "list_templates",
        "List templates",
        "The org's message templates: name, text and the {placeholders} each needs.",
        {"type": "object", "properties": {}, "additionalProperties": False},
        list_templates,
    ),
    Tool(
        "list_contacts",
        "List contacts and groups",
        "The org's contacts (number, name, fields usable as placeholders) and groups.",
        {"type": "object", "properties": {}, "additionalProperties": False},
        list_contacts,
    ),
    Tool(
        "create_schedule",
        "Create a recurring send",
        "Send the same SMS (a text or a template) again and again by an RFC 5545 RRULE with "
        "FREQ=DAILY, WEEKLY or MONTHLY, e.g. FREQ=WEEKLY;BYDAY=MO, from `start` (wall time in "
        "`timezone`, e.g. 2026-12-07T09:00:00 and Europe/Berlin). Returns the schedule with "
        "its next_run. Confirm the rule and the recipients with the user first.",
        {
            "type": "object",
            "properties": {
                **RECIPIENTS,
                "rule": {"type": "string", "maxLength": 300},
                "start": {"type": "string", "description": "ISO 8601 first run"},
                "timezone": {"type": "string", "default": "UTC"},
                "text": {"type": "string"},
                "template": NAME,
                "vars": VARS,
                "name": {"type": "string", "maxLength": 100},
            },
            "required": ["rule", "start"],
            "additionalProperties": False,
        },
        create_schedule,
        read_only=False,
    ),
)
