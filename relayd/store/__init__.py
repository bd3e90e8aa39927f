"""Storage: SQLite behind a repository interface (no SQL outside this package)."""

from __future__ import annotations

from relayd.store.calls import CallStore
from relayd.store.cursors import CursorStore
from relayd.store.db import Database
from relayd.store.inbound import InboundStore
from relayd.store.keys import ApiKey, KeyStore
from relayd.store.phones import PhoneStore
from relayd.store.repo import Created, IdempotencyConflict, MessageStore, NewMessage
from relayd.store.retention import Pruner

__all__ = [
    "ApiKey",
    "Created",
    "IdempotencyConflict",
    "NewMessage",
    "Store",
]


class Store:
    """The relay's database and its repositories."""

    def __init__(self, path: str, *, retention_days: float = 0) -> None:
        self.db = Database(path)
        self.pruner = Pruner(self.db, retention_days)
        self.messages = MessageStore(self.db)
        self.keys = KeyStore(self.db)
        self.inbound = InboundStore(self.db)
        self.phones = PhoneStore(self.db)
        self.calls = CallStore(self.db)
        self.cursors = CursorStore(self.db)

    async def open(self) -> None:
        """Open the file, migrate, make sure the `default` org exists; start the retention runs."""
        await self.db.open()
        await self.keys.ensure_org("default")
        self.pruner.start()

    async def close(self) -> None:
        """Stop pruning, flush pending writes and close."""
        await self.pruner.stop()
        await self.db.close()
