"""A lock for the one AT line: waiters are served by priority, then in arrival order."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
from collections.abc import AsyncIterator


class Priority(enum.IntEnum):
    """Who goes first when several callers wait for the line (lower first)."""

    URGENT = 0  # init, recovery
    INBOUND = 1  # reading and deleting received SMS: the SIM inbox must not fill
    SEND = 2
    BACKGROUND = 3  # health polls, sweeps



class PriorityLock:
    """A lock whose waiters are served by priority, then in arrival order."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    @property
    def locked(self) -> bool:
        """True while someone holds the lock."""
        return self._locked

    async def acquire(self, priority: int = Priority.SEND) -> None:
        """Wait for the lock."""
        if not self._locked and not self._waiters:
            self._locked = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._counter), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the lock to the most urgent live waiter, or free it."""
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._locked = False

    @contextlib.asynccontextmanager
    async def hold(self, priority: int = Priority.SEND) -> AsyncIterator[None]:
        """``async with lock.hold(priority):``."""
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
