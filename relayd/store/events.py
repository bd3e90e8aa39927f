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

    async def since(self, org: str, last_id: int, limit: int = 1000) -> list[EventRow]:
        """Stored events of `org` after `last_id`, oldest first (SSE resume)."""
        rows = await self.db.fetchall(
            "SELECT id, org, type, at, data FROM events WHERE org = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (org, last_id, limit),
        )
        return [event_row(r) for r in rows]

