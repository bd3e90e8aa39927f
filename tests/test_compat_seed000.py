"""Seeds 000/001 (relay message API): the seed's own `ai_send` unchanged, and the inbox poll.

`ai_send` is the seed's Python function, run in a thread with the real `requests` library
against the relay's real HTTP server; only BASE_URL, CLIENT_API_KEY and PHONE_ID are set, as
the seed tells its reader to. Its `sms` goes to a SIM, `email` to a real SMTP server
(aiosmtpd), `notify` to a real phone socket.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from relayd.bridges.base import InboundSms
from relayd.config import Config
from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient, RelayFactory
from tests.support.smtp import smtp_server
from tests.test_compat_email import email_config
from tests.test_dispatch import ScriptedSim
from tests.test_phones import SECRET, base_url, make_org, until, wait_status

SEED = Path(__file__).parent / "fixtures" / "seeds" / "seed000_ai_send.py"


def load_ai_send(relay: RelayClient, key: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed000_ai_send", SEED)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.BASE_URL = base_url(relay)
    module.CLIENT_API_KEY = key
    module.PHONE_ID = "PHONE_ID"
    return module


async def test_seed_000_ai_send_works_unchanged_for_sms_email_and_notify(
    make_relay: RelayFactory, config: Config
) -> None:
    sim = ScriptedSim("m1", number="+15550001111")
    with smtp_server() as mailbox:
        relay = await make_relay([sim], cfg=email_config(config, mailbox.port))
        await make_org(relay, "default")
        phone = ScriptedPhone(base_url(relay), "default", SECRET)
        await phone.start()
        try:
            seed = load_ai_send(relay, await relay.new_key(["send", "read"]))

            async def ai_send(req: dict[str, Any]) -> dict[str, Any]:
                return await asyncio.to_thread(seed.ai_send, req)  # requests blocks: a thread

            sms = await ai_send({"action": "send_message", "channel": "sms", "to": "+15551234567",
                                 "text": "Build finished successfully.", "subject": None})
            assert sms["ok"] is True and sms["status"] == 202, sms
            assert sms["body"]["to"] == "+15551234567" and sms["body"]["status"] == "queued"

            mail = await ai_send({"action": "send_message", "channel": "email", "to": "me@example.com",
                                  "text": "Build finished successfully.", "subject": "CI"})
            assert mail["ok"] is True and mail["status"] == 202, mail

            note = await ai_send({"action": "send_message", "channel": "notify", "to": "",
                                  "text": "Build finished successfully."})
            assert note["ok"] is True and note["status"] == 202, note

            wa = await ai_send({"action": "send_message", "channel": "wa", "to": "+15551234567",
                                "text": "hi"})
            assert wa["ok"] is False and wa["status"] == 422
            assert wa["body"]["error"]["field"] == "channel"
            assert "this relay serves: sms, email, notify" in wa["body"]["error"]["message"]

            sent = await wait_status(relay, sms["body"]["id"], "sent", "failed")
            assert sent["status"] == "sent" and sent["source"] == "ai-assistant"
            assert sim.sent[0].text == "Build finished successfully."
            await mailbox.wait_for(1)
            assert mailbox.messages[0]["Subject"] == "CI"
            assert mailbox.envelopes[0][1] == ["me@example.com"]
            await until(lambda: any(f["type"] == "notify" for f in phone.frames))
            assert [f for f in phone.frames if f["type"] == "notify"] == [
                {"type": "notify", "title": "relayd", "text": "Build finished successfully."}
            ]
        finally:
            await phone.stop()


async def inject(sim: ScriptedSim, text: str, sender: str = "+15557654321") -> None:
    assert sim.events is not None
    await sim.events.on_inbound(sim.info.id, InboundSms(sender, text, None, external_id=text))


async def poll(relay: RelayClient, key: str | None = None, **body: Any) -> dict[str, Any]:
    status, answer = await relay.call("POST", "/api/v1/webchat/poll", key=key, json=body)
    assert status == 200, answer
    return dict(answer)


def texts(answer: dict[str, Any]) -> list[str]:
    return [m["text"] for m in answer["messages"]]


async def test_webchat_poll_returns_each_new_inbound_message_once_per_key_and_address(
    make_relay: RelayFactory,
) -> None:
    sim = ScriptedSim("m1")
    relay = await make_relay([sim])
    for text in ("one", "two", "three"):
        await inject(sim, text)
    await relay.call("POST", "/api/v1/messages", json={"to": "+15551230001", "text": "outbound"})
    agent = await relay.new_key(["read"])
    seed_body = {"phone_id": "pchat_free_phone", "chat_address": "codex-agent", "limit": 2}
    first = await poll(relay, agent, **seed_body)
    assert texts(first) == ["one", "two"] and first["count"] == 2
    assert first["messages"][0]["direction"] == "in" and first["messages"][0]["peer"] == "+15557654321"
    assert texts(await poll(relay, agent, **seed_body)) == ["three"]
    assert texts(await poll(relay, agent, **seed_body)) == []
    await inject(sim, "four")
    assert texts(await poll(relay, agent, **seed_body)) == ["four"]

    # another address on the same key, and another key, have cursors of their own
    assert texts(await poll(relay, agent, chat_address="other", limit=20)) == ["one", "two", "three", "four"]
    assert texts(await poll(relay, await relay.new_key(["read"]))) == ["one", "two", "three", "four"]
    # since_id pages without touching the cursor
    stateless = await poll(relay, agent, chat_address="codex-agent", since_id=first["messages"][0]["id"])
    assert texts(stateless) == ["two", "three", "four"]
    assert texts(await poll(relay, agent, **seed_body)) == []
    # an empty body is the default cursor
    status, empty = await relay.call("POST", "/api/v1/webchat/poll", key=agent, data=b"")
    assert status == 200 and texts(empty) == ["one", "two", "three", "four"]


async def test_webchat_poll_cursor_survives_a_restart_and_orgs_stay_apart(
    make_relay: RelayFactory,
) -> None:
    sim = ScriptedSim("m1")
    relay = await make_relay([sim])
    agent = await relay.new_key(["read"])
    stranger = await relay.new_key(["read"], org="elsewhere")
    await inject(sim, "before")
    assert texts(await poll(relay, agent)) == ["before"]
    assert texts(await poll(relay, stranger)) == []
    await relay.http.close()

    sim = ScriptedSim("m1")
    relay = await make_relay([sim])
    await inject(sim, "after")
    assert texts(await poll(relay, agent)) == ["after"]


async def test_webchat_poll_needs_read_scope_and_valid_fields(relay: RelayClient) -> None:
    sender = await relay.new_key(["send"])
    status, _ = await relay.call("POST", "/api/v1/webchat/poll", key=sender, json={})
    assert status == 403
    status, body = await relay.call("POST", "/api/v1/webchat/poll", json={"limit": 5000})
    assert status == 422 and body["error"]["field"] == "limit"
    async with relay.http.post("/api/v1/webchat/poll", json={}, headers={"X-PChat-Session": "pct_x"}) as resp:
        assert resp.status == 401
