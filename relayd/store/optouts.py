"""The opt-out list (numbers that sent STOP, or were added by hand) and per-org keyword settings.

Each change writes an `optout.added` / `optout.removed` event in its own transaction, so
webhooks and event streams see it like any state change.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from relayd.store.backend import Backend, Transaction
from relayd.store.keys import ensure_org_in
from relayd.store.records import Columns, from_row
from relayd.store.revisions import bump_revision, read_revision
from relayd.store.rows import emit


@dataclass(frozen=True)
class OptoutRow:
    """A number of an org that may not be sent to; `message_id`: the SMS that asked for it."""

    org: str
    number: str
    since: float
    source: str  # "sms" (a stop word arrived) or "api"
    message_id: int | None


@dataclass(frozen=True)
class OptoutOverride:
    """An org's own opt-out settings; None keeps the `[optout]` value of the config file."""

    enabled: bool | None = None
    stop_words: tuple[str, ...] | None = None
    start_words: tuple[str, ...] | None = None
    stop_reply: str | None = None
    start_reply: str | None = None


def optout_row(row: Columns) -> OptoutRow:
    """An `optouts` row as an OptoutRow."""
    return from_row(OptoutRow, row)


def _event(row: OptoutRow) -> dict[str, object]:
    return {"number": row.number, "source": row.source, "message_id": row.message_id}


REVISION_CHECK = 0.25  # seconds
CACHED_LIST_MAX = 100_000  # numbers per org kept in memory; a longer list is read each time


class OptoutStore:
    """Opt-outs and opt-out settings of each org."""

    def __init__(self, db: Backend) -> None:
        self.db = db
        # Each org's list, read once and kept: the check before every send then costs no
        # read. This relay's own changes drop an org's copy at once; another relay's (a
        # fleet) are seen through the 'optouts' revision, asked at most every REVISION_CHECK.
        self._lists: dict[str, frozenset[str]] = {}
        self._revision: int | None = None
        self._checked_at = float("-inf")

    async def add(
        self, org: str, number: str, source: str, message_id: int | None = None
    ) -> OptoutRow:
        """Put `number` on the list (kept as it was when already there)."""

        def op(tx: Transaction) -> OptoutRow:
            ensure_org_in(tx, org)
            now = time.time()
            fresh = tx.execute(  # no `id` column: insert() would ask for one
                "INSERT INTO optouts (org, number, since, source, message_id) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (org, number, now, source, message_id),
            ).rowcount
            row = optout_row(
                tx.execute(
                    "SELECT * FROM optouts WHERE org = ? AND number = ?", (org, number)
                ).fetchone()
            )
            if fresh:
                bump_revision(tx, "optouts")
                emit(tx, org, "optout.added", _event(row), now)
            return row

        try:
            return await self.db.write(op)
        finally:
            self._changed(org)

    async def remove(
        self, org: str, number: str, source: str, message_id: int | None = None
    ) -> bool:
        """Take `number` off the list; False when it was not on it."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute("DELETE FROM optouts WHERE org = ? AND number = ?", (org, number))
            if cursor.rowcount == 0:
                return False
            bump_revision(tx, "optouts")
            row = OptoutRow(org, number, time.time(), source, message_id)
            emit(tx, org, "optout.removed", _event(row), row.since)
            return True

        try:
            return await self.db.write(op)
        finally:
            self._changed(org)

    def _changed(self, org: str) -> None:
        """This relay changed the org's list: its copy goes, and a read of a list that was
        in flight meanwhile is dropped at the next check (the revision moved)."""
        self._lists.pop(org, None)
        self._checked_at = float("-inf")

    async def opted_out(self, org: str, numbers: Sequence[str]) -> set[str]:
        """Which of `numbers` are on the org's list."""
        if not numbers:
            return set()
        now = time.monotonic()
        if now - self._checked_at >= REVISION_CHECK:
            self._checked_at = now
            revision = await read_revision(self.db, "optouts")
            if revision != self._revision:
                self._revision = revision
                self._lists.clear()
        listed = self._lists.get(org)
        if listed is None:
            rows = await self.db.fetchall("SELECT number FROM optouts WHERE org = ?", (org,))
            listed = frozenset(r["number"] for r in rows)
            if len(listed) <= CACHED_LIST_MAX:
                self._lists[org] = listed
        return set(listed.intersection(numbers))

    async def get(self, org: str, number: str) -> OptoutRow | None:
        """One entry of the list."""
        row = await self.db.fetchone(
            "SELECT * FROM optouts WHERE org = ? AND number = ?", (org, number)
        )
        return None if row is None else optout_row(row)

    async def list_optouts(self, org: str, limit: int = 1000) -> list[OptoutRow]:
        """The org's list, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM optouts WHERE org = ? ORDER BY since DESC, number LIMIT ?",
            (org, limit),
        )
        return [optout_row(r) for r in rows]

    async def settings(self, org: str) -> OptoutOverride:
        """The org's own settings (all None when it has none)."""
        row = await self.db.fetchone("SELECT settings FROM optout_settings WHERE org = ?", (org,))
        if row is None:
            return OptoutOverride()
        data = json.loads(row["settings"])
        for name in ("stop_words", "start_words"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        return OptoutOverride(**data)

    async def set_settings(self, org: str, override: OptoutOverride) -> None:
        """Replace the org's own settings."""

        def op(tx: Transaction) -> None:
            ensure_org_in(tx, org)
            tx.execute(
                "INSERT INTO optout_settings (org, settings, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (org) DO UPDATE SET settings = excluded.settings, "
                "updated_at = excluded.updated_at",
                (org, json.dumps(dataclasses.asdict(override)), time.time()),
            )

        await self.db.write(op)
