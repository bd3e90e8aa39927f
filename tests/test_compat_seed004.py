"""Seed 004 (phone SMS gateway): every curl of the seed, run by real curl against the relay.

Only the host changes (and the one `// optional: ...` comment inside the seed's JSON, which
no JSON parser accepts, is dropped). The phone is a real WebSocket client (ScriptedPhone).
"""

from __future__ import annotations

from typing import Any

import pytest

from relayd.config import Config
from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient, RelayFactory
from tests.support.curl import run_curl
from tests.test_phones import base_url, until, wait_status

SEED_HOST = "https://phonesms.trucopilot.com"
SECRET = "my-secret-key-123"

WEBHOOK = """curl -X POST https://phonesms.trucopilot.com/webhook -H 'Content-Type: application/json' -d '{
"org_id": "myorg",
"secret_key": "my-secret-key-123",
"messages": [
{"address":"+15551112222","body":"hello","date":1700000000000,"sim_slot":0,"id":"123"}
]
}'"""
MESSAGES_PATH = "curl https://phonesms.trucopilot.com/messages/myorg/my-secret-key-123"
MESSAGES_HEADER = "curl -H 'X-Secret-Key: my-secret-key-123' https://phonesms.trucopilot.com/messages/myorg"
SEND = """curl -X POST https://phonesms.trucopilot.com/send/myorg -H 'Content-Type: application/json' -d '{
"secret_key": "my-secret-key-123",
"sim": "+15551112222", // optional: SIM number or slot index; omit = first device
"to": "+15553334444",
"body": "sent from the API"
}'"""
SEND_MANY = """curl -X POST https://phonesms.trucopilot.com/send/myorg -H 'Content-Type: application/json' -d '{
"secret_key": "my-secret-key-123",
"messages":[{"to":"+15553334444","body":"a"},{"to":"+15553334445","body":"b"}]
}'"""
SIMS = "curl -H 'X-Secret-Key: my-secret-key-123' https://phonesms.trucopilot.com/sims/myorg"


@pytest.fixture
def open_config(config: Config) -> Config:
    config.phones.allow_new_orgs = True  # "first /webhook or /websocket creates it"
    return config


async def curl(relay: RelayClient, command: str, query: str = "") -> tuple[int, Any]:
    replace = {SEED_HOST: base_url(relay), " // optional: SIM number or slot index; omit = first device": ""}
    if query:
        command = command.replace("/messages/myorg", f"'/messages/myorg{query}'", 1)
    return await run_curl(command, replace)


async def test_every_seed_004_curl_gets_the_documented_shape(
    make_relay: RelayFactory, open_config: Config
) -> None:
    relay = await make_relay(cfg=open_config)
    status, stored = await curl(relay, WEBHOOK)
    assert (status, stored["ok"], stored["org_id"], stored["stored"]) == (200, True, "myorg", 1)

    for command in (MESSAGES_PATH, MESSAGES_HEADER):
        status, listing = await curl(relay, command)
        assert status == 200 and listing["org_id"] == "myorg" and listing["count"] == 1
        [message] = listing["messages"]
        assert {k: message[k] for k in ("id", "direction", "address", "body", "status")} == {
            "id": message["id"], "direction": "in", "address": "+15551112222", "body": "hello",
            "status": "received",
        }
        assert message["created_at"].endswith("Z")

    phone = ScriptedPhone(base_url(relay), "myorg", SECRET, numbers=["+15551112222"], carrier="AT&T")
    await phone.start()
    try:
        await until(lambda: any(s.info.online for s in relay.relay.sims.for_org("myorg")))
        status, sims = await curl(relay, SIMS)
        assert status == 200 and sims["online_devices"] == 1
        assert [(s["slot"], s["number"], s["carrier"]) for s in sims["live_sims"]] == [
            (0, "+15551112222", "AT&T")
        ]
        assert sims["known_sims"] == sims["live_sims"]

        status, sent = await curl(relay, SEND)
        assert status == 200 and sent["ok"] is True and sent["device_online"] is True
        assert sent["queued"] == 1
        [result] = sent["results"]
        assert result["to"] == "+15553334444" and result["status"] in ("queued", "sending")
        await until(lambda: result["id"] in phone.sent)
        key = await relay.new_key(["read"], org="myorg")
        assert (await wait_status(relay, result["id"], "sent", key=key))["status"] == "sent"

        status, many = await curl(relay, SEND_MANY)
        assert status == 200 and many["queued"] == 2
        assert [r["to"] for r in many["results"]] == ["+15553334444", "+15553334445"]

        # the filters of the seed, `+` unescaped as written there
        status, out = await curl(relay, MESSAGES_HEADER, "?limit=100&since_id=0&direction=out&sim=+15551112222")
        assert status == 200
        assert [m["id"] for m in out["messages"]][:1] == [result["id"]]
        assert all(m["direction"] == "out" and m["sim"] == "+15551112222" for m in out["messages"])
        status, page = await curl(relay, MESSAGES_HEADER, f"?since_id={result['id']}&limit=1")
        assert [m["id"] for m in page["messages"]] == [many["results"][0]["id"]]
        status, bad = await curl(relay, MESSAGES_HEADER, "?limit=1001")
        assert status == 422 and bad["error"]["field"] == "limit"
    finally:
        await phone.stop()

    status, sims = await curl(relay, SIMS)
    assert sims["online_devices"] == 0 and sims["live_sims"] == []
    assert [s["number"] for s in sims["known_sims"]] == ["+15551112222"]


async def test_sims_route_checks_credentials_like_the_other_seed_routes(
    relay: RelayClient,
) -> None:
    status, body = await relay.call("POST", "/api/v1/phones", json={"org": "shop", "secret": SECRET})
    assert status == 201, body
    async with relay.http.get("/sims/shop") as resp:
        assert resp.status == 401
    async with relay.http.get("/sims/shop", headers={"X-Secret-Key": "wrong-secret-123"}) as resp:
        assert resp.status == 401
    other = await relay.new_key(["read"], org="elsewhere")
    status, _ = await relay.call("GET", "/sims/shop", key=other)
    assert status == 404  # never reveal that the org exists
    send_only = await relay.new_key(["send"], org="shop")
    assert (await relay.call("GET", "/sims/shop", key=send_only))[0] == 403
    reader = await relay.new_key(["read"], org="shop")
    status, body = await relay.call("GET", "/sims/shop", key=reader)
    assert status == 200 and body == {
        "ok": True, "org_id": "shop", "online_devices": 0, "live_sims": [], "known_sims": []
    }


async def test_seed_listing_shows_sms_only(relay: RelayClient) -> None:
    status, _ = await relay.call("POST", "/api/v1/phones", json={"org": "default", "secret": SECRET})
    assert status == 201
    await relay.call("POST", "/api/v1/messages", json={"to": "+15551230001", "text": "sms"})
    await relay.call("POST", "/api/v1/messages", json={"channel": "notify", "to": "", "text": "note"})
    async with relay.http.get("/messages/default", headers={"X-Secret-Key": SECRET}) as resp:
        listing = await resp.json()
    assert [m["body"] for m in listing["messages"]] == ["sms"]
