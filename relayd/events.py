"""In-process event bus: committed events fan out to SSE clients and the webhook worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from relayd.store.records import EventRow

_LOGGER = logging.getLogger(__name__)
SUBSCRIBER_QUEUE = 10_000
CLOSE = EventRow(-1, "", "close", 0.0, {})  # ends a stream


class Subscription:
    """One listener's queue. `overflowed` is set when it fell too far behind."""

    def __init__(self, org: str | None) -> None:
        self.org = org
        self.queue: asyncio.Queue[EventRow] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.overflowed = False


class EventBus:
    """Publishes events (already durable) to every subscription of their org."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, org: str | None) -> Subscription:
        """Listen to one org's events (None: every org)."""
        sub = Subscription(org)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop listening."""
        self._subs.discard(sub)

    def publish(self, events: list[EventRow]) -> None:
        """Hand committed events to listeners; a full queue drops that listener's stream."""
        for sub in list(self._subs):
            for event in events:
                if sub.org is not None and event.org != sub.org:
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    # The client resumes from the event log with Last-Event-ID.
                    sub.overflowed = True
                    self._subs.discard(sub)
                    _LOGGER.warning("Event subscriber fell behind; its stream will be closed")
                    break

    def close_all(self) -> None:
        """Ask every stream to end (shutdown)."""
        for sub in list(self._subs):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(CLOSE)
        self._subs.clear()

    def listeners(self, org: str) -> int:
        """Open streams that receive `org`'s events (the notify channel asks)."""
        return sum(1 for sub in self._subs if sub.org in (None, org))

    @property
    def subscribers(self) -> int:
        """How many listeners there are."""
        return len(self._subs)
