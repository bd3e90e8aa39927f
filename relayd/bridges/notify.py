"""The `notify` channel: a notification to the org's phones of every kind and its web UIs.

Each device hub says how far a notification got: seed-004 phones get
`{"type":"notify","title","text"}` on their socket and show it; the "SMS Gateway for
Android" app has no way to show one (its server sends only MessageEnqueued,
WebhooksUpdated, SettingsUpdated and MessagesExportRequested), so its online phones are
counted as `phones_cannot_show` rather than pretended reached. The web UI gets a stored
`notify` event on the event stream. A notification nobody can see (no phone that shows
it, no stream open) is refused as transient, so the channel worker tries again a little
later before it fails it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol

from relayd.bridges.base import SendFailed
from relayd.bridges.device_hub import NotifyReach
from relayd.dispatch.channels import ChannelMessage
from relayd.events import EventBus
from relayd.store.events import EventStore

DEFAULT_TITLE = "relayd"
MAX_TEXT = 4000  # characters: a notification, not a document


class Notifiable(Protocol):
    """A device hub, as the notifier sees it."""

    def notify(self, org: str, title: str, text: str) -> Awaitable[NotifyReach]: ...


class PhoneNotifier:
    """Delivers channel `notify` messages to phones and the event stream."""

    channel = "notify"
    line_id = "notify"
    max_in_flight = 8

    def __init__(self, events: EventStore, bus: EventBus, hubs: Sequence[Notifiable]) -> None:
        self.events = events
        self.bus = bus
        self.hubs = tuple(hubs)

    async def deliver(self, message: ChannelMessage) -> None:
        """Push to every online phone of the org and record the event for the web UI."""
        title = message.subject or DEFAULT_TITLE
        reached = [await hub.notify(message.org, title, message.text) for hub in self.hubs]
        shown = sum(r.shown for r in reached)
        cannot = sum(r.cannot_show for r in reached)
        # A stream that filters event types is counted too: it is someone listening.
        streams = self.bus.listeners(message.org)
        if not shown and not streams:
            why = f" ({cannot} app phone(s) online cannot show notifications)" if cannot else ""
            raise SendFailed(
                "no_listener",
                "no phone of this org that shows notifications is connected and no web UI "
                f"is open to show it{why}",
                transient=True,
                not_sent=True,
            )
        data: dict[str, object] = {
            "id": message.id,
            "title": title,
            "text": message.text,
            "phones": shown,
        }
        if cannot:
            data["phones_cannot_show"] = cannot
        await self.events.record(message.org, "notify", data)
