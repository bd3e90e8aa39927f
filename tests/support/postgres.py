"""A throwaway PostgreSQL server for tests and benchmarks (Debian's `postgresql` package).

`Cluster` runs initdb + pg_ctl as the `postgres` user (the server refuses root) with its
data and socket under a temporary directory, a free port on 127.0.0.1 and a password
login for relayd (the URL carries a real password, so the suite's secret ledger proves
it never reaches a log). `Cluster.fresh_url()` gives a new database copied from a
migrated template (cheap: no migrations per test). `running_cluster()` is the context
manager for bench scripts; tests/conftest.py makes it a session fixture (`--store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
TEMPLATE = "relayd_template"
ROLE = "relayd"


def pg_bin() -> Path | None:
    """The newest installed server's bin directory, or None when PostgreSQL is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parent.parent.name)
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One running server; `admin` statements run on a loop in a thread of their own."""

    def __init__(self, base: Path, *, durable: bool = False) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = bin_dir
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sock"
        self.port = _free_port()
        self.durable = durable  # fsync on (benchmarks); tests run with fsync off
        self.password = "pw-" + secrets.token_urlsafe(18)
        self._names = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._admin: Any = None

    # --- the server -------------------------------------------------------------------

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """initdb, configure, start, and build the migrated template database."""
        self.sockets.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--no-sync",
            "-A", "trust", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sockets}'",
            "max_connections": "300",
            "shared_buffers": "64MB",
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        # the relay's role logs in over TCP with its password; the admin over the socket
        (self.data / "pg_hba.conf").write_text(
            "local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"),
            "-w", "-t", "60", "start",
        )
        self._thread.start()
        self._admin = self.run(
            _asyncpg().connect(host=str(self.sockets), port=self.port, user="postgres")
        )
        self.run(self._admin.execute(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{self.password}'"))
        self.run(self._admin.execute(f"CREATE DATABASE {TEMPLATE} OWNER {ROLE}"))
        self.run(self._migrate(self.url(TEMPLATE)))

    @staticmethod
    async def _migrate(url: str) -> None:
        from relayd.api.presenters import EVENT_PAYLOADS
        from relayd.store import Store

        store = Store("", url=url, payloads=EVENT_PAYLOADS)
        await store.db.open()
        await store.db.close()

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self.run(self._admin.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the admin loop (from any thread, any event loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    # --- databases --------------------------------------------------------------------

    def url(self, database: str) -> str:
        """The URL relayd is given for one database (TCP on loopback, with the password)."""
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """A new database with the current schema (a copy of the migrated template)."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.run(self._admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} OWNER {ROLE}"))
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop a database made by fresh_url (its connections are ended)."""
        name = url.rsplit("/", 1)[1]
        self.run(self._admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def drop_unused(self, urls: list[str]) -> list[str]:
        """Drop those of `urls` no one is connected to; return the others (still in use)."""
        names = {url.rsplit("/", 1)[1]: url for url in urls}
        busy = {
            row[0]
            for row in self.run(
                self._admin.fetch(
                    "SELECT DISTINCT datname FROM pg_stat_activity WHERE datname = ANY($1)",
                    list(names),
                )
            )
        }
        for name in set(names) - busy:
            self.run(self._admin.execute(f"DROP DATABASE IF EXISTS {name}"))
        return [names[name] for name in busy]


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """A started server for the block; removed after it (for bench scripts and fixtures)."""
    base = Path(tempfile.mkdtemp(prefix="relayd-pg-"))
    cluster = Cluster(base, durable=durable)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# --- which store the suite runs on (`--store`): set by tests/conftest.py ---------------------

class StoreChoice:
    """The suite's backend and, with PostgreSQL, the current test's database (made lazily).

    A database is dropped once nothing is connected to it any more: after its test, or, for
    a relay of a module-scoped fixture (made during its first test), after the module.
    """

    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self._url: str | None = None
        self._by_path: dict[str, str] = {}  # a relay's `[storage] path` -> its database
        self._made: list[str] = []  # not dropped yet

    def url(self, path: str | Path | None = None) -> str:
        """"" on SQLite; on PostgreSQL the database of the relay whose `path` is given (when
        one was bound to it), else the current test's own database."""
        if self.cluster is None:
            return ""
        if path is not None and str(path) in self._by_path:
            return self._by_path[str(path)]
        if self._url is None:
            self._url = self._fresh()
        return self._url

    def bind(self, path: str | Path, url: str | None = None) -> str:
        """Note that the relay with this `path` uses `url` (default: the test's database)."""
        url = self.url() if url is None else url
        if url:
            self._by_path[str(path)] = url
        return url

    def another(self) -> str:
        """"" on SQLite; on PostgreSQL one more database for this test (a second store)."""
        return self._fresh() if self.cluster is not None else ""

    def _fresh(self) -> str:
        assert self.cluster is not None
        url = self.cluster.fresh_url()
        self._made.append(url)
        return url

    def end_test(self) -> None:
        """Drop every database no one uses any more; the next test gets a new one."""
        self._url = None
        if self.cluster is not None and self._made:
            self._made = self.cluster.drop_unused(self._made)
            kept = set(self._made)
            self._by_path = {p: u for p, u in self._by_path.items() if u in kept}


STORE = StoreChoice()


def storage_url(path: str | Path | None = None) -> str:
    """The `[storage] url` the current test's relays use ("" on SQLite); with `path`, the
    database of the relay with that `[storage] path`."""
    return STORE.url(path)


def another_storage_url() -> str:
    """A second database for the current test ("" on SQLite, where a second path does it)."""
    return STORE.another()


def run_sql(path: str | Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement (repository placeholders) on the current test's database, committed:
    the SQLite file at `path`, or on PostgreSQL the test's database. Its rows, if any."""
    url = storage_url(path)
    if not url:
        db = sqlite3.connect(path)
        try:
            with db:
                return [tuple(row) for row in db.execute(sql, params).fetchall()]
        finally:
            db.close()
    assert STORE.cluster is not None
    return STORE.cluster.run(_pg_sql(url, sql, params))


async def _pg_sql(url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    from relayd.store.pgsql import translate

    statement = translate(sql)
    conn = await _asyncpg().connect(url)
    try:
        rows = await conn.fetch(statement.text, *statement.args(params))
        return [tuple(row) for row in rows]
    finally:
        await conn.close()


def storage_toml(path: str | Path, url: str | None = None) -> str:
    """A `[storage]` table for a relayd config file: the path, and the URL on PostgreSQL
    (the current test's database, unless `url` is given)."""
    url = STORE.bind(path, url)
    return f'[storage]\npath = "{path}"\n' + (f'url = "{url}"\n' if url else "")


def _asyncpg() -> Any:
    """asyncpg, imported when a server is used: tests_ha (its own venv) imports this module
    through tests/support/daemon.py and never starts one."""
    import asyncpg

    return asyncpg
