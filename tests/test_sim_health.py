"""Issue 14 acceptance 4: a SIM that fails every send is quarantined, then probed back.

Two simulated modems on real ptys; the failing one answers every AT+CMGS with
`+CMS ERROR: 500` (the simulator's `cms_error` fault). The events reach a real HTTP
webhook receiver; a restart is a new relay on the same SQLite file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from relayd.config import Config, WebhookConfig
from tests.conftest import RelayClient, RelayFactory
from tests.test_modem_e2e import fast_modem, wait_for, wait_message
from tests.test_sim_caps import Line, line, send, sims_by_id, start_relay
from tests.test_webhooks import Receiver, fast_retries, receiver

__all__ = ["fast_modem", "fast_retries", "line", "receiver"]
FAIL_EVERY_SEND = 1_000_000  # the simulator's cms_error counter: more sends than any test makes


def sim_events(receiver: Receiver, sim_id: str) -> list[dict[str, Any]]:
    """The sim.quarantined / sim.recovered webhooks for one SIM, in order."""
    hits = [h.json for h in receiver.on("/hook")]
    return [
        h for h in hits
        if h["type"] in ("sim.quarantined", "sim.recovered") and h["data"]["id"] == sim_id
    ]


async def wait_health(relay: RelayClient, sim_id: str, state: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            health: dict[str, Any] = (await sims_by_id(relay))[sim_id]["health"]
            if health["state"] == state:
                return health
            await asyncio.sleep(0.05)


async def wait_until(at: str) -> None:
    """Let the relay's clock pass an API time (a back-off's end)."""
    delay = dt.datetime.fromisoformat(at).timestamp() - time.time()
    await asyncio.sleep(max(0.0, delay) + 0.05)


def health_config(config: Config, line: Line, receiver: Receiver, backoff: float) -> None:
    config.modem = line.sections()
    config.routing.quarantine_after = 3
    config.routing.quarantine_backoff = backoff
    config.webhook = [WebhookConfig(url=receiver.url(), events=["sim.*"])]


async def test_a_sim_failing_every_send_is_quarantined_the_burst_goes_out_on_the_other_and_it_returns_after_its_probe(
    make_relay: RelayFactory, config: Config, line: Line, receiver: Receiver
) -> None:
    await line.start(2)
    bad, good = line.sims
    bad.faults.cms_error = FAIL_EVERY_SEND
    health_config(config, line, receiver, backoff=2.5)
    relay = await start_relay(make_relay, config)

    burst = [await send(relay, f"burst {n}") for n in range(12)]
    done = [await wait_message(relay, m, "delivered", "failed", timeout=20) for m in burst]
    assert all(m["status"] == "delivered" and m["sim"] == "modem:m1" for m in done), done
    assert len(good.sent_messages()) == 12 and bad.sent_messages() == []
    quarantined = await wait_health(relay, "modem:m0", "quarantined")
    assert quarantined["failures"] == 3 and quarantined["until"] is not None
    counts = {i: s["caps"]["daily"]["used"] for i, s in (await sims_by_id(relay)).items()}
    assert counts == {"modem:m0": 0, "modem:m1": 12}  # a send that never went out is not counted
    # Three sends failed on m0, then it took no more of the burst (each went on via m1).
    failed_on_bad = [m for m in done if any("cms_500" in (h.get("error") or "") for h in m["history"])]
    assert len(failed_on_bad) == 3
    await wait_for(lambda: len(sim_events(receiver, "modem:m0")) == 1)
    [event] = sim_events(receiver, "modem:m0")
    assert event["type"] == "sim.quarantined"
    assert event["data"]["health"]["state"] == "quarantined"

    # The back-off ends while m0 still fails: its one probe fails (the message goes on via
    # m1), the back-off doubles. Round robin decides which send is the probe: send until one is.
    await wait_until(quarantined["until"])
    async with asyncio.timeout(15):
        while len(sim_events(receiver, "modem:m0")) < 2:
            probe = await wait_message(relay, await send(relay, "probe 1"), "delivered")
            assert probe["sim"] == "modem:m1"
    second = sim_events(receiver, "modem:m0")[1]
    assert second["type"] == "sim.quarantined" and second["data"]["health"]["failures"] == 4
    assert second["data"]["health"]["until"] > event["data"]["health"]["until"]

    # m0 is fixed; after the (longer) back-off a probe goes out on it and it is back.
    bad.faults.cms_error = 0
    await wait_until(second["data"]["health"]["until"])
    async with asyncio.timeout(20):
        while (await wait_message(relay, await send(relay, "probe 2"), "delivered"))["sim"] != "modem:m0":
            await asyncio.sleep(0.2)
    await wait_for(lambda: [e["type"] for e in sim_events(receiver, "modem:m0")][-1] == "sim.recovered")
    assert (await wait_health(relay, "modem:m0", "ok"))["failures"] == 0
    assert [m.text for m in bad.sent_messages()] == ["probe 2"]
    # Back in the pool: round robin gives it sends again.
    after = [await wait_message(relay, await send(relay, f"after {n}"), "delivered") for n in range(4)]
    assert {m["sim"] for m in after} == {"modem:m0", "modem:m1"}


async def test_a_quarantine_survives_a_restart(
    make_relay: RelayFactory, config: Config, line: Line, receiver: Receiver
) -> None:
    await line.start(2)
    line.sims[0].faults.cms_error = FAIL_EVERY_SEND
    health_config(config, line, receiver, backoff=600.0)
    relay = await start_relay(make_relay, config)
    for n in range(6):
        await wait_message(relay, await send(relay, f"n{n}"), "delivered", timeout=20)
    before = await wait_health(relay, "modem:m0", "quarantined")
    await relay.http.close()

    restarted = await start_relay(make_relay, config)
    assert (await sims_by_id(restarted))["modem:m0"]["health"] == before
    line.sims[0].faults.cms_error = 0  # healthy again, but its back-off has 10 minutes to go
    sent = [await wait_message(restarted, await send(restarted, f"r{n}"), "delivered") for n in range(4)]
    assert {m["sim"] for m in sent} == {"modem:m1"}
