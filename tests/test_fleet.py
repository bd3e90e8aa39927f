"""Fleet mode (issue 13) in one process: relays on one SQLite file, modems on real ptys.

Two `Relay`s in this process open the same database file (each its own connections), so
SQLite's in-process NOTIFY reaches both; every modem is a simulator on a real pty. The
multi-process PostgreSQL acceptance tests are in tests/test_fleet_pg.py.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from modem.simulator import ModemSimulator
from relayd.api.models import SimList
from relayd.bridges.modem import ModemBackend
from relayd.config import Config, ModemConfig
from relayd.fleet import NODE_ID_FILE, node_id_of
from relayd.store.fleet import ClaimScope
from tests.conftest import RelayClient, RelayFactory
from tests.test_modem_e2e import fast_modem, wait_for

PEER = "+15557654321"
fast_modem = fast_modem  # driver timeouts scaled down (autouse)
Fleet = Callable[..., Awaitable[list[tuple[RelayClient, ModemSimulator]]]]


def fleet_config(base: Config, node: str, heartbeat: float = 0.1) -> Config:
    cfg = copy.deepcopy(base)
    cfg.fleet.mode = "fleet"
    cfg.fleet.node_id = node
    cfg.fleet.heartbeat_seconds = heartbeat
    return cfg


@pytest.fixture
async def fleet(
    make_relay: RelayFactory, config: Config, tmp_path: Path
) -> AsyncIterator[Fleet]:
    """N relays on one database file, each with one simulated modem `m<i>` of its own."""
    sims: list[ModemSimulator] = []

    async def factory(count: int, **sim_kwargs: Any) -> list[tuple[RelayClient, ModemSimulator]]:
        out = []
        for index in range(count):
            sim = ModemSimulator(
                tmp_path / f"modem{index}", own_number=f"+1555000100{index}", **sim_kwargs
            )
            await sim.start()
            sims.append(sim)
            backend = ModemBackend.from_config(
                ModemConfig(name=f"m{index}", port=str(sim.link), health_interval=0.2)
            )
            relay = await make_relay([backend], cfg=fleet_config(config, f"node-{index}"))
            await wait_for(lambda b=backend: b.info.online)
            out.append((relay, sim))
        return out

    yield factory
    for sim in sims:
        await sim.stop()


async def wait_statuses(relay: RelayClient, ids: list[int], *statuses: str) -> None:
    async with asyncio.timeout(30):
        while True:
            _, body = await relay.call("GET", "/api/v1/messages?direction=out&limit=1000")
            done = {m["id"] for m in body["messages"] if m["status"] in statuses}
            if done >= set(ids):
                return
            await asyncio.sleep(0.05)


async def test_sends_to_both_apis_go_out_once_each_on_both_relays_modems(fleet: Fleet) -> None:
    [(a, sim_a), (b, sim_b)] = await fleet(2, send_delay=0.01)
    ids = []
    for i in range(60):
        relay = a if i % 2 else b
        status, body = await relay.call(
            "POST", "/api/v1/messages", json={"to": PEER, "text": f"fleet #{i}"}
        )
        assert status == 202, body
        ids.append(body["id"])
    await wait_statuses(a, ids, "sent", "delivered")
    on_air = [m.text for m in sim_a.sent_messages()] + [m.text for m in sim_b.sent_messages()]
    assert sorted(on_air) == sorted(f"fleet #{i}" for i in range(60))  # each exactly once
    assert sim_a.sent_messages() and sim_b.sent_messages()  # both modems carried some
    for relay in (a, b):
        _, body = await relay.call("GET", "/api/v1/messages?direction=out&limit=1000")
        assert {m["id"] for m in body["messages"]} == set(ids)


async def test_every_relay_lists_the_fleets_sims_with_their_node(fleet: Fleet) -> None:
    [(a, _), (b, _)] = await fleet(2)
    for relay in (a, b):
        by_name: dict[str, Any] = {}
        async with asyncio.timeout(10):  # a SIM's row follows its state change (a write)
            while not all(by_name.get(n, {}).get("online") for n in ("m0", "m1")):
                await asyncio.sleep(0.02)
                _, body = await relay.call("GET", "/api/v1/sims")
                by_name = {s["name"]: s for s in body["sims"]}
        assert (by_name["m0"]["node"], by_name["m1"]["node"]) == ("node-0", "node-1")
        SimList.model_validate(body)  # the shape the OpenAPI document gives


async def test_a_send_for_another_relays_sim_is_accepted_and_goes_out_there(
    fleet: Fleet,
) -> None:
    [(a, sim_a), (_b, sim_b)] = await fleet(2)
    node = a.relay.fleet
    assert node is not None
    await wait_for(lambda: node.knows_sim("default", "m1"))  # b's NOTIFY reached a
    status, body = await a.call(
        "POST", "/api/v1/messages", json={"to": PEER, "text": "via b", "sim": "m1"}
    )
    assert status == 202, body
    await wait_statuses(a, [body["id"]], "sent", "delivered")
    assert [m.text for m in sim_b.sent_messages()] == ["via b"]
    assert sim_a.sent_messages() == []
    status, body = await a.call(
        "POST", "/api/v1/messages", json={"to": PEER, "text": "x", "sim": "nowhere"}
    )
    assert status == 422 and body["error"]["field"] == "sim"


async def test_a_relay_that_stops_beating_is_taken_over_its_queue_moves_its_torn_send_fails(
    fleet: Fleet,
) -> None:
    """A node that claimed work and died (its rows, no process left): the live relay reaps it."""
    [(a, sim_a)] = await fleet(1, send_delay=0.01)
    store, claims, node = a.relay.store, a.relay.claims, a.relay.fleet
    assert claims is not None and node is not None
    ghost = "node-dead"
    await store.fleet.join(ghost)
    await claims.stop()  # so that the ghost claims these first
    ids = []
    for i in range(3):
        _, body = await a.call("POST", "/api/v1/messages", json={"to": PEER, "text": f"ghost{i}"})
        ids.append(body["id"])
    claimed = await store.fleet.claim(ghost, [ClaimScope("default", ())], 10)
    assert [m.id for m in claimed] == ids
    await store.messages.transition(ids[0], "sending", sim="modem:ghost", only_from=("queued",))
    await claims.start()
    await wait_statuses(a, ids[1:], "sent", "delivered")
    torn = await store.messages.get_message("default", ids[0])
    assert torn is not None and (torn.status, torn.error) == ("failed", "interrupted")
    assert sorted(m.text for m in sim_a.sent_messages()) == ["ghost1", "ghost2"]
    [dead] = [n for n in await store.fleet.nodes() if n.id == ghost]
    assert dead.state == "down" and node.reaped == [ghost]


async def test_a_restarted_relay_rejoins_with_the_node_id_it_kept(config: Config) -> None:
    config.fleet.mode = "fleet"
    first = node_id_of(config)
    assert (config.state_dir / NODE_ID_FILE).read_text().strip() == first
    assert node_id_of(config) == first  # the next start reads it back
    config.fleet.node_id = "pi-kitchen"
    assert node_id_of(config) == "pi-kitchen"  # the config wins
