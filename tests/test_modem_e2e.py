"""Issue 3 acceptance through the HTTP API: relay + ModemBackend + simulator on real ptys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from modem import engine as engine_module
from modem import modem as modem_module
from modem import startup as startup_module
from modem.simulator import ModemSimulator
from relayd.bridges.modem import ModemBackend
from relayd.config import Config, ModemConfig
from tests.conftest import RelayClient, RelayFactory

PEER = "+15557654321"


@pytest.fixture(autouse=True)
def fast_modem(monkeypatch: pytest.MonkeyPatch) -> None:
    """Driver timeouts and reconnect pauses scaled down; the logic is unchanged."""
    monkeypatch.setattr(engine_module, "COMMAND_TIMEOUT", 0.5)
    monkeypatch.setattr(engine_module, "CMGS_TIMEOUT", 2.0)
    monkeypatch.setattr(startup_module, "SYNC_TIMEOUT", 0.2)
    monkeypatch.setattr(modem_module, "RECONNECT_MIN", 0.02)
    monkeypatch.setattr(modem_module, "PORT_POLL_MAX", 0.05)
    monkeypatch.setattr(modem_module, "PORT_SETTLE", 0.01)


ModemRelay = Callable[..., Awaitable[tuple[RelayClient, list[ModemSimulator]]]]


@pytest.fixture
async def modem_relay(
    make_relay: RelayFactory, config: Config, tmp_path: Path
) -> AsyncIterator[ModemRelay]:
    """A relay whose SIMs are ModemBackends on simulators (one per profile given)."""
    sims: list[ModemSimulator] = []

    async def factory(
        *profiles: str, multipart_wait: float | None = None, pins: dict[int, str] | None = None,
        **sim_kwargs: Any,
    ) -> tuple[RelayClient, list[ModemSimulator]]:
        backends = []
        for index, profile in enumerate(profiles):
            sim = ModemSimulator(tmp_path / f"modem{index}", profile=profile,
                                 own_number=f"+1555000100{index}", **sim_kwargs)
            await sim.start()
            sims.append(sim)
            modem_cfg = ModemConfig(name=f"m{index}", port=str(sim.link), health_interval=0.2,
                                    pin=(pins or {}).get(index, ""))
            backends.append(ModemBackend.from_config(modem_cfg))
        if multipart_wait is not None:
            config.sms.multipart_wait = multipart_wait
        relay = await make_relay(backends)
        await wait_for(lambda: all(b.info.state != "starting" for b in backends))
        return relay, sims

    yield factory
    for sim in sims:
        await sim.stop()


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def wait_message(relay: RelayClient, message_id: int, *statuses: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            _, message = await relay.call("GET", f"/api/v1/messages/{message_id}")
            if message["status"] in statuses:
                return message
            await asyncio.sleep(0.02)


async def inbound(relay: RelayClient) -> list[dict[str, Any]]:
    _, body = await relay.call("GET", "/api/v1/messages?direction=in")
    messages: list[dict[str, Any]] = body["messages"]
    return messages


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("Hello from relayd", "gsm7", 1),
        ("The quick brown fox jumps over the lazy dog. " * 9, "gsm7", 3),
        ("Привет, мир! Как дела? 😀🎉 " * 4, "ucs2", 2),
    ],
    ids=["ascii", "400-chars", "cyrillic-emoji"],
)
async def test_api_send_is_decoded_exactly_by_the_modem_and_ends_delivered(
    modem_relay: ModemRelay, text: str, encoding: str, parts: int
) -> None:
    relay, [sim] = await modem_relay("sim800")
    status, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": text})
    assert status == 202 and (body["encoding"], body["parts"]) == (encoding, parts)
    message = await wait_message(relay, body["id"], "delivered", "failed")
    assert message["status"] == "delivered", message
    assert [h["status"] for h in message["history"]] == ["queued", "sending", "sent", "delivered"]
    [on_air] = sim.sent_messages()
    assert (on_air.to, on_air.text, on_air.parts) == (PEER, text, parts)


async def test_failed_status_report_fails_the_message_with_its_meaning(modem_relay: ModemRelay) -> None:
    relay, [sim] = await modem_relay("quectel")
    sim.faults.report_status = 0x41  # incompatible destination: permanent failure
    _, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "x"})
    message = await wait_message(relay, body["id"], "failed", "delivered")
    assert message["status"] == "failed" and "not delivered" in message["error"]


async def test_inbound_single_multipart_out_of_order_and_unicode_arrive_whole_once(
    modem_relay: ModemRelay,
) -> None:
    relay, [sim] = await modem_relay("sim800")
    async with relay.http.get("/api/v1/events?types=sms.received", headers=relay.headers()) as stream:
        sim.inject_sms(PEER, "single")
        long_text = "".join(f"part-{i:03d} " for i in range(60))  # 4 GSM-7 parts
        sim.inject_sms(PEER, long_text, order=[3, 1, 4, 2], delay_parts={2: 0.3})
        sim.inject_sms(PEER, "Grüße 👋 из Москвы")
        await wait_for(lambda: len(sim.injected) == 3)
        received: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while len(received) < 3:
                line = (await stream.content.readline()).decode()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:])["data"])
    texts = sorted(m["text"] for m in received)
    assert texts == sorted(["single", long_text, "Grüße 👋 из Москвы"])
    stored = await inbound(relay)
    assert sorted(m["text"] for m in stored) == texts  # once each
    assert all(not m["partial"] and m["peer"] == PEER for m in stored)


async def test_multipart_with_a_missing_part_arrives_flagged_partial_after_the_wait(
    modem_relay: ModemRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relayd.dispatch.sims.PARTIAL_SWEEP_SECONDS", 0.1)
    relay, [sim] = await modem_relay("sim800", multipart_wait=0.5)
    text = "".join(f"chunk-{i:03d} " for i in range(50))
    sim.inject_sms(PEER, text, split_parts=4, drop_parts=[2])
    async with asyncio.timeout(10):
        while not (stored := await inbound(relay)):
            await asyncio.sleep(0.05)
    [message] = stored
    assert message["partial"] is True and message["parts"] == 4
    assert "[…]" in message["text"] and message["text"].startswith("chunk-000")


async def test_unplug_mid_burst_then_replug_ends_every_message_sent_or_interrupted_none_twice(
    modem_relay: ModemRelay,
) -> None:
    relay, [sim] = await modem_relay("sim800", send_delay=0.02)
    ids = []
    for i in range(50):
        status, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": f"burst {i}"})
        assert status == 202
        ids.append(body["id"])
    await wait_for(lambda: len(sim.sent) >= 10)
    await sim.unplug()
    backend = relay.relay.sims.all()[0]
    await wait_for(lambda: not backend.info.online)
    await asyncio.sleep(5)
    await sim.replug()
    await wait_for(lambda: backend.info.online, timeout=15)
    finals = [await wait_message(relay, i, "sent", "delivered", "failed", timeout=30) for i in ids]
    for message in finals:
        assert message["status"] in ("sent", "delivered") or message["error"] == "interrupted", message
    on_air = [s.text for s in sim.sent_messages()]
    assert len(on_air) == len(set(on_air)), "a message went out twice"
    sent_ok = {m["text"] for m in finals if m["status"] in ("sent", "delivered")}
    assert sent_ok <= set(on_air)
    assert len(sent_ok) >= 40


async def test_garbage_reboot_and_busy_bursts_are_survived(modem_relay: ModemRelay) -> None:
    relay, [sim] = await modem_relay("quectel")
    sim.faults.garbage = 3
    sim.faults.cme_busy = 3
    await sim.reboot()
    _, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "still alive"})
    message = await wait_message(relay, body["id"], "delivered", "sent", "failed")
    assert message["status"] in ("sent", "delivered"), message
    sim.inject_sms(PEER, "after the storm")
    async with asyncio.timeout(10):
        while not await inbound(relay):
            await asyncio.sleep(0.05)


async def test_a_modem_that_stops_answering_is_reopened(modem_relay: ModemRelay) -> None:
    relay, [sim] = await modem_relay("sim800")
    backend = relay.relay.sims.all()[0]
    sim.faults.mute = True
    # Bounds, not speed claims: a health query times out (5 s), then the resync; slower on a
    # loaded machine.
    await wait_for(lambda: not backend.info.online, timeout=40)
    sim.faults.mute = False
    await wait_for(lambda: backend.info.online, timeout=40)


@pytest.mark.parametrize(
    ("pin", "state"), [(None, "sim_pin_required"), ("0000", "wrong_pin")]
)
async def test_sim_pin_problems_show_a_clear_state_on_the_sims_api(
    modem_relay: ModemRelay, pin: str | None, state: str
) -> None:
    pins = {0: pin} if pin else {}
    relay, [_sim] = await modem_relay("sim800", pin="1234", pins=pins)
    await wait_for(lambda: relay.relay.sims.all()[0].info.state == state)
    _, body = await relay.call("GET", "/api/v1/sims")
    [sim] = body["sims"]
    assert sim["state"] == state and sim["online"] is False and sim["state_detail"]


async def test_two_modems_spread_sends_and_one_unplugged_hands_its_queue_to_the_other(
    modem_relay: ModemRelay,
) -> None:
    relay, (sim_a, sim_b) = await modem_relay("sim800", "huawei", send_delay=0.01)
    ids = []
    for i in range(10):
        _, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": f"spread {i}"})
        ids.append(body["id"])
    for i in ids:
        await wait_message(relay, i, "sent", "delivered")
    assert len(sim_a.sent_messages()) >= 3 and len(sim_b.sent_messages()) >= 3
    await sim_a.unplug()
    await wait_for(lambda: not relay.relay.sims.all()[0].info.online)
    more = []
    for i in range(6):
        _, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": f"failover {i}"})
        more.append(body["id"])
    for i in more:
        message = await wait_message(relay, i, "sent", "delivered")
        assert message["sim"] == "modem:m1"
    assert {m.text for m in sim_b.sent_messages()} >= {f"failover {i}" for i in range(6)}


async def test_ussd_balance_and_ring_call_through_the_api(modem_relay: ModemRelay) -> None:
    relay, [sim] = await modem_relay("huawei")
    status, body = await relay.call("POST", "/api/v1/ussd", json={"code": "*100#"})
    assert status == 200 and "12.34" in body["answer"], body
    sim.faults.callee_hangup_after = 0.2
    status, call = await relay.call("POST", "/api/v1/calls", json={"to": PEER, "ring_seconds": 1})
    assert status == 200, call
    assert sim.calls[-1].number == PEER
    status, bad = await relay.call("POST", "/api/v1/ussd", json={"code": "rm -rf"})
    assert status == 422 and bad["error"]["field"] == "code"
