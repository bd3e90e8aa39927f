"""Seed 003 (SaaS telephony for agents): each example of the seed, run verbatim (curl | jq).

Only `$SAAS_API_URL` and `$SAAS_API_KEY` are set (the seed's own variables) and the ids the
seed writes as `{MESSAGE_ID}` / `{CALL_ID}` are filled in. The SIM is the modem simulator on
a real pty, so SMS get delivery reports and voice calls really dial (ATD) and hang up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import RelayClient
from tests.support.curl import run_shell
from tests.test_modem_e2e import ModemRelay, fast_modem, modem_relay, wait_for  # noqa: F401
from tests.test_phones import base_url

TELEPHONY = r"""# Check agent's telephony status
curl -s "$SAAS_API_URL/api/agents/me/telephony" \
-H "Authorization: Bearer $SAAS_API_KEY" | jq '{enabled: .enabled, phone_number: .phone_number, capabilities: .capabilities}'"""
SEND_SMS = r"""curl -s -X POST "$SAAS_API_URL/api/messaging/sms" \
-H "Authorization: Bearer $SAAS_API_KEY" \
-H "Content-Type: application/json" \
-d '{
"to": "+15551234567",
"body": "Your order has been shipped!"
}' | jq ."""
SEND_MMS = r"""curl -s -X POST "$SAAS_API_URL/api/messaging/mms" \
-H "Authorization: Bearer $SAAS_API_KEY" \
-H "Content-Type: application/json" \
-d '{
"to": "+15551234567",
"body": "Here is your receipt",
"media_url": "https://example.com/receipt.pdf"
}' | jq ."""
VOICE = r"""curl -s -X POST "$SAAS_API_URL/api/messaging/voice" \
-H "Authorization: Bearer $SAAS_API_KEY" \
-H "Content-Type: application/json" \
-d '{
"to": "+15551234567",
"prompt": "Hello, this is a reminder about your appointment tomorrow at 3pm. Press 1 to confirm or 2 to reschedule."
}' | jq ."""
SMS_STATUS = r"""# Check SMS status
curl -s "$SAAS_API_URL/api/messaging/sms/{MESSAGE_ID}" \
-H "Authorization: Bearer $SAAS_API_KEY" | jq '{status, delivered_at, error}'"""
CALL_STATUS = r"""# Check call status
curl -s "$SAAS_API_URL/api/messaging/voice/{CALL_ID}" \
-H "Authorization: Bearer $SAAS_API_KEY" | jq '{status, duration, recording_url}'"""
HISTORY = r"""curl -s "$SAAS_API_URL/api/messaging/history?limit=20" \
-H "Authorization: Bearer $SAAS_API_KEY" | jq '.data[] | {id, type, to, status, created_at}'"""

TO = "+15551234567"


async def seed(relay: RelayClient, key: str, command: str) -> Any:
    values = await run_shell(command, {"SAAS_API_URL": base_url(relay), "SAAS_API_KEY": key})
    return values[0] if len(values) == 1 else values


async def test_every_seed_003_example_gets_the_documented_shape(
    modem_relay: ModemRelay,  # noqa: F811 - the fixture imported from test_modem_e2e
) -> None:
    relay, [sim] = await modem_relay("sim800")
    key = await relay.new_key(["send", "read"])

    assert await seed(relay, key, TELEPHONY) == {
        "enabled": True, "phone_number": "+15550001000", "capabilities": ["sms", "voice"]
    }

    sms = await seed(relay, key, SEND_SMS)
    assert (sms["type"], sms["to"], sms["body"], sms["status"]) == (
        "sms", TO, "Your order has been shipped!", "queued"
    )
    status_cmd = SMS_STATUS.replace("{MESSAGE_ID}", str(sms["id"]))
    async with asyncio.timeout(10):
        while (state := await seed(relay, key, status_cmd))["status"] != "delivered":
            await asyncio.sleep(0.05)
    assert set(state) == {"status", "delivered_at", "error"}
    assert state["delivered_at"].endswith("Z") and state["error"] is None
    assert [m.text for m in sim.sent_messages()] == ["Your order has been shipped!"]

    mms = await seed(relay, key, SEND_MMS)
    assert mms["ok"] is False and mms["error"]["code"] == "unsupported_channel"
    assert "mms is not served" in mms["error"]["message"]
    assert "Served: sms, notify" in mms["error"]["message"]

    sim.faults.callee_hangup_after = 0.3  # the callee rejects the ringing call
    call = await seed(relay, key, VOICE)
    assert (call["type"], call["to"], call["status"]) == ("voice", TO, "ringing")
    assert call["prompt_spoken"] is False and "cannot speak" in call["warning"]
    call_cmd = CALL_STATUS.replace("{CALL_ID}", str(call["id"]))
    async with asyncio.timeout(30):  # a bound for a 0.3 s call, roomy for a loaded machine
        while (ended := await seed(relay, key, call_cmd))["status"] == "ringing":
            await asyncio.sleep(0.05)
    assert ended["status"] == "ended" and ended["recording_url"] is None
    assert 0.1 < ended["duration"] < 5
    assert sim.calls[-1].number == TO

    history = await seed(relay, key, HISTORY)
    assert [(h["type"], h["id"], h["to"]) for h in history] == [
        ("voice", call["id"], TO), ("sms", sms["id"], TO)
    ]
    assert [h["status"] for h in history] == ["ended", "delivered"]
    assert all(set(h) == {"id", "type", "to", "status", "created_at"} for h in history)


async def test_busy_callee_and_telephony_without_a_modem(
    modem_relay: ModemRelay,  # noqa: F811 - the fixture imported from test_modem_e2e
) -> None:
    relay, [sim] = await modem_relay("quectel")
    sim.faults.call_result = "BUSY"
    status, call = await relay.call("POST", "/api/messaging/voice", json={"to": TO, "ring_seconds": 5})
    assert status == 202 and call["warning"] is None  # no prompt: nothing to warn about
    async with asyncio.timeout(10):
        while call["status"] == "ringing":
            _, call = await relay.call("GET", f"/api/messaging/voice/{call['id']}")
    assert (call["status"], call["result"]) == ("busy", "busy")

    limited = await relay.new_key(["send", "read"], allowlist=["+1555000*"])
    status, body = await relay.call("POST", "/api/messaging/voice", key=limited, json={"to": TO})
    assert status == 403 and body["error"]["field"] == "to"
    other = await relay.new_key(["read"], org="elsewhere")
    assert (await relay.call("GET", f"/api/messaging/voice/{call['id']}", key=other))[0] == 404
    assert (await relay.call("GET", "/api/messaging/sms/999999"))[0] == 404


async def test_without_a_sim_telephony_is_disabled_and_voice_is_409(relay: RelayClient) -> None:
    status, info = await relay.call("GET", "/api/agents/me/telephony")
    assert status == 200 and info["enabled"] is False and info["capabilities"] == []
    assert info["phone_number"] is None and info["voice_prompts"] is False
    status, body = await relay.call("POST", "/api/messaging/voice", json={"to": TO, "prompt": "hi"})
    assert status == 409 and body["error"]["code"] == "no_sim_online"
    status, body = await relay.call("POST", "/api/messaging/sms", json={"to": TO})
    assert status == 422 and body["error"]["field"] == "body"
    status, queued = await relay.call("POST", "/api/messaging/sms", json={"to": TO, "body": "later"})
    assert status == 202 and queued["status"] == "queued"
