"""One send pipeline (issue 11, acceptance 3): every surface refuses the same bad send the same way.

Each surface (native API, Home Assistant notify form, seeds 002/003/004, the "SMS Gateway for
Android" 3rd-party API, and the MCP tools, which speak to the relay over HTTP) gets the same
invalid requests: a bad number, a text too long, a wrong or unserved channel (where the
surface has a channel), a recipient outside the key's allowlist. Each answers, in its own
error shape, with the same code and the field under the surface's own name, stores nothing,
and spends no rate-limit token: a key allowed 2 sends a minute still sends 2 afterwards (and
the third is refused, so the limit is really in force).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from relayd.cli.mcp_tools import RelayApi, ToolError, send_sms
from tests.conftest import RelayClient, RelayFactory
from tests.test_phones import base_url

GOOD = "+15551230001"
OUTSIDE_ALLOWLIST = "+442071838750"
TOO_LONG = "x" * 2000  # 14 GSM-7 parts; the default limit is 10
RATE_LIMIT = 2  # sends per minute of the test key


@dataclass(frozen=True)
class Answer:
    """What a surface answered, read out of its own shape: status, error code and field."""

    status: int
    code: str | None = None
    field: str | None = None


Send = Callable[[RelayClient, str, str, str, str | None], Awaitable[Answer]]


def relayd_error(status: int, body: Any) -> Answer:
    """relayd's `{"ok": false, "error": {code, message, field}}`."""
    if status < 400:
        return Answer(status)
    assert body["ok"] is False and body["error"]["message"]
    return Answer(status, body["error"]["code"], body["error"].get("field"))


async def native(relay: RelayClient, key: str, to: str, text: str, channel: str | None) -> Answer:
    body = {"to": to, "text": text} | ({"channel": channel} if channel else {})
    return relayd_error(*await relay.call("POST", "/api/v1/messages", key=key, json=body))


async def notify(relay: RelayClient, key: str, to: str, text: str, channel: str | None) -> Answer:
    body = {"message": text, "target": to} | ({"channel": channel} if channel else {})
    return relayd_error(*await relay.call("POST", "/api/v1/notify", key=key, json=body))


async def seed002(relay: RelayClient, key: str, to: str, text: str, _channel: str | None) -> Answer:
    body = {"SerialNumber": "bot-1", "ToPhoneNumber": to, "Message": text}
    async with relay.http.post(
        "/chat/Chatbot/SendTwilioMessage", json=body, headers={"Authorization": key}
    ) as resp:
        status, data = resp.status, await resp.json()
    assert data["Code"] == status and data["Success"] is (status == 200)  # the seed's envelope
    if status == 200:
        return Answer(status)
    assert data["Data"]["Status"] == "False" and data["Message"] == data["error"]["message"]
    return relayd_error(status, data)


async def seed003(relay: RelayClient, key: str, to: str, text: str, _channel: str | None) -> Answer:
    body = {"to": to, "body": text}
    return relayd_error(*await relay.call("POST", "/api/messaging/sms", key=key, json=body))


async def seed004(relay: RelayClient, key: str, to: str, text: str, _channel: str | None) -> Answer:
    body = {"to": to, "body": text}
    status, data = await relay.call("POST", "/send/default", key=key, json=body)
    if status == 200:
        assert data["ok"] is True and data["queued"] == 1
    return relayd_error(status, data)


async def asg(relay: RelayClient, key: str, to: str, text: str, _channel: str | None) -> Answer:
    body = {"textMessage": {"text": text}, "phoneNumbers": [to]}
    status, data = await relay.call("POST", "/api/3rdparty/v1/messages", key=key, json=body)
    if status == 202:
        assert data["state"] == "Pending" and data["recipients"][0]["phoneNumber"] == to
    return relayd_error(status, data)


MCP_REFUSAL = re.compile(r"the relay refused \((\d+) (\w+)(?:, field (\w+))?\): ")


async def mcp(relay: RelayClient, key: str, to: str, text: str, _channel: str | None) -> Answer:
    """The MCP tool `send_sms`: a refusal is a tool error naming status, code and field."""
    async with RelayApi(base_url(relay), key) as api:
        try:
            sent = await send_sms(api, {"to": to, "text": text})
        except ToolError as exc:
            refusal = str(exc)
        else:
            assert sent["status"] == "queued"
            return Answer(202)
    found = MCP_REFUSAL.match(refusal)
    assert found is not None, refusal
    return Answer(int(found[1]), found[2], found[3])


@dataclass(frozen=True)
class Surface:
    """A way to send, how it names the recipient and text fields, and its success status."""

    name: str
    send: Send
    to_field: str
    text_field: str
    ok_status: int
    has_channel: bool = False


SURFACES = (
    Surface("native", native, "to", "text", 202, has_channel=True),
    Surface("notify", notify, "target", "message", 202, has_channel=True),
    Surface("seed002", seed002, "ToPhoneNumber", "Message", 200),
    Surface("seed003", seed003, "to", "body", 202),
    Surface("seed004", seed004, "to", "body", 200),
    Surface("asg_3rdparty", asg, "phoneNumbers", "textMessage", 202),
    Surface("mcp", mcp, "to", "text", 202),
)


@dataclass(frozen=True)
class BadSend:
    """An invalid request and the refusal every surface must give it."""

    name: str
    to: str = GOOD
    text: str = "hello"
    channel: str | None = None
    status: int = 422
    code: str = "invalid_field"
    field: str = "to"  # "to" / "text" stand for the surface's own field names

    def expected(self, surface: Surface) -> Answer:
        names = {"to": surface.to_field, "text": surface.text_field}
        return Answer(self.status, self.code, names.get(self.field, self.field))


BAD_SENDS = (
    BadSend("bad_number", to="not a number", code="invalid_number"),
    BadSend("too_long", text=TOO_LONG, code="text_too_long", field="text"),
    BadSend("unknown_channel", channel="pigeon", code="unsupported_channel", field="channel"),
    BadSend("unserved_channel", channel="wa", code="unsupported_channel", field="channel"),
    BadSend("allowlist_miss", to=OUTSIDE_ALLOWLIST, status=403, code="recipient_not_allowed"),
)

CASES = [
    pytest.param(surface, bad, id=f"{surface.name}-{bad.name}")
    for surface in SURFACES
    for bad in BAD_SENDS
    if bad.channel is None or surface.has_channel
]


@pytest.mark.parametrize(("surface", "bad"), CASES)
async def test_invalid_send_gets_the_same_code_and_field_and_spends_no_rate_limit_token(
    make_relay: RelayFactory, surface: Surface, bad: BadSend
) -> None:
    relay = await make_relay()
    key = await relay.new_key(["send", "read"], allowlist=["+1555*"], rate_limit=RATE_LIMIT)

    for _ in range(RATE_LIMIT + 1):  # more refusals than the key has tokens
        answer = await surface.send(relay, key, bad.to, bad.text, bad.channel)
        assert answer == bad.expected(surface)
    assert await relay.relay.store.messages.list_messages("default") == []  # nothing stored

    for n in range(RATE_LIMIT):
        answer = await surface.send(relay, key, GOOD, f"good {n}", None)
        assert answer == Answer(surface.ok_status)
    limited = await surface.send(relay, key, GOOD, "one too many", None)
    assert (limited.status, limited.code) == (429, "rate_limited")
    stored = await relay.relay.store.messages.list_messages("default")
    assert [m.text for m in stored] == ["good 0", "good 1"]


Body = Callable[[str, str], dict[str, Any]]
IDEMPOTENT_SURFACES = (
    pytest.param(
        "/api/v1/messages",
        lambda text, idem: {"to": GOOD, "text": text, "idempotency_key": idem},
        Answer(422, "idempotency_conflict", "idempotency_key"),
        id="native",
    ),
    pytest.param(
        "/api/messaging/sms",
        lambda text, idem: {"to": GOOD, "body": text, "idempotency_key": idem},
        Answer(422, "idempotency_conflict", "idempotency_key"),
        id="seed003",
    ),
    pytest.param(
        "/api/3rdparty/v1/messages",
        lambda text, idem: {"id": idem, "textMessage": {"text": text}, "phoneNumbers": [GOOD]},
        Answer(409, "conflict", "id"),  # the app server's answer to a reused message id
        id="asg_3rdparty",
    ),
)


@pytest.mark.parametrize(("path", "body", "conflict"), IDEMPOTENT_SURFACES)
async def test_idempotency_key_reused_for_another_text_is_refused_and_costs_no_token(
    make_relay: RelayFactory, path: str, body: Body, conflict: Answer
) -> None:
    relay = await make_relay()
    key = await relay.new_key(["send", "read"], rate_limit=RATE_LIMIT)

    async def send(text: str, idem: str) -> Answer:
        return relayd_error(*await relay.call("POST", path, key=key, json=body(text, idem)))

    assert await send("first", "k-1") == Answer(202)
    for _ in range(RATE_LIMIT + 1):  # the refusal is found only when storing
        assert await send("another text", "k-1") == conflict
    assert await send("second", "k-2") == Answer(202)
    assert (await send("third", "k-3")).code == "rate_limited"
    stored = await relay.relay.store.messages.list_messages("default")
    assert [m.text for m in stored] == ["first", "second"]
