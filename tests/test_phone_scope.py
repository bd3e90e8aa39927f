"""Phones need their own credential (issue 12): the `phone` scope, device identity bound to
the credential that made it, results only from the device a send was pushed to, inbound
`source`, and the device and socket limits. Real sockets (websockets, aiohttp, the scripted
phone and app) against a real relay on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets

from relayd.bridges.base import InboundSms
from relayd.config import Config
from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient, RelayFactory
from tests.support.asg_app import ScriptedApp
from tests.support.postgres import run_sql
from tests.test_dispatch import ScriptedSim
from tests.test_events import read_events
from tests.test_phones import SECRET, base_url, make_org, send, until, wait_status, ws_url

SENDER = "+15557654321"


async def ws_refusal(relay: RelayClient, **query: str) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of a /websocket upgrade the relay refuses before upgrading."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url(relay, **query)):
            pass
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def post_webhook(relay: RelayClient, secret: str, body: str = "hi") -> tuple[int, Any]:
    batch = {"org_id": "shop", "secret_key": secret,
             "messages": [{"address": SENDER, "body": body}]}
    return await relay.call("POST", "/webhook", json=batch)


def rows(relay: RelayClient, table: str) -> int:
    return int(run_sql(relay.relay.config.storage.path, f"SELECT COUNT(*) FROM {table}")[0][0])


# --- 1. the phone scope -----------------------------------------------------------------


async def test_read_and_send_keys_are_refused_on_websocket_and_webhook_with_403(
    relay: RelayClient,
) -> None:
    await make_org(relay, "shop")
    for scopes in (["read"], ["send"], ["send", "read"]):
        key = await relay.new_key(scopes, org="shop")
        status, body = await ws_refusal(relay, org_id="shop", secret_key=key)
        assert status == 403 and "'phone' scope" in body["error"]["message"], scopes
        status, body = await post_webhook(relay, key)
        assert status == 403 and body["error"]["code"] == "forbidden", scopes
    _, listing = await relay.call("GET", "/api/v1/messages", key=await relay.new_key(["read"], org="shop"))
    assert listing["messages"] == []  # no forged inbound SMS
    assert relay.relay.phone_hub.of_org("shop") == []


@pytest.mark.parametrize("scopes", [["phone"], ["admin"]])
async def test_a_phone_or_admin_key_connects_a_phone_and_posts_inbound(
    relay: RelayClient, scopes: list[str]
) -> None:
    await make_org(relay, "shop")
    key = await relay.new_key(scopes, org="shop")
    phone = ScriptedPhone(base_url(relay), "shop", key, device_id="pixel")
    await phone.start()
    try:
        reader = await relay.new_key(["send", "read"], org="shop")
        message_id = await send(relay, "to the phone", key=reader)
        await wait_status(relay, message_id, "sent", key=reader)
        assert message_id in phone.sent
        await phone.inject(SENDER, "over the socket")
    finally:
        await phone.stop()
    status, body = await post_webhook(relay, key, "over http")
    assert status == 200 and body["stored"] == 1
    _, listing = await relay.call("GET", "/api/v1/messages?direction=in", key=reader)
    assert sorted(m["text"] for m in listing["messages"]) == ["over http", "over the socket"]


async def test_a_key_with_only_the_phone_scope_cannot_send_or_read(relay: RelayClient) -> None:
    key = await relay.new_key(["phone"])
    status, body = await relay.call("GET", "/api/v1/messages", key=key)
    assert status == 403 and "'read'" in body["error"]["message"]
    status, _ = await relay.call("POST", "/api/v1/messages", key=key, json={"to": SENDER, "text": "x"})
    assert status == 403
    status, body = await relay.call("POST", "/api/v1/keys", json={"name": "x", "scopes": ["bogus"]})
    assert status == 422


async def test_unknown_org_and_wrong_secret_get_the_same_401_before_the_upgrade(
    relay: RelayClient,
) -> None:
    await make_org(relay, "shop")
    unknown = await ws_refusal(relay, org_id="no-such-org", secret_key=SECRET)
    wrong = await ws_refusal(relay, org_id="shop", secret_key="wrong-secret-000")
    assert unknown == wrong
    assert unknown[0] == 401 and unknown[1]["error"]["code"] == "unauthorized"


# --- 2. identity bound to its credential ------------------------------------------------


async def test_another_credential_claiming_a_device_id_or_its_sim_numbers_is_refused(
    relay: RelayClient,
) -> None:
    await make_org(relay, "shop")
    owner_key = await relay.new_key(["phone"], org="shop")
    first = ScriptedPhone(base_url(relay), "shop", owner_key, device_id="pixel")
    first.hold = True  # takes the send, answers when the test says
    await first.start()
    try:
        reader = await relay.new_key(["send", "read"], org="shop")
        message_id = await send(relay, "2FA code 123456", key=reader)
        await until(lambda: first.received)
        intruder_key = await relay.new_key(["phone"], org="shop")
        status, body = await ws_refusal(relay, org_id="shop", secret_key=intruder_key,
                                        device_id="pixel")
        assert status == 409 and body["error"]["field"] == "device_id"
        status, _ = await ws_refusal(relay, org_id="shop", secret_key=SECRET, device_id="pixel")
        assert status == 409  # the org secret is another credential too
        intruder = ScriptedPhone(base_url(relay), "shop", intruder_key, device_id="other",
                                 numbers=first.numbers, reconnect=False)
        await intruder.start(wait=False)
        await until(lambda: intruder.close_code is not None)
        assert intruder.close_code == 4009 and "SIM number" in intruder.close_reason
        assert [f["code"] for f in intruder.frames if f["type"] == "error"] == ["sim_claimed"]
        assert intruder.received == []
        # the first keeps its socket and its send
        assert first.close_code is None and first.connects == 1
        await first.send({"type": "send_result", "id": message_id, "success": True})
        await wait_status(relay, message_id, "sent", key=reader)
        _, sims = await relay.call("GET", "/api/v1/sims", key=reader)
        assert [(s["name"], s["online"]) for s in sims["sims"]] == [("pixel:0", True)]
    finally:
        await first.stop()


async def test_a_device_stays_bound_to_its_credential_across_a_relay_restart(
    make_relay: RelayFactory,
) -> None:
    relay = await make_relay()
    await make_org(relay, "default")
    owner_key = await relay.new_key(["phone"])
    intruder_key = await relay.new_key(["phone"])
    phone = ScriptedPhone(base_url(relay), "default", owner_key, device_id="pixel",
                          reconnect=False)
    await phone.start()
    await until(lambda: rows(relay, "phone_devices WHERE owner IS NOT NULL") == 1)
    await phone.stop()
    await relay.http.close()

    relay = await make_relay()  # the same database
    status, _ = await ws_refusal(relay, org_id="default", secret_key=intruder_key,
                                 device_id="pixel")
    assert status == 409
    again = ScriptedPhone(base_url(relay), "default", owner_key, device_id="pixel")
    await again.start()
    await again.stop()
    assert again.connects == 1


async def test_a_forged_send_result_or_delivery_for_another_devices_send_changes_nothing(
    relay: RelayClient,
) -> None:
    await make_org(relay, "shop")
    owner = ScriptedPhone(base_url(relay), "shop", SECRET, device_id="pixel")
    owner.hold = True
    await owner.start()
    forger = ScriptedPhone(base_url(relay), "shop", SECRET, device_id="forger")
    await forger.start()
    try:
        reader = await relay.new_key(["send", "read"], org="shop")
        sims = relay.relay.sims.all()
        message_id = await send(relay, "secret", key=reader, sim="pixel:0")
        await until(lambda: owner.received)
        assert len(sims) == 2 and forger.received == []
        await forger.send({"type": "send_result", "id": message_id, "success": True})
        await forger.send({"type": "delivery", "id": message_id, "delivered": True})
        await forger.send({"type": "ping"})  # frames are handled in order: then the forged ones were
        await until(lambda: any(f["type"] == "pong" for f in forger.frames))
        _, message = await relay.call("GET", f"/api/v1/messages/{message_id}", key=reader)
        assert message["status"] == "sending"
        await owner.send({"type": "send_result", "id": message_id, "success": True})
        await wait_status(relay, message_id, "sent", key=reader)
        await forger.send({"type": "delivery", "id": message_id, "delivered": False})
        await owner.send({"type": "delivery", "id": message_id, "delivered": True})
        delivered = await wait_status(relay, message_id, "delivered", key=reader)
        pixel = next(d for d in relay.relay.phone_hub.of_org("shop") if d.name == "pixel")
        assert delivered["sim"] == f"phone:{pixel.id}:0"
    finally:
        await owner.stop()
        await forger.stop()


# --- 3. inbound source ------------------------------------------------------------------


async def test_inbound_messages_and_their_events_carry_their_source(
    make_relay: RelayFactory,
) -> None:
    modem = ScriptedSim("m1")
    relay = await make_relay([modem])
    await make_org(relay, "default")
    async with relay.http.get("/api/v1/events", headers=relay.headers()) as stream:
        assert modem.events is not None
        await modem.events.on_inbound(
            modem.info.id, InboundSms(SENDER, "by modem", None, external_id="m-1")
        )
        phone = ScriptedPhone(base_url(relay), "default", SECRET)
        await phone.start()
        try:
            await phone.inject(SENDER, "by phone")
        finally:
            await phone.stop()
        status, _ = await relay.call("POST", "/webhook", json={
            "org_id": "default", "secret_key": SECRET,
            "messages": [{"address": SENDER, "body": "by webhook"}]})
        assert status == 200
        async with aiohttp.ClientSession() as http:
            app = ScriptedApp(http=http, base=str(relay.http.make_url("/api/mobile/v1")),
                              private_token=relay.admin_key)
            await app.start()
            assert (await app.sms_received(SENDER, "by app", "e-1")).status in (200, 204)
        events = [e for e in await read_events_until(stream, 4) if e["type"] == "sms.received"]
    by_text = {e["data"]["text"]: e["data"]["source"] for e in events}
    assert by_text == {"by modem": "modem", "by phone": "phone", "by webhook": "webhook",
                       "by app": "app"}
    _, listing = await relay.call("GET", "/api/v1/messages?direction=in")
    assert {m["text"]: m["source"] for m in listing["messages"]} == by_text


async def read_events_until(stream: aiohttp.ClientResponse, received: int) -> list[dict[str, Any]]:
    """Events off the stream until `received` sms.received ones were among them."""
    events: list[dict[str, Any]] = []
    while sum(e["type"] == "sms.received" for e in events) < received:
        events += await read_events(stream, 1)
    return events


# --- 4. limits --------------------------------------------------------------------------


@pytest.fixture
def limited(config: Config) -> Config:
    config.limits.devices_per_org = 5
    return config


async def test_a_thousand_app_registrations_from_one_key_stop_at_devices_per_org(
    make_relay: RelayFactory, limited: Config
) -> None:
    relay = await make_relay(cfg=limited)
    key = await relay.new_key(["admin"])
    accounts, devices = rows(relay, "asg_accounts"), rows(relay, "asg_devices")
    statuses: list[int] = []
    async with aiohttp.ClientSession() as http:
        base = str(relay.http.make_url("/api/mobile/v1"))

        async def register() -> int:
            app = ScriptedApp(http=http, base=base, private_token=key)
            resp = await app.register()
            if resp.status != 201:
                error = resp.json_body["error"]  # type: ignore[attr-defined]
                assert error["code"] == "too_many_devices" and "devices_per_org" in error["message"]
            return resp.status

        for _ in range(10):  # 1,000 in waves of 100 at once
            statuses += await asyncio.gather(*(register() for _ in range(100)))
    assert statuses.count(201) == 5 and statuses.count(429) == 995
    assert rows(relay, "asg_devices") - devices == 5
    assert rows(relay, "asg_accounts") - accounts == 5
    assert len(relay.relay.app_hub.of_org("default")) == 5


async def test_new_device_ids_on_websocket_stop_at_devices_per_org_across_both_kinds(
    make_relay: RelayFactory, limited: Config
) -> None:
    relay = await make_relay(cfg=limited)
    await make_org(relay, "default")
    async with aiohttp.ClientSession() as http:
        app = ScriptedApp(http=http, base=str(relay.http.make_url("/api/mobile/v1")),
                          private_token=relay.admin_key)
        assert (await app.register()).status == 201  # one app phone counts too
    phones = [ScriptedPhone(base_url(relay), "default", SECRET, device_id=f"p{i}")
              for i in range(4)]
    try:
        for phone in phones:
            await phone.start()
        statuses = []
        for i in range(4, 50):
            status, body = await ws_refusal(relay, org_id="default", secret_key=SECRET,
                                            device_id=f"p{i}")
            statuses.append(status)
            assert body["error"]["code"] == "too_many_devices"
        assert set(statuses) == {429}
        # a phone known by its SIM numbers only: refused with a close code, nothing stored
        stranger = ScriptedPhone(base_url(relay), "default", SECRET, numbers=["+15550009999"],
                                 reconnect=False)
        await stranger.start(wait=False)
        await until(lambda: stranger.close_code is not None)
        assert stranger.close_code == 4029 and "devices_per_org" in stranger.close_reason
        assert rows(relay, "phone_devices") == 4
        status, body = await relay.call("POST", "/api/v1/phones", json={"name": "kitchen"})
        assert status == 429 and body["error"]["code"] == "too_many_devices"  # pairing too
        assert rows(relay, "phone_devices") == 4
        # a known device comes back past the limit
        await phones[0].stop()
        again = ScriptedPhone(base_url(relay), "default", SECRET, device_id="p0")
        await again.start()
        await again.stop()
        assert again.connects == 1
    finally:
        for phone in phones:
            await phone.stop()


async def test_sockets_per_key_refuses_the_socket_past_the_limit_and_frees_it_on_close(
    make_relay: RelayFactory, config: Config
) -> None:
    config.limits.sockets_per_key = 3
    relay = await make_relay(cfg=config)
    await make_org(relay, "default")
    key = await relay.new_key(["phone"])
    phones = [ScriptedPhone(base_url(relay), "default", key, device_id=f"d{i}") for i in range(3)]
    try:
        for phone in phones:
            await phone.start()
        status, body = await ws_refusal(relay, org_id="default", secret_key=key, device_id="d9")
        assert status == 429 and body["error"]["code"] == "too_many_sockets"
        assert "sockets_per_key" in body["error"]["message"]
        other = ScriptedPhone(base_url(relay), "default", SECRET, device_id="s0")
        await other.start()  # another credential has its own sockets
        await other.stop()
        await phones[0].stop()
        holder = ("default", f"key:{key_id(relay, key)}")
        await until(lambda: relay.relay.limits.sockets.count(holder) < 3)
        late = ScriptedPhone(base_url(relay), "default", key, device_id="d0")
        await late.start()
        await late.stop()
    finally:
        for phone in phones:
            await phone.stop()


def key_id(relay: RelayClient, secret: str) -> int:
    query = "SELECT id FROM api_keys WHERE prefix = ?"
    return int(run_sql(relay.relay.config.storage.path, query, (secret[:10],))[0][0])


async def test_an_app_phone_cannot_report_states_of_another_app_phones_send(
    relay: RelayClient,
) -> None:
    async with aiohttp.ClientSession() as http:
        base = str(relay.http.make_url("/api/mobile/v1"))
        owner = ScriptedApp(http=http, base=base, private_token=relay.admin_key, hold=True)
        forger = ScriptedApp(http=http, base=base, private_token=relay.admin_key)
        await owner.start()
        await forger.start()
        status, sent = await relay.call("POST", "/api/v1/messages", json={
            "to": SENDER, "text": "code 123456", "sim": f"asg:{owner.device_id}:1"})
        assert status == 202
        await until_pulled(owner)
        (taken,) = owner.received
        for state in ("Sent", "Delivered"):
            await forger.patch_state(taken, state, {state: "2026-01-01T00:00:00.000+07:00"})
        _, message = await relay.call("GET", f"/api/v1/messages/{sent['id']}")
        assert message["status"] == "sending" and forger.received == []
        await owner.report(taken)
        delivered = await wait_status(relay, sent["id"], "delivered")
        assert delivered["sim"] == f"asg:{owner.device_id}:1"


async def until_pulled(app: ScriptedApp) -> None:
    async with asyncio.timeout(5):
        while not app.received:
            await app.pull()
            await asyncio.sleep(0.05)
