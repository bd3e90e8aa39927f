"""Seed 004 (issue 11, acceptance 5): `POST /send/{org}` before any phone brought the SIM.

The seed documents the status "queued (no phone online yet — delivered when one
reconnects)": the send is accepted with `device_online: false`, stored queued for that SIM,
and goes out when a phone bringing that SIM connects (a real WebSocket phone). Another
phone of the org with another SIM does not take it: the caller asked for that SIM. The
native API keeps refusing an unknown SIM with a clear 422.
"""

from __future__ import annotations

from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient
from tests.support.curl import run_curl
from tests.test_phones import base_url, until, wait_status

SEED_HOST = "https://phonesms.trucopilot.com"
SECRET = "my-secret-key-123"
SEND = """curl -X POST https://phonesms.trucopilot.com/send/myorg -H 'Content-Type: application/json' -d '{
"secret_key": "my-secret-key-123",
"sim": "+15551112222",
"to": "+15553334444",
"body": "sent from the API"
}'"""
WAIT = 20.0  # generous: the suite shares two cores with other work


async def test_send_for_a_sim_no_phone_brought_yet_is_queued_and_goes_out_with_that_phone(
    relay: RelayClient,
) -> None:
    status, body = await relay.call("POST", "/api/v1/phones", json={"org": "myorg", "secret": SECRET})
    assert status == 201, body

    status, sent = await run_curl(SEND, {SEED_HOST: base_url(relay)})
    assert status == 200, sent
    assert (sent["ok"], sent["device_online"], sent["queued"]) == (True, False, 1)
    [result] = sent["results"]
    assert (result["to"], result["status"]) == ("+15553334444", "queued")
    reader = await relay.new_key(["read", "send"], org="myorg")
    assert (await wait_status(relay, result["id"], "queued", key=reader))["sim"] is None

    status, refused = await relay.call(
        "POST", "/api/v1/messages", key=reader,
        json={"to": "+15553334444", "text": "native", "sim": "+15551112222"},
    )  # fmt: skip
    assert status == 422 and refused["error"]["code"] == "unknown_sim"
    assert refused["error"]["field"] == "sim"

    other = ScriptedPhone(base_url(relay), "myorg", SECRET, device_id="other", numbers=["+15559990000"])
    owner = ScriptedPhone(base_url(relay), "myorg", SECRET, device_id="owner", numbers=["+15551112222"])
    await other.start()
    try:
        await until(lambda: any(s.info.online for s in relay.relay.sims.for_org("myorg")), WAIT)
        await owner.start()
        try:
            await until(lambda: result["id"] in owner.sent, WAIT)
            done = await wait_status(relay, result["id"], "sent", key=reader, timeout=WAIT)
            [sim] = [s for s in relay.relay.sims.for_org("myorg") if s.info.number == "+15551112222"]
            assert (done["text"], done["sim"]) == ("sent from the API", sim.info.id)
            assert result["id"] not in other.sent
        finally:
            await owner.stop()
    finally:
        await other.stop()
