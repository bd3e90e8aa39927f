"""Limits on what one client can grow: streams and sockets per key, devices per org, failed
logins per address."""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Hashable, Iterator

from relayd.config import LimitsConfig
from relayd.exceptions import RelaydError

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

    @contextlib.contextmanager
    def hold(self, holder: Hashable) -> Iterator[None]:
        """One open stream for `holder` while the block runs; TooManyStreams past the limit."""
        count = self._open.get(holder, 0)
        if count >= self.limit:
            raise TooManyStreams(self.limit)
        self._open[holder] = count + 1
        try:
            yield
        finally:
            left = self._open[holder] - 1
            if left:
                self._open[holder] = left
            else:
                del self._open[holder]

    def count(self, holder: Hashable) -> int:
        """Streams `holder` has open now."""
        return self._open.get(holder, 0)


class FailedAuthBackoff:
    """Counts wrong passwords and secrets per client address in a sliding window."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str | None) -> int | None:
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

    def failed(self, address: str | None) -> None:
        """Record one wrong credential from `address`."""
        key = address or ""
        failures = self._failures.pop(key, None) or deque(maxlen=self.limit)
        failures.append(time.monotonic())
        self._failures[key] = failures  # re-inserted: the dict stays ordered oldest-first
        while len(self._failures) > ADDRESSES_KEPT:
            del self._failures[next(iter(self._failures))]


class Limits:
    """The relay's limits, built from `[limits]`."""

    def __init__(self, config: LimitsConfig) -> None:
        self.streams = StreamCounter(config.streams_per_key)
        self.sockets = StreamCounter(config.sockets_per_key)
        self.failed_auth = FailedAuthBackoff(config.failed_auth_max, config.failed_auth_window)
