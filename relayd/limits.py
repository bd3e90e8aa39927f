"""Limits on what one client can grow: streams and sockets per key, devices per org, failed
logins per address, send tokens per key.

The failed-login back-off and the token buckets have two implementations behind one
interface: in memory (one relay: the fastest) and in the database (relays sharing it).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from typing import Protocol

from relayd.config import LimitsConfig
from relayd.exceptions import RelaydError
from relayd.store.limits import LimitStore

ADDRESSES_KEPT = 10_000  # failed-auth history is dropped oldest-first beyond this many addresses


class TooManyStreams(RelaydError):
    """The holder already has as many streams open as the limit allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} streams are open already")
        self.limit = limit


class TooManyDevices(RelaydError):
    """The org has as many devices (phones of every kind) as `[limits] devices_per_org` allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this org has {limit} devices already ([limits] devices_per_org): "
            "unpair one (DELETE /api/v1/phones/{id}) first"
        )
        self.limit = limit


class StreamCounter:
    """Open event streams per holder (an API key, an org's secret, a device)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[Hashable, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, holder: Hashable) -> AsyncIterator[None]:
        """One open stream for `holder` while the block runs; TooManyStreams past the limit."""
        if not await self._acquire(holder):
            raise TooManyStreams(self.limit)
        self._open[holder] = self._open.get(holder, 0) + 1
        try:
            yield
        finally:
            left = self._open[holder] - 1
            if left:
                self._open[holder] = left
            else:
                del self._open[holder]
            await self._release(holder)

    async def _acquire(self, holder: Hashable) -> bool:
        return self._open.get(holder, 0) < self.limit

    async def _release(self, holder: Hashable) -> None:
        pass

    async def start(self) -> None:
        """Nothing to set up in memory."""

    def count(self, holder: Hashable) -> int:
        """Streams `holder` has open at this relay now."""
        return self._open.get(holder, 0)


class SharedStreamCounter(StreamCounter):
    """`StreamCounter` in the database: the limit counts the holder's streams at every relay
    that is up (a relay's own count is kept per relay `node`, cleared when it starts again)."""

    def __init__(self, limit: int, store: LimitStore, node: str, kind: str) -> None:
        super().__init__(limit)
        self.store = store
        self.node = node
        self.kind = kind  # "streams" or "sockets": each counted on its own
        self._releasing: dict[str, set[asyncio.Task[None]]] = {}

    async def start(self) -> None:
        """Forget the streams a crash of this relay left counted."""
        await self.store.clear_streams(self.node, self.kind)

    async def _acquire(self, holder: Hashable) -> bool:
        key = self._key(holder)
        # Streams of the holder this relay is closing count no more (as in memory): let
        # their release reach the database first.
        await asyncio.gather(*self._releasing.get(key, ()), return_exceptions=True)
        return await self.store.open_stream(key, self.node, self.limit)

    async def _release(self, holder: Hashable) -> None:
        key = self._key(holder)
        task = asyncio.create_task(self.store.close_stream(key, self.node))
        releasing = self._releasing.setdefault(key, set())
        releasing.add(task)
        task.add_done_callback(lambda done: self._released(key, done))
        # shielded: a stream ends when its client went away, often by cancelling its handler
        await asyncio.shield(task)

    def _released(self, key: str, task: asyncio.Task[None]) -> None:
        releasing = self._releasing.get(key)
        if releasing is not None:
            releasing.discard(task)
            if not releasing:
                del self._releasing[key]

    def _key(self, holder: Hashable) -> str:
        return f"{self.kind}:{holder!r}"


class FailedAuthBackoff:
    """Counts wrong passwords and secrets per client address in a sliding window (in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    async def retry_after(self, address: str | None) -> int | None:
        """Seconds until `address` may try again, or None when it may try now."""
        failures = self._failures.get(address or "")
        if failures is None:
            return None
        now = time.monotonic()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[0] + self.window - now))

    async def failed(self, address: str | None) -> None:
        """Record one wrong credential from `address`."""
        key = address or ""
        failures = self._failures.pop(key, None) or deque(maxlen=self.limit)
        failures.append(time.monotonic())
        self._failures[key] = failures  # re-inserted: the dict stays ordered oldest-first
        while len(self._failures) > ADDRESSES_KEPT:
            del self._failures[next(iter(self._failures))]


class SharedFailedAuth:
    """`FailedAuthBackoff` in the database: an address counts its failures at every relay."""

    def __init__(self, store: LimitStore, limit: int, window: float) -> None:
        self.store = store
        self.limit = limit
        self.window = window

    async def retry_after(self, address: str | None) -> int | None:
        """Seconds until `address` may try again, or None when it may try now."""
        now = time.time()
        failures = await self.store.recent_failures(address or "", now - self.window, self.limit)
        if len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[-1] + self.window - now))

    async def failed(self, address: str | None) -> None:
        """Record one wrong credential from `address`."""
        await self.store.failed_login(address or "", time.time(), self.window)


class FailedAuth(Protocol):
    """The failed-login back-off, in memory (one relay) or in the database (a fleet)."""

    async def retry_after(self, address: str | None) -> int | None: ...

    async def failed(self, address: str | None) -> None: ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets(Protocol):
    """Per-key send tokens: `take` gives None when spent, else the seconds to wait."""

    async def take(self, key_id: int, per_minute: float, cost: int) -> int | None: ...

    async def refund(self, key_id: int, per_minute: float, cost: int) -> None: ...


def _capacity(per_minute: float) -> float:
    return max(1.0, per_minute)


def _wait(per_minute: float, cost: int, tokens: float) -> int:
    return math.ceil((cost - tokens) / (per_minute / 60.0))


class MemoryBuckets:
    """Token buckets in memory: one relay, the fastest."""

    def __init__(self) -> None:
        self._buckets: dict[int, _Bucket] = {}

    async def take(self, key_id: int, per_minute: float, cost: int) -> int | None:
        """Spend `cost` tokens, or the seconds until there are enough (nothing spent then)."""
        capacity = _capacity(per_minute)
        now = time.monotonic()
        bucket = self._buckets.setdefault(key_id, _Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * per_minute / 60.0)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return None
        return _wait(per_minute, cost, bucket.tokens)

    async def refund(self, key_id: int, per_minute: float, cost: int) -> None:
        """Give back tokens `take` spent."""
        bucket = self._buckets.get(key_id)
        if bucket is not None:
            bucket.tokens = min(_capacity(per_minute), bucket.tokens + cost)


class SharedBuckets:
    """Token buckets in the database: a key's rate is shared by every relay."""

    def __init__(self, store: LimitStore) -> None:
        self.store = store

    async def take(self, key_id: int, per_minute: float, cost: int) -> int | None:
        """Spend `cost` tokens, or the seconds until there are enough (nothing spent then)."""
        capacity = _capacity(per_minute)
        tokens = await self.store.take_tokens(
            key_id, per_minute / 60.0, capacity, cost, time.time()
        )
        return None if tokens is None else _wait(per_minute, cost, tokens)

    async def refund(self, key_id: int, per_minute: float, cost: int) -> None:
        """Give back tokens `take` spent."""
        await self.store.refund_tokens(key_id, _capacity(per_minute), cost)


class Limits:
    """The relay's limits, built from `[limits]`; `shared`: kept in the store for a fleet."""

    def __init__(
        self, config: LimitsConfig, shared: LimitStore | None = None, node: str = ""
    ) -> None:
        self.failed_auth: FailedAuth
        self.buckets: TokenBuckets
        if shared is None:
            self.streams = StreamCounter(config.streams_per_key)
            self.sockets = StreamCounter(config.sockets_per_key)
            self.failed_auth = FailedAuthBackoff(config.failed_auth_max, config.failed_auth_window)
            self.buckets = MemoryBuckets()
        else:
            self.streams = SharedStreamCounter(config.streams_per_key, shared, node, "streams")
            self.sockets = SharedStreamCounter(config.sockets_per_key, shared, node, "sockets")
            self.failed_auth = SharedFailedAuth(
                shared, config.failed_auth_max, config.failed_auth_window
            )
            self.buckets = SharedBuckets(shared)

    async def start(self) -> None:
        """At the relay's start (the store open): clear what a crash left counted."""
        await self.streams.start()
        await self.sockets.start()
