"""Storage: repositories with typed rows over one database adapter (no SQL outside this package).

`Store` owns the adapter and every repository; nothing outside this package reaches the
adapter itself. The adapter is chosen here only: `pg.PgDatabase` (PostgreSQL, asyncpg) for
a `postgresql://` URL, else `db.Database` (the SQLite file). Both share the
group-committing writer of writer.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from relayd.store.asg import AsgStore
from relayd.store.backend import Backend, CommitListener, NotifyListener, StoreUnavailable
from relayd.store.calls import CallStore
from relayd.store.cursors import CursorStore
from relayd.store.db import Database
from relayd.store.events import EventStore
from relayd.store.fleet import FleetStore
from relayd.store.inbound import InboundStore
from relayd.store.keys import ApiKey, KeyStore
from relayd.store.pg import PgDatabase
from relayd.store.phones import PhoneStore
from relayd.store.records import CallRow, EventPayloads, EventRow, MessageRow
from relayd.store.repo import Created, IdempotencyConflict, MessageStore, NewMessage
from relayd.store.retention import Pruner
from relayd.store.webhooks import WebhookStore

__all__ = [
    "ApiKey",
    "CallRow",
    "Created",
    "EventPayloads",
    "EventRow",
    "IdempotencyConflict",
    "MessageRow",
    "NewMessage",
    "Store",
    "StoreUnavailable",
    "WriteStats",
]


@dataclass(frozen=True)
class WriteStats:
    """The writer's counters since open (/metrics)."""

    commits: int  # group commits, each one fsync
    writes: int  # write operations in them


class Store:
    """The relay's database and its repositories.

    `payloads` shapes the message and call in each event written with its row (the store has
    no JSON shape of its own): the composition root passes the API's presenters.
    """

    def __init__(
        self, path: str, *, payloads: EventPayloads, retention_days: float = 0, url: str = ""
    ) -> None:
        self.db: Backend = PgDatabase(url) if url else Database(path)
        self.pruner = Pruner(self.db, retention_days)
        self.messages = MessageStore(self.db, payloads.message)
        self.events = EventStore(self.db)
        self.keys = KeyStore(self.db)
        self.inbound = InboundStore(self.db, payloads.message)
        self.phones = PhoneStore(self.db)
        self.calls = CallStore(self.db, payloads.call)
        self.cursors = CursorStore(self.db)
        self.webhooks = WebhookStore(self.db)
        self.asg = AsgStore(self.db)  # phones of the "SMS Gateway for Android" app
        self.fleet = FleetStore(self.db, payloads.message)  # relays sharing this database

    async def open(self) -> None:
        """Open the database, migrate, make sure the `default` org exists; start pruning."""
        await self.db.open()
        await self.keys.upgrade_org_secrets()
        await self.keys.ensure_org("default")
        self.pruner.start()

    async def close(self) -> None:
        """Stop pruning, flush pending writes and close."""
        await self.pruner.stop()
        await self.db.close()

    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of `channel` on every relay sharing this database."""
        await self.db.notify(channel, payload)

    async def listen(self, channel: str, listener: NotifyListener) -> None:
        """Call `listener(payload)` for each notification on `channel` until close."""
        await self.db.listen(channel, listener)

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener` in the event loop with the events of every committed batch."""
        self.db.add_commit_listener(listener)

    @property
    def writer_alive(self) -> bool:
        """False when the writer died: health and the systemd watchdog ask."""
        return self.db.writer_alive

    def write_stats(self) -> WriteStats:
        """Group commits and writes since open."""
        return WriteStats(self.db.commits, self.db.writes)
