"""Replay of the "SMS Gateway for Android" app's requests, in the order it sends them.

First start: register with the private token, pull, webhooks, settings, event stream;
then a send pulled and reported, and an inbound SMS posted by the phone's webhook.
Restart: PATCH /device first (a 401 there makes the app register again, with Basic).
Every reply is checked for status, content type and JSON shape.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from relayd.api import asg_mobile
from tests.conftest import RelayClient
from tests.support.asg_app import ScriptedApp, app_date, gson
from tests.test_dispatch import wait_status

NANO = re.compile(r"^[A-Za-z0-9_-]{21}$")
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?(Z|[+-]\d\d:\d\d)$")
PEER = "+15557654321"


def is_json(resp: Any) -> bool:
    return resp.headers.get("Content-Type", "").startswith("application/json")


def shape(data: dict[str, Any], required: set[str], optional: set[str] = frozenset()) -> None:
    """Exactly these keys (optional ones may be missing); no nulls (the server omits them)."""
    assert required <= set(data), (required - set(data), data)
    assert set(data) <= required | optional, (set(data) - required - optional, data)
    assert all(v is not None for v in data.values()), data


async def app_for(relay: RelayClient, private_token: str | None) -> ScriptedApp:
    base = str(relay.http.make_url("/api/mobile/v1"))
    return ScriptedApp(http=relay.http.session, base=base, private_token=private_token)


async def test_first_start_and_restart_replay(relay: RelayClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asg_mobile, "KEEPALIVE_SECONDS", 0.2)
    admin_key = await relay.new_key(["admin"])
    app = await app_for(relay, admin_key)

    # 1. POST /device with the private token -> 201, new account credentials
    resp = await app.register()
    assert resp.status == 201 and is_json(resp)
    body = resp.json_body
    shape(body, {"id", "token", "login", "password"})
    assert NANO.match(body["id"]) and NANO.match(body["token"])
    assert len(body["login"]) == 6 and len(body["password"]) == 14

    # 2. GET /message?order=lifo -> 200 []
    resp = await app.request("GET", "/message?order=lifo", auth=app.bearer)
    assert resp.status == 200 and is_json(resp) and resp.json_body == []

    # 3. GET /webhooks -> the relay's own, pointing back at it
    resp = await app.request("GET", "/webhooks", auth=app.bearer)
    assert resp.status == 200 and is_json(resp)
    hooks = resp.json_body
    assert {h["event"] for h in hooks} >= {"sms:received", "sms:sent", "sms:delivered", "sms:failed"}
    for hook in hooks:
        shape(hook, {"id", "deviceId", "url", "event"})
        assert hook["deviceId"] == app.device_id
        assert hook["url"] == str(relay.http.make_url(f"/api/mobile/v1/webhooks/{app.device_id}"))
    app.webhooks = hooks

    # 4. GET /settings -> signing key, SSE only; never the cloud URL or a private token
    resp = await app.request("GET", "/settings", auth=app.bearer)
    assert resp.status == 200 and is_json(resp)
    settings = resp.json_body
    assert settings["gateway"] == {"notification_channel": "SSE_ONLY"}
    assert len(settings["webhooks"]["signing_key"]) >= 24
    assert "cloud_url" not in gson(settings) and "private_token" not in gson(settings)
    app.signing_key = settings["webhooks"]["signing_key"]

    # 5. GET /events -> text/event-stream, keepalive comments; the phone is now online
    ready = asyncio.Event()
    stream = asyncio.create_task(app.run_events(ready))
    await asyncio.wait_for(ready.wait(), 5)
    async with asyncio.timeout(5):
        while ":keepalive" not in app.events:
            await asyncio.sleep(0.05)
    _, sims = await relay.call("GET", "/api/v1/sims")
    ours = [s for s in sims["sims"] if s["id"].startswith(f"asg:{app.device_id}:")]
    assert sorted((s["id"].rsplit(":", 1)[1], s["online"], s["number"]) for s in ours) == [
        ("1", True, "+15550001111"),
        ("2", True, None),
    ]

    # 6. a native send -> MessageEnqueued, GET /message, PATCH Processed/Sent/Delivered -> 204
    status, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "hello", "sim": "1"})
    assert status == 202
    message = await wait_status(relay, sent["id"], "delivered")
    assert "MessageEnqueued" in app.events
    pulled = app.received[0]
    shape(
        pulled,
        {"id", "message", "textMessage", "phoneNumbers", "withDeliveryReport", "state", "createdAt"},
        {"simNumber", "isEncrypted", "priority", "ttl", "validUntil"},
    )
    assert NANO.match(pulled["id"]) and pulled["state"] == "Pending"
    assert pulled["textMessage"] == {"text": "hello"} and pulled["phoneNumbers"] == [PEER]
    assert DATE.match(pulled["createdAt"]) and pulled["simNumber"] == 2  # slot index 1
    assert [h["status"] for h in message["history"]] == ["queued", "sending", "sent", "delivered"]

    # PATCH of an unknown id, and a Pending report: still 204 (the app ignores bodies)
    resp = await app.request(
        "PATCH", "/message", auth=app.bearer,
        body=[{"id": "unknown-id", "state": "Pending", "recipients": [{"phoneNumber": PEER, "state": "Pending"}],
               "states": {"Pending": app_date()}}],
    )
    assert resp.status == 204

    # 7. the phone's webhook posts an inbound SMS (signed); a retry of it is stored once
    for _ in range(2):
        resp = await app.sms_received("+15551112222", "hi relay", event_id="Ev3nt1d_000000000000A")
        assert resp.status == 200 and is_json(resp)
    _, inbox = await relay.call("GET", "/api/v1/messages?direction=in")
    assert [(m["peer"], m["text"], m["sim"]) for m in inbox["messages"]] == [
        ("+15551112222", "hi relay", f"asg:{app.device_id}:1")
    ]
    bad = await app.post_webhook("sms:received", {"message": "x", "sender": "+1555"}, "e2", key="wrong")
    assert bad.status == 401

    stream.cancel()
    await asyncio.gather(stream, return_exceptions=True)

    # --- restart: PATCH /device first -> 204; GET /device shows it -----------------------
    resp = await app.patch_device()
    assert resp.status == 204
    resp = await app.request("GET", "/device", auth=app.bearer)
    assert resp.status == 200 and is_json(resp)
    shape(resp.json_body, {"device", "externalIp"})
    shape(resp.json_body["device"], {"id", "name", "createdAt", "updatedAt", "lastSeen"}, {"simCards"})
    assert all(DATE.match(resp.json_body["device"][k]) for k in ("createdAt", "updatedAt", "lastSeen"))
    resp = await app.patch_device(device_id="someone-else")
    assert resp.status == 403 and is_json(resp)

    # an unknown device token -> 401 (not 403): the app registers again, with Basic
    login, password = app.login, app.password
    app.token = "x" * 21
    resp = await app.patch_device()
    assert resp.status == 401 and is_json(resp)
    assert login is not None and password is not None
    resp = await app.register(basic=(login, password))
    assert resp.status == 201
    shape(resp.json_body, {"id", "token", "login"})
    assert resp.json_body["login"] == login
    app.signing_key = None
    await app.start()  # a start of the registered app: PATCH /device, pull, webhooks, settings
    assert app.signing_key and {h["event"] for h in app.webhooks} >= {"sms:received"}
    assert all(h["deviceId"] == app.device_id for h in app.webhooks)
    assert (await app.sms_received("+15551112222", "after restart", event_id="ev-after")).status == 200


async def test_every_mobile_route_wants_a_device_token(relay: RelayClient) -> None:
    app = await app_for(relay, None)
    for method, path in [("GET", "/device"), ("PATCH", "/device"), ("GET", "/message"),
                         ("PATCH", "/message"), ("GET", "/webhooks"), ("GET", "/settings"),
                         ("GET", "/events"), ("PATCH", "/user/password")]:
        resp = await app.request(method, path, auth="Bearer nope", body=[] if method == "PATCH" else None)
        assert resp.status == 401 and is_json(resp), (method, path)
    resp = await app.register()  # no private token at all
    assert resp.status == 401
    app.private_token = await relay.new_key(["send"])  # not an admin key
    resp = await app.register()
    assert resp.status == 403


async def test_password_change_and_basic_registration(relay: RelayClient) -> None:
    app = await app_for(relay, await relay.new_key(["admin"]))
    assert (await app.register()).status == 201
    resp = await app.request("PATCH", "/user/password", auth=app.bearer,
                             body={"currentPassword": "wrong-password", "newPassword": "n" * 14})
    assert resp.status == 401
    resp = await app.request("PATCH", "/user/password", auth=app.bearer,
                             body={"currentPassword": app.password, "newPassword": "correct horse battery"})
    assert resp.status == 204
    other = await app_for(relay, None)
    assert (await other.register(basic=(app.login or "", app.password or ""))).status == 401
    assert (await other.register(basic=(app.login or "", "correct horse battery"))).status == 201
