"""Recurring sends: the rule, its start in a time zone, what to send, and the next run (issue 14).

`send` is the send as JSON (to / group, text / template + vars, sim), kept as the API took it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.keys import ensure_org_in
from relayd.store.records import Columns, from_row


@dataclass(frozen=True)
class ScheduleRow:
    """A stored schedule; times in epoch seconds (`next_run` None: the rule has ended)."""

    id: int
    org: str
    key_id: int
    name: str
    rule: str
    start_local: str  # ISO wall time in `timezone`, e.g. 2026-12-07T09:00:00
    timezone: str
    send: dict[str, Any]
    paused: bool
    next_run: float | None
    last_run: float | None
    runs: int
    last_error: str | None
    created_at: float
    updated_at: float | None


@dataclass(frozen=True)
class NewSchedule:
    """A schedule to store."""

    org: str
    key_id: int
    name: str
    rule: str
    start_local: str
    timezone: str
    send: dict[str, Any]
    next_run: float | None


def schedule_row(row: Columns) -> ScheduleRow:
    """A `schedules` row as a ScheduleRow."""
    return from_row(
        ScheduleRow, row, send=json.loads(row["send"]), paused=bool(row["paused"])
    )


class ScheduleStore:
    """Schedules of every org; the scheduler asks for the earliest due one."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def create(self, new: NewSchedule) -> ScheduleRow:
        """Store a new schedule."""

        def op(tx: Transaction) -> ScheduleRow:
            ensure_org_in(tx, new.org)
            now = time.time()
            new_id = tx.insert(
                "INSERT INTO schedules (org, key_id, name, rule, start_local, timezone, send, "
                "next_run, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new.org, new.key_id, new.name, new.rule, new.start_local, new.timezone,
                 json.dumps(new.send), new.next_run, now),
            )  # fmt: skip
            row = tx.execute("SELECT * FROM schedules WHERE id = ?", (new_id,)).fetchone()
            return schedule_row(row)

        return await self.db.write(op)

    async def get(self, org: str, schedule_id: int) -> ScheduleRow | None:
        """One schedule of `org`."""
        row = await self.db.fetchone(
            "SELECT * FROM schedules WHERE id = ? AND org = ?", (schedule_id, org)
        )
        return None if row is None else schedule_row(row)

    async def list_schedules(self, org: str) -> list[ScheduleRow]:
        """Every schedule of `org`, oldest first."""
        rows = await self.db.fetchall("SELECT * FROM schedules WHERE org = ? ORDER BY id", (org,))
        return [schedule_row(r) for r in rows]

    async def next_due(self) -> float | None:
        """The earliest `next_run` of any running schedule."""
        row = await self.db.fetchone(
            "SELECT MIN(next_run) AS at FROM schedules WHERE paused = 0 AND next_run IS NOT NULL"
        )
        return None if row is None or row["at"] is None else float(row["at"])

    async def due(self, now: float) -> list[ScheduleRow]:
        """Running schedules whose next run is at or before `now`, earliest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM schedules WHERE paused = 0 AND next_run IS NOT NULL AND next_run <= ? "
            "ORDER BY next_run, id",
            (now,),
        )
        return [schedule_row(r) for r in rows]

    async def set_state(
        self,
        org: str,
        schedule_id: int,
        *,
        paused: bool | None = None,
        name: str | None = None,
        next_run: float | None,
    ) -> ScheduleRow | None:
        """Pause/resume or rename, with the next run that follows; None when not found."""

        def op(tx: Transaction) -> ScheduleRow | None:
            paused_value = None if paused is None else int(paused)
            tx.execute(
                "UPDATE schedules SET paused = COALESCE(?, paused), name = COALESCE(?, name), "
                "next_run = ?, updated_at = ? WHERE id = ? AND org = ?",
                (paused_value, name, next_run, time.time(), schedule_id, org),
            )
            row = tx.execute(
                "SELECT * FROM schedules WHERE id = ? AND org = ?", (schedule_id, org)
            ).fetchone()
            return None if row is None else schedule_row(row)

        return await self.db.write(op)

    async def record_run(
        self, schedule_id: int, ran_at: float, next_run: float | None, error: str | None
    ) -> None:
        """After a run: when it ran, the next one, and what went wrong (None: it was sent)."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "UPDATE schedules SET last_run = ?, next_run = ?, last_error = ?, "
                "runs = runs + 1 WHERE id = ?",
                (ran_at, next_run, error, schedule_id),
            )

        await self.db.write(op)

    async def delete(self, org: str, schedule_id: int) -> bool:
        """Remove a schedule (its messages stay); False when there was none."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "DELETE FROM schedules WHERE id = ? AND org = ?", (schedule_id, org)
            )
            return cursor.rowcount > 0

        return await self.db.write(op)
