"""systemd's notify protocol without libsystemd: READY, STATUS, WATCHDOG and STOPPING.

`notify()` is sd_notify(3) in a few lines: one datagram to $NOTIFY_SOCKET. `ServiceNotifier`
tells systemd when the relay is ready, keeps STATUS= current and pings the watchdog only
while the event loop, the outbox worker and the database writer all prove alive, so a
wedged worker gets the service restarted (WatchdogSec= in relayd.service).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relayd.relay import Relay

_LOGGER = logging.getLogger(__name__)

STATUS_TICK = 1.0
"""How often STATUS= is refreshed (only sent when it changed) and health is checked."""
MAX_STALL = 10.0
"""A worker that leaves a wake-up unanswered this long (or half the watchdog) is wedged."""


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `state` ("READY=1", ...) to systemd; False when not run by systemd or it failed."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":  # abstract namespace: a leading NUL byte, not a file
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # never stall the event loop on a full socket
            sock.sendto(state.encode(), address)
    except OSError as exc:
        _LOGGER.debug("sd_notify %r failed: %s", state, exc)
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds systemd waits between pings (WATCHDOG_USEC), or None when it does not watch."""
    env = os.environ if env is None else env
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (we were started by one that is watched)
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None


def status_line(relay: Relay, queued: int | None = None) -> str:
    """What `systemctl status relayd` shows, e.g. "2 SIMs online, 0 queued" (`queued`: the
    fleet's count when known, else this relay's queue)."""
    online = relay.sims.online_count
    sims = "SIM" if online == 1 else "SIMs"
    count = relay.outbox.queued_count() if queued is None else queued
    return f"{online} {sims} online, {count} queued"


class ServiceNotifier:
    """Tells systemd how the relay is doing, for as long as it runs."""

    def __init__(self, relay: Relay, env: Mapping[str, str] | None = None) -> None:
        self.relay = relay
        self._env = dict(os.environ if env is None else env)
        self._timeout = watchdog_interval(self._env)
        self._status = ""
        self._task: asyncio.Task[None] | None = None
        self._probe_at: float | None = None  # when the outbox worker was last woken to prove life
        self._withheld = False
        self.pings = 0

    @property
    def enabled(self) -> bool:
        """Whether systemd listens (NOTIFY_SOCKET is set)."""
        return bool(self._env.get("NOTIFY_SOCKET"))

    def ready(self) -> None:
        """The store is open, the port listens, the backends started: say so, start pinging."""
        if not self.enabled:
            return
        self._status = status_line(self.relay)
        self._send(f"READY=1\nSTATUS={self._status}")
        self._task = asyncio.create_task(self._run(), name="relayd-sd-notify")

    def stopping(self, detail: str = "draining in-flight sends") -> None:
        """The drain begins: systemd stops expecting pings."""
        if not self.enabled:
            return
        self._cancel()
        self._send(f"STOPPING=1\nSTATUS=Stopping: {detail}")

    async def close(self) -> None:
        """Stop the background task."""
        task = self._cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the loop -------------------------------------------------------------------

    async def _queued(self) -> int | None:
        """The fleet's queued count (a database read in fleet mode); None: the local one."""
        if self.relay.outbox.intake is None:
            return None
        try:
            return await self.relay.outbox.queued_total()
        except Exception:  # the store away for a moment: the status waits, the pings do not
            return None

    async def _run(self) -> None:
        ping_every = self._timeout / 2 if self._timeout else None
        tick = min(STATUS_TICK, ping_every / 2) if ping_every else STATUS_TICK
        stall = min(MAX_STALL, ping_every) if ping_every else MAX_STALL
        next_ping = time.monotonic()
        while True:
            before = time.monotonic()
            status = status_line(self.relay, await self._queued())
            if status != self._status:
                self._status = status
                self._send(f"STATUS={status}")
            if ping_every is not None and before >= next_ping:
                problem = self._problem(before, stall)
                if problem is None:
                    self._send("WATCHDOG=1")
                    self.pings += 1
                    next_ping = before + ping_every
                    if self._withheld:
                        _LOGGER.warning("Watchdog: healthy again, pinging systemd")
                        self._withheld = False
                elif not self._withheld:
                    _LOGGER.error("Watchdog: %s; withholding pings so systemd restarts", problem)
                    self._withheld = True
            await asyncio.sleep(tick)
            lag = time.monotonic() - before - tick
            if lag > stall:
                _LOGGER.warning("Event loop was blocked for %.1f s", lag)

    def _problem(self, now: float, stall: float) -> str | None:
        """Why the relay is not healthy, or None; wakes the outbox worker as a liveness probe."""
        outbox = self.relay.outbox
        if not self.relay.store.writer_alive:
            return "the database writer stopped"
        if not outbox.healthy:
            return "the outbox worker stopped"
        if self._probe_at is None or outbox.last_cycle >= self._probe_at:
            # The previous wake-up was answered (or none was sent): ask again.
            self._probe_at = now
            outbox.wake()
            return None
        if now - self._probe_at > stall:
            return f"the outbox worker has not answered for {now - self._probe_at:.1f} s"
        return None

    def _send(self, state: str) -> None:
        notify(state, self._env)

    def _cancel(self) -> asyncio.Task[None] | None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        return task
