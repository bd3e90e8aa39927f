"""The `notify` channel: a notification to the org's connected phones and its open web UIs.

Phones get `{"type":"notify","title","text"}` on their socket (the phone hub is attached by
the app, which owns the sockets); the web UI gets a stored `notify` event on the event
stream. A notification nobody can see (no phone connected, no stream open) is refused as
transient, so the channel worker tries again a little later before it fails it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from relayd.bridges.base import SendFailed
from relayd.dispatch.channels import ChannelMessage
from relayd.events import EventBus
from relayd.store.events import EventStore

DEFAULT_TITLE = "relayd"
MAX_TEXT = 4000  # characters: a notification, not a document

PhoneNotify = Callable[[str, str, str], Awaitable[int]]  # (org, title, text) -> phones reached


class PhoneNotifier:
    """Delivers channel `notify` messages to phones and the event stream."""

    channel = "notify"
    line_id = "notify"
    max_in_flight = 8

    def __init__(self, events: EventStore, bus: EventBus) -> None:
        self.events = events
        self.bus = bus
        self._phones: PhoneNotify | None = None

    def attach(self, phones: PhoneNotify) -> None:
        """Where notifications reach the phones (`PhoneHub.notify`)."""
        self._phones = phones

    async def deliver(self, message: ChannelMessage) -> None:
        """Push to every connected phone of the org and record the event for the web UI."""
        title = message.subject or DEFAULT_TITLE
        phones = await self._phones(message.org, title, message.text) if self._phones else 0
        # A stream that filters event types is counted too: it is someone listening.
        streams = self.bus.listeners(message.org)
        if not phones and not streams:
            raise SendFailed(
                "no_listener",
                "no phone of this org is connected and no web UI is open to show it",
                transient=True,
                not_sent=True,
            )
        await self.events.record(
            message.org,
            "notify",
            {"id": message.id, "title": title, "text": message.text, "phones": phones},
        )
