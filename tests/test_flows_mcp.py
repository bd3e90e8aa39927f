"""`relayd mcp` workflow tools, spawned for real and driven by the official MCP client: list
templates and contacts, send a template to a group, create a recurring send."""

from __future__ import annotations

import datetime as dt

from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client

from tests.conftest import RelayClient
from tests.test_compat_mcp import payload, server


async def test_an_agent_lists_templates_and_contacts_sends_to_a_group_and_schedules(
    relay: RelayClient,
) -> None:
    await relay.call("POST", "/api/v1/templates", json={"name": "pickup",
                                                       "text": "{name}, your {item} is ready"})
    ids = []
    for number, name in (("+15551230001", "Ann"), ("+15551230002", "Bob")):
        _, contact = await relay.call("POST", "/api/v1/contacts", json={"number": number,
                                                                       "name": name})
        ids.append(contact["id"])
    _, group = await relay.call("POST", "/api/v1/groups", json={"name": "customers"})
    await relay.call("POST", f"/api/v1/groups/{group['id']}/members", json={"contacts": ids})
    key = await relay.new_key(["send", "read"])
    async with stdio_client(server(relay, key)) as (read, write), ClientSession(read, write) as mcp:
        await mcp.initialize()
        templates = payload(await mcp.call_tool("list_templates", {}))
        assert [(t["name"], t["placeholders"]) for t in templates["templates"]] == [
            ("pickup", ["name", "item"])]
        book = payload(await mcp.call_tool("list_contacts", {}))
        assert [g["name"] for g in book["groups"]] == ["customers"]
        assert sorted(c["name"] for c in book["contacts"]) == ["Ann", "Bob"]

        missing = await mcp.call_tool("send_template", {"group": "customers",
                                                        "template": "pickup"})
        assert missing.is_error and "{item}" in missing.content[0].text
        sent = payload(await mcp.call_tool("send_template", {
            "group": "customers", "template": "pickup", "vars": {"item": "order"}}))
        assert len(sent["messages"]) == 2
        texts = payload(await mcp.call_tool("send_to_group", {"group": "customers",
                                                              "text": "Thanks {name}"}))
        assert len(texts["messages"]) == 2

        soon = dt.date.today() + dt.timedelta(days=7)
        saturday = soon + dt.timedelta(days=(5 - soon.weekday()) % 7)
        schedule = payload(await mcp.call_tool("create_schedule", {
            "group": "customers", "text": "Open today, {name}", "rule": "FREQ=WEEKLY;BYDAY=SA",
            "start": f"{saturday}T08:00:00", "timezone": "UTC"}))
        assert schedule["next_run"] == f"{saturday}T08:00:00+00:00"
    _, out = await relay.call("GET", "/api/v1/messages?direction=out")
    assert sorted(m["text"] for m in out["messages"]) == [
        "Ann, your order is ready", "Bob, your order is ready", "Thanks Ann", "Thanks Bob"]
    assert {m["source"] for m in out["messages"]} == {"mcp"}
