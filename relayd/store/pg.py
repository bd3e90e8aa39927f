"""PostgreSQL (asyncpg): the same group-committing writer as SQLite's, reads on a pool.

Write ops stay synchronous functions run by the writer thread (writer.py). That thread
owns a private event loop with one asyncpg connection and runs each statement on it
to completion (`run_until_complete`), so a statement costs one round trip and no hop
between threads; the relay's own loop is not loaded. Reads use an asyncpg pool in the
relay's loop.

SQLite's semantics kept on PostgreSQL:
- a batch of ops is one transaction, one commit; each op runs inside a savepoint, so a
  failing op is undone alone and the others commit (one extra round trip per op);
- a broken constraint undoes only the statement that broke it: before the op changed
  anything, rolling back to the op's savepoint is exactly that; after, the op is run
  again from the start with a savepoint around each of its writes (rare: the only op
  that catches `ConstraintViolated` does so at its first statement);
- `Transaction.insert` adds `RETURNING id`; `rowcount` comes from the command tag;
- PostgreSQL's text cannot hold NUL (U+0000), which SQLite's can: a write of such a text
  is refused as bad input (`InvalidField`, code `invalid_text`: a 422, nothing stored), and
  a read looking one up finds nothing, as no stored text can equal it.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

from relayd.exceptions import InvalidField
from relayd.store.backend import ConstraintViolated, Params
from relayd.store.notify import PgChannels
from relayd.store.pgsql import ddl, is_query, rowcount, translate
from relayd.store.records import EventRow, Record
from relayd.store.schema import MIGRATIONS
from relayd.store.writer import GroupWriter, Job, Outcome

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

POOL_SIZE = 4  # reader connections
STATEMENT_CACHE = 1024  # prepared statements kept per connection
MIGRATION_LOCK = 0x72656C6179  # pg_advisory_xact_lock key: relays starting together migrate once
VERSION_TABLE = "relayd_schema"


def _holds_nul(args: Sequence[Any]) -> bool:
    return any(isinstance(arg, str) and "\x00" in arg for arg in args)


def _refuse_nul() -> InvalidField:
    message = "a text with a NUL character (U+0000) cannot be stored"
    return InvalidField(None, message, "invalid_text")


class _NeedsCare(BaseException):
    """A statement broke a constraint after its op had changed rows: run the op again,
    with a savepoint per write (BaseException: an op's `except Exception` lets it pass)."""


class PgCursor:
    """The rows and row count of one statement."""

    def __init__(self, rows: list[Record], count: int) -> None:
        self._rows = rows
        self._count = count

    @property
    def rowcount(self) -> int:
        """Rows written (or returned)."""
        return self._count

    def fetchone(self) -> Record | None:
        """The first row, or None."""
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Record]:
        """Every row."""
        return self._rows


async def _in_savepoint(
    conn: Any, work: Callable[[], Coroutine[Any, Any, T]], savepoint: bool
) -> T:
    """Run `work`; with `savepoint`, a broken constraint undoes only what `work` wrote."""
    if not savepoint:
        return await work()
    await conn.execute("SAVEPOINT relayd_statement")
    try:
        result = await work()
    except asyncpg.IntegrityConstraintViolationError:
        await conn.execute(
            "ROLLBACK TO SAVEPOINT relayd_statement; RELEASE SAVEPOINT relayd_statement"
        )
        raise
    await conn.execute("RELEASE SAVEPOINT relayd_statement")
    return result


class PgTx:
    """What a write op sees on PostgreSQL (a `backend.Transaction`)."""

    def __init__(self, db: PgDatabase, careful: bool) -> None:
        self._db = db
        self._careful = careful  # a savepoint around each write once the op changed rows
        self._changed = False
        self.events: list[EventRow] = []

    def execute(self, sql: str, params: Params = ()) -> PgCursor:
        """Run one statement inside the batch's transaction."""
        statement = translate(sql)
        args = statement.args(params)
        query = is_query(sql)
        writes = not query or "RETURNING" in sql.upper()
        if _holds_nul(args):
            if writes:
                raise _refuse_nul()
            return PgCursor([], 0)
        conn = self._db.conn

        async def run() -> PgCursor:
            if query:
                rows = await conn.fetch(statement.text, *args)
                return PgCursor(rows, len(rows))
            return PgCursor([], rowcount(await conn.execute(statement.text, *args)))

        return self._guarded(run, writes)

    def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT of one row; its new `id`, or None when a conflict clause skipped it."""
        row = self.execute(f"{sql} RETURNING id", params).fetchone()
        return None if row is None else int(row[0])

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter set, inside the batch's transaction."""
        statement = translate(sql)
        args = [statement.args(params) for params in rows]
        if any(_holds_nul(row) for row in args):
            raise _refuse_nul()
        if args:
            conn = self._db.conn
            self._guarded(lambda: conn.executemany(statement.text, args), True)

    def _guarded(self, work: Callable[[], Coroutine[Any, Any, T]], writes: bool) -> T:
        savepoint = self._careful and writes and self._changed
        try:
            result = self._db.run(_in_savepoint(self._db.conn, work, savepoint))
        except asyncpg.IntegrityConstraintViolationError as exc:
            if not savepoint:
                if self._changed:
                    raise _NeedsCare from exc
                # Nothing of this op is written yet: back to its savepoint is this statement.
                self._db.run(self._db.conn.execute("ROLLBACK TO SAVEPOINT relayd_op"))
            raise ConstraintViolated(str(exc)) from exc
        if writes:
            self._changed = True
        return result


async def migrate(conn: Any) -> int:
    """Apply the migrations this database has not seen (schema.py, translated)."""
    await conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version BIGINT NOT NULL)")
    for number, script in enumerate(MIGRATIONS, start=1):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            version = await conn.fetchval(f"SELECT MAX(version) FROM {VERSION_TABLE}")  # noqa: S608
            if (version or 0) >= number:
                continue
            _LOGGER.info("Migrating database to schema version %d", number)
            for statement in ddl(script):
                await conn.execute(statement)
            await conn.execute(f"DELETE FROM {VERSION_TABLE}")  # noqa: S608
            await conn.execute(f"INSERT INTO {VERSION_TABLE} VALUES ($1)", number)  # noqa: S608
    return len(MIGRATIONS)


class PgDatabase(PgChannels, GroupWriter):
    """A PostgreSQL database: the batching writer and a pool of readers (a `Backend`)."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._pool: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the writer thread's own
        self._conn: Any = None
        self._channels_init()

    @property
    def conn(self) -> Any:
        """The writer's connection (only in the writer thread)."""
        assert self._conn is not None, "database is not open"
        return self._conn

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """In the writer thread: run one step on the writer's connection to completion."""
        assert self._loop is not None
        return self._loop.run_until_complete(coro)

    async def open(self) -> None:
        """Connect, bring the schema up to date, open the readers."""
        where = urllib.parse.urlsplit(self.url)
        _LOGGER.info("Database: PostgreSQL at %s%s", where.hostname or "", where.path)
        await self._in_writer(self._open_writer)
        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=POOL_SIZE, statement_cache_size=STATEMENT_CACHE
        )
        self._start_writer()

    def _connect(self) -> None:
        self._conn = self.run(asyncpg.connect(self.url, statement_cache_size=STATEMENT_CACHE))

    def _open_writer(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._connect()
        self.run(migrate(self._conn))

    def _close_writer(self) -> None:
        if self._loop is None:
            return
        if self._conn is not None:
            self.run(self._conn.close())
            self._conn = None
        self._loop.close()
        self._loop = None

    async def close(self) -> None:
        """Finish queued writes, then close everything."""
        await self._channels_close()
        await self._stop_writer()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._in_writer(self._close_writer)
        self._executor.shutdown(wait=True)

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Record]:
        """Read rows on a pooled connection."""
        assert self._pool is not None, "database is not open"
        statement = translate(sql)
        args = statement.args(params)
        if _holds_nul(args):
            return []
        rows: list[Record] = await self._pool.fetch(statement.text, *args)
        return rows

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Record | None:
        """Read one row, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def _run_batch(self, batch: list[Job[Any]]) -> list[Outcome]:
        """In the writer thread: every op in its own savepoint of one transaction."""
        if self._conn is None or self._conn.is_closed():
            self._connect()  # the server restarted: the next batch gets a new connection
        self.run(self.conn.execute("BEGIN; SAVEPOINT relayd_op"))
        results: list[Outcome] = []
        try:
            for index, job in enumerate(batch):
                if index:
                    self.run(self.conn.execute("RELEASE SAVEPOINT relayd_op; SAVEPOINT relayd_op"))
                results.append(self._run_op(job))
            self.run(self.conn.execute("COMMIT"))
        except BaseException:
            if not self.conn.is_closed():
                self.run(self.conn.execute("ROLLBACK"))
            raise
        done = sum(1 for ok, _ in results if ok)
        if done:
            self._committed(done)
        return results

    def _run_op(self, job: Job[Any]) -> Outcome:
        for careful in (False, True):
            tx = PgTx(self, careful)
            try:
                value = job.func(tx)
            except _NeedsCare:
                self.run(self.conn.execute("ROLLBACK TO SAVEPOINT relayd_op"))
                continue
            except Exception as exc:
                self.run(self.conn.execute("ROLLBACK TO SAVEPOINT relayd_op"))
                job.events = []
                return (False, exc)
            job.events = tx.events
            return (True, value)
        raise AssertionError("an op run with a savepoint per write broke out of them")
