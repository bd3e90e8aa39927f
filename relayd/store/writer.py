"""The group-committing writer both adapters share (SQLite in db.py, PostgreSQL in pg.py).

Writes are small synchronous functions (`WriteOp`) run by a single writer thread. The
writer drains every op queued while the previous commit was in flight, runs them in one
transaction and commits once; each caller's future resolves only after that commit, so
nothing is acknowledged before it is durable, and the commit listeners get the batch's
events in order. One failing op never poisons the others: the adapter's `_run_batch`
gives each op its own outcome.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from relayd.store.backend import CommitListener
from relayd.store.records import EventRow

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 512
Outcome = tuple[bool, Any]  # (True, the op's value) or (False, its exception)


@dataclass
class Job(Generic[T]):
    """One queued write op, its caller's future and the events it appended."""

    func: Callable[[Any], T]
    future: asyncio.Future[T]
    events: list[EventRow] = field(default_factory=list)


class GroupWriter(abc.ABC):
    """The queue, the write loop and the commit listeners; adapters supply `_run_batch`."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relayd-writer")
        self._queue: asyncio.Queue[Job[Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._on_commit: list[CommitListener] = []
        self.commits = 0
        self.writes = 0

    @abc.abstractmethod
    def _run_batch(self, batch: list[Job[Any]]) -> list[Outcome]:
        """In the writer thread: run and commit the batch; one outcome per job, in order."""

    async def _in_writer(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func` in the writer thread (connections are made and closed there)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _start_writer(self) -> None:
        self._task = asyncio.create_task(self._write_loop(), name="relayd-db-writer")

    async def _stop_writer(self) -> None:
        """Finish queued writes, then stop the loop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called in the event loop with the events of every committed batch, in id order."""
        self._on_commit.append(listener)

    @property
    def writer_alive(self) -> bool:
        """False when the writer task died: the watchdog uses it."""
        return self._task is not None and not self._task.done()

    async def write(self, func: Callable[[Any], T]) -> T:
        """Run `func` in the next group commit; return its result once durable."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Job(func, future))
        return await future

    def _committed(self, ops: int) -> None:
        self.commits += 1
        self.writes += ops

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, batch)
                events: list[EventRow] = []
                for job, (ok, value) in zip(batch, results, strict=True):
                    if job.future.done():
                        continue
                    if ok:
                        job.future.set_result(value)
                        events.extend(job.events)
                    else:
                        job.future.set_exception(value)
                if events:
                    for listener in self._on_commit:
                        listener(events)
            except Exception as exc:  # the writer must survive anything a batch does
                _LOGGER.exception("Write batch failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
