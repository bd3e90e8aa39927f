"""Outbound webhooks against a real local aiohttp receiver (SPEC §9).

Signatures are checked twice: with the `standardwebhooks` package and by hand.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook

import relayd.webhook_rules as webhook_rules
import relayd.webhooks as webhooks
from relayd.api.context import API
from relayd.config import Config, WebhookConfig
from relayd.store.db import Tx
from relayd.store.records import MessageRow
from relayd.store.rows import emit
from tests.conftest import RelayClient, RelayFactory

PEER = "+15551230001"


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on 127.0.0.1:<any port> that records what it gets."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.script: list[tuple[int, dict[str, str]]] = []  # answers to give, in order
        self.default: tuple[int, dict[str, str]] = (200, {})
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.hits.append(Hit(request.path, dict(request.headers), body, time.monotonic()))
        status, headers = self.script.pop(0) if self.script else self.default
        return web.Response(status=status, headers=headers, text="thanks")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries after 50 ms instead of 5 s, 5 min, ...; no jitter."""
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.05, 0.05, 0.05))
    monkeypatch.setattr(webhooks, "JITTER", 0.0)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def add_hook(relay: RelayClient, url: str, key: str | None = None, **fields: Any) -> tuple[int, str]:
    status, body = await relay.call("POST", "/api/v1/webhooks", key=key, json={"url": url, **fields})
    assert status == 201, body
    return body["webhook"]["id"], body["secret"]


async def inbound(relay: RelayClient, text: str, org: str = "default") -> MessageRow:
    """An SMS arriving on a SIM: the same store call every bridge makes."""
    message = await relay.relay.store.inbound.store(
        org, "modem:test", PEER, text, encoding="gsm7", received_at=time.time(), external_id=None
    )
    assert message is not None
    return message


async def deliveries(relay: RelayClient, hook_id: int, key: str | None = None) -> list[dict[str, Any]]:
    status, body = await relay.call("GET", f"/api/v1/webhooks/{hook_id}/deliveries", key=key)
    assert status == 200, body
    result: list[dict[str, Any]] = body["deliveries"]
    return result


def assert_signed(hit: Hit, secret: str) -> None:
    """Valid per the standardwebhooks package and per a hand-made HMAC."""
    Webhook(secret).verify(hit.body, hit.headers)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{hit.headers['webhook-id']}.{hit.headers['webhook-timestamp']}.".encode() + hit.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert hit.headers["webhook-signature"] == f"v1,{expected}"


# --- delivery -------------------------------------------------------------------------


async def test_inbound_sms_is_posted_signed_per_standard_webhooks(
    relay: RelayClient, receiver: Receiver
) -> None:
    hook_id, secret = await add_hook(relay, receiver.url())
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    message = await inbound(relay, "hello relay")
    await wait_for(lambda: len(receiver.hits) == 1)
    [hit] = receiver.hits
    assert_signed(hit, secret)
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["webhook-id"].startswith("msg_")
    assert abs(int(hit.headers["webhook-timestamp"]) - time.time()) < 5
    payload = hit.json
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "sms.received" and payload["timestamp"].endswith("Z")
    assert payload["data"]["id"] == message.id and payload["data"]["text"] == "hello relay"
    await wait_for(lambda: relay.relay.webhooks.delivered == 1)
    [delivery] = await deliveries(relay, hook_id)
    assert delivery["status"] == "delivered" and delivery["msg_id"] == hit.headers["webhook-id"]
    assert [(a["status_code"], a["error"]) for a in delivery["log"]] == [(200, None)]
    assert delivery["log"][0]["response"] == "thanks"


async def test_event_filter_per_endpoint(relay: RelayClient, receiver: Receiver) -> None:
    await add_hook(relay, receiver.url("/received"))  # default filter: sms.received
    await add_hook(relay, receiver.url("/family"), events=["sms.*"])
    await add_hook(relay, receiver.url("/queued"), events=["sms.queued"])
    status, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "out"})
    assert status == 202, body
    await inbound(relay, "in")
    await wait_for(
        lambda: len(receiver.on("/family")) >= 2
        and len(receiver.on("/received")) == 1
        and len(receiver.on("/queued")) == 1
    )
    await asyncio.sleep(0.1)
    assert [h.json["type"] for h in receiver.on("/received")] == ["sms.received"]
    assert [h.json["type"] for h in receiver.on("/queued")] == ["sms.queued"]
    family = {h.json["type"] for h in receiver.on("/family")}
    assert {"sms.queued", "sms.received"} <= family and all(t.startswith("sms.") for t in family)


async def test_failed_delivery_is_retried_with_backoff_and_the_same_webhook_id(
    relay: RelayClient, receiver: Receiver
) -> None:
    receiver.script = [(500, {}), (500, {})]
    hook_id, secret = await add_hook(relay, receiver.url())
    await inbound(relay, "retry me")
    await wait_for(lambda: len(receiver.hits) == 3)
    await asyncio.sleep(0.2)
    assert len(receiver.hits) == 3  # delivered once 200 came back; nothing more
    assert len({h.headers["webhook-id"] for h in receiver.hits}) == 1
    assert len({h.body for h in receiver.hits}) == 1
    for hit in receiver.hits:
        assert_signed(hit, secret)
    gaps = [b.at - a.at for a, b in zip(receiver.hits, receiver.hits[1:], strict=False)]
    assert all(gap >= 0.04 for gap in gaps), gaps
    [delivery] = await deliveries(relay, hook_id)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [500, 500, 200]
    assert delivery["log"][0]["error"] == "HTTP 500 Internal Server Error"


async def test_retries_end_after_the_schedule(
    relay: RelayClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.01, 0.01))
    receiver.default = (503, {})
    hook_id, _ = await add_hook(relay, receiver.url())
    await inbound(relay, "never")
    await wait_for(lambda: len(receiver.hits) == 3)
    await asyncio.sleep(0.1)
    assert len(receiver.hits) == 3
    [delivery] = await deliveries(relay, hook_id)
    assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None


def test_retry_schedule_is_capped_exponential_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real schedule, not the fast one
    delays = webhooks.RETRY_DELAYS
    assert delays[:4] == (5.0, 300.0, 1800.0, 7200.0)
    assert list(delays) == sorted(delays) and max(delays) == 12 * 3600
    assert 2 * 86400 < sum(delays) < 3.5 * 86400  # about three days in all
    for attempt in range(1, len(delays) + 1):
        delay = webhooks.retry_delay(attempt, None)
        assert delay is not None
        assert abs(delay - delays[attempt - 1]) <= delays[attempt - 1] * webhooks.JITTER
    assert webhooks.retry_delay(len(delays) + 1, None) is None


async def test_410_disables_the_endpoint(relay: RelayClient, receiver: Receiver) -> None:
    receiver.script = [(410, {})]
    hook_id, _ = await add_hook(relay, receiver.url())
    await inbound(relay, "gone")
    await wait_for(lambda: len(receiver.hits) == 1)

    async def disabled() -> dict[str, Any]:
        _, body = await relay.call("GET", f"/api/v1/webhooks/{hook_id}")
        return dict(body)

    async with asyncio.timeout(5):
        while (await disabled())["enabled"]:
            await asyncio.sleep(0.01)
    info = await disabled()
    assert "410" in info["disabled_reason"] and info["failed"] == 1
    await inbound(relay, "after 410")
    await asyncio.sleep(0.2)
    assert len(receiver.hits) == 1 and len(await deliveries(relay, hook_id)) == 1
    status, _ = await relay.call("POST", f"/api/v1/webhooks/{hook_id}/test")
    assert status == 409
    # An admin turns it back on; new events flow again.
    status, info = await relay.call("PATCH", f"/api/v1/webhooks/{hook_id}", json={"enabled": True})
    assert status == 200 and info["enabled"] and info["disabled_reason"] is None
    await inbound(relay, "back")
    await wait_for(lambda: len(receiver.hits) == 2)
    assert receiver.hits[1].json["data"]["text"] == "back"


async def test_retry_after_is_honoured(relay: RelayClient, receiver: Receiver) -> None:
    receiver.script = [(503, {"Retry-After": "1"})]
    hook_id, _ = await add_hook(relay, receiver.url())
    await inbound(relay, "later")
    await wait_for(lambda: len(receiver.hits) == 2, timeout=5)
    gap = receiver.hits[1].at - receiver.hits[0].at
    assert gap >= 0.95, gap  # not the 50 ms of the patched schedule
    [delivery] = await deliveries(relay, hook_id)
    assert [a["status_code"] for a in delivery["log"]] == [503, 200]


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = time.time()
    assert webhooks.parse_retry_after("120", now) == 120.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 60))
    parsed = webhooks.parse_retry_after(date, now)
    assert parsed is not None and 58 <= parsed <= 61
    assert webhooks.parse_retry_after("soon", now) is None
    assert webhooks.retry_delay(1, 10**9) == webhooks.RETRY_AFTER_CAP


async def test_redirect_is_not_followed_and_counts_as_failure(
    relay: RelayClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", ())
    receiver.default = (302, {"Location": receiver.url("/elsewhere")})
    hook_id, _ = await add_hook(relay, receiver.url())
    await inbound(relay, "moved")
    await wait_for(lambda: len(receiver.hits) == 1)
    await wait_for(lambda: relay.relay.webhooks.failed_attempts == 1)
    assert receiver.on("/elsewhere") == []
    [delivery] = await deliveries(relay, hook_id)
    assert delivery["status"] == "failed"
    [attempt] = delivery["log"]
    assert attempt["status_code"] == 302 and "not followed" in attempt["error"]


async def test_unreachable_receiver_is_logged_and_retried(
    relay: RelayClient, receiver: Receiver
) -> None:
    hook_id, _ = await add_hook(relay, "http://127.0.0.1:9/nothing-listens")
    await inbound(relay, "nobody home")
    await wait_for(lambda: relay.relay.webhooks.failed_attempts >= 2)
    [delivery] = await deliveries(relay, hook_id)
    assert delivery["status"] in ("pending", "failed") and delivery["log"][0]["status_code"] is None
    assert "ClientConnectorError" in delivery["log"][0]["error"]


async def test_queued_delivery_survives_a_restart(
    make_relay: RelayFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.3, 0.3))
    receiver.default = (503, {})  # the receiver is down
    relay = await make_relay()
    hook_id, secret = await add_hook(relay, receiver.url())
    await inbound(relay, "across restarts")
    await wait_for(lambda: len(receiver.hits) == 1)
    await wait_for(lambda: relay.relay.webhooks.failed_attempts == 1)
    await relay.http.close()  # the relay stops with the delivery still pending
    receiver.default = (200, {})  # the receiver comes back
    relay = await make_relay()
    await wait_for(lambda: len(receiver.hits) == 2)
    await wait_for(lambda: relay.relay.webhooks.delivered == 1)
    await asyncio.sleep(0.4)
    assert len(receiver.hits) == 2
    first, second = receiver.hits
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert_signed(second, secret)
    assert second.json["data"]["text"] == "across restarts"
    [delivery] = await deliveries(relay, hook_id)
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["log"]] == [503, 200]


async def test_delivery_rows_are_written_in_the_events_transaction(relay: RelayClient) -> None:
    db = relay.relay.store.db
    hook_id, _ = await add_hook(relay, "http://127.0.0.1:9/x", events=["custom.thing"])

    def rolled_back(tx: Tx) -> None:
        emit(tx, "default", "custom.thing", {"n": 1})
        raise RuntimeError("the state change fails")

    with pytest.raises(RuntimeError):
        await db.write(rolled_back)
    assert await deliveries(relay, hook_id) == []

    def committed(tx: Tx) -> int:
        return emit(tx, "default", "custom.thing", {"n": 2})

    event_id = await db.write(committed)
    [delivery] = await deliveries(relay, hook_id)
    assert delivery["event_id"] == event_id and delivery["type"] == "custom.thing"


async def test_old_finished_deliveries_are_pruned(
    relay: RelayClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (60.0,))
    hook_id, _ = await add_hook(relay, receiver.url())
    pending_id, _ = await add_hook(relay, "http://127.0.0.1:9/x")
    await inbound(relay, "old news")
    await wait_for(lambda: relay.relay.webhooks.delivered == 1)
    await wait_for(lambda: relay.relay.webhooks.failed_attempts == 1)
    store = relay.relay.webhooks.store
    assert await store.prune(time.time() - 3600) == 0
    assert await store.prune(time.time() + 1) >= 1
    assert await deliveries(relay, hook_id) == []
    assert [d["status"] for d in await deliveries(relay, pending_id)] == ["pending"]


# --- replay and test-fire ---------------------------------------------------------------


async def test_test_fire_reports_the_outcome(relay: RelayClient, receiver: Receiver) -> None:
    hook_id, secret = await add_hook(relay, receiver.url())
    status, body = await relay.call("POST", f"/api/v1/webhooks/{hook_id}/test")
    assert status == 200, body
    delivery = body["delivery"]
    assert delivery["status"] == "delivered" and delivery["type"] == "webhook.test"
    assert [a["status_code"] for a in delivery["log"]] == [200]
    [hit] = receiver.hits
    assert_signed(hit, secret)
    assert hit.json["type"] == "webhook.test" and hit.json["data"]["webhook"] == hook_id


async def test_replay_sends_again_with_the_same_webhook_id(
    relay: RelayClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", ())
    hook_id, secret = await add_hook(relay, receiver.url())
    await inbound(relay, "once")
    await wait_for(lambda: relay.relay.webhooks.delivered == 1)
    [delivery] = await deliveries(relay, hook_id)
    status, body = await relay.call(
        "POST", f"/api/v1/webhooks/{hook_id}/replay", json={"delivery_id": delivery["id"]}
    )
    assert status == 202 and body["replayed"] == [delivery["id"]]
    await wait_for(lambda: relay.relay.webhooks.delivered == 2)
    first, again = receiver.hits
    assert first.headers["webhook-id"] == again.headers["webhook-id"] and first.body == again.body
    assert_signed(again, secret)
    # Every failed delivery at once: an empty body.
    receiver.default = (500, {})
    await inbound(relay, "lost-1")
    await inbound(relay, "lost-2")
    await wait_for(lambda: relay.relay.webhooks.failed_attempts == 2)
    receiver.default = (200, {})
    status, body = await relay.call("POST", f"/api/v1/webhooks/{hook_id}/replay")
    assert status == 202 and len(body["replayed"]) == 2
    await wait_for(lambda: relay.relay.webhooks.delivered == 4)
    assert sorted(h.json["data"]["text"] for h in receiver.hits[-2:]) == ["lost-1", "lost-2"]
    status, body = await relay.call(
        "POST", f"/api/v1/webhooks/{hook_id}/replay", json={"delivery_id": 99999}
    )
    assert status == 404 and body["error"]["field"] == "delivery_id"


# --- Home Assistant ----------------------------------------------------------------------


async def test_homeassistant_kind_fires_sms_incoming_sms(
    relay: RelayClient, receiver: Receiver
) -> None:
    hook_id, _ = await add_hook(
        relay,
        f"http://127.0.0.1:{receiver.port}",  # the base URL; the event path is added
        kind="homeassistant",
        headers={"Authorization": "Bearer ha-long-lived-token"},
    )
    _, info = await relay.call("GET", f"/api/v1/webhooks/{hook_id}")
    assert info["url"] == receiver.url("/api/events/sms.incoming_sms")
    assert info["events"] == ["sms.received"]
    assert info["headers"]["Authorization"] == "Bear…"  # the token is never shown
    status, _ = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "out"})
    assert status == 202
    message = await inbound(relay, "Grüße from the garden gate")
    await wait_for(lambda: len(receiver.hits) == 1)
    await asyncio.sleep(0.1)
    [hit] = receiver.hits  # the outbound message's events did not go to HA
    assert hit.path == "/api/events/sms.incoming_sms"
    assert hit.headers["Authorization"] == "Bearer ha-long-lived-token"
    assert hit.json == {
        "phone": PEER,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(message.received_at)),
        "message": "Grüße from the garden gate",  # the old integration's name for the text
        "text": "Grüße from the garden gate",
    }


async def test_homeassistant_refuses_other_events(relay: RelayClient) -> None:
    status, body = await relay.call(
        "POST",
        "/api/v1/webhooks",
        json={"url": "http://ha:8123", "kind": "homeassistant", "events": ["sms.sent"]},
    )
    assert status == 422 and body["error"]["field"] == "events"


async def test_config_endpoints_are_synced_at_start(
    make_relay: RelayFactory, config: Config, receiver: Receiver
) -> None:
    config.webhook = [
        WebhookConfig(url=receiver.url("/cfg"), events=["sms.received"], secret=""),
        WebhookConfig(
            url=f"http://127.0.0.1:{receiver.port}/",
            kind="homeassistant",
            headers={"Authorization": "Bearer t"},
        ),
    ]
    relay = await make_relay(cfg=config)
    _, body = await relay.call("GET", "/api/v1/webhooks")
    hooks = body["webhooks"]
    assert [(h["source"], h["kind"]) for h in hooks] == [
        ("config", "standard"),
        ("config", "homeassistant"),
    ]
    first_secret = hooks[0]["secret"]
    status, _ = await relay.call("DELETE", f"/api/v1/webhooks/{hooks[0]['id']}")
    assert status == 409
    status, _ = await relay.call(
        "PATCH", f"/api/v1/webhooks/{hooks[0]['id']}", json={"url": receiver.url("/x")}
    )
    assert status == 409
    await inbound(relay, "to both")
    await wait_for(lambda: len(receiver.hits) == 2)
    assert {h.path for h in receiver.hits} == {"/cfg", "/api/events/sms.incoming_sms"}
    await relay.http.close()
    # Restart with one entry removed: same id and generated secret for the one that stays.
    config.webhook = config.webhook[:1]
    relay = await make_relay(cfg=config)
    _, body = await relay.call("GET", "/api/v1/webhooks")
    [hook] = body["webhooks"]
    assert hook["id"] == hooks[0]["id"] and hook["secret"] == first_secret


# --- the admin API -----------------------------------------------------------------------


async def test_secrets_are_masked_and_inputs_validated(relay: RelayClient) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    hook_id, shown = await add_hook(
        relay, "https://example.org/in", secret=secret, headers={"X-Token": "abcdefghijkl"}
    )
    assert shown == secret  # once, at creation
    for path in ("/api/v1/webhooks", f"/api/v1/webhooks/{hook_id}"):
        async with relay.http.get(path, headers=relay.headers()) as resp:
            text = await resp.text()
        assert secret[6:] not in text and "abcdefghijkl" not in text
    _, info = await relay.call("GET", f"/api/v1/webhooks/{hook_id}")
    assert info["secret"] == "whsec_a2tr…" and info["headers"] == {"X-Token": "abcd…"}
    bad = [
        ({"url": "ftp://x/y"}, "url"),
        ({"url": "http://x/", "events": ["SMS received"]}, "events"),
        ({"url": "http://x/", "events": []}, "events"),
        ({"url": "http://x/", "secret": "whsec_tooshort"}, "secret"),
        ({"url": "http://x/", "headers": {"webhook-id": "x"}}, "headers"),
        ({"url": "http://x/", "headers": {"X-A": "a\r\nb"}}, "headers"),
        ({"url": "http://x/", "kind": "zapier"}, "kind"),
    ]
    for fields, field in bad:
        status, body = await relay.call("POST", "/api/v1/webhooks", json=fields)
        assert status == 422 and body["error"]["field"] == field, (fields, body)
    status, _ = await relay.call("PATCH", f"/api/v1/webhooks/{hook_id}", json={"events": ["*"]})
    assert status == 200
    status, _ = await relay.call("DELETE", f"/api/v1/webhooks/{hook_id}")
    assert status == 200
    status, _ = await relay.call("GET", f"/api/v1/webhooks/{hook_id}")
    assert status == 404


async def test_webhooks_are_org_isolated(relay: RelayClient, receiver: Receiver) -> None:
    hook_id, _ = await add_hook(relay, receiver.url("/default"))
    other = await relay.new_key(["admin"], org="org-b")
    status, body = await relay.call("GET", "/api/v1/webhooks", key=other)
    assert status == 200 and body["webhooks"] == []
    for method, path in (
        ("GET", f"/api/v1/webhooks/{hook_id}"),
        ("PATCH", f"/api/v1/webhooks/{hook_id}"),
        ("DELETE", f"/api/v1/webhooks/{hook_id}"),
        ("GET", f"/api/v1/webhooks/{hook_id}/deliveries"),
        ("POST", f"/api/v1/webhooks/{hook_id}/replay"),
        ("POST", f"/api/v1/webhooks/{hook_id}/test"),
    ):
        status, body = await relay.call(method, path, key=other, json={})
        assert status == 404, (method, path, body)
    status, _ = await add_hook_status(relay, receiver.url("/x"), other, org="default")
    assert status == 403
    b_hook, _ = await add_hook(relay, receiver.url("/org-b"), key=other)
    await inbound(relay, "for default")
    await inbound(relay, "for org-b", org="org-b")
    await wait_for(lambda: len(receiver.hits) == 2)
    assert [h.json["data"]["text"] for h in receiver.on("/default")] == ["for default"]
    assert [h.json["data"]["text"] for h in receiver.on("/org-b")] == ["for org-b"]
    assert len(await deliveries(relay, b_hook, key=other)) == 1
    # The default org's admins may manage other orgs' keys, not see their webhooks.
    status, _ = await relay.call("GET", f"/api/v1/webhooks/{b_hook}")
    assert status == 404


async def add_hook_status(relay: RelayClient, url: str, key: str, **fields: Any) -> tuple[int, Any]:
    return await relay.call("POST", "/api/v1/webhooks", key=key, json={"url": url, **fields})


async def test_every_webhook_route_needs_an_admin_key(relay: RelayClient) -> None:
    routes = [
        (spec.method, spec.path.replace("{id}", "1"))
        for spec in relay.http.server.app[API].routes
        if spec.path.startswith("/api/v1/webhooks")
    ]
    assert len(routes) == 8
    reader = await relay.new_key(["send", "read"])
    for method, path in routes:
        async with relay.http.request(method, path, json={}) as resp:
            assert resp.status == 401, (method, path)
            assert (await resp.json())["error"]["code"] == "unauthorized"
        status, _ = await relay.call(method, path, key=reader, json={})
        assert status == 403, (method, path)


async def test_openapi_documents_the_webhook_models(relay: RelayClient) -> None:
    async with relay.http.get("/api/openapi.json") as resp:
        spec = await resp.json()
    create = spec["paths"]["/api/v1/webhooks"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"url", "kind", "events", "secret", "headers"} <= set(schema["properties"])
    assert "/api/v1/webhooks/{id}/deliveries" in spec["paths"]


async def test_metrics_count_deliveries(relay: RelayClient, receiver: Receiver) -> None:
    await add_hook(relay, receiver.url())
    await inbound(relay, "count me")
    await wait_for(lambda: relay.relay.webhooks.delivered == 1)
    async with relay.http.get("/metrics", headers=relay.headers()) as resp:
        text = await resp.text()
    assert 'relayd_webhook_deliveries_total{result="ok"} 1' in text
    assert 'relayd_webhook_deliveries_total{result="failed"} 0' in text


# --- signing units -----------------------------------------------------------------------


def test_signature_matches_the_reference_implementation() -> None:
    secret = webhook_rules.generate_secret()
    body = b'{"type":"sms.received","timestamp":"2026-01-01T00:00:00.000Z","data":{}}'
    ts = int(time.time())
    signature = webhook_rules.sign(secret, "msg_abc", ts, body)
    headers = {"webhook-id": "msg_abc", "webhook-timestamp": str(ts), "webhook-signature": signature}
    assert Webhook(secret).verify(body, headers)["type"] == "sms.received"
    # A free-form config secret signs with its own bytes.
    assert webhook_rules.signing_key("not base64!") == b"not base64!"


