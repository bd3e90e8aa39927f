"""Inbox poll cursors (seed 001 `webchat/poll`): the last message id each key was given."""

from __future__ import annotations

import time

from relayd.store.backend import Backend, Transaction


class CursorStore:
    """One cursor per (API key, name); a name lets several agents share a key."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def get(self, key_id: int, name: str) -> int:
        """The last message id handed out under this cursor (0: none yet)."""
        row = await self.db.fetchone(
            "SELECT last_id FROM poll_cursors WHERE key_id = ? AND name = ?", (key_id, name)
        )
        return int(row["last_id"]) if row is not None else 0

    async def advance(self, key_id: int, name: str, last_id: int) -> None:
        """Move the cursor forward (never back: two polls at once may finish in any order)."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO poll_cursors (key_id, name, last_id, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (key_id, name) DO UPDATE SET "
                "last_id = CASE WHEN excluded.last_id > poll_cursors.last_id THEN excluded.last_id "
                "ELSE poll_cursors.last_id END, updated_at = excluded.updated_at",
                (key_id, name, last_id, time.time()),
            )

        await self.db.write(op)
