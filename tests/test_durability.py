"""Acceptance 2 (issue 2): 1,000 concurrent sends from 50 clients survive `kill -9`.

A real `relayd run` subprocess on a real SQLite file: every send that got 202 must be in
the store after SIGKILL and a restart, exactly once. The daemon is killed from inside the
client the moment the last 202 arrives, so nothing gets a chance to flush after the answer.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.daemon import RelaydProcess
from tests.support.postgres import run_sql

SENDS = 1000
CLIENTS = 50
pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Order:
    """One send: its idempotency key and a text no other send has."""

    key: str
    to: str
    text: str

    def body(self) -> dict[str, Any]:
        return {"to": self.to, "text": self.text, "idempotency_key": self.key}


@dataclass
class Answer:
    order: Order
    status: int
    body: dict[str, Any]
    replayed: str | None


def orders(run: str = "dur") -> list[Order]:
    return [
        Order(f"{run}-{i:04d}", f"+1555123{i % 10000:04d}", f"durability {run} #{i:04d}")
        for i in range(SENDS)
    ]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RelaydProcess]:
    """A relayd subprocess on a temp database; always gone after the test."""
    relayd = RelaydProcess.create(tmp_path)
    relayd.start()
    try:
        yield relayd
    finally:
        relayd.kill()


async def fire(
    url: str, key: str, work: list[Order], *, kill_pid_after_last: int | None = None
) -> list[Answer]:
    """POST every order from CLIENTS concurrent clients (one connection each).

    With `kill_pid_after_last`, SIGKILL that process as soon as the last answer is in.
    """
    answers: list[Answer] = []
    headers = {"Authorization": f"Bearer {key}"}

    async def client(mine: list[Order]) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=timeout
        ) as session:
            for order in mine:
                async with session.post(f"{url}/api/v1/messages", json=order.body()) as resp:
                    body = await resp.json(content_type=None)
                    answers.append(
                        Answer(order, resp.status, body, resp.headers.get("Idempotent-Replayed"))
                    )
                if kill_pid_after_last is not None and len(answers) == len(work):
                    os.kill(kill_pid_after_last, signal.SIGKILL)  # right after the last answer

    await asyncio.gather(*(client(work[i::CLIENTS]) for i in range(CLIENTS)))
    return answers


async def list_all(url: str, key: str) -> list[dict[str, Any]]:
    """Every message of the key's org through the API, paging with since_id."""
    messages: list[dict[str, Any]] = []
    since = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        while True:
            async with session.get(
                f"{url}/api/v1/messages", params={"limit": "1000", "since_id": str(since)}
            ) as resp:
                assert resp.status == 200, await resp.text()
                page = await resp.json()
            if not page["messages"]:
                return messages
            messages.extend(page["messages"])
            assert page["next_since_id"] > since
            since = page["next_since_id"]


def table_counts(db: Path) -> dict[str, int]:
    """Rows written in the same transaction as each message (read beside the daemon)."""
    queries = {
        "messages": "SELECT COUNT(*) FROM messages",
        "idempotency_keys": "SELECT COUNT(DISTINCT idempotency_key) FROM messages",
        "history": "SELECT COUNT(*) FROM message_history",
        "queued_events": "SELECT COUNT(*) FROM events WHERE type = 'sms.queued'",
    }
    return {name: int(run_sql(db, sql)[0][0]) for name, sql in queries.items()}


async def send_kill_restart(daemon: RelaydProcess, work: list[Order]) -> tuple[str, dict[str, int]]:
    """Send `work` concurrently, SIGKILL after the last 202, restart; return key and id by key."""
    key = daemon.create_key("durability", "send,read")
    answers = await fire(daemon.url, key, work, kill_pid_after_last=daemon.pid)
    await asyncio.to_thread(daemon.kill)  # reap the process the last client killed
    assert daemon.process is not None
    assert daemon.process.returncode == -signal.SIGKILL

    bad = [(a.order.key, a.status, a.body) for a in answers if a.status != 202]
    assert not bad, f"{len(bad)} sends not accepted, e.g. {bad[:3]}"
    assert all(a.body.get("ok") is True and isinstance(a.body.get("id"), int) for a in answers)
    ids = {a.order.key: a.body["id"] for a in answers}
    assert len(ids) == SENDS
    assert len(set(ids.values())) == SENDS, "two accepted sends share an id"

    await asyncio.to_thread(daemon.start)
    return key, ids


async def test_every_accepted_send_survives_kill_9(daemon: RelaydProcess) -> None:
    work = orders()
    key, ids = await send_kill_restart(daemon, work)

    stored = await list_all(daemon.url, key)
    stored_ids = [m["id"] for m in stored]
    assert len(stored_ids) == SENDS, f"{len(stored_ids)} messages stored, {SENDS} accepted"
    assert set(stored_ids) == set(ids.values()), (
        f"lost: {sorted(set(ids.values()) - set(stored_ids))[:10]}, "
        f"unexpected: {sorted(set(stored_ids) - set(ids.values()))[:10]}"
    )
    texts = [m["text"] for m in stored]
    assert len(set(texts)) == SENDS, "a text is stored twice"
    assert set(texts) == {o.text for o in work}
    by_id = {m["id"]: m for m in stored}
    for order in work:
        message = by_id[ids[order.key]]
        assert (message["idempotency_key"], message["text"]) == (order.key, order.text)
        assert message["direction"] == "out"
        assert message["status"] == "queued"

    assert table_counts(daemon.db_path) == {
        "messages": SENDS,
        "idempotency_keys": SENDS,
        "history": SENDS,
        "queued_events": SENDS,
    }


async def test_resending_after_kill_9_replays_and_stores_nothing(daemon: RelaydProcess) -> None:
    work = orders("replay")
    key, ids = await send_kill_restart(daemon, work)

    answers = await fire(daemon.url, key, work)
    not_replayed = [(a.order.key, a.status, a.body) for a in answers if a.status != 200]
    assert not not_replayed, f"{len(not_replayed)} resends not replayed, e.g. {not_replayed[:3]}"
    assert all(a.replayed == "true" for a in answers)
    assert {a.order.key: a.body["id"] for a in answers} == ids, "a replay named another message"

    stored = await list_all(daemon.url, key)
    assert len(stored) == SENDS
    assert {m["id"] for m in stored} == set(ids.values())
    assert table_counts(daemon.db_path)["messages"] == SENDS
