"""Inbound SMS from phones (WebSocket `inbound`, POST /webhook) and the seed-004 HTTP routes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient
from tests.test_phones import SECRET, base_url, make_org, send, wait_status

SENDER = "+15551112222"


async def received(relay: RelayClient, key: str | None = None) -> list[dict[str, Any]]:
    status, body = await relay.call("GET", "/api/v1/messages?direction=in", key=key)
    assert status == 200, body
    return list(body["messages"])


async def test_inbound_by_websocket_and_webhook_is_stored_once_each_and_seen_everywhere(
    relay: RelayClient,
) -> None:
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET)
    await phone.start()
    try:
        await phone.inject(SENDER, "over the socket", sms_id="123")
        await phone.inject(SENDER, "over the socket", sms_id="123")  # a replay: acked, not stored
        acks = [f for f in phone.frames if f["type"] == "inbound_ack"]
        assert acks == [{"type": "inbound_ack", "id": "123"}] * 2
    finally:
        await phone.stop()

    batch = {
        "org_id": "default",
        "secret_key": SECRET,
        "messages": [
            {"address": "+15559990000", "body": "over http", "date": 1700000000000, "sim_slot": 0},
            {"address": "+15559990000", "body": "over http", "date": 1700000000000, "sim_slot": 0},
        ],
    }
    status, answer = await relay.call("POST", "/webhook", json=batch)
    assert status == 200
    assert answer == {"ok": True, "org_id": "default", "stored": 2, "duplicates": 1}
    status, again = await relay.call("POST", "/webhook", json=batch)  # the phone retries
    assert (status, again["duplicates"]) == (200, 2)

    messages = await received(relay)
    assert [(m["peer"], m["text"]) for m in messages] == [
        (SENDER, "over the socket"),
        ("+15559990000", "over http"),
    ]
    assert messages[0]["sim"].startswith("phone:") and messages[1]["received_at"].startswith(
        "2023-11-14T22:13:20"
    )

    events = await relay.relay.store.events.since("default", 0)
    texts = [e.data["text"] for e in events if e.type == "sms.received"]
    assert texts == ["over the socket", "over http"]

    async with relay.http.get(
        "/messages/default", headers={"X-Secret-Key": SECRET}, params={"direction": "in"}
    ) as resp:
        assert resp.status == 200
        seed = await resp.json()
    assert seed["org_id"] == "default" and seed["count"] == 2
    assert [(m["address"], m["body"], m["status"]) for m in seed["messages"]] == [
        (SENDER, "over the socket", "received"),
        ("+15559990000", "over http", "received"),
    ]
    async with relay.http.get(f"/messages/default/{SECRET}", params={"limit": "1"}) as resp:
        assert resp.status == 200 and (await resp.json())["count"] == 1


async def test_phone_side_ids_dedupe_per_device(relay: RelayClient) -> None:
    await make_org(relay, "default")
    one = ScriptedPhone(base_url(relay), "default", SECRET, device_id="one")
    two = ScriptedPhone(base_url(relay), "default", SECRET, device_id="two")
    await one.start()
    await two.start()
    try:
        await one.inject(SENDER, "first", sms_id="7")
        await two.inject(SENDER, "second", sms_id="7")  # the same id on another phone
        await one.inject(SENDER, "first", sms_id="7")
    finally:
        await one.stop()
        await two.stop()
    assert [m["text"] for m in await received(relay)] == ["first", "second"]


async def test_reply_to_a_phone_inbound_goes_out_on_the_same_phone(relay: RelayClient) -> None:
    await make_org(relay, "default")
    one = ScriptedPhone(base_url(relay), "default", SECRET, device_id="one")
    two = ScriptedPhone(base_url(relay), "default", SECRET, device_id="two")
    await one.start()
    await two.start()
    try:
        await two.inject("+15553334444", "hello?")
        for _ in range(3):  # sticky replies beat round robin
            message_id = await send(relay, "reply")
            await wait_status(relay, message_id, "sent")
        assert len(two.sent) == 3 and one.sent == {}
    finally:
        await one.stop()
        await two.stop()


async def test_seed_routes_answer_401_before_looking_at_the_body(relay: RelayClient) -> None:
    for method, path, body in (
        ("POST", "/webhook", b"not json at all"),
        ("POST", "/webhook", b'{"messages": "wrong type"}'),
        ("POST", "/send/default", b'{"to": 5}'),
        ("GET", "/messages/default", b""),
        ("GET", "/websocket", b""),
    ):
        async with relay.http.request(method, path, data=body) as resp:
            assert resp.status == 401, (method, path)
            assert (await resp.json())["error"]["code"] == "unauthorized"
    await make_org(relay, "default")
    async with relay.http.post(
        "/webhook",
        data=b"{}",
        headers={"X-Secret-Key": "wrong-secret-000"},
        params={"org_id": "default"},
    ) as resp:
        assert resp.status == 401
    async with relay.http.post(
        "/webhook", json={"org_id": "default", "secret_key": SECRET, "messages": [{"body": "x"}]}
    ) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"]["field"] == "messages"


async def test_seed_secret_positions_accept_an_api_key_of_the_org_only(relay: RelayClient) -> None:
    await make_org(relay, "shop")
    read_key = await relay.new_key(["read"], org="shop")
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": read_key}) as resp:
        assert resp.status == 200
    async with relay.http.get(f"/messages/shop/{read_key}") as resp:
        assert resp.status == 200
    other = await relay.new_key(["read", "send"], org="elsewhere")
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": other}) as resp:
        assert resp.status == 404  # never reveal that the org exists
    status, body = await relay.call(
        "POST", "/send/shop", json={"secret_key": read_key, "to": SENDER, "body": "x"}
    )
    assert status == 403 and "send" in body["error"]["message"]


async def test_seed_send_takes_a_messages_list_and_refuses_it_whole_on_one_bad_item(
    relay: RelayClient,
) -> None:
    await make_org(relay, "shop")
    good = {"to": SENDER, "body": "a"}
    status, body = await relay.call(
        "POST",
        "/send/shop",
        json={"secret_key": SECRET, "messages": [good, {"to": "not a number", "body": "b"}]},
    )
    assert status == 422 and body["error"]["field"] == "to"
    status, body = await relay.call(
        "POST", "/send/shop", json={"secret_key": SECRET, "messages": [good, {**good, "body": "b"}]}
    )
    assert status == 200 and body["queued"] == 2
    assert [r["status"] for r in body["results"]] == ["queued", "queued"]
    key = await relay.new_key(["read"], org="shop")
    _, listing = await relay.call("GET", "/api/v1/messages", key=key)
    assert [m["text"] for m in listing["messages"]] == ["a", "b"]


@pytest.mark.parametrize("allow", [False, True])
async def test_webhook_creates_an_org_only_when_allowed(
    make_relay: Any, config: Any, allow: bool
) -> None:
    config.phones.allow_new_orgs = allow
    relay = await make_relay()
    batch = {"org_id": "fresh", "secret_key": SECRET, "messages": []}
    status, body = await relay.call("POST", "/webhook", json=batch, headers={"Authorization": ""})
    assert status == (200 if allow else 401), body
    assert await relay.relay.store.keys.org_exists("fresh") is allow
    await asyncio.sleep(0)
