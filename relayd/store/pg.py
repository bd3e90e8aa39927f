"""PostgreSQL (asyncpg): the same group-committing writer as SQLite's, reads on a pool.

Write ops stay synchronous functions run by the writer thread (writer.py). That thread
owns a private event loop with one asyncpg connection and runs each statement on it
to completion (`run_until_complete`), so a statement costs one round trip and no hop
between threads; the relay's own loop is not loaded. Reads use an asyncpg pool in the
relay's loop.

SQLite's semantics kept on PostgreSQL:
- a batch of ops is one transaction, one commit. It runs first without savepoints (no
  extra round trip); when an op fails or a constraint breaks, the batch is rolled back and
  run again with each op inside a savepoint, so a failing op is undone alone and the
  others commit (ops are re-runnable: SQLite's adapter runs them again too);
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
import contextlib
import logging
import urllib.parse
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

from relayd.exceptions import InvalidField
from relayd.store.backend import ConstraintViolated, Params, StoreUnavailable
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
    """A statement broke a constraint where the op cannot be told (no savepoint to go back
    to): run it again with more savepoints (BaseException: `except Exception` lets it by)."""


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

    def __init__(self, db: PgDatabase, *, in_savepoint: bool, careful: bool) -> None:
        self._db = db
        self._in_savepoint = in_savepoint  # the op runs inside the savepoint `relayd_op`
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
                if self._changed or not self._in_savepoint:
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
        """In the writer thread: run one step on the writer's connection to completion.

        The loop is turned by hand (`_run_once` of CPython's loops, the loop marked running
        in this thread once): half the time of `run_until_complete` per statement, which
        sets a loop up and tears it down on every call. Other loops get that fallback."""
        loop = self._loop
        assert loop is not None
        step = getattr(loop, "_run_once", None)
        if step is None:
            return loop.run_until_complete(coro)
        task = loop.create_task(coro)
        while not task.done():
            step()
        return task.result()

    async def open(self) -> None:
        """Connect, bring the schema up to date, open the readers."""
        parts = urllib.parse.urlsplit(self.url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        _LOGGER.info("Database: PostgreSQL at %s", where)
        try:
            await self._in_writer(self._open_writer)
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=POOL_SIZE, statement_cache_size=STATEMENT_CACHE
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._in_writer(self._close_writer)
            message = f"cannot open the PostgreSQL database at {where}: {exc}"
            raise StoreUnavailable(message) from exc
        self._start_writer()

    def _connect(self) -> None:
        self._conn = self.run(asyncpg.connect(self.url, statement_cache_size=STATEMENT_CACHE))

    def _open_writer(self) -> None:
        self._loop = asyncio.new_event_loop()
        if hasattr(self._loop, "_run_once"):
            asyncio._set_running_loop(self._loop)  # this thread's loop, for asyncpg's timeouts
        try:
            self._connect()
            self.run(migrate(self._conn))
        except BaseException:
            self._close_writer()
            raise

    def _close_writer(self) -> None:
        if self._loop is None:
            return
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self.run(self._conn.close())
            self._conn = None
        asyncio._set_running_loop(None)
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
        """In the writer thread: the batch in one transaction, plain first, else with a
        savepoint per op."""
        if self._conn is None or self._conn.is_closed():
            self._connect()  # the server restarted: the next batch gets a new connection
        results = self._attempt(batch, savepoints=False)
        if results is None:
            results = self._attempt(batch, savepoints=True)
            assert results is not None
        done = sum(1 for ok, _ in results if ok)
        if done:
            self._committed(done)
        return results

    def _attempt(self, batch: list[Job[Any]], *, savepoints: bool) -> list[Outcome] | None:
        """Run and commit the batch; None (rolled back) when an op failed without savepoints."""
        self.run(self.conn.execute("BEGIN; SAVEPOINT relayd_op" if savepoints else "BEGIN"))
        results: list[Outcome] = []
        try:
            for index, job in enumerate(batch):
                if not savepoints:
                    value = self._run_plain(job)
                    if value is None:
                        self.run(self.conn.execute("ROLLBACK"))
                        return None
                    results.append(value)
                    continue
                if index:
                    self.run(self.conn.execute("RELEASE SAVEPOINT relayd_op; SAVEPOINT relayd_op"))
                results.append(self._run_op(job))
            self.run(self.conn.execute("COMMIT"))
        except BaseException:
            if not self.conn.is_closed():
                self.run(self.conn.execute("ROLLBACK"))
            raise
        return results

    def _run_plain(self, job: Job[Any]) -> Outcome | None:
        """One op with no savepoint: its outcome, or None when it failed (undo the batch)."""
        tx = PgTx(self, in_savepoint=False, careful=False)
        try:
            value = job.func(tx)
        except (_NeedsCare, Exception):
            return None
        job.events = tx.events
        return (True, value)

    def _run_op(self, job: Job[Any]) -> Outcome:
        for careful in (False, True):
            tx = PgTx(self, in_savepoint=True, careful=careful)
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
