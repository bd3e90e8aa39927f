"""The adapter contract of relayd/store/backend.py, proven on both adapters.

Each test runs on a real SQLite file and on a real PostgreSQL database (a throwaway server,
tests/support/postgres.py), whatever `--store` the suite runs with.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from relayd.api.presenters import EVENT_PAYLOADS
from relayd.exceptions import InvalidField
from relayd.store import EventRow, Store
from relayd.store.backend import Backend, ConstraintViolated, Transaction
from relayd.store.rows import emit
from tests.support.daemon import clean_env, free_port, relayd_command, write_config
from tests.support.postgres import Cluster
from tests.support.secret_log import LEDGER


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, pg_cluster: Cluster
) -> AsyncIterator[Backend]:
    """An open, migrated database of one adapter, without the relay around it."""
    url = pg_cluster.fresh_url() if request.param == "postgresql" else ""
    store = Store(str(tmp_path / "contract.db"), url=url, payloads=EVENT_PAYLOADS)
    await store.db.open()
    try:
        yield store.db
    finally:
        await store.db.close()
        if url:
            pg_cluster.drop(url)


def add_org(tx: Transaction, org: str) -> None:
    tx.execute("INSERT INTO orgs (id, created_at) VALUES (?, ?)", (org, time.time()))


async def orgs(db: Backend) -> list[str]:
    return [r["id"] for r in await db.fetchall("SELECT id FROM orgs ORDER BY id")]


async def test_insert_gives_each_new_row_its_id_and_none_when_a_conflict_skipped_it(
    db: Backend,
) -> None:
    def op(tx: Transaction) -> list[int | None]:
        add_org(tx, "o")
        sql = (
            "INSERT INTO webhooks (org, url, secret, config_key, created_at) "
            "VALUES (:org, :url, 's', :key, 0) ON CONFLICT (config_key) DO NOTHING"
        )
        return [
            tx.insert(sql, {"org": "o", "url": "http://a", "key": "a"}),
            tx.insert(sql, {"org": "o", "url": "http://b", "key": "b"}),
            tx.insert(sql, {"org": "o", "url": "http://a2", "key": "a"}),  # config_key taken
        ]

    first, second, skipped = await db.write(op)
    assert first is not None and second == first + 1 and skipped is None
    rows = await db.fetchall("SELECT id, url FROM webhooks ORDER BY id")
    assert [(r["id"], r["url"]) for r in rows] == [(first, "http://a"), (second, "http://b")]


async def test_a_broken_constraint_undoes_only_that_statement_and_the_op_goes_on(
    db: Backend,
) -> None:
    def op(tx: Transaction) -> list[str]:
        add_org(tx, "a")
        caught = []
        try:
            add_org(tx, "a")  # the primary key is taken
        except ConstraintViolated:
            caught.append("duplicate")
        add_org(tx, "b")
        try:
            tx.execute("UPDATE orgs SET id = 'a' WHERE id = 'b'")
        except ConstraintViolated:
            caught.append("update")
        add_org(tx, "c")
        return caught

    assert await db.write(op) == ["duplicate", "update"]
    assert await orgs(db) == ["a", "b", "c"]


async def test_a_broken_constraint_as_the_first_statement_of_an_op_is_caught_and_replayed(
    db: Backend,
) -> None:
    await db.write(lambda tx: add_org(tx, "a"))

    def op(tx: Transaction) -> str:
        try:
            add_org(tx, "a")
        except ConstraintViolated:
            return str(tx.execute("SELECT id FROM orgs WHERE id = ?", ("a",)).fetchone()[0])
        return "inserted"

    assert await db.write(op) == "a"
    assert await orgs(db) == ["a"]


async def test_an_op_that_lets_a_violation_escape_fails_alone_with_none_of_its_writes(
    db: Backend,
) -> None:
    await db.write(lambda tx: add_org(tx, "taken"))

    def bad(tx: Transaction) -> None:
        add_org(tx, "mine")
        add_org(tx, "taken")

    with pytest.raises(ConstraintViolated):
        await db.write(bad)
    assert await orgs(db) == ["taken"]


async def test_ops_queued_together_commit_once_and_a_failing_one_poisons_none_of_the_others(
    db: Backend,
) -> None:
    received: list[list[EventRow]] = []
    db.add_commit_listener(received.append)
    release = threading.Event()
    blocker = asyncio.ensure_future(db.write(lambda tx: release.wait(30)))  # holds the writer
    await asyncio.sleep(0.1)

    def good(n: int) -> Any:
        def op(tx: Transaction) -> int:
            add_org(tx, f"good{n}")
            return emit(tx, "default", "test.good", {"n": n})

        return op

    def failing(tx: Transaction) -> None:
        add_org(tx, "failing")
        emit(tx, "default", "test.failing", {})
        raise RuntimeError("this op fails")

    commits = db.commits
    ops = [good(0), good(1), failing, good(2), good(3)]
    writes = [asyncio.ensure_future(db.write(op)) for op in ops]
    await asyncio.sleep(0)  # every op is queued while the writer is busy
    release.set()
    await blocker
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert isinstance(results[2], RuntimeError)
    event_ids = [results[i] for i in (0, 1, 3, 4)]
    assert all(isinstance(i, int) for i in event_ids) and event_ids == sorted(event_ids)
    assert await orgs(db) == ["good0", "good1", "good2", "good3"]
    # the blocker, then: PostgreSQL commits the four in one (a savepoint per op); SQLite
    # rolls the batch back and commits each good op alone
    assert db.commits - commits == {"postgresql": 2, "sqlite": 5}[db.dialect]
    # the listeners got the committed events only, in order, in one call for the batch
    delivered = [[(e.type, e.data) for e in batch] for batch in received]
    assert delivered == [[("test.good", {"n": n}) for n in range(4)]]
    stored = await db.fetchall("SELECT type FROM events ORDER BY id")
    assert [r[0] for r in stored] == ["test.good"] * 4


async def test_rows_read_by_name_and_position_and_rowcount_counts_what_changed(
    db: Backend,
) -> None:
    def op(tx: Transaction) -> tuple[int, int]:
        for org in ("x", "y", "z"):
            add_org(tx, org)
        changed = tx.execute("UPDATE orgs SET secret_hash = 'h' WHERE id IN (?, ?)", ("x", "y"))
        none = tx.execute("DELETE FROM orgs WHERE id = :id", {"id": "nobody"})
        return changed.rowcount, none.rowcount

    assert await db.write(op) == (2, 0)
    row = await db.fetchone(
        "SELECT id, secret_hash, 'it''s a ? and :not_a_name' AS text FROM orgs WHERE id = ?",
        ("x",),
    )
    assert row is not None
    assert (row["id"], row["secret_hash"], row["text"]) == ("x", "h", "it's a ? and :not_a_name")
    assert (row[0], row[1]) == ("x", "h")
    assert await db.fetchone("SELECT id FROM orgs WHERE id = ?", ("none",)) is None


async def test_named_placeholders_may_repeat_and_executemany_writes_every_row(
    db: Backend,
) -> None:
    def op(tx: Transaction) -> None:
        add_org(tx, "o")
        tx.executemany(
            "INSERT INTO poll_cursors (key_id, name, last_id, updated_at) VALUES (?, ?, ?, 0)",
            [(1, "a", 5), (1, "b", 7), (2, "a", 9)],
        )
        tx.execute(
            "UPDATE poll_cursors SET last_id = :n + last_id, updated_at = :n WHERE key_id = :k",
            {"n": 100, "k": 1},
        )

    await db.write(op)
    rows = await db.fetchall("SELECT key_id, name, last_id FROM poll_cursors ORDER BY key_id, name")
    assert [tuple(r) for r in rows] == [(1, "a", 105), (1, "b", 107), (2, "a", 9)]


async def test_a_text_with_nul_is_kept_by_sqlite_and_refused_whole_by_postgresql(
    db: Backend,
) -> None:
    def op(tx: Transaction) -> None:
        add_org(tx, "before")
        add_org(tx, "a\x00b")

    if db.dialect == "sqlite":
        await db.write(op)
        assert await orgs(db) == ["a\x00b", "before"]
        return
    with pytest.raises(InvalidField) as refused:
        await db.write(op)
    assert refused.value.code == "invalid_text" and "NUL" in refused.value.message
    assert await orgs(db) == []  # nothing of the op is stored
    assert await db.fetchone("SELECT id FROM orgs WHERE id = ?", ("a\x00b",)) is None


def test_relayd_run_on_a_postgresql_url_it_cannot_open_exits_1_naming_where_not_the_password(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    wrong = "wrong-" + pg_cluster.password  # a real server that refuses this login
    LEDGER.add(wrong)
    urls = {
        "refused login": pg_cluster.url("relayd_template").replace(pg_cluster.password, wrong),
        "no server": f"postgresql://relayd:{wrong}@127.0.0.1:{free_port()}/relayd",
    }
    for case, url in urls.items():
        directory = tmp_path / case.replace(" ", "-")
        config = write_config(directory, free_port(), url=url)
        done = subprocess.run(
            relayd_command("run", "--config", str(config)), cwd=directory, env=clean_env(),
            capture_output=True, text=True, timeout=60, check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, (case, output)
        host_and_db = url.rsplit("@", 1)[1]
        assert f"cannot open the PostgreSQL database at {host_and_db}" in output, (case, output)
        assert wrong not in output and "Traceback" not in output, (case, output)
