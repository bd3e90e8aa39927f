"""Events, webhooks, idempotency and rate limits across a fleet (issue 13, acceptance 4 and 5).

Three real `relayd run` processes on loopback share one real PostgreSQL server
(tests/support/postgres.py); the clients are real HTTP/SSE clients and the webhook
receiver is a real local aiohttp server.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tests.support.daemon import RelaydProcess, free_port
from tests.support.postgres import STORE, Cluster, pg_bin, running_cluster
from tests.support.secret_log import LEDGER

pytestmark = [
    pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed"),
    pytest.mark.timeout(180),
]
NUMBER = "+15551230001"


@dataclass
class Fleet:
    """Relays sharing one database, and a key of its default org."""

    relays: list[RelaydProcess]
    url: str  # the shared database
    admin: str
    key: str

    def base(self, index: int) -> str:
        return self.relays[index].url

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """The suite's server with `--store=postgresql`, else one for this module."""
    if STORE.cluster is not None:
        yield STORE.cluster
        return
    with running_cluster() as started:
        LEDGER.add(started.password)  # the URL's password must never reach a log
        yield started


def relay_config(directory: Path, url: str) -> RelaydProcess:
    """A relay with its own state directory, on the shared database."""
    directory.mkdir(parents=True)
    port = free_port()
    path = directory / "relayd.toml"
    path.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndrain_seconds = 1.0\n\n'
        f'[storage]\npath = "{directory / "state" / "relayd.db"}"\nurl = "{url}"\n\n'
        '[mdns]\nbackend = "off"\n',
        encoding="utf-8",
    )
    return RelaydProcess(directory, path, port)


@pytest.fixture(scope="module")
def fleet(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three relays on one fresh database, started one after the other."""
    url = cluster.fresh_url()
    base = tmp_path_factory.mktemp("fleet")
    relays = [relay_config(base / f"relay-{name}", url) for name in "abc"]
    try:
        for relay in relays:
            relay.start(timeout=90)
        admin = next(
            r.admin_key_path.read_text().strip() for r in relays if r.admin_key_path.exists()
        )
        LEDGER.add(admin)
        key = relays[0].create_key("fleet", "send,read")
        LEDGER.add(key)
        yield Fleet(relays, url, admin, key)
    finally:
        for relay in relays:
            relay.stop()
        cluster.drop(url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def send(
    http: aiohttp.ClientSession, base: str, key: str, text: str, idem: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = auth(key) | ({"Idempotency-Key": idem} if idem else {})
    async with http.post(
        f"{base}/api/v1/messages", json={"to": NUMBER, "text": text}, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def next_event(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The next SSE event off a stream (keepalives skipped); `id` from the `id:` line."""
    fields: dict[str, str] = {}
    async with asyncio.timeout(30):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "data" in fields:
                event: dict[str, Any] = json.loads(fields["data"])
                assert int(fields["id"]) == event["id"]
                return event
            fields = {}


async def events_until(
    resp: aiohttp.ClientResponse, message_ids: set[int]
) -> list[dict[str, Any]]:
    """Read events until an `sms.queued` of each of `message_ids` was among them."""
    seen: list[dict[str, Any]] = []
    waiting = set(message_ids)
    while waiting:
        event = await next_event(resp)
        seen.append(event)
        if event["type"] == "sms.queued":
            waiting.discard(event["data"]["id"])
    return seen


async def burst(http: aiohttp.ClientSession, fleet: Fleet, texts: list[str]) -> set[int]:
    """Send `texts` at once, spread over every relay; the new message ids."""
    answers = await asyncio.gather(
        *(send(http, fleet.base(i % len(fleet.relays)), fleet.key, t) for i, t in enumerate(texts))
    )
    assert all(status == 202 for status, _ in answers), answers
    return {body["id"] for _, body in answers}


async def test_sse_client_moved_to_another_relay_with_last_event_id_gets_exactly_what_it_missed(
    fleet: Fleet, http: aiohttp.ClientSession
) -> None:
    url_a, url_b = f"{fleet.base(0)}/api/v1/events", f"{fleet.base(1)}/api/v1/events"
    async with http.get(url_a, headers=auth(fleet.key)) as resp:
        # sends on all three relays at once: A streams the others' events too, in seq order
        seen = await events_until(resp, await burst(http, fleet, [f"seen {i}" for i in range(12)]))
    seqs = [e["id"] for e in seen]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no repeat
    last = seqs[-1]
    missed = await burst(http, fleet, [f"missed {i}" for i in range(12)])
    headers = auth(fleet.key) | {"Last-Event-ID": str(last)}
    async with http.get(url_b, headers=headers) as resp:
        resumed = await events_until(resp, missed)
        after = await burst(http, fleet, ["after the move"])
        resumed += await events_until(resp, after)
    got = [e["id"] for e in resumed]
    stored = await fleet.rows(
        "SELECT seq, type, data FROM events WHERE org = 'default' AND seq > $1 AND seq <= $2 "
        "ORDER BY seq",
        last,
        got[-1],
    )
    assert got == [r["seq"] for r in stored] == list(range(last + 1, got[-1] + 1))
    assert [e["type"] for e in resumed] == [r["type"] for r in stored]
    queued = {e["data"]["id"] for e in resumed if e["type"] == "sms.queued"}
    assert missed | after <= queued and not queued & {e["data"]["id"] for e in seen}


async def test_each_webhook_event_is_delivered_once_across_the_fleet(
    fleet: Fleet, http: aiohttp.ClientSession
) -> None:
    hits: Counter[str] = Counter()

    async def receive(request: web.Request) -> web.Response:
        hits[request.headers["webhook-id"]] += 1
        await asyncio.sleep(random.uniform(0, 0.05))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with http.post(
            f"{fleet.base(0)}/api/v1/webhooks",
            headers=auth(fleet.admin),
            json={"url": f"http://127.0.0.1:{port}/hook", "events": ["sms.queued"]},
        ) as resp:
            assert resp.status == 201, await resp.text()
            hook = (await resp.json())["webhook"]["id"]
        sent = await burst(http, fleet, [f"hook {i}" for i in range(30)])
        async with asyncio.timeout(60):
            while True:
                rows = await fleet.rows(
                    "SELECT msg_id, status, attempts FROM webhook_deliveries WHERE webhook_id = $1",
                    hook,
                )
                if len(rows) == len(sent) and all(r["status"] == "delivered" for r in rows):
                    break
                await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
    assert all(r["attempts"] == 1 for r in rows)
    assert hits == Counter({r["msg_id"]: 1 for r in rows})  # each POSTed once, by one relay


async def test_same_idempotency_key_sent_to_two_relays_at_once_makes_one_message_or_a_conflict(
    fleet: Fleet, http: aiohttp.ClientSession
) -> None:
    for round_ in range(10):
        idem = f"race-{round_}"
        (s1, b1), (s2, b2) = await asyncio.gather(
            send(http, fleet.base(0), fleet.key, "once", idem),
            send(http, fleet.base(1), fleet.key, "once", idem),
        )
        assert sorted((s1, s2)) == [200, 202], (b1, b2)  # one stored it, one replayed it
        assert b1["id"] == b2["id"]
        rows = await fleet.rows(
            "SELECT id FROM messages WHERE org = 'default' AND idempotency_key = $1", idem
        )
        assert [r["id"] for r in rows] == [b1["id"]]
    # the same key with two different bodies at once: one is stored, the other refused
    (s1, b1), (s2, b2) = await asyncio.gather(
        send(http, fleet.base(1), fleet.key, "one body", "race-bodies"),
        send(http, fleet.base(2), fleet.key, "another body", "race-bodies"),
    )
    assert sorted((s1, s2)) == [202, 422], (b1, b2)
    refusal = b1 if s1 == 422 else b2
    assert refusal["error"]["field"] == "idempotency_key"
    rows = await fleet.rows("SELECT id FROM messages WHERE idempotency_key = 'race-bodies'")
    assert len(rows) == 1


async def test_a_keys_rate_limit_is_shared_by_the_relays(
    fleet: Fleet, http: aiohttp.ClientSession
) -> None:
    per_minute = 4  # one token per 15 s: the burst below ends well before one flows back
    async with http.post(
        f"{fleet.base(0)}/api/v1/keys",
        headers=auth(fleet.admin),
        json={"name": "limited", "scopes": ["send"], "rate_limit": per_minute},
    ) as resp:
        assert resp.status == 201, await resp.text()
        limited = (await resp.json())["key"]
    LEDGER.add(limited)
    answers = await asyncio.gather(
        *(send(http, fleet.base(i % 3), limited, f"limited {i}") for i in range(12))
    )
    statuses = Counter(status for status, _ in answers)
    assert statuses == Counter({202: per_minute, 429: 12 - per_minute}), answers
    refused = [body for status, body in answers if status == 429]
    assert all(body["error"]["code"] == "rate_limited" for body in refused)


async def test_a_keys_open_event_streams_count_at_every_relay(
    fleet: Fleet, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{fleet.base(0)}/api/v1/keys",
        headers=auth(fleet.admin),
        json={"name": "streams", "scopes": ["read"]},
    ) as resp:
        assert resp.status == 201, await resp.text()
        reader = (await resp.json())["key"]
    LEDGER.add(reader)
    limit = 20  # [limits] streams_per_key, the default
    opened: list[aiohttp.ClientResponse] = []
    try:
        for i in range(limit):
            resp = await http.get(f"{fleet.base(i % 2)}/api/v1/events", headers=auth(reader))
            opened.append(resp)
            assert resp.status == 200
        async with http.get(f"{fleet.base(2)}/api/v1/events", headers=auth(reader)) as refused:
            assert refused.status == 429
            assert (await refused.json())["error"]["code"] == "too_many_streams"
    finally:
        for resp in opened:
            resp.close()
