"""Ring calls (seed 003 voice): one durable record per call, from `ringing` to how it ended."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.records import CallRow, call_row
from relayd.store.rows import emit, insert_row

OPEN_STATES = ("queued", "ringing")


class CallStore:
    """Calls of every org; each change is committed with its `call.*` event."""

    def __init__(self, db: Backend, shape: Callable[[CallRow], dict[str, Any]]) -> None:
        self.db = db
        self.shape = shape  # a call as its events carry it

    async def create(
        self,
        org: str,
        peer: str,
        sim: str,
        *,
        ring_seconds: float,
        prompt: str | None,
        source: str | None,
    ) -> CallRow:
        """Record a call about to be dialled (`ringing`)."""

        def op(tx: Transaction) -> CallRow:
            now = time.time()
            values: dict[str, Any] = {
                "org": org,
                "peer": peer,
                "sim": sim,
                "status": "ringing",
                "prompt": prompt,
                "ring_seconds": ring_seconds,
                "result": None,
                "error": None,
                "source": source,
                "created_at": now,
                "started_at": now,
                "ended_at": None,
            }
            call = call_row(values | {"id": insert_row(tx, "calls", values)})
            emit(tx, org, "call.ringing", self.shape(call), now)
            return call

        return await self.db.write(op)

    async def finish(
        self, call_id: int, status: str, *, result: str | None = None, error: str | None = None
    ) -> CallRow | None:
        """Record how a call ended (`completed`, `busy`, `no_answer`, ..., `failed`)."""

        def op(tx: Transaction) -> CallRow | None:
            row = tx.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
            if row is None or row["status"] not in OPEN_STATES:
                return None
            now = time.time()
            tx.execute(
                "UPDATE calls SET status = ?, result = ?, error = ?, ended_at = ? WHERE id = ?",
                (status, result, error, now, call_id),
            )
            call = dataclasses.replace(
                call_row(row), status=status, result=result, error=error, ended_at=now
            )
            emit(tx, call.org, "call.ended", self.shape(call), now)
            return call

        return await self.db.write(op)

    async def interrupt_open(self) -> int:
        """At start: calls a stop cut short cannot be known to have rung; they are `failed`."""

        def op(tx: Transaction) -> int:
            rows = tx.execute(
                "SELECT id FROM calls WHERE status IN ('queued', 'ringing')"
            ).fetchall()
            for row in rows:
                tx.execute(
                    "UPDATE calls SET status = 'failed', error = 'interrupted', ended_at = ? "
                    "WHERE id = ?",
                    (time.time(), row["id"]),
                )
            return len(rows)

        return await self.db.write(op)

    async def get(self, org: str, call_id: int) -> CallRow | None:
        """One call of `org`, or None."""
        row = await self.db.fetchone(
            "SELECT * FROM calls WHERE id = ? AND org = ?", (call_id, org)
        )
        return None if row is None else call_row(row)

    async def recent(self, org: str, limit: int) -> list[CallRow]:
        """The newest calls of `org`, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM calls WHERE org = ? ORDER BY id DESC LIMIT ?", (org, limit)
        )
        return [call_row(r) for r in rows]
