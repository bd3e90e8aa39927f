"""API key authentication, scopes, recipient allowlists and per-key rate limits."""

from __future__ import annotations

import asyncio
import fnmatch
import math
import time
from dataclasses import dataclass

from relayd.exceptions import Forbidden, RateLimited
from relayd.store import ApiKey
from relayd.store.keys import KeyStore

# How often the database is asked whether a key was revoked (KeyStore.revision): a key
# revoked by another process (`relayd keys revoke`) stops working within this many seconds.
REVISION_CHECK_SECONDS = 0.25
LAST_USED_EVERY = 60.0  # last_used_at is written at most this often per key
NEGATIVE_CACHE = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class KeyAuthenticator:
    """Looks keys up (cached until the database changes) and enforces their rate limits."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._cache: dict[str, tuple[int, ApiKey]] = {}  # secret -> (generation, key)
        self._generation = 0  # bumped when the database may hold a revocation the cache missed
        self._data_version: int | None = None
        self._checked_at = -REVISION_CHECK_SECONDS
        self._check_lock = asyncio.Lock()
        self._buckets: dict[int, _Bucket] = {}
        self._touched: dict[int, float] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The active key for `secret`, or None."""
        await self._check_revision()
        now = time.monotonic()
        hit = self._cache.get(secret)
        if hit is not None and hit[0] == self._generation:
            self._note_use(hit[1], now)
            return hit[1]
        generation = self._generation
        key = await self.keys.find_by_secret(secret)
        if key is None:
            self._cache.pop(secret, None)
            return None
        if len(self._cache) > NEGATIVE_CACHE:
            self._cache.clear()
        if generation == self._generation:  # not revoked while we looked it up
            self._cache[secret] = (generation, key)
        self._note_use(key, now)
        return key

    async def _check_revision(self) -> None:
        """Start a new cache generation when another connection changed the database."""
        if time.monotonic() - self._checked_at < REVISION_CHECK_SECONDS:
            return
        async with self._check_lock:
            if time.monotonic() - self._checked_at < REVISION_CHECK_SECONDS:
                return  # another request checked while this one waited
            version = await self.keys.revision()
            self._checked_at = time.monotonic()
            if version != self._data_version:
                self._data_version = version
                self._generation += 1

    def _note_use(self, key: ApiKey, now: float) -> None:
        if now - self._touched.get(key.id, -LAST_USED_EVERY) < LAST_USED_EVERY:
            return
        self._touched[key.id] = now
        task = asyncio.create_task(self.keys.touch(key.id, time.time()))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait for pending last-used writes (before the store closes)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def forget(self, key_id: int) -> None:
        """A key was revoked here: no cached key counts any more, nor a lookup in flight."""
        self._generation += 1
        self._cache.clear()

    def take(self, key: ApiKey, cost: int = 1) -> None:
        """Spend `cost` tokens of the key's bucket or raise RateLimited (nothing spent then)."""
        if not key.rate_limit:
            return
        per_second = key.rate_limit / 60.0
        capacity = max(1.0, key.rate_limit)
        now = time.monotonic()
        bucket = self._buckets.setdefault(key.id, _Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * per_second)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return
        wait = math.ceil((cost - bucket.tokens) / per_second)
        raise RateLimited(
            f"this key may send {key.rate_limit:g} messages per minute; retry in {wait} s", wait
        )

    def refund(self, key: ApiKey, cost: int = 1) -> None:
        """Give back tokens `take` spent on a request refused after all (a 422 costs nothing)."""
        bucket = self._buckets.get(key.id)
        if bucket is not None and key.rate_limit:
            bucket.tokens = min(max(1.0, key.rate_limit), bucket.tokens + cost)


def require_scope(key: ApiKey, scope: str) -> None:
    """Forbidden unless the key carries `scope` (admin carries all)."""
    if not key.has_scope(scope):
        raise Forbidden(f"this key lacks the '{scope}' scope")


def check_allowlist(key: ApiKey, number: str, field: str = "to") -> None:
    """Forbidden when the key has an allowlist and `number` matches none of its patterns."""
    if key.allowlist and not any(fnmatch.fnmatchcase(number, p) for p in key.allowlist):
        raise Forbidden(
            "this key may not send to that recipient", code="recipient_not_allowed", field=field
        )
