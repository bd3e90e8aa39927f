"""The `email` channel and SMS-to-e-mail forwarding against a real SMTP server (aiosmtpd).

The relay is the real app on a real SQLite file; the SMTP server is aiosmtpd in its own
thread. SMS SIMs are tests.test_dispatch's ScriptedSim: the subject here is the channel,
which shares the store, states and events with SMS.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from relayd.bridges.base import InboundSms
from relayd.config import Config
from tests.conftest import RelayClient, RelayFactory
from tests.support.daemon import free_port
from tests.support.smtp import smtp_server
from tests.test_dispatch import ScriptedSim

NUMBER = "+15551230001"


def email_config(config: Config, port: int, forward: list[str] | None = None) -> Config:
    config.email.smtp_host = "127.0.0.1"
    config.email.smtp_port = port
    config.email.starttls = False
    config.email.from_ = "relay@example.org"
    config.email.forward_inbound_to = forward or []
    return config


async def wait_status(relay: RelayClient, message_id: int, *statuses: str, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            _, message = await relay.call("GET", f"/api/v1/messages/{message_id}")
            if message["status"] in statuses:
                return message
            await asyncio.sleep(0.02)


async def test_email_channel_is_delivered_by_smtp_with_the_states_of_an_sms(
    make_relay: RelayFactory, config: Config
) -> None:
    with smtp_server() as mailbox:
        relay = await make_relay(cfg=email_config(config, mailbox.port))
        events: list[str] = []
        sub = relay.relay.bus.subscribe("default")
        status, body = await relay.call(
            "POST",
            "/api/v1/messages",
            json={"channel": "email", "to": "Me@Example.COM", "subject": "Build ✓",
                  "text": "Build finished.\nÇa marche — 😀"},
        )
        assert status == 202, body
        assert body["to"] == "Me@example.com" and body["status"] == "queued"
        await mailbox.wait_for(1)
        mail = mailbox.messages[0]
        assert mailbox.envelopes[0] == ("relay@example.org", ["Me@example.com"])
        assert mail["Subject"] == "Build ✓" and mail["From"] == "relay@example.org"
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
        assert mail.get_content().replace("\r\n", "\n").strip() == "Build finished.\nÇa marche — 😀"
        message = await wait_status(relay, body["id"], "sent", "failed")
        assert message["status"] == "sent" and message["channel"] == "email"
        assert message["sim"] == "email"
        assert [h["status"] for h in message["history"]] == ["queued", "sending", "sent"]
        while not sub.queue.empty():
            events.append(sub.queue.get_nowait().type)
        relay.relay.bus.unsubscribe(sub)
        assert events == ["sms.queued", "sms.sending", "sms.sent"]


async def test_smtp_down_is_retried_and_the_mail_goes_out_when_it_is_back(
    make_relay: RelayFactory, config: Config
) -> None:
    port = free_port()
    config.routing.max_attempts = 10
    relay = await make_relay(cfg=email_config(config, port))
    relay.relay.channels.retry_delays = (0.2,)
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"channel": "email", "to": "ops@example.org", "text": "x"}
    )
    assert status == 202
    queued = await wait_status(relay, body["id"], "queued")
    async with asyncio.timeout(5):
        while not queued["error"]:
            _, queued = await relay.call("GET", f"/api/v1/messages/{body['id']}")
    assert "smtp_unreachable" in queued["error"] and "retrying" in queued["error"]
    with smtp_server(port) as mailbox:
        await mailbox.wait_for(1)
        message = await wait_status(relay, body["id"], "sent")
    assert message["error"] is None
    assert [h["status"] for h in message["history"]][-2:] == ["sending", "sent"]


async def test_permanent_smtp_refusal_fails_and_4xx_is_retried(
    make_relay: RelayFactory, config: Config
) -> None:
    with smtp_server() as mailbox:
        relay = await make_relay(cfg=email_config(config, mailbox.port))
        relay.relay.channels.retry_delays = (0.1,)
        mailbox.refuse = ["451 4.3.0 try again later"]
        _, retried = await relay.call(
            "POST", "/api/v1/messages", json={"channel": "email", "to": "a@example.org", "text": "x"}
        )
        assert (await wait_status(relay, retried["id"], "sent", "failed"))["status"] == "sent"
        mailbox.refuse = ["554 5.7.1 no thanks"]
        _, refused = await relay.call(
            "POST", "/api/v1/messages", json={"channel": "email", "to": "b@example.org", "text": "y"}
        )
        failed = await wait_status(relay, refused["id"], "failed")
        assert failed["error"].startswith("data_refused: SMTP 554")
        assert len(mailbox.messages) == 1


async def test_inbound_sms_is_forwarded_by_email_once(
    make_relay: RelayFactory, config: Config
) -> None:
    sim = ScriptedSim("m1", number="+15550001111")
    with smtp_server() as mailbox:
        relay = await make_relay([sim], cfg=email_config(config, mailbox.port, ["owner@example.org"]))
        assert sim.events is not None
        sms = InboundSms(sender="+15557654321", text="Door opened", received_at=None,
                         external_id="x1")
        await sim.events.on_inbound(sim.info.id, sms)
        await sim.events.on_inbound(sim.info.id, sms)  # the same SMS read twice: one forward
        await mailbox.wait_for(1)
        mail = mailbox.messages[0]
        assert mailbox.envelopes[0][1] == ["owner@example.org"]
        assert mail["Subject"] == "SMS from +15557654321"
        body = mail.get_content()
        assert "From: +15557654321" in body and body.rstrip().endswith("Door opened")
        _, listing = await relay.call("GET", "/api/v1/messages?direction=out")
        forwards = [m for m in listing["messages"] if m["source"] == "forward"]
        assert len(forwards) == 1 and forwards[0]["channel"] == "email"
        await asyncio.sleep(0.3)
        assert len(mailbox.messages) == 1


async def test_email_is_not_served_without_an_smtp_host(relay: RelayClient) -> None:
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"channel": "email", "to": "a@example.org", "text": "x"}
    )
    assert status == 422 and body["error"]["field"] == "channel"
    assert "this relay serves: sms, notify" in body["error"]["message"]


@pytest.mark.parametrize(
    "to", ["not-an-address", "a@b", "x@example.org\r\nBcc: victim@example.org", "+15551230001"]
)
async def test_bad_email_addresses_are_422_on_to(
    make_relay: RelayFactory, config: Config, to: str
) -> None:
    relay = await make_relay(cfg=email_config(config, free_port()))
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"channel": "email", "to": to, "text": "x"}
    )
    assert status == 422, body
    assert body["error"]["field"] == "to" and body["error"]["code"] == "invalid_address"


async def test_email_respects_the_keys_allowlist(make_relay: RelayFactory, config: Config) -> None:
    relay = await make_relay(cfg=email_config(config, free_port()))
    key = await relay.new_key(["send"], allowlist=["*@example.org"])
    ok, _ = await relay.call(
        "POST", "/api/v1/messages", key=key, json={"channel": "email", "to": "a@example.org", "text": "x"}
    )
    assert ok == 202
    status, body = await relay.call(
        "POST", "/api/v1/messages", key=key, json={"channel": "email", "to": "a@evil.test", "text": "x"}
    )
    assert status == 403 and body["error"]["code"] == "recipient_not_allowed"


async def test_a_queued_email_survives_a_restart_and_goes_out_after_it(
    make_relay: RelayFactory, config: Config
) -> None:
    port = free_port()
    config.routing.max_attempts = 10
    relay = await make_relay(cfg=email_config(config, port))
    relay.relay.channels.retry_delays = (60.0,)  # the next try would be long after the restart
    _, body = await relay.call(
        "POST", "/api/v1/messages", json={"channel": "email", "to": "ops@example.org", "text": "later"}
    )
    async with asyncio.timeout(5):
        while not (await wait_status(relay, body["id"], "queued"))["error"]:
            await asyncio.sleep(0.02)
    await relay.http.close()

    with smtp_server(port) as mailbox:
        relay = await make_relay(cfg=config)
        await mailbox.wait_for(1)
        message = await wait_status(relay, body["id"], "sent")
    assert mailbox.messages[0].get_content().strip() == "later"
    assert message["status"] == "sent"


async def test_sms_stored_just_before_a_crash_is_forwarded_at_the_next_start(
    config: Config, tmp_path: Any
) -> None:
    from relayd.relay import Relay

    with smtp_server() as mailbox:
        cfg = email_config(config, mailbox.port, ["owner@example.org"])
        # The SMS is committed but the process dies before its forward is stored: here the
        # store is written directly, with no relay running to see the commit.
        first = Relay(cfg)
        first.forwarder.enabled = False
        await first.start([])
        await first.store.inbound.store("default", "modem:m1", "+15557654321", "Gas alarm",
                                        encoding="gsm7", received_at=None, external_id="crash")
        await first.stop()
        second = Relay(cfg)
        await second.start([])
        try:
            await mailbox.wait_for(1)
            assert mailbox.messages[0].get_content().rstrip().endswith("Gas alarm")
        finally:
            await second.stop()
        third = Relay(cfg)  # the forward exists now: no second mail
        await third.start([])
        await third.stop()
        await asyncio.sleep(0.2)
        assert len(mailbox.messages) == 1
