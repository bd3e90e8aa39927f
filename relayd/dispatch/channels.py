"""Channels that are not SMS (e-mail, phone notifications): same store, states and events.

An SMS waits for a free SIM of its org and the router picks one; an e-mail or a notification
has exactly one line that can carry it (the SMTP server, the org's phones), so each message
is a small task of its own here: queued -> sending -> sent, or back to queued with a backoff
when the line refused it in a way that may pass (SMTP 4xx, no phone connected), or failed.
A send cut by a crash is reported `interrupted` at the next start, as for SMS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from relayd.bridges.base import SendFailed
from relayd.store import Store

_LOGGER = logging.getLogger(__name__)
RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0, 1800.0)  # seconds before attempt 2, 3, ...


@dataclass
class ChannelMessage:
    """One stored message of a non-SMS channel, as a sender needs it."""

    id: int
    org: str
    channel: str
    to: str
    text: str
    subject: str | None = None
    send_at: float | None = None
    expires_at: float | None = None
    attempts: int = 0


class ChannelSender(Protocol):
    """The one line of a channel: `deliver` returns once the message is handed over."""

    @property
    def channel(self) -> str: ...

    @property
    def line_id(self) -> str: ...  # stored as the message's `sim` ("email", "notify")

    @property
    def max_in_flight(self) -> int: ...

    async def deliver(self, message: ChannelMessage) -> None: ...


class ChannelOutbox:
    """Delivers queued messages of the registered channels, one task per message."""

    def __init__(
        self, store: Store, max_attempts: int, retry_delays: Sequence[float] = RETRY_DELAYS
    ) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self.retry_delays = tuple(retry_delays)
        self._senders: dict[str, ChannelSender] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids: set[int] = set()  # messages with a task: each is delivered by one
        self._running = False
        self.node: str | None = None  # fleet mode: only this relay's own messages are taken up

    @property
    def served(self) -> tuple[str, ...]:
        """The channels this relay can deliver besides SMS, in registration order."""
        return tuple(self._senders)

    def register(self, sender: ChannelSender) -> None:
        """Serve `sender.channel` through `sender`."""
        self._senders[sender.channel] = sender

    def sender(self, channel: str) -> ChannelSender | None:
        """The line of a channel, if served."""
        return self._senders.get(channel)

    async def start(self) -> None:
        """Take up what was queued for these channels before the last stop."""
        self._running = True
        for row in await self.store.messages.pending_outbound(self.node):
            if row.channel == "sms" or row.status != "queued":
                continue  # SMS is the outbox's; a torn send was failed as interrupted
            if row.channel not in self._senders:
                _LOGGER.warning(
                    "Message %d waits for channel %s, which is not configured",
                    row.id,
                    row.channel,
                )
                continue
            self.enqueue(
                ChannelMessage(
                    id=row.id,
                    org=row.org,
                    channel=row.channel,
                    to=row.peer,
                    text=row.text,
                    subject=row.subject,
                    send_at=row.send_at,
                    expires_at=row.expires_at,
                    attempts=row.attempts,
                )
            )

    def enqueue(self, message: ChannelMessage) -> None:
        """A message was stored as queued: deliver it (at its send_at)."""
        if message.channel not in self._senders:
            raise ValueError(f"channel {message.channel!r} is not served")
        if message.id in self._ids:
            return
        self._ids.add(message.id)
        task = asyncio.create_task(self._deliver(message), name=f"{message.channel}-{message.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _task: self._ids.discard(message.id))

    async def drain(self, grace: float) -> None:
        """Give sends in progress `grace` seconds; waiting ones stay queued for the next start."""
        self._running = False
        if not self._tasks:
            return
        _done, late = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    # --- one message ----------------------------------------------------------------

    async def _deliver(self, message: ChannelMessage) -> None:
        sender = self._senders[message.channel]
        limit = self._limits.setdefault(message.channel, asyncio.Semaphore(sender.max_in_flight))
        delay = (message.send_at or 0) - time.time()
        while True:
            if delay > 0:
                await asyncio.sleep(delay)
            if message.expires_at is not None and time.time() >= message.expires_at:
                await self.store.messages.transition(
                    message.id,
                    "expired",
                    error=f"ttl passed before the {message.channel} could be sent",
                    only_from=("queued",),
                )
                return
            async with limit:
                claimed = await self.store.messages.transition(
                    message.id,
                    "sending",
                    sim=sender.line_id,
                    only_from=("queued",),
                    count_attempt=True,
                )
                if claimed is None:
                    return  # cancelled while it waited
                message.attempts += 1
                failure = await self._try(sender, message)
            if failure is None:
                await self.store.messages.mark_sent(message.id, sender.line_id, [])
                _LOGGER.info("Message %d sent by %s", message.id, message.channel)
                return
            retry = self._retry_delay(message, failure)
            if retry is None:
                error = (
                    failure.code if failure.code == "interrupted" else f"{failure.code}: {failure}"
                )
                await self.store.messages.transition(
                    message.id, "failed", error=error, only_from=("sending",)
                )
                _LOGGER.warning("Message %d (%s) failed: %s", message.id, message.channel, error)
                return
            await self.store.messages.transition(
                message.id,
                "queued",
                error=f"{failure.code}: {failure}; retrying in {retry:g} s",
                only_from=("sending",),
            )
            delay = retry

    async def _try(self, sender: ChannelSender, message: ChannelMessage) -> SendFailed | None:
        try:
            await sender.deliver(message)
        except SendFailed as exc:
            return exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sender bug must not leave the message `sending`
            _LOGGER.exception("Delivering message %d by %s raised", message.id, message.channel)
            return SendFailed(
                "interrupted", str(exc) or type(exc).__name__, transient=False, not_sent=False
            )
        return None

    def _retry_delay(self, message: ChannelMessage, failure: SendFailed) -> float | None:
        if not (failure.not_sent and failure.transient and self._running):
            return None
        if message.attempts >= self.max_attempts:
            return None
        index = min(message.attempts - 1, len(self.retry_delays) - 1)
        return self.retry_delays[index] if self.retry_delays else 0.0
