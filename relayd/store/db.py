"""SQLite connections: one group-committing writer, one reader, migrations at open.

The writer (writer.py) runs each batch of write ops in one transaction and commits once
(one fsync with `synchronous=FULL`). Reads go through aiosqlite on their own connection
(WAL lets them run beside the writer).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from relayd.store.backend import ConstraintViolated, Params
from relayd.store.notify import FileChannels
from relayd.store.records import EventRow
from relayd.store.schema import MIGRATIONS
from relayd.store.writer import GroupWriter, Job, Outcome

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


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


class Database(FileChannels, GroupWriter):
    """The relay's SQLite file: a batching writer and an async reader (a `Backend`)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._writer_conn: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._channels_init()

    async def open(self) -> None:
        """Open both connections and bring the schema up to date."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn = await self._in_writer(self._open_writer)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader.row_factory = sqlite3.Row
        await self._reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._reader.execute("PRAGMA foreign_keys = ON")
        self._start_writer()

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect_sync(self.path)
        migrate(conn)
        return conn

    async def close(self) -> None:
        """Finish queued writes, then close everything."""
        self._channels_close()
        await self._stop_writer()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._writer_conn is not None:
            conn = self._writer_conn
            self._writer_conn = None
            await self._in_writer(conn.close)
        self._executor.shutdown(wait=True)

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Read rows on the reader connection."""
        assert self._reader is not None, "database is not open"
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """Read one row, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def _run_batch(self, batch: list[Job[Any]]) -> list[Outcome]:
        """In the writer thread: all jobs in one transaction, or each alone if one fails."""
        conn = self._writer_conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        results: list[Outcome] = []
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
        self._committed(len(batch))
        return results

    def _run_alone(self, job: Job[Any]) -> Outcome:
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
        self._committed(1)
        return (True, value)
