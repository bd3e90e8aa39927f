"""Seed 002 (chatbot "Send Twilio Message"): its Python and curl examples, verbatim.

Only the URL's host and `<Your-Secret-Key>` change — and the example's number: +1234567890
has too few digits to be a phone number, which the relay says in the seed's error envelope
(tested as such). The key goes bare in `Authorization` (no Bearer), and every answer,
errors included, is the seed's envelope.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import RelayClient, RelayFactory
from tests.support.curl import run_curl
from tests.test_dispatch import ScriptedSim
from tests.test_phones import base_url, wait_status

SEED_HOST = "https://usapi.hottask.com"

PYTHON_EXAMPLE = """
import requests
import json

url = 'https://usapi.hottask.com/chat/Chatbot/SendTwilioMessage'
headers = {
"Authorization": "<Your-Secret-Key>",
"Content-Type": "application/json"
}
data = {
"SerialNumber": "3254a9d0424c4806b9ea3d0763xxxxxx",
"ToPhoneNumber": "+1234567890",
"Message": "Hello!"
}

response = requests.post(url, headers=headers, json=data)
data = response.json()
print(data)
"""

CURL_EXAMPLE = r"""curl 'https://usapi.hottask.com/chat/Chatbot/SendTwilioMessage' \
-X POST \
-H 'Authorization: <Your-Secret-Key>' \
-H 'Content-Type: application/json' \
-d '{"SerialNumber":"3254a9d0424c4806b9ea3d0763xxxxxx","ToPhoneNumber":"+1234567890","Message":"Hello!"}'"""

NUMBER = "+12345678901"
PATH = "/chat/Chatbot/SendTwilioMessage"
BODY = {"SerialNumber": "bot-1", "ToPhoneNumber": "+15551230001", "Message": "Hello!"}


def run_python_example(url: str, key: str, number: str = "+1234567890") -> dict[str, Any]:
    """The seed's Python example with its host and key changed; returns what it printed."""
    source = PYTHON_EXAMPLE.replace(SEED_HOST, url).replace("<Your-Secret-Key>", key)
    source = source.replace("+1234567890", number)
    source = source.replace("print(data)", "printed.append(data)")
    printed: list[dict[str, Any]] = []
    exec(compile(source, "seed002_example", "exec"), {"printed": printed})
    return printed[0]


def assert_envelope(body: dict[str, Any], success: bool, code: int) -> None:
    assert set(body) >= {"Data", "Version", "Success", "Code", "Message"}, body
    assert set(body["Data"]) == {"Status", "Message", "SessionID"}
    assert body["Version"] == "1.0.0" and body["Success"] is success and body["Code"] == code
    assert body["Data"]["Status"] == ("True" if success else "False")


async def test_seed_002_python_and_curl_examples_send_an_sms(make_relay: RelayFactory) -> None:
    sim = ScriptedSim("m1")
    relay = await make_relay([sim])
    key = await relay.new_key(["send", "read"])

    refused = await asyncio.to_thread(run_python_example, base_url(relay), key)
    assert_envelope(refused, False, 422)
    assert refused["Message"].startswith("ToPhoneNumber: not a valid phone number")

    printed = await asyncio.to_thread(run_python_example, base_url(relay), key, NUMBER)
    assert_envelope(printed, True, 200)
    assert printed["Message"] == "" and printed["Data"]["Message"] == "queued"
    first = await wait_status(relay, printed["Data"]["SessionID"], "sent", "failed", key=key)
    assert first["status"] == "sent" and first["peer"] == NUMBER and first["text"] == "Hello!"
    assert first["source"] == "chatbot 3254a9d0424c4806b9ea3d0763xxxxxx"

    replace = {SEED_HOST: base_url(relay), "<Your-Secret-Key>": key, "+1234567890": NUMBER}
    status, body = await run_curl(CURL_EXAMPLE, replace)
    assert status == 200
    assert_envelope(body, True, 200)
    second = await wait_status(relay, body["Data"]["SessionID"], "sent", "failed", key=key)
    assert second["status"] == "sent" and second["id"] != first["id"]
    assert [s.to for s in sim.sent] == [NUMBER, NUMBER]


async def post(relay: RelayClient, headers: dict[str, str], **kwargs: Any) -> tuple[int, dict[str, Any], Any]:
    async with relay.http.post(PATH, headers=headers, **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers


async def test_errors_keep_the_envelope_with_a_fitting_status(relay: RelayClient) -> None:
    status, body, _ = await post(relay, {}, json=BODY)
    assert status == 401
    assert_envelope(body, False, 401)
    assert body["ok"] is False and body["error"]["code"] == "unauthorized"
    assert "Authorization" in body["Message"]

    status, body, _ = await post(relay, {"Authorization": "rk_not_a_key"}, json=BODY)
    assert status == 401 and body["Code"] == 401

    reader = await relay.new_key(["read"])
    status, body, _ = await post(relay, {"Authorization": reader}, json=BODY)
    assert status == 403 and body["Code"] == 403 and "send" in body["Data"]["Message"]

    key = relay.admin_key
    status, body, _ = await post(relay, {"Authorization": key}, json={**BODY, "ToPhoneNumber": "call me"})
    assert status == 422 and body["Code"] == 422 and body["error"]["field"] == "ToPhoneNumber"
    status, body, _ = await post(relay, {"Authorization": key}, json={k: v for k, v in BODY.items() if k != "Message"})
    assert status == 422 and body["error"]["field"] == "Message"
    status, body, _ = await post(relay, {"Authorization": key}, data=b"not json")
    assert status == 422 and body["Success"] is False
    status, body, _ = await post(relay, {"Authorization": key}, json={**BODY, "Message": "x" * 70_000})
    assert status == 413 and body["Code"] == 413

    limited = await relay.new_key(["send"], rate_limit=1)
    assert (await post(relay, {"Authorization": limited}, json=BODY))[0] == 200
    status, body, headers = await post(relay, {"Authorization": f"Bearer {limited}"}, json=BODY)
    assert status == 429 and body["Code"] == 429 and int(headers["Retry-After"]) >= 1
