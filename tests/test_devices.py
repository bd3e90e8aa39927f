"""Every kind of phone in one shape (issue 11): pull liveness, one listing, notify to all.

Phones are real clients: `ScriptedApp` speaks the "SMS Gateway for Android" app's HTTP
requests (here with no event stream: only pulls and PATCHes, as the app's
PullMessagesWorker does when Android has killed the stream), `ScriptedPhone` is a real
seed-004 WebSocket phone, and the official `android-sms-gateway` client sends from
outside. The relay is real (SQLite file, HTTP on a port).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from android_sms_gateway import client, domain
from android_sms_gateway.ahttp import AiohttpAsyncHttpClient
from android_sms_gateway.enums import ProcessState

from relayd.bridges import asg
from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient
from tests.support.asg_app import ScriptedApp
from tests.test_asg_e2e import _AllIds, started_offline_app
from tests.test_phones import SECRET, base_url, make_org, until, wait_status

PEER = "+15557654321"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def pull_only_app(relay: RelayClient, http: aiohttp.ClientSession) -> ScriptedApp:
    """Registered and started (its start-up pull included), never an event stream."""
    app = ScriptedApp(
        http=http,
        base=str(relay.http.make_url("/api/mobile/v1")),
        private_token=await relay.new_key(["admin"]),
    )
    app.sim_cards = app.sim_cards[:1]
    await app.start()
    return app


async def sim_states(relay: RelayClient) -> dict[str, bool]:
    status, body = await relay.call("GET", "/api/v1/sims")
    assert status == 200, body
    return {s["id"]: s["online"] for s in body["sims"]}


def history(message: dict[str, Any]) -> list[str]:
    return [h["status"] for h in message["history"]]


# --- acceptance 4: a pull is a sign of life and hands out the phone's sends -----------------


async def test_an_app_phone_that_only_pulls_is_online_and_gets_native_and_3rdparty_sends(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    app = await pull_only_app(relay, http)
    sim = f"asg:{app.device_id}:1"
    assert (await sim_states(relay))[sim] is True  # online by its pull alone

    # native API: handed to the phone, waiting for its next pull
    status, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "native"})
    assert status == 202, sent
    await wait_status(relay, sent["id"], "sending")
    pulled = await app.pull()  # GET /message, then PATCH Processed, Sent, Delivered
    assert [m["textMessage"]["text"] for m in pulled] == ["native"]
    message = await wait_status(relay, sent["id"], "delivered", "failed")
    assert message["status"] == "delivered" and message["sim"] == sim
    assert history(message) == ["queued", "sending", "sent", "delivered"]

    # the official 3rd-party client, with the login the app shows
    assert app.login and app.password
    async with client.AsyncAPIClient(
        app.login,
        app.password,
        base_url=str(relay.http.make_url("/api/3rdparty/v1")),
        http_client=AiohttpAsyncHttpClient(http),
    ) as api:
        state = await api.send(
            domain.Message(phone_numbers=[PEER], text_message=domain.TextMessage("3rd party"))
        )
        assert state.state in (ProcessState.Pending, ProcessState.Processed)
        async with asyncio.timeout(5):
            while not (pulled := await app.pull()):  # the next pull serves it
                await asyncio.sleep(0.05)
        assert [m["textMessage"]["text"] for m in pulled] == ["3rd party"]
        async with asyncio.timeout(5):
            while (state := await api.get_state(state.id)).state != ProcessState.Delivered:
                await asyncio.sleep(0.05)
        assert state.device_id == app.device_id
    _, inbox = await relay.call("GET", "/api/v1/messages?direction=out")
    by_text = {m["text"]: m for m in inbox["messages"]}
    assert by_text["3rd party"]["status"] == "delivered" and by_text["3rd party"]["sim"] == sim
    assert app.events == []  # no event stream was ever opened


async def test_a_pull_that_brings_an_app_phone_online_hands_out_its_queue_at_once(
    relay: RelayClient, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await started_offline_app(relay, http, monkeypatch)
    _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "backlog"})
    await asyncio.sleep(0.2)
    assert (await wait_status(relay, sent["id"], "queued"))["status"] == "queued"  # offline

    monkeypatch.setattr(asg, "PULL_ALIVE", 60.0)
    pulled = await app.pull()  # this pull makes it online and gets what waited for it
    assert [m["textMessage"]["text"] for m in pulled] == ["backlog"]
    message = await wait_status(relay, sent["id"], "delivered", "failed")
    assert message["status"] == "delivered"


async def test_a_failed_report_on_a_pull_only_phone_is_retried_under_a_new_id(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    app = await pull_only_app(relay, http)
    app.fail_ids = _AllIds()
    _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "again"})
    await wait_status(relay, sent["id"], "sending")
    (first,) = await app.pull()  # PATCH Processed, then Failed
    app.fail_ids = set()
    async with asyncio.timeout(10):
        while not (again := await app.pull()):  # queued again, handed out on a later pull
            await asyncio.sleep(0.05)
    assert [m["textMessage"]["text"] for m in again] == ["again"]
    assert again[0]["id"] != first["id"]  # a retry is a new message to the phone
    message = await wait_status(relay, sent["id"], "delivered", "failed")
    assert message["status"] == "delivered"
    assert history(message) == ["queued", "sending", "queued", "sending", "sent", "delivered"]


async def test_an_app_phone_whose_pulls_stop_goes_offline_and_its_untaken_send_is_queued(
    relay: RelayClient, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asg, "PULL_ALIVE", 2.0)  # a pull counts for 2 s here, not 20 min
    app = await pull_only_app(relay, http)
    sim = f"asg:{app.device_id}:1"
    _, sent = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "late"})
    await wait_status(relay, sent["id"], "sending")  # offered, waiting for the next pull
    message = await wait_status(relay, sent["id"], "queued")  # no pull came: taken back
    assert (await sim_states(relay))[sim] is False
    assert message["history"][-1]["error"].startswith("not_fetched")

    pulled = await app.pull()  # the phone is back: this pull hands it out
    assert [m["textMessage"]["text"] for m in pulled] == ["late"]
    assert (await wait_status(relay, sent["id"], "delivered"))["sim"] == sim


# --- acceptance 6: one listing, notify to every kind ------------------------------------


@contextlib.asynccontextmanager
async def both_kinds(
    relay: RelayClient, http: aiohttp.ClientSession
) -> AsyncIterator[tuple[ScriptedPhone, ScriptedApp]]:
    """A seed-004 phone on its socket and a pull-only app phone, both online in `default`."""
    await make_org(relay, "default")
    seed_phone = ScriptedPhone(base_url(relay), "default", SECRET, device_id="hall")
    await seed_phone.start()
    try:
        app = await pull_only_app(relay, http)
        await until(lambda: relay.relay.sims.online_count == 2)
        yield seed_phone, app
    finally:
        await seed_phone.stop()


async def test_sims_and_phones_listings_show_both_kinds_of_phone(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    async with both_kinds(relay, http) as (_, app):
        app_sim, seed_sim = f"asg:{app.device_id}:1", "phone:"

        async with relay.http.get("/sims/default", headers={"X-Secret-Key": SECRET}) as resp:
            seed = await resp.json()
        assert resp.status == 200, seed
        assert seed["online_devices"] == 2
        for listing in (seed["live_sims"], seed["known_sims"]):
            ids = [s["id"] for s in listing]
            assert app_sim in ids and any(i.startswith(seed_sim) for i in ids), ids

        states = await sim_states(relay)
        assert states[app_sim] is True
        assert any(i.startswith(seed_sim) and on for i, on in states.items())

        status, listed = await relay.call("GET", "/api/v1/phones")
        assert status == 200, listed
        by_kind = {p["kind"]: p for p in listed["phones"]}
        assert set(by_kind) == {"websocket", "android-sms-gateway"}
        assert all(p["online"] for p in listed["phones"])
        assert [s["id"] for s in by_kind["android-sms-gateway"]["sims"]] == [app_sim]
        assert by_kind["android-sms-gateway"]["sims"][0]["number"] == "+15550001111"
        assert by_kind["websocket"]["sims"][0]["id"].startswith(seed_sim)

        # an app phone is unregistered from the same admin route as a seed-004 phone
        status, _ = await relay.call("DELETE", f"/api/v1/phones/{app.device_id}")
        assert status == 200
        _, listed = await relay.call("GET", "/api/v1/phones")
        assert [p["kind"] for p in listed["phones"]] == ["websocket"]
        assert app_sim not in await sim_states(relay)
        assert (await app.patch_device()).status == 401  # its token is dead


async def notify_event(relay: RelayClient, text: str) -> tuple[int, dict[str, Any]]:
    async with relay.http.get("/api/v1/events?types=notify", headers=relay.headers()) as stream:
        status, body = await relay.call(
            "POST", "/api/v1/messages", json={"channel": "notify", "to": "", "text": text}
        )
        assert status == 202, body
        async with asyncio.timeout(5):
            async for line in stream.content:
                if line.startswith(b"data:"):
                    return int(body["id"]), json.loads(line[5:])
    raise AssertionError("no notify event")


async def test_notify_channel_reaches_both_kinds_and_says_the_app_cannot_show_it(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    async with both_kinds(relay, http) as (seed_phone, _):
        message_id, event = await notify_event(relay, "Door open")
        # Both kinds were asked; the app has no way to show a notification (its server sends
        # only MessageEnqueued, WebhooksUpdated, SettingsUpdated, MessagesExportRequested).
        assert event["data"] == {
            "id": message_id,
            "title": "relayd",
            "text": "Door open",
            "phones": 1,
            "phones_cannot_show": 1,
        }
        await until(lambda: any(f["type"] == "notify" for f in seed_phone.frames))
        message = await wait_status(relay, message_id, "sent", "failed")
        assert message["status"] == "sent"


async def test_a_notification_only_an_app_phone_could_get_fails_and_says_why(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    await pull_only_app(relay, http)
    relay.relay.channels.retry_delays = (0.1,)
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"channel": "notify", "to": "", "text": "x"}
    )
    assert status == 202, body
    message = await wait_status(relay, body["id"], "failed")
    assert "no_listener" in message["error"]
    assert "1 app phone(s) online cannot show notifications" in message["error"]
