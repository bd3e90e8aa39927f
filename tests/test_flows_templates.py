"""Templates, contacts and groups (issue 14, acceptance 7): a template sent to a group makes
one message per contact with its own text; what cannot be filled is refused, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RelayClient

PEOPLE = (("+15551230001", "Ann", "Tuesday 10:00"), ("+15551230002", "Bob", "Wednesday 9:15"),
          ("+15551230003", "Cleo", "Friday 16:30"))


async def ok(relay: RelayClient, method: str, path: str, key: str | None = None,
             **body: Any) -> Any:
    status, answer = await relay.call(method, path, key, json=body)
    assert status in (200, 201), answer
    return answer


async def clinic(relay: RelayClient, key: str | None = None) -> dict[str, Any]:
    """A group of three contacts, each with a name and an `appointment` field."""
    group = await ok(relay, "POST", "/api/v1/groups", key, name="patients")
    ids = [
        (await ok(relay, "POST", "/api/v1/contacts", key, number=number, name=name,
                  fields={"appointment": when}))["id"]
        for number, name, when in PEOPLE
    ]
    return dict(await ok(relay, "POST", f"/api/v1/groups/{group['id']}/members", key,
                         contacts=ids))


async def outbound(relay: RelayClient, key: str | None = None) -> list[dict[str, Any]]:
    _, body = await relay.call("GET", "/api/v1/messages?direction=out", key)
    return list(body["messages"])


async def test_a_template_sent_to_a_group_of_three_makes_three_messages_with_their_texts(
    relay: RelayClient,
) -> None:
    template = await ok(relay, "POST", "/api/v1/templates", name="reminder",
                        text="Hi {name}, see you {appointment} at {place}. {{Reply}} to move it")
    assert template["placeholders"] == ["name", "appointment", "place"]
    group = await clinic(relay)
    assert group["members"] == 3 and len(group["contacts"]) == 3

    status, body = await relay.call("POST", "/api/v1/messages", json={
        "group": "patients", "template": "reminder", "vars": {"place": "Main St 4"}})
    assert status == 202, body
    assert len(body["messages"]) == 3
    sent = sorted((m["peer"], m["text"]) for m in await outbound(relay))
    assert sent == [
        (number, f"Hi {name}, see you {when} at Main St 4. {{Reply}} to move it")
        for number, name, when in PEOPLE
    ]


async def test_a_missing_placeholder_is_a_422_naming_it_and_nothing_is_stored(
    relay: RelayClient,
) -> None:
    await ok(relay, "POST", "/api/v1/templates", name="reminder",
             text="Hi {name}, see you {appointment} at {place}")
    await clinic(relay)
    status, body = await relay.call("POST", "/api/v1/messages",
                                    json={"group": "patients", "template": "reminder"})
    assert status == 422, body
    assert body["error"]["code"] == "missing_placeholder" and "{place}" in body["error"]["message"]
    status, body = await relay.call("POST", "/api/v1/messages", json={
        "to": "+15551230009", "template": "reminder", "vars": {"name": "Dee"}})
    assert status == 422 and "{appointment}, {place}" in body["error"]["message"], body
    assert await outbound(relay) == []


@pytest.mark.parametrize(
    ("body", "field", "code", "status"),
    [
        ({"group": "nobody", "text": "x"}, "group", "unknown_group", 404),
        ({"to": "+15551230001", "template": "nope"}, "template", "unknown_template", 404),
        ({"to": "+15551230001", "group": "patients", "text": "x"}, "group", "invalid_field", 422),
        ({"to": "+15551230001", "text": "x", "template": "t"}, "template", "invalid_field", 422),
        ({"group": "patients"}, "text", "invalid_field", 422),
        ({"text": "x"}, "to", "invalid_field", 422),
        ({"to": "+15551230001", "text": "{a}", "vars": {"1x": "v"}}, "vars", "invalid_field",
         422),
    ],
    ids=["unknown-group", "unknown-template", "to-and-group", "text-and-template",
         "no-text", "no-to", "bad-var-name"],
)
async def test_a_send_body_that_names_nothing_usable_is_refused(
    relay: RelayClient, body: dict[str, Any], field: str, code: str, status: int
) -> None:
    await clinic(relay)
    got, answer = await relay.call("POST", "/api/v1/messages", json=body)
    assert got == status and (answer["error"]["field"], answer["error"]["code"]) == (field, code)
    assert await outbound(relay) == []


async def test_a_template_to_plain_numbers_fills_from_vars_and_plain_texts_stay_as_written(
    relay: RelayClient,
) -> None:
    await ok(relay, "POST", "/api/v1/templates", name="otp", text="Your code is {code}")
    status, body = await relay.call("POST", "/api/v1/messages", json={
        "to": ["+15551230001", "+15551230002"], "template": "otp", "vars": {"code": "4711"}})
    assert status == 202 and [m["to"] for m in body["messages"]] == ["+15551230001",
                                                                    "+15551230002"]
    status, _ = await relay.call("POST", "/api/v1/messages",
                                 json={"to": "+15551230003", "text": "Braces {stay} as {they} are"})
    assert status == 202
    assert sorted(m["text"] for m in await outbound(relay)) == [
        "Braces {stay} as {they} are", "Your code is 4711", "Your code is 4711"]


async def test_a_group_send_replayed_with_its_idempotency_key_stores_nothing_new(
    relay: RelayClient,
) -> None:
    await clinic(relay)
    body = {"group": "patients", "text": "Closed today, {name}", "idempotency_key": "close-1"}
    status, first = await relay.call("POST", "/api/v1/messages", json=body)
    assert status == 202
    status, again = await relay.call("POST", "/api/v1/messages", json=body)
    assert status == 200 and [m["id"] for m in again["messages"]] == [
        m["id"] for m in first["messages"]]
    assert len(await outbound(relay)) == 3


async def test_a_group_send_skips_members_who_opted_out(relay: RelayClient) -> None:
    await clinic(relay)
    await ok(relay, "POST", "/api/v1/optouts", number=PEOPLE[1][0])
    status, body = await relay.call("POST", "/api/v1/messages",
                                    json={"group": "patients", "text": "Hello {name}"})
    assert status == 202 and len(body["messages"]) == 2
    assert sorted(m["text"] for m in await outbound(relay)) == ["Hello Ann", "Hello Cleo"]


async def test_templates_contacts_and_groups_belong_to_their_org(relay: RelayClient) -> None:
    await ok(relay, "POST", "/api/v1/templates", name="reminder", text="Hi {name}")
    group = await clinic(relay)
    other = await relay.new_key(["send", "read"], org="other")
    for path in ("/api/v1/templates", "/api/v1/contacts", "/api/v1/groups"):
        _, body = await relay.call("GET", path, other)
        assert next(iter(body.values())) == [], path
    assert (await relay.call("GET", f"/api/v1/groups/{group['id']}", other))[0] == 404
    contact = group["contacts"][0]["id"]
    assert (await relay.call("DELETE", f"/api/v1/contacts/{contact}", other))[0] == 404
    status, body = await relay.call("POST", "/api/v1/messages", other,
                                    json={"group": "patients", "template": "reminder"})
    assert status == 404 and body["error"]["code"] == "unknown_template"
    # the other org may use the same names for its own
    await ok(relay, "POST", "/api/v1/templates", other, name="reminder", text="Yo {name}")
    await ok(relay, "POST", "/api/v1/groups", other, name="patients")


async def test_crud_of_templates_contacts_and_groups(relay: RelayClient) -> None:
    template = await ok(relay, "POST", "/api/v1/templates", name="a", text="one {x}")
    status, body = await relay.call("POST", "/api/v1/templates", json={"name": "a", "text": "y"})
    assert status == 409 and body["error"]["code"] == "name_taken"
    changed = await ok(relay, "PATCH", f"/api/v1/templates/{template['id']}", text="two {y}")
    assert (changed["name"], changed["text"], changed["placeholders"]) == ("a", "two {y}", ["y"])
    contact = await ok(relay, "POST", "/api/v1/contacts", number="(202) 555-0123", name="Eve")
    assert contact["number"] == "+12025550123"  # national forms read in [sms] default_region
    status, _ = await relay.call("POST", "/api/v1/contacts", json={"number": "+12025550123"})
    assert status == 409
    contact = await ok(relay, "PATCH", f"/api/v1/contacts/{contact['id']}",
                       fields={"plan": "gold"})
    assert (contact["name"], contact["fields"]) == ("Eve", {"plan": "gold"})
    group = await ok(relay, "POST", "/api/v1/groups", name="vip")
    status, body = await relay.call("POST", f"/api/v1/groups/{group['id']}/members",
                                    json={"contacts": [contact["id"], 999]})
    assert status == 422 and body["error"]["code"] == "unknown_contact"
    await ok(relay, "POST", f"/api/v1/groups/{group['id']}/members", contacts=[contact["id"]])
    await ok(relay, "DELETE", f"/api/v1/groups/{group['id']}/members/{contact['id']}")
    assert (await ok(relay, "GET", f"/api/v1/groups/{group['id']}"))["members"] == 0
    await ok(relay, "POST", f"/api/v1/groups/{group['id']}/members", contacts=[contact["id"]])
    await ok(relay, "DELETE", f"/api/v1/contacts/{contact['id']}")
    assert (await ok(relay, "GET", f"/api/v1/groups/{group['id']}"))["members"] == 0
    for path in (f"/api/v1/templates/{template['id']}", f"/api/v1/groups/{group['id']}"):
        await ok(relay, "DELETE", path)
        assert (await relay.call("GET", path))[0] == 404
