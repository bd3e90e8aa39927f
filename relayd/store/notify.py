"""LISTEN/NOTIFY for both adapters: wake the relays that share a database (fleet mode).

PostgreSQL: `pg_notify` on a reader connection, and one connection of its own per relay
that LISTENs (asyncpg calls the listeners in the main loop). SQLite: the relays of this
process that opened the same file (one relay per file is the usual case, several in tests).
A notification carries a short payload and no guarantee beyond "soon, at least once per
listener that is up": listeners read the database for what changed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg

from relayd.store.backend import NotifyListener

_LOGGER = logging.getLogger(__name__)
_Subscriber = tuple[asyncio.AbstractEventLoop, NotifyListener]
_FILES: dict[tuple[str, str], list[_Subscriber]] = {}  # (resolved path, channel) -> listeners


class FileChannels:
    """SQLite: notifications among the `Database`s of this process on one file."""

    path: str

    def _channels_init(self) -> None:
        self._subscribed: list[tuple[tuple[str, str], _Subscriber]] = []

    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of `channel` on this file (soon, each in its own loop)."""
        for loop, listener in list(_FILES.get((self._file_key, channel), ())):
            if not loop.is_closed():
                loop.call_soon_threadsafe(listener, payload)

    async def listen(self, channel: str, listener: NotifyListener) -> None:
        """Call `listener(payload)` for each `notify(channel)` on this file until close."""
        key = (self._file_key, channel)
        subscriber = (asyncio.get_running_loop(), listener)
        _FILES.setdefault(key, []).append(subscriber)
        self._subscribed.append((key, subscriber))

    def _channels_close(self) -> None:
        for key, subscriber in self._subscribed:
            _FILES[key].remove(subscriber)
            if not _FILES[key]:
                del _FILES[key]
        self._subscribed.clear()

    @property
    def _file_key(self) -> str:
        return str(Path(self.path).resolve())


class PgChannels:
    """PostgreSQL: NOTIFY through the reader pool, LISTEN on a connection of its own."""

    url: str
    _pool: Any

    def _channels_init(self) -> None:
        self._listener_conn: Any = None
        self._listeners: dict[str, list[NotifyListener]] = {}

    async def notify(self, channel: str, payload: str = "") -> None:
        """NOTIFY every relay listening on `channel` (after what was committed before)."""
        assert self._pool is not None, "database is not open"
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, listener: NotifyListener) -> None:
        """LISTEN on `channel`; `listener(payload)` runs in this loop for each notification."""
        if self._listener_conn is None:
            self._listener_conn = await asyncpg.connect(self.url)
        if channel not in self._listeners:
            self._listeners[channel] = []
            await self._listener_conn.add_listener(channel, self._dispatch)
        self._listeners[channel].append(listener)

    def _dispatch(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for listener in list(self._listeners.get(channel, ())):
            try:
                listener(payload)
            except Exception:
                _LOGGER.exception("A listener of %s failed", channel)

    async def _channels_close(self) -> None:
        conn, self._listener_conn = self._listener_conn, None
        self._listeners.clear()
        if conn is not None:
            await conn.close()
