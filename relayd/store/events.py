"""The event log: events that are not a message state change, and SSE resume reads."""

from __future__ import annotations

from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.records import EventRow, event_row
from relayd.store.rows import emit


class EventStore:
    """Stored events of every org (each is published to listeners after its commit)."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def record(self, org: str, type_: str, data: dict[str, Any]) -> int:
        """Store and publish an event that is not a message state change (e.g. `sim.online`)."""

        def op(tx: Transaction) -> int:
            return emit(tx, org, type_, data)

        return await self.db.write(op)

    async def since(self, org: str, last_seq: int, limit: int = 1000) -> list[EventRow]:
        """Stored events of `org` after `last_seq` in its sequence, oldest first (SSE resume)."""
        rows = await self.db.fetchall(
            "SELECT id, org, type, at, data, seq FROM events WHERE org = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (org, last_seq, limit),
        )
        return [event_row(r) for r in rows]

    async def heads(self) -> dict[str, int]:
        """The last seq handed out per org (where a relay's event feed starts)."""
        rows = await self.db.fetchall("SELECT org, last FROM event_seq")
        return {r["org"]: int(r["last"]) for r in rows}

