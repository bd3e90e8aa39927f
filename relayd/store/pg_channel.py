"""A `Channel` on PostgreSQL LISTEN/NOTIFY: relays sharing a database hear of each other's commits.

One connection of its own listens (a pooled one would be handed back and stop listening) and
sends the announcements (one at a time: a connection runs one statement at a time). When the
connection is lost it is opened again with a back-off, and the listener is told `RESYNC`:
announcements made meanwhile are gone, so it reads what it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from relayd.store.channel import RESYNC

_LOGGER = logging.getLogger(__name__)
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)


class PgChannel:
    """LISTEN/NOTIFY on one channel name."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._conn: Any = None
        self._callback: Callable[[str], None] | None = None
        self._lock = asyncio.Lock()
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False

    async def listen(self, callback: Callable[[str], None]) -> None:
        """Connect and call `callback` with every payload announced on the channel."""
        self._callback = callback
        await self._connect()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.url)
        await conn.add_listener(self.name, self._heard)
        conn.add_termination_listener(self._lost)
        self._conn = conn

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._callback is not None:
            self._callback(payload)

    def _lost(self, _conn: Any) -> None:
        self._conn = None
        if not self._closed and self._reconnect is None:
            self._reconnect = asyncio.create_task(self._come_back(), name="relayd-pg-listen")

    async def _come_back(self) -> None:
        attempt = 0
        try:
            while not self._closed:
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1
                try:
                    await self._connect()
                except (OSError, asyncpg.PostgresError) as exc:
                    _LOGGER.warning("Listening for other relays' events failed: %s", exc)
                    continue
                _LOGGER.info("Listening for other relays' events again")
                if self._callback is not None:
                    self._callback(RESYNC)
                return
        finally:
            self._reconnect = None

    async def notify(self, payload: str) -> None:
        """Announce `payload` to every relay listening (this one too)."""
        async with self._lock:
            if self._conn is None:
                raise ConnectionError("not connected")
            await self._conn.execute("SELECT pg_notify($1, $2)", self.name, payload)

    async def close(self) -> None:
        """Stop listening."""
        self._closed = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
