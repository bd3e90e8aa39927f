"""Ring calls (seed 003 voice): one durable record per call, from `ringing` to how it ended."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.records import Columns, from_row
from relayd.store.rows import emit, insert_row, iso

OPEN_STATES = ("queued", "ringing")


@dataclass(frozen=True)
class CallRow:
    """One ring call, times in epoch seconds."""

    id: int
    org: str
    peer: str
    sim: str
    status: str
    prompt: str | None
    ring_seconds: float
    result: str | None
    error: str | None
    source: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None


def call_row(row: Columns) -> CallRow:
    """A `calls` row as a CallRow."""
    return from_row(CallRow, row)


def call_json(call: CallRow) -> dict[str, Any]:
    """A call as the API shows it; `duration` is seconds from dialling to hang-up."""
    started, ended = call.started_at, call.ended_at
    return {
        "id": call.id,
        "org": call.org,
        "to": call.peer,
        "sim": call.sim,
        "status": call.status,
        "result": call.result,
        "error": call.error,
        "prompt": call.prompt,
        "ring_seconds": call.ring_seconds,
        "source": call.source,
        "created_at": iso(call.created_at),
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration": round(ended - started, 1) if started is not None and ended else None,
    }


class CallStore:
    """Calls of every org; each change is committed with its `call.*` event."""

    def __init__(self, db: Backend) -> None:
        self.db = db

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
            emit(tx, org, "call.ringing", call_json(call), now)
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
            emit(tx, call.org, "call.ended", call_json(call), now)
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
