"""`[storage] retention_days` (issue 11, acceptance 2): a relay on a real database.

A first relay makes history (sends on a SIM, an inbound SMS, webhook deliveries to a real
local receiver), stops, and that history is aged by two days in the file, as a relay that
has run for a while would have it. A second relay with retention_days = 1 prunes it soon
after start, keeps what is newer or still waiting, and SSE resume still works.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from relayd.api.presenters import EVENT_PAYLOADS
from relayd.bridges.base import InboundSms
from relayd.config import Config, WebhookConfig
from relayd.relay import Relay
from relayd.sending import SendOrder
from relayd.store import Store
from relayd.store import retention as retention_module
from relayd.store.backend import Transaction as Tx
from relayd.store.rows import emit
from tests import test_webhooks
from tests.conftest import RelayFactory
from tests.support.postgres import run_sql, storage_url
from tests.test_dispatch import NUMBER, ScriptedSim, wait_status
from tests.test_events import read_events
from tests.test_webhooks import Receiver

TWO_DAYS = 2 * 86400.0
receiver = test_webhooks.receiver  # a real HTTP receiver on 127.0.0.1


async def until(predicate: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.1)


def age_everything(db_path: str) -> tuple[int, int]:
    """Move every row two days back; returns (newest message id, newest event id)."""
    run_sql(db_path, "UPDATE messages SET created_at = created_at - ?", (TWO_DAYS,))
    run_sql(db_path, "UPDATE events SET at = at - ?", (TWO_DAYS,))
    run_sql(db_path, "UPDATE webhook_deliveries SET created_at = created_at - ?", (TWO_DAYS,))
    run_sql(db_path, "UPDATE webhook_attempts SET at = at - ?", (TWO_DAYS,))
    return count(db_path, "SELECT MAX(id) FROM messages"), count(
        db_path, "SELECT MAX(id) FROM events"
    )


def count(db_path: str, sql: str) -> int:
    [(n,)] = run_sql(db_path, sql)
    return int(n)


@pytest.mark.timeout(120)
async def test_retention_1_day_prunes_older_history_within_a_minute_and_sse_resume_still_works(
    make_relay: RelayFactory, config: Config, receiver: Receiver
) -> None:
    config.webhook = [WebhookConfig(url=receiver.url(), events=["*"])]
    db_path = config.storage.path
    # --- a first relay makes history
    first = Relay(config)
    await first.start([ScriptedSim("a")])
    key, _ = await first.store.keys.create_key("default", "t", ["send", "read"])
    old_sent = []
    for i in range(3):
        accepted = await first.sending.submit(key, SendOrder(to=[NUMBER], text=f"old {i}"))
        old_sent.append(accepted.results[0].message.id)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    waiting = await first.sending.submit(key, SendOrder(to=[NUMBER], text="later", send_at=later))
    old_waiting = waiting.results[0].message.id
    await first.sims.on_inbound("modem:a", InboundSms(sender=NUMBER, text="old in", received_at=None))
    async with asyncio.timeout(10):
        while (
            count(db_path, "SELECT COUNT(*) FROM messages WHERE status = 'sent'") < 3
            or first.webhooks.delivered < 5
        ):
            await asyncio.sleep(0.02)
    await first.stop()
    _, newest_old_event = age_everything(db_path)
    old_deliveries = count(db_path, "SELECT COUNT(*) FROM webhook_deliveries")
    assert old_deliveries >= 5
    # --- the same file under retention_days = 1
    config.storage.retention_days = 1
    started = time.monotonic()
    relay = await make_relay([ScriptedSim("a")], cfg=config)
    fresh = await send_one(relay, "fresh")

    async def old_history_gone() -> bool:
        status, _ = await relay.call("GET", f"/api/v1/messages/{old_sent[0]}")
        return status == 404 and count(
            db_path, f"SELECT COUNT(*) FROM events WHERE id < {newest_old_event}"
        ) == 0

    await until(old_history_gone, timeout=60)
    assert time.monotonic() - started < 60
    for message_id in old_sent:
        assert (await relay.call("GET", f"/api/v1/messages/{message_id}"))[0] == 404
    # Kept: what still waits and what is newer.
    assert (await relay.call("GET", f"/api/v1/messages/{old_waiting}"))[1]["status"] == "queued"
    assert (await relay.call("GET", f"/api/v1/messages/{fresh}"))[1]["status"] == "sent"
    assert count(db_path, "SELECT COUNT(*) FROM message_history WHERE message_id = "
                          f"{old_sent[0]}") == 0
    assert count(db_path, "SELECT COUNT(*) FROM webhook_deliveries") < old_deliveries
    assert count(db_path, "SELECT COUNT(*) FROM webhook_deliveries WHERE created_at < "
                          f"{time.time() - 86400}") <= 1
    # --- SSE resume from an event id that was pruned: exactly the events after it
    stored_after = [r[0] for r in run_sql(
        db_path, "SELECT id FROM events WHERE org = 'default' AND id > ? ORDER BY id",
        (newest_old_event - 1,))]
    headers = {**relay.headers(), "Last-Event-ID": str(newest_old_event - 1)}
    async with relay.http.get("/api/v1/events", headers=headers) as resp:
        replayed = await read_events(resp, len(stored_after))
        live_id = await send_one(relay, "after pruning")
        [live, *_] = await read_events(resp, 1)
    assert [e["id"] for e in replayed] == stored_after
    assert live["id"] > max(stored_after) and live["data"]["id"] == live_id


async def send_one(relay: Any, text: str) -> int:
    status, body = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": text})
    assert status == 202, body
    message_id = int(body["id"])
    await wait_status(relay, message_id, "sent")
    return message_id


async def test_pruning_walks_in_small_batches_and_keeps_pending_deliveries_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention_module, "BATCH", 7)
    store = Store(
        str(tmp_path / "relayd.db"), url=storage_url(), payloads=EVENT_PAYLOADS, retention_days=1
    )
    await store.open()
    try:
        old = time.time() - TWO_DAYS

        def history(tx: Tx) -> None:
            for i in range(40):
                emit(tx, "default", "custom.old", {"n": i}, at=old)
            emit(tx, "default", "custom.new", {})
            tx.execute(
                "INSERT INTO webhooks (org, url, secret, created_at) "
                "VALUES ('default', 'http://127.0.0.1:9/x', 's', ?)", (old,))
            tx.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, msg_id, type, status, "
                "created_at) VALUES (1, 30, 'msg_1', 'custom.old', 'pending', ?)", (old,))
            for status in ("delivered", "failed", "received"):
                tx.execute(
                    "INSERT INTO messages (org, direction, peer, text, encoding, status, "
                    "created_at) VALUES ('default', 'in', ?, 'x', 'gsm7', ?, ?)",
                    (NUMBER, status, old))

        await store.db.write(history)
        commits = store.db.commits
        counts = await store.pruner.prune()
        remaining = [r["id"] for r in await store.db.fetchall("SELECT id FROM events ORDER BY id")]
        messages = [r["id"] for r in await store.db.fetchall("SELECT id FROM messages")]
        next_message = await store.db.write(lambda tx: tx.insert(
            "INSERT INTO messages (org, direction, peer, text, encoding, status, created_at) "
            "VALUES ('default', 'in', 'p', 'x', 'gsm7', 'received', 0)"))
    finally:
        await store.close()
    assert counts["events"] == 29  # ids 1..29; 30 on is needed by the pending delivery
    assert remaining == list(range(30, 42))
    assert counts["webhook_deliveries"] == 0
    # Every message was old: the newest stays, so no old id is ever handed out again.
    assert counts["messages"] == 2 and messages == [3] and next_message == 4
    assert store.db.commits - commits >= 40 // 7  # one small write op after another
