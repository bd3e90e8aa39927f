"""The fleet's store parts on one real database (SQLite, or PostgreSQL with --store=postgresql):
the per-org event sequence, webhook delivery leases, shared token buckets and failed logins.

Two `Store` objects on the same database stand for two relays.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from relayd.api.presenters import EVENT_PAYLOADS
from relayd.config import Config
from relayd.limits import Limits
from relayd.store import Store
from relayd.store.schema import MIGRATIONS
from relayd.store.webhook_rows import AttemptResult
from tests.support.postgres import STORE, storage_url


@pytest.fixture
async def stores(config: Config) -> AsyncIterator[tuple[Store, Store]]:
    """Two relays' stores on the test's database, open."""
    pair = tuple(
        Store(config.storage.path, payloads=EVENT_PAYLOADS, url=config.storage.url)
        for _ in range(2)
    )
    for store in pair:
        await store.open()
    yield pair[0], pair[1]
    for store in pair:
        await store.close()


async def test_each_orgs_event_sequence_counts_up_by_one_whatever_the_other_orgs_do(
    stores: tuple[Store, Store],
) -> None:
    one, two = stores
    for i in range(5):
        await one.events.record("org-a", "test", {"i": i})
        await two.events.record("org-b", "test", {"i": i})
        await two.events.record("org-a", "test", {"i": i})
    a = await one.events.since("org-a", 0)
    b = await two.events.since("org-b", 0)
    assert [e.seq for e in a] == list(range(1, 11)) and [e.seq for e in b] == list(range(1, 6))
    assert [e.id for e in a] == sorted(e.id for e in a)  # the sequence follows commit order
    assert (await one.events.heads())["org-a"] == 10
    assert [e.seq for e in await two.events.since("org-a", 7)] == [8, 9, 10]


@pytest.mark.sqlite_only(reason="builds a schema-8 SQLite file by hand")
async def test_events_stored_before_the_sequence_keep_their_id_as_seq_and_new_ones_follow(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:8]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 8")
    db.executemany(
        "INSERT INTO events (id, org, type, at, data) VALUES (?, ?, 'old', 0, '{}')",
        [(3, "default"), (4, "other"), (9, "default")],
    )
    db.commit()
    db.close()
    store = Store(str(path), payloads=EVENT_PAYLOADS)
    await store.open()
    try:
        await store.events.record("default", "new", {})
        events = await store.events.since("default", 0)
    finally:
        await store.close()
    assert [(e.type, e.seq) for e in events] == [("old", 3), ("old", 9), ("new", 10)]


async def test_a_second_transaction_of_the_org_gets_its_seq_only_after_the_first_commits(
    stores: tuple[Store, Store],
) -> None:
    if STORE.cluster is None:
        pytest.skip("PostgreSQL's row locks: run with --store=postgresql")
    next_seq = (
        "INSERT INTO event_seq (org, last) VALUES ('default', 1) ON CONFLICT (org) "
        "DO UPDATE SET last = event_seq.last + 1 RETURNING last"
    )
    url = storage_url()
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    order: list[str] = []
    try:
        tx1 = first.transaction()
        await tx1.start()
        seq1 = await first.fetchval(next_seq)

        async def later() -> int:
            async with second.transaction():
                seq: int = await second.fetchval(next_seq)
                order.append("second got its seq")
                return seq

        waiting = asyncio.create_task(later())
        await asyncio.sleep(0.3)  # the second is blocked on the org's counter row by now
        order.append("first committed")
        await tx1.commit()
        seq2 = await waiting
    finally:
        await first.close()
        await second.close()
    assert order == ["first committed", "second got its seq"] and seq2 == seq1 + 1


async def test_a_due_delivery_is_leased_to_one_relay_until_its_attempt_is_recorded(
    stores: tuple[Store, Store],
) -> None:
    one, two = stores
    hook = await one.webhooks.create("default", "http://127.0.0.1:9/x", "standard", ["*"], "s", {})
    await one.events.record("default", "sim.online", {"sim": "a"})
    mine, theirs = one.delivery_claims("relay-1", 60.0), two.delivery_claims("relay-2", 60.0)
    now = time.time()
    first, second = await asyncio.gather(mine.claim(now, 10), theirs.claim(now, 10))
    assert sorted([len(first), len(second)]) == [0, 1]  # exactly one relay got it
    [taken] = first or second
    assert taken.webhook_id == hook.id
    assert await mine.claim(now, 10) == [] and await theirs.claim(now, 10) == []
    # a lease that ran out (its relay died mid-POST) is taken by another relay
    assert [d.id for d in await theirs.claim(now + 61, 10)] == [taken.id]
    retry = AttemptResult(now, 500, "HTTP 500", 3, None, "retry", now + 5)
    await two.webhooks.record_attempt(taken.id, retry)  # the lease ends with the attempt
    assert [d.id for d in await mine.claim(now + 6, 10)] == [taken.id]
    assert await theirs.next_due_at(now + 6) == pytest.approx(now + 66)  # my lease's end


async def test_token_buckets_in_the_database_are_one_bucket_for_every_relay(
    stores: tuple[Store, Store], config: Config
) -> None:
    one, two = (Limits(config.limits, s.limits).buckets for s in stores)
    taken = await asyncio.gather(*(b.take(7, 3.0, 1) for b in (one, two, one, two, one)))
    assert sorted(taken, key=lambda w: w or 0) == [None, None, None, 20, 20]
    await two.refund(7, 3.0, 1)  # a request refused after all gets its token back
    assert await one.take(7, 3.0, 1) is None and await two.take(7, 3.0, 1) == 20
    assert await one.take(8, 3.0, 3) is None  # another key has its own bucket


async def test_failed_logins_in_the_database_count_at_every_relay(
    stores: tuple[Store, Store], config: Config
) -> None:
    config.limits.failed_auth_max = 3
    one, two = (Limits(config.limits, s.limits).failed_auth for s in stores)
    await one.failed("10.0.0.5")
    await two.failed("10.0.0.5")
    assert await one.retry_after("10.0.0.5") is None
    await two.failed("10.0.0.5")
    wait = await one.retry_after("10.0.0.5")
    assert wait is not None and 1 <= wait <= config.limits.failed_auth_window
    assert await two.retry_after("10.0.0.6") is None


async def test_open_streams_in_the_database_count_the_relays_that_are_up(
    stores: tuple[Store, Store],
) -> None:
    one, two = (s.limits for s in stores)
    assert await one.open_stream("streams:k", "relay-1", 3)
    assert await two.open_stream("streams:k", "relay-2", 3)
    assert await two.open_stream("streams:k", "relay-2", 3)
    assert not await one.open_stream("streams:k", "relay-1", 3)  # 3 open across the relays
    assert await one.open_stream("streams:other", "relay-1", 3)
    await two.close_stream("streams:k", "relay-2")
    assert await one.open_stream("streams:k", "relay-1", 3)
    # a relay that went down (left, or reaped by the others) counts none of its streams
    await stores[1].fleet.join("relay-2")
    assert not await one.open_stream("streams:k", "relay-1", 3)
    await stores[1].fleet.leave("relay-2")
    assert await one.open_stream("streams:k", "relay-1", 3)
    await one.clear_streams("relay-1", "streams")  # relay-1 starts again: none of its own
    assert await one.open_stream("streams:k", "relay-1", 1)


async def test_an_opt_out_made_by_another_relay_is_honoured_by_the_cached_list(
    stores: tuple[Store, Store],
) -> None:
    """Each relay keeps the org's opt-out list in memory (no read per send); its own change
    counts at once, another relay's once the 'optouts' revision is next asked (≤ 0.25 s)."""
    one, two = stores
    number = "+15551239876"
    assert await one.optouts.opted_out("default", [number]) == set()  # cached: empty
    await one.optouts.add("default", "+15551230000", "api")
    assert await one.optouts.opted_out("default", ["+15551230000"]) == {"+15551230000"}
    await two.optouts.add("default", number, "api")
    async with asyncio.timeout(5):
        while await one.optouts.opted_out("default", [number]) != {number}:
            await asyncio.sleep(0.05)
    await two.optouts.remove("default", number, "api")
    async with asyncio.timeout(5):
        while await one.optouts.opted_out("default", [number]):
            await asyncio.sleep(0.05)
