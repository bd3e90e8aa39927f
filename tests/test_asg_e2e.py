"""End to end with a scripted "SMS Gateway for Android" app: real SSE, pulls and PATCHes.

The app is tests.support.asg_app.ScriptedApp (the app's requests, in its order). The
other SIMs of the mixed-org test are a seed-004 phone (`ScriptedPhone`, a real WebSocket
client) and tests.test_dispatch's ScriptedSim standing in for a modem: the subject there
is the router, which treats every kind alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from relayd.bridges import asg
from relayd.config import Config
from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient, RelayFactory
from tests.support.asg_app import ScriptedApp
from tests.test_dispatch import ScriptedSim
from tests.test_phones import SECRET, base_url, make_org, until, wait_status

PEER = "+15557654321"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def started_app(relay: RelayClient, http: aiohttp.ClientSession, **kw: Any) -> ScriptedApp:
    app = ScriptedApp(
        http=http, base=str(relay.http.make_url("/api/mobile/v1")),
        private_token=await relay.new_key(["admin"]), **kw,
    )
    await app.start()
    return app


async def started_offline_app(
    relay: RelayClient, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> ScriptedApp:
    """Started, then offline: no event stream, and its start-up pull stops counting at once."""
    monkeypatch.setattr(asg, "PULL_ALIVE", 0.05)
    app = await started_app(relay, http, **kw)
    await until(lambda: relay.relay.sims.online_count == 0)
    return app


async def connect(app: ScriptedApp) -> asyncio.Task[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(app.run_events(ready))
    await asyncio.wait_for(ready.wait(), 5)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_native_send_goes_out_over_sse_and_pull_and_an_inbound_webhook_is_stored_once(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    app = await started_app(relay, http)
    events = await connect(app)
    try:
        status, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "über 🙂"})
        assert status == 202
        try:
            message = await wait_status(relay, sent["id"], "delivered", "failed")
        except TimeoutError:
            _, m = await relay.call("GET", f"/api/v1/messages/{sent['id']}")
            raise AssertionError((m, app.events, app.received)) from None
        assert message["status"] == "delivered" and message["sim"].startswith(f"asg:{app.device_id}:")
        assert [m["textMessage"]["text"] for m in app.received] == ["über 🙂"]
        assert app.events.count("MessageEnqueued") >= 1

        for _ in range(3):  # the app's WorkManager retries a webhook with the same event id
            assert (await app.sms_received("+15551112222", "ping?", event_id="evt-1")).status == 200
        assert (await app.sms_received("+15551112222", "ping?", event_id="evt-2")).status == 200
        _, inbox = await relay.call("GET", "/api/v1/messages?direction=in")
        assert [m["text"] for m in inbox["messages"]] == ["ping?", "ping?"]  # two SMS, each once
        assert inbox["messages"][0]["received_at"] is not None
    finally:
        await stop(events)


async def test_states_reported_by_webhook_also_count(relay: RelayClient, http: aiohttp.ClientSession) -> None:
    app = await started_app(relay, http, hold=True)
    events = await connect(app)
    try:
        _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "x"})
        await until(lambda: len(app.received) == 1)
        ext_id = app.received[0]["id"]
        payload = {"messageId": ext_id, "phoneNumber": PEER, "simNumber": 1, "partsCount": 1,
                   "sentAt": "2025-01-01T10:00:00.000+07:00"}
        assert (await app.post_webhook("sms:sent", payload, "e-sent")).status == 200
        await wait_status(relay, sent["id"], "sent")
        payload = {"messageId": ext_id, "phoneNumber": PEER, "simNumber": 1,
                   "deliveredAt": "2025-01-01T10:00:01.000+07:00"}
        assert (await app.post_webhook("sms:delivered", payload, "e-dlv")).status == 200
        await wait_status(relay, sent["id"], "delivered")
    finally:
        await stop(events)


async def test_a_phone_without_its_event_stream_is_offline_and_gets_the_queue_on_connect(
    relay: RelayClient, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await started_offline_app(relay, http, monkeypatch)
    _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "later"})
    await asyncio.sleep(0.2)
    _, message = await relay.call("GET", f"/api/v1/messages/{sent['id']}")
    assert message["status"] == "queued" and app.received == []
    events = await connect(app)
    try:
        await wait_status(relay, sent["id"], "delivered")
    finally:
        await stop(events)


async def test_failed_on_the_phone_is_retried_under_a_new_id_then_failed(
    make_relay: RelayFactory, config: Config, http: aiohttp.ClientSession
) -> None:
    config.routing.max_attempts = 2
    relay = await make_relay()
    app = await started_app(relay, http)
    app.fail_ids = _AllIds()
    events = await connect(app)
    try:
        _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "nope"})
        message = await wait_status(relay, sent["id"], "failed", timeout=10)
        assert "RESULT_ERROR_NO_SERVICE" in message["error"]
        ids = [m["id"] for m in app.received]
        assert len(ids) == 2 and len(set(ids)) == 2  # a retry is a new message to the phone
    finally:
        await stop(events)


async def test_relay_restart_offers_a_send_in_flight_again_under_the_same_id(
    make_relay: RelayFactory, http: aiohttp.ClientSession
) -> None:
    relay = await make_relay()
    app = await started_app(relay, http, hold=True)
    events = await connect(app)
    _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "in flight"})
    await until(lambda: len(app.received) == 1)
    await stop(events)
    await relay.http.close()  # the relay stops while the phone holds the send

    relay = await make_relay()
    message = await wait_status(relay, sent["id"], "sending", "failed")
    assert message["status"] == "sending"  # not "interrupted": the app dedupes by id
    app.base = str(relay.http.make_url("/api/mobile/v1"))
    app.hold = False
    await app.start()  # PATCH /device, pull, webhooks, settings
    events = await connect(app)
    try:
        message = await wait_status(relay, sent["id"], "delivered")
        assert [m["id"] for m in app.received] == [app.received[0]["id"]] * 2  # same id again
    finally:
        await stop(events)


@dataclass
class MixedOrg:
    """The default org with a modem, a seed-004 phone and an app phone, all three online."""

    relay: RelayClient
    modem: ScriptedSim
    seed_phone: ScriptedPhone
    app: ScriptedApp

    async def send_one_by_one(self, count: int) -> list[dict[str, Any]]:
        """Native sends, each awaited: distinct peers, so round robin over the free SIMs."""
        out = []
        for i in range(count):
            status, body = await self.relay.call(
                "POST", "/api/v1/messages", json={"to": f"+1555444{i:04d}", "text": f"m{i}"}
            )
            assert status == 202
            out.append(await wait_status(self.relay, body["id"], "sent", "delivered"))
        return out


@contextlib.asynccontextmanager
async def mixed_org(make_relay: RelayFactory, http: aiohttp.ClientSession) -> AsyncIterator[MixedOrg]:
    modem = ScriptedSim("m1")
    relay = await make_relay([modem])
    await make_org(relay, "default")
    seed_phone = ScriptedPhone(base_url(relay), "default", SECRET)
    await seed_phone.start()
    app = await started_app(relay, http)
    app.sim_cards = app.sim_cards[:1]  # one SIM card: three SIMs in all
    assert (await app.patch_device()).status == 204
    events = await connect(app)
    try:
        await until(lambda: relay.relay.sims.online_count == 3)
        yield MixedOrg(relay, modem, seed_phone, app)
    finally:
        await stop(events)
        await seed_phone.stop()


async def test_app_phone_seed_phone_and_modem_in_one_org_are_all_routing_targets(
    make_relay: RelayFactory, http: aiohttp.ClientSession
) -> None:
    async with mixed_org(make_relay, http) as org:
        kinds = [m["sim"].split(":")[0] for m in await org.send_one_by_one(6)]
        assert set(kinds) == {"asg", "modem", "phone"}  # each kind took sends
        assert len(org.modem.sent) + len(org.seed_phone.sent) + len(org.app.received) == 6


async def test_the_3rdparty_message_state_names_the_device_each_sim_declares(
    make_relay: RelayFactory, http: aiohttp.ClientSession
) -> None:
    """`deviceId` is the device the sending SIM declares (app or seed-004 phone); a modem SIM
    declares none and is its own device."""
    async with mixed_org(make_relay, http) as org:
        [pocket] = [d.id for d in org.relay.relay.phone_hub.of_org("default")]
        devices = {}
        for message in await org.send_one_by_one(6):
            status, state = await org.relay.call("GET", f"/api/3rdparty/v1/messages/{message['id']}")
            assert status == 200, state
            devices[message["sim"].split(":")[0]] = state["deviceId"]
        assert devices == {"asg": org.app.device_id, "phone": pocket, "modem": "modem:m1"}


class _AllIds(set[str]):
    """Every id is "in" it: the phone fails everything."""

    def __contains__(self, item: object) -> bool:
        return True


async def test_a_send_the_phone_never_fetches_is_taken_back(
    make_relay: RelayFactory, config: Config, http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asg, "FETCH_TIMEOUT", 0.3)
    config.routing.max_attempts = 1
    relay = await make_relay()
    app = await started_app(relay, http)
    # an event stream that is open but never read: a phone gone without a goodbye
    async with http.get(app.base + "/events", headers={"Authorization": app.bearer}) as stream:
        assert stream.status == 200
        _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "lost"})
        message = await wait_status(relay, sent["id"], "failed")
        assert message["error"].startswith("not_fetched")
        assert await app.pull() == []  # taken back: the phone will not get it late
