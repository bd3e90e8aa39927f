"""Issue 13 acceptance 2 and 3: three real `relayd run` processes on one real PostgreSQL.

Each relay drives its own simulated modem on a pty (the simulators live in this process,
so what went on air is counted at the modems). The server is the suite's own with
`--store=postgresql`, else one started for this module (tests/support/postgres.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.fleet import Fleet, running_fleet, wait_fleet_online
from tests.support.postgres import STORE, Cluster, pg_bin, running_cluster

PEER = "+15557654321"
pytestmark = [
    pytest.mark.timeout(420),
    pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """The suite's server with --store=postgresql, else one of this module's own."""
    if STORE.cluster is not None:
        yield STORE.cluster
        return
    with running_cluster() as own:
        yield own


@pytest.fixture
def database(cluster: Cluster) -> Iterator[str]:
    url = cluster.fresh_url()
    yield url
    cluster.drop(url)


async def post_all(fleet: Fleet, texts: list[str], clients_per_relay: int = 8) -> list[int]:
    """POST every text, spread round-robin over the relays' APIs; the message ids.

    Each send has an idempotency key, and a client whose relay is gone sends it again to
    the next one (a relay killed after storing a send but before answering is no loss).
    """
    ids: list[int] = [0] * len(texts)
    headers = {"Authorization": f"Bearer {fleet.key}"}
    relays = len(fleet.nodes)

    async def client(relay: int, lane: int, http: aiohttp.ClientSession) -> None:
        for index in range(relay + relays * lane, len(texts), relays * clients_per_relay):
            body = {"to": PEER, "text": texts[index], "idempotency_key": f"key-{index}"}
            for attempt in range(relays):
                url = fleet.nodes[(relay + attempt) % relays].url
                try:
                    async with http.post(f"{url}/api/v1/messages", json=body) as resp:
                        answer = await resp.json()
                        assert resp.status in (200, 202), answer
                        ids[index] = answer["id"]
                        break
                except aiohttp.ClientConnectionError:
                    continue

    async with aiohttp.ClientSession(headers=headers) as http:
        await asyncio.gather(
            *(
                client(relay, lane, http)
                for relay in range(relays)
                for lane in range(clients_per_relay)
            )
        )
    return ids


def all_messages(fleet: Fleet, relay: int) -> list[dict[str, Any]]:
    """Every outbound message as relay `relay` lists it (pages of 1000)."""
    out: list[dict[str, Any]] = []
    since = 0
    while True:
        body = fleet.get(relay, f"/api/v1/messages?direction=out&limit=1000&since_id={since}")
        out += body["messages"]
        if not body["messages"]:
            return out
        since = body["messages"][-1]["id"]


async def wait_final(fleet: Fleet, relay: int, count: int, timeout: float = 300) -> list[dict[str, Any]]:
    """Until `count` messages are no longer queued or sending, as relay `relay` sees them."""
    async with asyncio.timeout(timeout):
        while True:
            messages = await asyncio.to_thread(all_messages, fleet, relay)
            if len(messages) >= count and all(
                m["status"] not in ("queued", "sending") for m in messages
            ):
                return messages
            await asyncio.sleep(0.5)


@pytest.fixture
async def fleet_of_three(tmp_path: Path, database: str) -> AsyncIterator[Fleet]:
    async with running_fleet(tmp_path, database, 3, send_delay=0.0) as fleet:
        yield fleet


async def test_3000_sends_across_three_relays_go_out_once_each_on_all_three_modems(
    fleet_of_three: Fleet,
) -> None:
    fleet = fleet_of_three
    texts = [f"fleet send #{i:04d}" for i in range(3000)]
    ids = await post_all(fleet, texts)
    messages = await wait_final(fleet, 0, len(texts))
    assert Counter(m["status"] for m in messages) == {"sent": 3000}
    on_air = Counter(fleet.sent_texts())
    assert on_air == Counter(texts)  # every one exactly once, nothing else
    assert all(sim.sent_messages() for sim in fleet.sims)  # all three modems carried some
    for relay in range(3):
        listed = await asyncio.to_thread(all_messages, fleet, relay)
        assert sorted(m["id"] for m in listed) == sorted(ids)


async def test_kill_9_of_one_relay_mid_burst_its_work_goes_out_on_the_others_and_it_rejoins(
    tmp_path: Path, database: str
) -> None:
    async with running_fleet(tmp_path, database, 3, send_delay=0.05, heartbeat=0.3) as fleet:
        texts = [f"burst #{i:04d}" for i in range(600)]
        poster = asyncio.create_task(post_all(fleet, texts, clients_per_relay=4))
        victim = fleet.sims[2]
        async with asyncio.timeout(60):
            while len(victim.sent_messages()) < 10:
                await asyncio.sleep(0.01)
        fleet.nodes[2].kill()  # SIGKILL mid-burst: its claims and its send in flight are torn
        ids = await poster  # relay 2's clients moved to the next relay
        assert all(ids) and len(set(ids)) == len(texts)
        messages = await wait_final(fleet, 0, len(texts))
        by_status = Counter(m["status"] for m in messages)
        on_air = Counter(fleet.sent_texts())
        assert max(on_air.values()) == 1  # nothing went on air twice
        sent = {m["text"] for m in messages if m["status"] == "sent"}
        assert sent <= set(on_air)  # every `sent` really went out
        torn = [m for m in messages if m["status"] == "failed"]
        assert all(m["error"] == "interrupted" for m in torn), torn
        assert by_status["sent"] + len(torn) == len(messages)
        assert len(torn) <= 2  # at most what relay 2 had handed to its modem
        # The others list the dead relay's SIM offline.
        sims = {s["name"]: s for s in fleet.get(0, "/api/v1/sims")["sims"]}
        assert sims["m2"]["online"] is False and sims["m2"]["node"] == "relay-2"
        # It rejoins with the same node id; a send for its SIM goes out on its modem.
        await asyncio.to_thread(fleet.nodes[2].start)
        await wait_fleet_online(fleet, 3)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {fleet.key}"}) as http:
            async with http.post(
                f"{fleet.nodes[0].url}/api/v1/messages",
                json={"to": PEER, "text": "after rejoin", "sim": "m2"},
            ) as resp:
                assert resp.status == 202, await resp.json()
        async with asyncio.timeout(30):
            while "after rejoin" not in {m.text for m in victim.sent_messages()}:
                await asyncio.sleep(0.05)
