"""Counters in the `revisions` table that other processes and relays follow to drop caches."""

from __future__ import annotations

from relayd.store.backend import Backend, Transaction


def bump_revision(tx: Transaction, name: str) -> None:
    """Move the `revisions` counter `name` on: caches of every process and relay that read
    it start over (keys: revocations; optouts: the opt-out lists)."""
    tx.execute(
        "INSERT INTO revisions (name, value) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = revisions.value + 1",
        (name,),
    )


async def read_revision(db: Backend, name: str) -> int:
    """The `revisions` counter `name` (0 before its first move)."""
    row = await db.fetchone("SELECT value FROM revisions WHERE name = ?", (name,))
    return int(row[0]) if row is not None else 0
