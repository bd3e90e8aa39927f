"""What the repositories need of a database: the adapter contract (SQLite today, `db.py`).

Repositories hold their SQL and run it through these protocols only, so a second adapter
(PostgreSQL, issue 13) can stand behind the same repositories. What an adapter must keep:
- `write(op)` runs `op` in a transaction and returns only once that transaction is durable;
  the events `op` appended are handed to the commit listeners after the commit, in order.
- Placeholders are `?` (positional) or `:name` (named), as the repositories write them.
- Rows are read by column name (`row["id"]`) or position (`row[0]`).
- A broken constraint raises `ConstraintViolated`, and only that statement is undone.
- `Transaction.insert` gives a new row's `id` (SQLite: `lastrowid`; PostgreSQL would add
  `RETURNING id`), so the repositories' INSERTs stay the same for both.
The SQL itself is portable where it could be (`ON CONFLICT`, no `OR IGNORE`); what is not is
named in the repository that uses it (`json_each` and `randomblob` in webhooks.py, the
two-argument `MAX` in cursors.py, the `SUM` of a comparison in repo.py, `rowid` in
retention.py, `PRAGMA data_version` in keys.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from relayd.store.records import EventRow, Record

T = TypeVar("T")
Params = tuple[Any, ...] | dict[str, Any]
CommitListener = Callable[[list[EventRow]], None]


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

    @property
    def writer_alive(self) -> bool: ...
