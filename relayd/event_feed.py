"""The event feed: every committed event of the database, in each org's sequence order.

One relay on its own SQLite file sees every event there is in its own commits
(`LocalFeed`: the commit listener, as fast as before). Relays sharing a database in fleet
mode (`SharedFeed`) also learn of the other relays' commits: each relay announces its
commits (NOTIFY on PostgreSQL; between the relays of one process on a SQLite file), and a
relay that hears of a seq it has not published reads the org's new events from the table.
An announcement lost (a relay killed between its commit and its NOTIFY, a LISTEN connection
down) delays those events until the org's next announcement; it never skips them.
Listeners (SSE streams, the webhook worker) get each org's events exactly once and in seq
order, which is commit order, with no gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from relayd.store.backend import NotifyListener
from relayd.store.events import EventStore
from relayd.store.records import EventRow

_LOGGER = logging.getLogger(__name__)
Listener = Callable[[list[EventRow]], None]
PAGE = 1000  # events read per catch-up query
CHANNEL = "relayd_events"  # NOTIFY payload: "<seq>:<org>", the org's newest seq in a commit


class Notifications(Protocol):
    """LISTEN/NOTIFY among the relays sharing a database (`Store.notify` / `Store.listen`)."""

    async def notify(self, channel: str, payload: str = "") -> None: ...

    async def listen(self, channel: str, listener: NotifyListener) -> None: ...


class LocalFeed:
    """The relay's own commits are all the events there are (one relay, one database)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` in the event loop with newly committed events, in seq order per org."""
        self._listeners.append(listener)

    def committed(self, events: list[EventRow]) -> None:
        """The store's commit listener: this relay's committed events."""
        self._publish(events)

    def _publish(self, events: list[EventRow]) -> None:
        for listener in self._listeners:
            listener(events)

    async def start(self) -> None:
        """Nothing to start on one relay."""

    async def stop(self) -> None:
        """Nothing to stop on one relay."""


def announcement(org: str, seq: int) -> str:
    """A channel payload: the org's newest seq (the org id may hold any character)."""
    return f"{seq}:{org}"


def parse_announcement(payload: str) -> tuple[str, int] | None:
    """(org, seq) from a payload, or None when it is not one of ours."""
    seq, sep, org = payload.partition(":")
    if not sep or not seq.isascii() or not seq.isdigit():
        return None
    return org, int(seq)


class SharedFeed(LocalFeed):
    """Relays sharing one database: a relay's commits and the ones the others announce."""

    def __init__(self, events: EventStore, channel: Notifications) -> None:
        super().__init__()
        self.events = events
        self.channel = channel  # closed with the store
        self._marks: dict[str, int] = {}  # per org: the last seq published here
        self._ready = False
        self._heard: set[str] = set()  # orgs announced before the marks were read
        self._catching: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()  # orgs with news while their catch-up runs
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen first, then read where each org's sequence stands: nothing falls between."""
        await self.channel.listen(CHANNEL, self._heard_of)
        self._marks = await self.events.heads()
        self._ready = True
        for org in self._heard:
            self._catch_up(org)
        self._heard.clear()

    async def stop(self) -> None:
        """Stop listening and let catch-ups and announcements end."""
        self._ready = False
        for task in list(self._catching.values()):
            task.cancel()
        pending = [*self._catching.values(), *self._tasks]
        await asyncio.gather(*pending, return_exceptions=True)

    @property
    def marks(self) -> dict[str, int]:
        """The last seq published here, per org (tests, /metrics)."""
        return dict(self._marks)

    def committed(self, events: list[EventRow]) -> None:
        """This relay's commit: publish what follows on from the marks, announce the rest."""
        ready: list[EventRow] = []
        newest: dict[str, int] = {}
        for event in events:
            newest[event.org] = max(newest.get(event.org, 0), event.seq)
            if event.org in self._catching:
                self._dirty.add(event.org)
            elif event.seq == self._marks.get(event.org, 0) + 1:
                self._marks[event.org] = event.seq
                ready.append(event)
            elif event.seq > self._marks.get(event.org, 0):
                self._catch_up(event.org)  # another relay's events came first: read them
        if ready:
            self._publish(ready)
        for org, seq in newest.items():
            self._announce(org, seq)

    def _heard_of(self, payload: str) -> None:
        parsed = parse_announcement(payload)
        if parsed is None:
            return
        org, seq = parsed
        if not self._ready:
            self._heard.add(org)
        elif org in self._catching:
            self._dirty.add(org)
        elif seq > self._marks.get(org, 0):
            self._catch_up(org)

    def _catch_up(self, org: str) -> None:
        if org not in self._catching:
            self._catching[org] = asyncio.create_task(self._read(org), name="relayd-event-feed")

    async def _read(self, org: str) -> None:
        """Publish the org's stored events after its mark until none is left."""
        try:
            while True:
                self._dirty.discard(org)
                rows = await self.events.since(org, self._marks.get(org, 0), PAGE)
                if rows:
                    self._marks[org] = rows[-1].seq
                    self._publish(rows)
                if len(rows) < PAGE and org not in self._dirty:
                    return
        except Exception:  # the next announcement of the org tries again
            _LOGGER.exception("Events of another relay could not be read")
        finally:
            self._catching.pop(org, None)

    def _announce(self, org: str, seq: int) -> None:
        task = asyncio.create_task(self._notify(announcement(org, seq)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, payload: str) -> None:
        try:
            await self.channel.notify(CHANNEL, payload)
        except Exception as exc:  # a lost announcement: the org's next one catches up
            _LOGGER.warning("Could not announce events to the other relays: %s", exc)
