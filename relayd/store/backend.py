"""What the repositories need of a database: the adapter contract.

Repositories hold their SQL and run it through these protocols only; two adapters stand
behind them: SQLite (`db.py`) and PostgreSQL (`pg.py`, asyncpg), with the group-committing
writer of `writer.py` in common. What an adapter must keep:
- `write(op)` runs `op` in a transaction and returns only once that transaction is durable;
  the events `op` appended are handed to the commit listeners after the commit, in order.
- Placeholders are `?` (positional) or `:name` (named), as the repositories write them.
- Rows are read by column name (`row["id"]`) or position (`row[0]`).
- A broken constraint raises `ConstraintViolated`, and only that statement is undone.
- `Transaction.insert` gives a new row's `id` (SQLite: `lastrowid`; PostgreSQL adds
  `RETURNING id`), so the repositories' INSERTs stay the same for both.
The repositories' SQL is one portable text for both dialects:
- `ON CONFLICT` upserts, no `OR IGNORE`/`OR REPLACE`; in `DO UPDATE SET` the old row's
  columns are named with their table (`orgs.secret_hash`: PostgreSQL finds a bare name
  ambiguous beside `excluded.`);
- a parameter that may be NULL on its own is typed (`CAST(? AS TEXT) IS NULL`);
- no `IN ()` with an empty list (`webhooks.not_in`), no SQLite functions: a larger of two
  values is a `CASE`, a count of matches `SUM(CASE WHEN … THEN 1 ELSE 0 END)`, JSON and
  random ids are made in Python (webhooks.py), rows are walked by `id`, never `rowid`
  (retention.py), and the key cache follows a counter row (`revisions`, keys.py), not
  `PRAGMA data_version`;
- schema.py's MIGRATIONS stay in the portable DDL subset that pgsql.ddl() translates.
`dialect` ("sqlite" or "postgresql") is there for a statement that must differ: the fleet's
claims and takeovers (fleet.py) lock with `FOR UPDATE SKIP LOCKED` on PostgreSQL only.
`notify(channel, payload)` reaches every `listen(channel, ...)` callback of every relay on the
same database, in each one's event loop, after what was committed before the call is visible
(PostgreSQL: NOTIFY/LISTEN; SQLite: the relays of this process on the same file; notify.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from relayd.store.records import EventRow, Record

T = TypeVar("T")
Params = tuple[Any, ...] | dict[str, Any]
CommitListener = Callable[[list[EventRow]], None]
NotifyListener = Callable[[str], None]  # called with the payload, in the event loop


class StoreUnavailable(Exception):
    """The database cannot be opened (server unreachable, login refused, no such database);
    the message says which and where, without the password."""


class ConstraintViolated(Exception):
    """A write broke a unique, foreign-key or NOT NULL constraint (cause: the adapter's error)."""


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    """What a write op sees: statements in one transaction, and events to publish after it."""

    events: list[EventRow]

    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT of one row; its new `id`, or None when `ON CONFLICT DO NOTHING` hit."""
        ...


class Backend(Protocol):
    """A database as the repositories use it."""

    dialect: str  # "sqlite" or "postgresql": for the few statements written per dialect
    commits: int  # transactions committed since open
    writes: int  # write ops in them

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, func: Callable[[Transaction], T]) -> T: ...

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> Sequence[Record]: ...

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Record | None: ...

    def add_commit_listener(self, listener: CommitListener) -> None: ...

    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of `channel` on every relay sharing this database."""
        ...

    async def listen(self, channel: str, listener: NotifyListener) -> None:
        """Call `listener(payload)` for each notification on `channel` until close."""
        ...

    @property
    def writer_alive(self) -> bool: ...
