"""The outbox's in-memory index of queued messages: per-org FIFOs plus time heaps.

A dispatch cycle must cost what can move, not what waits: messages held for their
`send_at` sit in a heap until due, expiry times in another, and each org has its own
FIFO so an org with no free SIM is skipped without walking its backlog.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from relayd.dispatch.router import Pending
from relayd.store import MessageRow


class PendingQueue:
    """Queued messages by id, by org (ready to send) and by time (scheduled, expiring)."""

    def __init__(self) -> None:
        self._by_id: dict[int, Pending] = {}
        self._ready: dict[str, dict[int, Pending]] = {}
        self._scheduled: list[tuple[float, int]] = []
        self._expiring: list[tuple[float, int]] = []
        self._resume: dict[int, Pending] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, message_id: int) -> bool:
        return message_id in self._by_id

    def add(self, message: Pending, now: float) -> None:
        """Queue a message: ready now, or held until its send_at."""
        self.discard(message.id)
        self._by_id[message.id] = message
        if message.expires_at is not None:
            heapq.heappush(self._expiring, (message.expires_at, message.id))
        if message.resume_sim is not None:
            self._resume[message.id] = message
        elif message.send_at is not None and message.send_at > now:
            heapq.heappush(self._scheduled, (message.send_at, message.id))
        else:
            self._ready.setdefault(message.org, {})[message.id] = message

    def discard(self, message_id: int) -> Pending | None:
        """Remove a message wherever it is (heap entries go stale and are skipped)."""
        message = self._by_id.pop(message_id, None)
        if message is not None:
            self._resume.pop(message_id, None)
            org_queue = self._ready.get(message.org)
            if org_queue is not None:
                org_queue.pop(message_id, None)
                if not org_queue:
                    del self._ready[message.org]
        return message

    def pop_expired(self, now: float) -> list[Pending]:
        """Messages whose ttl passed; they are removed."""
        out = []
        while self._expiring and self._expiring[0][0] <= now:
            at, message_id = heapq.heappop(self._expiring)
            message = self._by_id.get(message_id)
            if message is not None and message.expires_at == at:
                self.discard(message_id)
                out.append(message)
        return out

    def release_due(self, now: float) -> None:
        """Move scheduled messages whose send_at came into their org's FIFO."""
        while self._scheduled and self._scheduled[0][0] <= now:
            at, message_id = heapq.heappop(self._scheduled)
            message = self._by_id.get(message_id)
            if message is not None and message.send_at == at and message.resume_sim is None:
                self._ready.setdefault(message.org, {})[message_id] = message

    def next_due(self) -> float | None:
        """The earliest send_at or expiry still ahead (epoch seconds)."""
        times = [heap[0][0] for heap in (self._scheduled, self._expiring) if heap]
        return min(times) if times else None

    def ready_orgs(self) -> list[str]:
        """Orgs with messages ready to send."""
        return list(self._ready)

    def ready(self, org: str) -> Iterator[Pending]:
        """An org's ready messages, oldest first (a snapshot: safe to discard while iterating)."""
        return iter(list(self._ready.get(org, {}).values()))

    def resumable(self) -> list[Pending]:
        """Messages left `sending` on a SIM that redelivers by id (phones) at the last stop."""
        return list(self._resume.values())

    def all(self) -> Iterator[Pending]:
        """Every queued message."""
        return iter(self._by_id.values())


def pending_of(row: MessageRow, **extra: Any) -> Pending:
    """A stored queued message as the outbox holds it."""
    return Pending(
        id=row.id,
        org=row.org,
        peer=row.peer,
        text=row.text,
        sim_request=row.sim_request,
        send_at=row.send_at,
        expires_at=row.expires_at,
        delivery_report=row.delivery_report,
        force_gsm7=row.force_gsm7,
        attempts=row.attempts,
        **extra,
    )
