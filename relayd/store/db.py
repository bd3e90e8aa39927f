"""SQLite connections: one group-committing writer, one reader, migrations at open.

Writes are small synchronous functions (`WriteOp`) run by a single writer thread.
The writer drains every op queued while the previous commit was in flight, runs them
in one transaction and commits once (one fsync with `synchronous=FULL`); each caller's
future resolves only after that commit, so nothing is acknowledged before it is
durable. Reads go through aiosqlite on their own connection (WAL lets them run
beside the writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

from relayd.store.backend import CommitListener, ConstraintViolated, NotifyListener, Params
from relayd.store.records import EventRow
from relayd.store.schema import MIGRATIONS

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
MAX_BATCH = 512
# LISTEN/NOTIFY of SQLite: the relays of this process that opened the same file, by channel.
_Subscriber = tuple[asyncio.AbstractEventLoop, NotifyListener]
_CHANNELS: dict[tuple[str, str], list[_Subscriber]] = {}


class Tx:
    """What a write op sees: the connection, plus events to publish after commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.events: list[EventRow] = []

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement inside the batch's transaction."""
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolated(str(exc)) from exc

    def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT of one row; its new `id`, or None when a conflict clause skipped it."""
        cursor = self.execute(sql, params)
        return cursor.lastrowid if cursor.rowcount > 0 else None

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter set, inside the batch's transaction."""
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolated(str(exc)) from exc


WriteFunc = Callable[[Tx], T]  # ops typed with `backend.Transaction` fit too


@dataclass
class _Job(Generic[T]):
    func: WriteFunc[T]
    future: asyncio.Future[T]
    events: list[EventRow] = field(default_factory=list)


def connect_sync(path: str) -> sqlite3.Connection:
    """A plain sqlite3 connection with the pragmas every relayd connection uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the file has not seen; return the resulting version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        _LOGGER.info("Migrating database to schema version %d", number)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


class Database:
    """The relay's SQLite file: a batching writer and an async reader (a `Backend`)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer_conn: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relayd-writer")
        self._queue: asyncio.Queue[_Job[Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._on_commit: list[CommitListener] = []
        self._listening: list[tuple[tuple[str, str], _Subscriber]] = []
        self.commits = 0
        self.writes = 0

    async def open(self) -> None:
        """Open both connections and bring the schema up to date."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._writer_conn = await loop.run_in_executor(self._executor, self._open_writer)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader.row_factory = sqlite3.Row
        await self._reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._reader.execute("PRAGMA foreign_keys = ON")
        self._task = asyncio.create_task(self._write_loop(), name="relayd-db-writer")

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect_sync(self.path)
        migrate(conn)
        return conn

    async def close(self) -> None:
        """Finish queued writes, then close everything."""
        for key, subscriber in self._listening:
            _CHANNELS[key].remove(subscriber)
            if not _CHANNELS[key]:
                del _CHANNELS[key]
        self._listening.clear()
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._writer_conn is not None:
            conn = self._writer_conn
            self._writer_conn = None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called in the event loop with the events of every committed batch, in id order."""
        self._on_commit.append(listener)

    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of `channel` on this file in this process (soon, in their loops)."""
        for loop, listener in list(_CHANNELS.get((self._file_key, channel), ())):
            if not loop.is_closed():
                loop.call_soon_threadsafe(listener, payload)

    async def listen(self, channel: str, listener: NotifyListener) -> None:
        """Call `listener(payload)` for every `notify(channel)` on this file until close."""
        key = (self._file_key, channel)
        subscriber = (asyncio.get_running_loop(), listener)
        _CHANNELS.setdefault(key, []).append(subscriber)
        self._listening.append((key, subscriber))

    @property
    def _file_key(self) -> str:
        return str(Path(self.path).resolve())

    @property
    def writer_alive(self) -> bool:
        """False when the writer task died: the watchdog uses it."""
        return self._task is not None and not self._task.done()

    async def write(self, func: WriteFunc[T]) -> T:
        """Run `func` in the next group commit; return its result once durable."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(func, future))
        return await future

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Read rows on the reader connection."""
        assert self._reader is not None, "database is not open"
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """Read one row, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, batch)
                events: list[EventRow] = []
                for job, (ok, value) in zip(batch, results, strict=True):
                    if job.future.done():
                        continue
                    if ok:
                        job.future.set_result(value)
                        events.extend(job.events)
                    else:
                        job.future.set_exception(value)
                if events:
                    for listener in self._on_commit:
                        listener(events)
            except Exception as exc:  # the writer must survive anything a batch does
                _LOGGER.exception("Write batch failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _run_batch(self, batch: list[_Job[Any]]) -> list[tuple[bool, Any]]:
        """In the writer thread: all jobs in one transaction, or each alone if one fails."""
        conn = self._writer_conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        results: list[tuple[bool, Any]] = []
        try:
            for job in batch:
                tx = Tx(conn)
                results.append((True, job.func(tx)))
                job.events = tx.events
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            if len(batch) == 1:
                batch[0].events = []
                return [(False, exc)]
            # Isolate the failing op so the others still commit.
            return [self._run_alone(job) for job in batch]
        self.commits += 1
        self.writes += len(batch)
        return results

    def _run_alone(self, job: _Job[Any]) -> tuple[bool, Any]:
        conn = self._writer_conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            tx = Tx(conn)
            value = job.func(tx)
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            job.events = []
            return (False, exc)
        job.events = tx.events
        self.commits += 1
        self.writes += 1
        return (True, value)
