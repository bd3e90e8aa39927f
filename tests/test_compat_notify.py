"""Home automation and the `notify` channel.

`/api/v1/notify` is driven the way Home Assistant's `rest` notify platform calls it (its
three methods: GET with query parameters, POST with a form, POST_JSON), against a relay
whose SIM is the modem simulator on a real pty. The `notify` channel goes to a real phone
socket (ScriptedPhone, what `relayd phone-sim` runs) and to the event stream.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from relayd.config import Config
from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient, RelayFactory
from tests.test_modem_e2e import ModemRelay, fast_modem, modem_relay, wait_for  # noqa: F401
from tests.test_phones import SECRET, base_url, make_org

NUMBER = "+15557654321"


async def ha_rest_notify(
    relay: RelayClient, method: str, resource: str, data: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any]:
    """What HA's rest notify does with `data` for each `method` (homeassistant/components/rest)."""
    http = relay.http
    if method == "POST":
        response = await http.post(resource, headers=headers, data=data)
    elif method == "POST_JSON":
        response = await http.post(resource, headers=headers, json=data)
    else:
        response = await http.get(resource, headers=headers, params=data)
    async with response:
        return response.status, await response.json()


async def wait_status(relay: RelayClient, message_id: int, *statuses: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            _, message = await relay.call("GET", f"/api/v1/messages/{message_id}")
            if message["status"] in statuses:
                return message
            await asyncio.sleep(0.02)


async def test_home_assistant_rest_notify_sends_an_sms_in_all_three_methods(
    modem_relay: ModemRelay,  # noqa: F811 - the fixture imported from test_modem_e2e
) -> None:
    relay, [sim] = await modem_relay("sim800")
    key = await relay.new_key(["send"])
    cases = [
        ("GET", f"/api/v1/notify?token={key}", {}),
        ("POST", "/api/v1/notify", {"Authorization": f"Bearer {key}"}),
        ("POST_JSON", "/api/v1/notify", {"X-Api-Key": key}),
    ]
    for index, (method, resource, headers) in enumerate(cases):
        data = {"message": f"Door opened ({method})", "title": "Alarm", "target": NUMBER}
        status, body = await ha_rest_notify(relay, method, resource, data, headers)
        assert status == 202, (method, body)
        [accepted] = body["messages"]
        assert accepted["to"] == NUMBER and accepted["status"] == "queued"
        message = await wait_status(relay, accepted["id"], "sent", "delivered", "failed")
        assert message["status"] in ("sent", "delivered"), message
        assert message["source"] == "notify"
        await wait_for(lambda i=index: len(sim.sent_messages()) == i + 1)
        assert sim.sent_messages()[-1].text == f"Alarm: Door opened ({method})"


async def test_notify_form_takes_synonyms_a_comma_list_and_can_drop_the_title(
    make_relay: RelayFactory,
) -> None:
    relay = await make_relay()
    status, body = await relay.call(
        "POST",
        "/api/v1/notify",
        json={"text": "hi", "to": "+15551230001, +15551230002", "title": "Home Assistant",
              "title_mode": "ignore", "data": {"priority": "high"}},
    )
    assert status == 202, body
    assert [m["to"] for m in body["messages"]] == ["+15551230001", "+15551230002"]
    _, first = await relay.call("GET", f"/api/v1/messages/{body['messages'][0]['id']}")
    assert first["text"] == "hi"


async def test_notify_refuses_without_a_key_and_names_missing_fields(relay: RelayClient) -> None:
    async with relay.http.get("/api/v1/notify?message=x&target=%2B15551230001") as resp:
        assert resp.status == 401
    async with relay.http.get("/api/v1/notify?message=x&target=1&token=rk_wrong") as resp:
        assert resp.status == 401
    read_key = await relay.new_key(["read"])
    async with relay.http.get(f"/api/v1/notify?message=x&target=%2B15551230001&token={read_key}") as resp:
        assert resp.status == 403
    status, body = await relay.call("POST", "/api/v1/notify", json={"target": "+15551230001"})
    assert status == 422 and body["error"]["field"] == "message"
    status, body = await relay.call("POST", "/api/v1/notify", json={"message": "x"})
    assert status == 422 and body["error"]["field"] == "target"
    status, body = await relay.call("POST", "/api/v1/notify", json={"message": "x", "target": "nope"})
    assert status == 422 and body["error"]["field"] == "target"


async def test_query_token_is_refused_on_every_other_route(relay: RelayClient) -> None:
    async with relay.http.get(f"/api/v1/messages?token={relay.admin_key}") as resp:
        assert resp.status == 401


async def test_notify_channel_reaches_the_orgs_phone_and_the_event_stream(
    make_relay: RelayFactory,
) -> None:
    relay = await make_relay()
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET)
    await phone.start()
    try:
        async with relay.http.get("/api/v1/events?types=notify", headers=relay.headers()) as stream:
            status, body = await relay.call(
                "POST",
                "/api/v1/messages",
                json={"channel": "notify", "to": "", "text": "Build finished.", "subject": "CI"},
            )
            assert status == 202, body
            assert body["to"] == "phones" and body["encoding"] == "utf-8"
            async with asyncio.timeout(5):
                async for line in stream.content:
                    if line.startswith(b"data:"):
                        event = json.loads(line[5:])
                        break
        assert event["type"] == "notify"
        assert event["data"] == {"id": body["id"], "title": "CI", "text": "Build finished.", "phones": 1}
        notes = [f for f in phone.frames if f["type"] == "notify"]
        assert notes == [{"type": "notify", "title": "CI", "text": "Build finished."}]
        message = await wait_status(relay, body["id"], "sent", "failed")
        assert message["status"] == "sent" and message["channel"] == "notify"
        assert [h["status"] for h in message["history"]] == ["queued", "sending", "sent"]
    finally:
        await phone.stop()


async def test_a_notification_nobody_can_see_is_retried_then_failed(
    make_relay: RelayFactory, config: Config
) -> None:
    config.routing.max_attempts = 2
    relay = await make_relay(cfg=config)
    relay.relay.channels.retry_delays = (0.1,)
    status, body = await relay.call("POST", "/api/v1/messages", json={"channel": "notify", "to": "", "text": "x"})
    assert status == 202
    message = await wait_status(relay, body["id"], "failed")
    assert "no_listener" in message["error"]
    assert [h["status"] for h in message["history"]] == ["queued", "sending", "queued", "sending", "failed"]


async def test_unserved_channels_answer_422_naming_the_served_ones(relay: RelayClient) -> None:
    for channel in ("wa", "tg", "tg_bot", "pchat", "fax"):
        status, body = await relay.call(
            "POST", "/api/v1/messages", json={"channel": channel, "to": "+15551230001", "text": "x"}
        )
        assert status == 422 and body["error"]["field"] == "channel", body
        assert body["error"]["message"].endswith("this relay serves: sms, notify")
