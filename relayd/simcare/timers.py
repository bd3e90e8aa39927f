"""One asyncio timer per (SIM, care kind): armed for a wall-clock time, no polling loop.

A long wait is cut into spans of at most MAX_SPAN: when a span ends before the due time the
timer is armed again for what is left, so a wall-clock change is followed within a span.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

_LOGGER = logging.getLogger(__name__)
MAX_SPAN = 6 * 3600.0
Job = tuple[str, str]  # (sim id, kind)


class CareTimers:
    """Runs `run(sim, kind)` in a task when a job's time comes; one pending timer per job."""

    def __init__(self, run: Callable[[str, str], Awaitable[None]]) -> None:
        self._run = run
        self._handles: dict[Job, asyncio.TimerHandle] = {}
        self._due: dict[Job, float] = {}
        self._tasks: dict[Job, asyncio.Task[None]] = {}
        self._stopped = False

    def arm(self, sim: str, kind: str, at: float) -> None:
        """Run the job at epoch time `at` (now when it is past); replaces its pending timer."""
        job = (sim, kind)
        self.cancel(sim, kind)
        if self._stopped:
            return  # a run that ends during the stop arms nothing
        self._due[job] = at
        self._schedule(job)

    def cancel(self, sim: str, kind: str) -> None:
        """Forget the job's pending timer (a run in progress goes on)."""
        handle = self._handles.pop((sim, kind), None)
        if handle is not None:
            handle.cancel()
        self._due.pop((sim, kind), None)

    def due(self, sim: str, kind: str) -> float | None:
        """When the job runs next, if armed."""
        return self._due.get((sim, kind))

    async def stop(self) -> None:
        """Cancel every timer and every run in progress."""
        self._stopped = True
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._due.clear()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _schedule(self, job: Job) -> None:
        delay = max(0.0, self._due[job] - time.time())
        loop = asyncio.get_running_loop()
        self._handles[job] = loop.call_later(min(delay, MAX_SPAN), self._fire, job)

    def _fire(self, job: Job) -> None:
        self._handles.pop(job, None)
        at = self._due.get(job)
        if at is None:
            return
        if at > time.time() + 0.001:
            self._schedule(job)  # a span of a long wait ended
            return
        del self._due[job]
        running = self._tasks.get(job)
        if running is not None and not running.done():
            return  # the run in progress arms the job again when it ends
        task = asyncio.create_task(self._guarded(job), name=f"simcare-{job[1]}-{job[0]}")
        self._tasks[job] = task
        task.add_done_callback(functools.partial(self._done, job))

    def _done(self, job: Job, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job) is task:
            del self._tasks[job]

    async def _guarded(self, job: Job) -> None:
        try:
            await self._run(*job)
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("SIM care %s of %s failed", job[1], job[0])
