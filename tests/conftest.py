"""Shared fixtures: a relay on a real database behind a real HTTP server.

The database is a SQLite file, or with `--store=postgresql` (`make test-pg`) a fresh
database of a throwaway PostgreSQL server per test (tests/support/postgres.py). Tests
that inspect or damage the SQLite file itself are marked `sqlite_only`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from relayd.api.context import RELAY
from relayd.app import create_app
from relayd.bridges.base import SimBackend
from relayd.config import Config
from relayd.relay import Relay
from tests.support.postgres import STORE, Cluster, running_cluster
from tests.support.secret_log import LEDGER, MaskedFileHandler, admin_keys, relayd_logs


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the database the relays of the suite use (postgresql: a throwaway server)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test inspects or damages the SQLite file itself"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--store") != "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture(autouse=True, scope="session")
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """With `--store=postgresql`: one server for the session, a database per test."""
    backend: str = request.config.getoption("--store")
    if backend != "postgresql":
        yield backend
        return
    with running_cluster() as cluster:
        LEDGER.add(cluster.password)  # the URL's password must never reach a log
        STORE.cluster = cluster
        try:
            yield backend
        finally:
            STORE.cluster = None


@pytest.fixture(scope="session")
def pg_cluster(store_backend: str) -> Iterator[Cluster]:
    """A PostgreSQL server even when the suite runs on SQLite (tests of both backends)."""
    if STORE.cluster is not None:
        yield STORE.cluster
        return
    with running_cluster() as cluster:
        LEDGER.add(cluster.password)
        yield cluster


@pytest.fixture(autouse=True)
def _fresh_database(store_backend: str) -> Iterator[None]:
    """The test's own PostgreSQL database (made on first use) is dropped after it."""
    yield
    STORE.end_test()


@pytest.fixture(autouse=True, scope="session")
def no_secrets_in_logs(store_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Acceptance: every log at INFO of the whole run holds none of the secrets it used."""
    base = tmp_path_factory.getbasetemp()
    # outside the base: pytest runs of other checkouts prune old bases while this one runs
    suite_log = Path(tempfile.mkdtemp(prefix="relayd-suite-log-")) / "suite-info.log"
    handler = MaskedFileHandler(suite_log)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    for key in admin_keys(base):
        LEDGER.add(key)
    leaks = sorted(set(LEDGER.leaks(relayd_logs(base, suite_log))))
    assert not leaks, (
        f"secrets in the logs at INFO ({len(LEDGER.values)} secrets looked for; logs: "
        f"{suite_log} and relayd.log under {base}):\n" + "\n".join(leaks[:50])
    )
    shutil.rmtree(suite_log.parent, ignore_errors=True)


@pytest.fixture(autouse=True)
async def no_lingering_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it (STYLE rule 10)."""
    before = asyncio.all_tasks()
    yield
    for _ in range(3):
        await asyncio.sleep(0)
    current = asyncio.current_task()
    lingering = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for task in lingering:
        task.cancel()
    assert not lingering, f"tasks left running: {[t.get_name() for t in lingering]}"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config on a temporary database, no modems."""
    cfg = Config()
    cfg.storage.path = str(tmp_path / "state" / "relayd.db")
    cfg.storage.url = STORE.bind(cfg.storage.path)
    cfg.server.drain_seconds = 2.0
    return cfg


class RelayClient:
    """An HTTP client on a running relay, with the admin key at hand."""

    def __init__(self, client: TestClient[Any, Any], relay: Relay, admin_key: str) -> None:
        self.http = client
        self.relay = relay
        self.admin_key = admin_key

    def headers(self, key: str | None = None) -> dict[str, str]:
        """Bearer headers for `key` (default: the admin key)."""
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    async def call(
        self, method: str, path: str, key: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """(status, JSON body) of one request."""
        headers = {**self.headers(key), **kwargs.pop("headers", {})}
        async with self.http.request(method, path, headers=headers, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def new_key(self, scopes: list[str], org: str = "default", **extra: Any) -> str:
        """Create a key through the admin API and return its secret."""
        status, body = await self.call(
            "POST", "/api/v1/keys", json={"name": "t", "scopes": scopes, "org": org, **extra}
        )
        assert status == 201, body
        secret: str = body["key"]
        return secret


RelayFactory = Callable[..., Awaitable[RelayClient]]


@pytest.fixture
async def make_relay(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], config: Config
) -> RelayFactory:
    """Start a relay app (optionally with backends) and return a client for it."""

    async def factory(
        backends: list[SimBackend] | None = None, cfg: Config | None = None
    ) -> RelayClient:
        app = create_app(cfg or config, backends)
        app.on_response_prepare.append(LEDGER.on_response_prepare)  # what the suite sends
        client = await aiohttp_client(app)
        relay = app[RELAY]
        admin_key = relay.admin_key or relay.admin_key_path.read_text().strip()
        return RelayClient(client, relay, admin_key)

    return factory


@pytest.fixture
async def relay(make_relay: RelayFactory) -> RelayClient:
    """A relay with no SIMs."""
    return await make_relay()
