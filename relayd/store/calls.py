"""Ring calls (seed 003 voice): one durable record per call, from `ringing` to how it ended."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from relayd.store.db import Database, Tx
from relayd.store.rows import emit, iso

OPEN_STATES = ("queued", "ringing")


def call_json(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """A call as the API shows it; `duration` is seconds from dialling to hang-up."""
    started, ended = row["started_at"], row["ended_at"]
    return {
        "id": row["id"],
        "org": row["org"],
        "to": row["peer"],
        "sim": row["sim"],
        "status": row["status"],
        "result": row["result"],
        "error": row["error"],
        "prompt": row["prompt"],
        "ring_seconds": row["ring_seconds"],
        "source": row["source"],
        "created_at": iso(row["created_at"]),
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration": round(ended - started, 1) if started is not None and ended else None,
    }


class CallStore:
    """Calls of every org; each change is committed with its `call.*` event."""

    def __init__(self, db: Database) -> None:
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
    ) -> dict[str, Any]:
        """Record a call about to be dialled (`ringing`)."""

        def op(tx: Tx) -> dict[str, Any]:
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
            cursor = tx.execute(
                f"INSERT INTO calls ({', '.join(values)}) "  # noqa: S608 - fixed names
                f"VALUES ({', '.join(':' + k for k in values)})",
                values,
            )
            values["id"] = int(cursor.lastrowid or 0)
            call = call_json(values)
            emit(tx, org, "call.ringing", call, now)
            return call

        return await self.db.write(op)

    async def finish(
        self, call_id: int, status: str, *, result: str | None = None, error: str | None = None
    ) -> dict[str, Any] | None:
        """Record how a call ended (`completed`, `busy`, `no_answer`, ..., `failed`)."""

        def op(tx: Tx) -> dict[str, Any] | None:
            row = tx.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
            if row is None or row["status"] not in OPEN_STATES:
                return None
            now = time.time()
            tx.execute(
                "UPDATE calls SET status = ?, result = ?, error = ?, ended_at = ? WHERE id = ?",
                (status, result, error, now, call_id),
            )
            call = call_json(dict(row) | {"status": status, "result": result, "error": error,
                                          "ended_at": now})  # fmt: skip
            emit(tx, row["org"], "call.ended", call, now)
            return call

        return await self.db.write(op)

    async def interrupt_open(self) -> int:
        """At start: calls a stop cut short cannot be known to have rung; they are `failed`."""

        def op(tx: Tx) -> int:
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

    async def get(self, org: str, call_id: int) -> dict[str, Any] | None:
        """One call of `org`, or None."""
        row = await self.db.fetchone(
            "SELECT * FROM calls WHERE id = ? AND org = ?", (call_id, org)
        )
        return None if row is None else call_json(row)

    async def recent(self, org: str, limit: int) -> list[dict[str, Any]]:
        """The newest calls of `org`, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM calls WHERE org = ? ORDER BY id DESC LIMIT ?", (org, limit)
        )
        return [call_json(r) for r in rows]
