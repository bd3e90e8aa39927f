"""Router policies and the outbox's state machine.

The SIMs here are `ScriptedSim`, a SimBackend written for these tests: the subject is the
relay's dispatch logic (policies, failover, crash semantics), which is the same for every
backend. The modem path itself is tested end to end through a real pty in tests/modem and
tests/test_modem_e2e.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from relayd.bridges.base import (
    BackendEvents,
    Capability,
    OutboundSms,
    SendFailed,
    SendReceipt,
    SimInfo,
)
from relayd.config import Config, RoutingConfig, RoutingRule
from relayd.dispatch.router import Pending, Router
from relayd.relay import Relay
from tests.conftest import RelayClient, RelayFactory

NUMBER = "+15551230001"


class ScriptedSim:
    """A SIM whose send outcome is scripted per call; records what it was asked to send."""

    max_in_flight = 1
    redelivers_by_id = False

    def __init__(self, name: str, *, org: str = "default", online: bool = True,
                 number: str | None = None, slot: int | None = None, priority: int = 0,
                 rate_per_minute: float = 0.0) -> None:
        self.priority = priority
        self.rate_per_minute = rate_per_minute
        self._info = SimInfo(id=f"modem:{name}", kind="modem", name=name, org=org,
                             online=online, number=number, slot=slot, state="ready")
        self.sent: list[OutboundSms] = []
        self.script: list[Exception | None] = []
        self.gate: asyncio.Event | None = None
        self.events: BackendEvents | None = None

    @property
    def info(self) -> SimInfo:
        return self._info

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset({"sms"})

    async def start(self, events: BackendEvents) -> None:
        self.events = events

    async def stop(self) -> None:
        return None

    async def send(self, sms: OutboundSms) -> SendReceipt:
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.sent.append(sms)
        return SendReceipt(references=[len(self.sent)])

    def set_online(self, online: bool) -> None:
        self._info.online = online
        assert self.events is not None
        self.events.on_sim_changed(self._info.id)


async def wait_status(relay: RelayClient, message_id: int, *statuses: str) -> dict[str, Any]:
    """Poll the API until the message reaches one of `statuses` (event-driven code, test-side poll)."""
    async with asyncio.timeout(5):
        while True:
            _, message = await relay.call("GET", f"/api/v1/messages/{message_id}")
            if message["status"] in statuses:
                return message
            await asyncio.sleep(0.01)


async def send(relay: RelayClient, **body: Any) -> int:
    status, answer = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "x", **body})
    assert status == 202, answer
    message_id: int = answer["id"]
    return message_id


# --- router ---------------------------------------------------------------------------


def router(**routing: Any) -> Router:
    return Router(RoutingConfig(**routing))


def pick(r: Router, sims: list[ScriptedSim], peer: str = NUMBER, **kw: Any) -> str | None:
    org_sims = sorted((s for s in sims if s.info.org == "default"), key=lambda s: s.info.id)
    chosen = r.choose(Pending(id=1, org="default", peer=peer, text="x", **kw), org_sims,
                      lambda s: s.info.online, lambda s: 0)
    return chosen.info.name if chosen else None


def test_round_robin_alternates_between_ready_sims() -> None:
    r, sims = router(), [ScriptedSim("a"), ScriptedSim("b")]
    assert [pick(r, sims) for _ in range(4)] == ["a", "b", "a", "b"]


def test_priority_policy_prefers_the_higher_priority_sim() -> None:
    r, sims = router(policy="priority"), [ScriptedSim("lo"), ScriptedSim("hi", priority=1)]
    assert {pick(r, sims) for _ in range(3)} == {"hi"}


def test_prefix_rule_routes_to_its_sim_and_fails_over_when_it_is_down() -> None:
    uk, us = ScriptedSim("uk"), ScriptedSim("us")
    r = router(rule=[RoutingRule(prefix="+44", sim="uk")])
    assert pick(r, [uk, us], peer="+442071838750") == "uk"
    uk.info.online = False
    assert pick(r, [uk, us], peer="+442071838750") == "us"
    strict = router(rule=[RoutingRule(prefix="+44", sim="uk")], failover=False)
    assert pick(strict, [uk, us], peer="+442071838750") is None


def test_sticky_reply_uses_the_sim_the_peer_wrote_to() -> None:
    r, sims = router(), [ScriptedSim("a"), ScriptedSim("b")]
    r.remember_sender("default", NUMBER, "modem:b")
    assert {pick(r, sims) for _ in range(3)} == {"b"}
    assert pick(router(sticky_replies=False), sims) == "a"


def test_explicit_sim_waits_for_that_sim_rather_than_another() -> None:
    a, b = ScriptedSim("a", number="+15550000001", slot=1), ScriptedSim("b")
    r = router()
    assert pick(r, [a, b], sim_request="+15550000001") == "a"
    assert pick(r, [a, b], sim_request="1") == "a"
    a.info.online = False
    assert pick(r, [a, b], sim_request="a") is None


def test_sims_of_other_orgs_are_never_chosen() -> None:
    assert pick(router(), [ScriptedSim("x", org="other")]) is None


# --- outbox ---------------------------------------------------------------------------


async def test_queued_message_is_sent_when_a_sim_comes_online(make_relay: RelayFactory) -> None:
    sim = ScriptedSim("a", online=False)
    relay = await make_relay([sim])
    message_id = await send(relay)
    await asyncio.sleep(0.05)
    assert (await wait_status(relay, message_id, "queued"))["status"] == "queued"
    sim.set_online(True)
    message = await wait_status(relay, message_id, "sent")
    assert [h["status"] for h in message["history"]] == ["queued", "sending", "sent"]
    assert message["sim"] == "modem:a" and [s.message_id for s in sim.sent] == [message_id]


async def test_transient_not_sent_failure_fails_over_to_another_sim(
    make_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relayd.dispatch.outbox.RETRY_BACKOFF", 0.0)
    a, b = ScriptedSim("a"), ScriptedSim("b")
    a.script = [SendFailed("cms_42", "congestion", transient=True, not_sent=True)]
    relay = await make_relay([a, b])  # round robin tries `a` first
    message = await wait_status(relay, await send(relay), "sent", "failed")
    assert message["status"] == "sent" and message["sim"] == "modem:b"
    assert [h["status"] for h in message["history"]] == ["queued", "sending", "queued", "sending", "sent"]
    assert (len(a.sent), len(b.sent)) == (0, 1)


async def test_transient_failure_on_the_only_sim_is_retried_then_fails_after_max_attempts(
    make_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relayd.dispatch.outbox.RETRY_BACKOFF", 0.0)
    sim = ScriptedSim("a")
    sim.script = [SendFailed("cms_42", "congestion", transient=True, not_sent=True)] * 3
    relay = await make_relay([sim])
    message = await wait_status(relay, await send(relay), "sent", "failed")
    assert message["status"] == "failed" and message["error"].startswith("cms_42")
    assert [h["status"] for h in message["history"]].count("sending") == 3


async def test_torn_send_is_failed_as_interrupted_and_never_resent(make_relay: RelayFactory) -> None:
    a, b = ScriptedSim("a"), ScriptedSim("b")
    a.script = [SendFailed("interrupted", "port vanished after the PDU", transient=True, not_sent=False)]
    b.script = list(a.script)
    relay = await make_relay([a, b])
    message = await wait_status(relay, await send(relay), "failed")
    assert message["error"] == "interrupted"
    await asyncio.sleep(0.05)
    assert a.sent == [] and b.sent == []


async def test_permanent_failure_fails_with_the_backend_error(make_relay: RelayFactory) -> None:
    sim = ScriptedSim("a")
    sim.script = [SendFailed("cms_21", "short message transfer rejected", transient=False, not_sent=True)]
    relay = await make_relay([sim])
    message = await wait_status(relay, await send(relay), "failed")
    assert message["error"] == "cms_21: short message transfer rejected"


async def test_send_at_holds_the_message_until_its_time(make_relay: RelayFactory) -> None:
    sim = ScriptedSim("a")
    relay = await make_relay([sim])
    at = time.time() + 0.3
    send_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}+00:00"
    message_id = await send(relay, send_at=send_at)
    await asyncio.sleep(0.1)
    assert sim.sent == []
    message = await wait_status(relay, message_id, "sent")
    assert message["sent_at"] >= message["send_at"]


async def test_ttl_expires_a_message_no_sim_could_send(make_relay: RelayFactory) -> None:
    sim = ScriptedSim("a", online=False)
    relay = await make_relay([sim])
    message_id = await send(relay, ttl=1)
    message = await wait_status(relay, message_id, "expired")  # a timer expires it, no new work
    assert message["error"].startswith("ttl")
    sim.set_online(True)
    await asyncio.sleep(0.05)
    assert sim.sent == []


async def test_list_send_is_spread_over_two_sims(make_relay: RelayFactory) -> None:
    a, b = ScriptedSim("a"), ScriptedSim("b")
    relay = await make_relay([a, b])
    to = [f"+1555123000{i}" for i in range(6)]
    _, body = await relay.call("POST", "/api/v1/messages", json={"to": to, "text": "x"})
    for item in body["messages"]:
        await wait_status(relay, item["id"], "sent")
    assert len(a.sent) >= 2 and len(b.sent) >= 2 and len(a.sent) + len(b.sent) == 6


async def test_restart_fails_in_flight_sends_as_interrupted(tmp_path: Path) -> None:
    config = Config()
    config.storage.path = str(tmp_path / "relayd.db")
    sim = ScriptedSim("a")
    sim.gate = asyncio.Event()  # the send hangs: the "crash" happens while it is in flight
    relay = Relay(config)
    await relay.start([sim])
    key, _ = await relay.store.keys.create_key("default", "t", ["send"])
    from relayd.sending import SendOrder

    accepted = await relay.sending.submit(key, SendOrder(to=[NUMBER], text="torn"))
    message_id = accepted.results[0].message.id
    async with asyncio.timeout(5):
        while getattr(await relay.store.messages.get_message("default", message_id), "status", None) != "sending":
            await asyncio.sleep(0.01)
    # Simulate the crash: the process dies with the send in flight; the store keeps `sending`.
    await relay.outbox.drain(0)
    await relay.sims.stop()
    await relay.webhooks.stop()
    await relay.store.close()
    restarted = Relay(config)
    second = ScriptedSim("a")
    await restarted.start([second])
    message = await restarted.store.messages.get_message("default", message_id)
    await restarted.stop()
    assert message is not None and message.status == "failed" and message.error == "interrupted"
    assert second.sent == []


async def test_per_sim_rate_limit_spaces_sends(make_relay: RelayFactory) -> None:
    sim = ScriptedSim("a", rate_per_minute=600)  # one send per 0.1 s
    relay = await make_relay([sim])
    ids = [await send(relay, text=f"r{i}") for i in range(3)]
    for message_id in ids:
        await wait_status(relay, message_id, "sent")
    rows = [await relay.relay.store.messages.get_message("default", i) for i in ids]
    sent_at = [r.history[1].at for r in rows if r and r.history]
    assert len(sent_at) == 3 and sent_at == sorted(sent_at)


@pytest.mark.parametrize("policy", ["round_robin", "priority", "least_busy"])
async def test_every_policy_delivers_all_messages(make_relay: RelayFactory, config: Config, policy: str) -> None:
    config.routing.policy = policy  # type: ignore[assignment]
    a, b = ScriptedSim("a"), ScriptedSim("b-hi", priority=1)
    relay = await make_relay([a, b], cfg=config)
    ids = [await send(relay, text=f"p{i}") for i in range(4)]
    for message_id in ids:
        await wait_status(relay, message_id, "sent")
    assert len(a.sent) + len(b.sent) == 4
