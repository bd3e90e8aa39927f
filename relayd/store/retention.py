"""`[storage] retention_days`: old messages, events and delivery logs are pruned.

The pruner walks each table in id order (ids are handed out in insert order, so the
oldest rows come first) and deletes in small batches, each one write op in the writer's
group commit, with a pause between batches so the relay's own writes go first. It stops
a table at the first row that is recent enough. Never pruned: messages still queued or
being sent, webhook deliveries still pending and the events they need, and the newest row
of each table, so that SQLite never hands out an id again (PostgreSQL's identity columns
never do) (SSE `Last-Event-ID`, message
ids and webhook ids stay increasing). `inbound_parts` has no id: its old rows go by time,
in batches too. Children go with their rows (message history,
parts and app-phone send ids; delivery attempts) by ON DELETE CASCADE.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass

from relayd.store.backend import Backend, Transaction

_LOGGER = logging.getLogger(__name__)

FIRST_RUN = 5.0  # seconds after the store opened: start-up writes go first
INTERVAL = 3600.0  # seconds between two runs
BATCH = 500  # rows looked at per write op
PAUSE = 0.05  # seconds between two batches
DAY = 86400.0


@dataclass(frozen=True)
class Table:
    """How one table is pruned: its time column and the rows that are always kept."""

    name: str
    at: str
    keep: str = "1 = 0"  # an SQL condition on the row; may use :oldest_pending_event
    key: str = "id"  # the column rows are walked by; "" for a table without an id ...
    primary: str = ""  # ... whose old rows go by time, named by these primary key columns


# Deliveries before events: an event is kept while a pending delivery needs it.
TABLES = (
    Table("webhook_deliveries", "created_at", "status = 'pending'"),
    Table("events", "at", "id >= :oldest_pending_event"),
    Table("messages", "created_at", "status IN ('queued', 'sending')"),
    Table("calls", "created_at", "status IN ('queued', 'ringing')"),
    Table("unmatched_reports", "at"),
    Table("inbound_parts", "first_seen", key="", primary="org, sim, sender, reference, total, seq"),
    Table("sim_balances", "at"),
)


def prune_batch(tx: Transaction, table: Table, cutoff: float, after: int) -> tuple[int, int | None]:
    """Delete the old rows among the next BATCH after id `after`.

    Returns (rows deleted, the id to go on from, or None when the table is done).
    """
    if not table.key:
        return _prune_by_time(tx, table, cutoff)
    top = tx.execute(f"SELECT MAX({table.key}) FROM {table.name}").fetchone()[0]  # noqa: S608
    if top is None:
        return 0, None
    oldest_pending = tx.execute(
        "SELECT MIN(event_id) FROM webhook_deliveries WHERE status = 'pending'"
    ).fetchone()[0]
    params = {
        "after": after,
        "top": top,
        "cutoff": cutoff,
        "limit": BATCH,
        "oldest_pending_event": top + 1 if oldest_pending is None else oldest_pending,
    }
    key = table.key
    rows = tx.execute(
        f"SELECT {key}, {table.at} AS at, {table.at} < :cutoff AND NOT ({table.keep}) "  # noqa: S608
        f"FROM {table.name} WHERE {key} > :after AND {key} < :top ORDER BY {key} LIMIT :limit",
        params,
    ).fetchall()
    if not rows:
        return 0, None
    doomed = [(row[0],) for row in rows if row[2]]
    tx.executemany(f"DELETE FROM {table.name} WHERE {key} = ?", doomed)  # noqa: S608
    last_id, last_at = rows[-1][0], rows[-1][1]
    done = len(rows) < BATCH or (last_at is not None and last_at >= cutoff)
    return len(doomed), None if done else int(last_id)


def _prune_by_time(tx: Transaction, table: Table, cutoff: float) -> tuple[int, int | None]:
    """A table without an id: delete up to BATCH rows older than `cutoff` (0: go on)."""
    deleted = tx.execute(
        f"DELETE FROM {table.name} WHERE ({table.primary}) IN "  # noqa: S608
        f"(SELECT {table.primary} FROM {table.name} WHERE {table.at} < ? LIMIT ?)",
        (cutoff, BATCH),
    ).rowcount
    return deleted, None if deleted < BATCH else 0


class Pruner:
    """Runs the pruning soon after start and then every INTERVAL, while the store is open."""

    def __init__(self, db: Backend, retention_days: float) -> None:
        self.db = db
        self.retention_days = retention_days
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Schedule the runs (nothing happens with retention_days = 0)."""
        if self.retention_days > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="relayd-retention")

    async def stop(self) -> None:
        """Cancel the runs (a batch in the writer still commits or rolls back whole)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def prune(self, now: float | None = None) -> dict[str, int]:
        """One full run: rows deleted per table (nothing with retention_days = 0)."""
        if self.retention_days <= 0:
            return {}
        cutoff = (time.time() if now is None else now) - self.retention_days * DAY
        counts: dict[str, int] = {}
        for table in TABLES:
            after: int | None = 0
            counts[table.name] = 0
            while after is not None:
                op = functools.partial(prune_batch, table=table, cutoff=cutoff, after=after)
                deleted, after = await self.db.write(op)
                counts[table.name] += deleted
                if after is not None:
                    await asyncio.sleep(PAUSE)
        return counts

    async def _run(self) -> None:
        await asyncio.sleep(FIRST_RUN)
        while True:
            try:
                counts = await self.prune()
            except Exception:  # the next run tries again
                _LOGGER.exception("Pruning old rows failed")
            else:
                pruned = {name: n for name, n in counts.items() if n}
                if pruned:
                    _LOGGER.info(
                        "Retention (%g days): pruned %s",
                        self.retention_days,
                        ", ".join(f"{n} {name}" for name, n in pruned.items()),
                    )
            await asyncio.sleep(INTERVAL)
