"""Opt-out: stop words in inbound SMS keep a per-org list, and sends to it are refused.

The one inbound hook is a commit listener on `sms.received`: every inbound path (modem,
seed-004 phone socket, the Android app, the seed-004 webhook) stores its SMS through the
store, whose commit publishes that event, so all of them are seen here the same way. An SMS
whose whole text (trimmed, any case, trailing punctuation ignored) is a stop word puts its
sender on the list; a start word takes it off. The list is written just after the SMS is
committed: a relay killed in those milliseconds keeps the SMS but not its opt-out.

`OptoutGuard.admit` is the opt-out step of `SendService.submit_all`: a send to a listed
number is refused with 422 `opted_out`, unless the key has `ignore_optout`; group sends and
schedule runs skip listed members instead. The optional confirmation reply is itself a send
through SendService that passes the list (it must reach the number that just opted out).
"""

from __future__ import annotations

import asyncio
import logging
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relayd.config import OptoutConfig
from relayd.exceptions import InvalidField
from relayd.numbers import InvalidNumber, mask_number, normalize_number
from relayd.sending import SendOrder, SendService
from relayd.store import ApiKey, EventRow, Store
from relayd.store.optouts import OptoutOverride

_LOGGER = logging.getLogger(__name__)
SOURCE = "optout"


@dataclass(frozen=True)
class OptoutSettings:
    """What applies to one org: the config file's `[optout]`, overridden by the org's own."""

    enabled: bool
    stop_words: tuple[str, ...]
    start_words: tuple[str, ...]
    stop_reply: str
    start_reply: str


def keyword(text: str) -> str:
    """An SMS reduced to what is compared with the words: trimmed, no end punctuation, upper."""
    return text.strip().strip(string.punctuation + " ").casefold()


class OptoutGuard:
    """Keeps the opt-out list from inbound SMS and checks sends against it."""

    def __init__(self, config: OptoutConfig, store: Store, region: str) -> None:
        self.config = config
        self.store = store
        self.region = region
        self.sending: SendService | None = None  # set by the composition root: confirmations
        self._tasks: set[asyncio.Task[None]] = set()

    async def settings(self, org: str) -> OptoutSettings:
        """The settings in force for `org`."""
        own = await self.store.optouts.settings(org)
        return merge(self.config, own)

    async def admit(self, key: ApiKey, order: SendOrder, peers: Sequence[str]) -> list[str]:
        """The peers this order may go to; InvalidField `opted_out` for a refused one."""
        if order.channel != "sms" or order.optout == "ignore" or key.ignore_optout:
            return list(peers)
        listed = await self.store.optouts.opted_out(key.org, list(peers))
        if not listed:
            return list(peers)
        if order.optout == "skip":
            return [p for p in peers if p not in listed]
        first = next(p for p in peers if p in listed)
        field = order.field_to
        raise InvalidField(
            field,
            f"{field}: {first} opted out of messages from this org (it sent a stop word); "
            "a key with ignore_optout may still send, or the number sends a start word",
            "opted_out",
        )

    def normalize(self, raw: str) -> str:
        """A number as the list keeps it (E.164); InvalidField when it is none."""
        try:
            return normalize_number(raw, self.region, allow_short_codes=True)
        except InvalidNumber as exc:
            raise InvalidField("number", f"number: {exc}", "invalid_number") from None

    def on_commit(self, events: list[EventRow]) -> None:
        """Commit listener: look at every SMS received."""
        for event in events:
            if event.type == "sms.received":
                task = asyncio.create_task(self.on_inbound(event.data), name="optout")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def on_inbound(self, message: dict[str, Any]) -> None:
        """Apply a stop or start word; reply when the org's settings say so."""
        try:
            await self._apply(message)
        except Exception:
            _LOGGER.exception("Opt-out handling of SMS %s failed", message.get("id"))

    async def stop(self) -> None:
        """Let list changes and replies in progress finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _apply(self, message: dict[str, Any]) -> None:
        org, text = str(message["org"]), str(message.get("text") or "")
        if len(text) > 64:
            return  # no stop word is that long: skip the settings read for ordinary SMS
        settings = await self.settings(org)
        word = keyword(text)
        if not settings.enabled or not word:
            return
        stop = word in {w.casefold() for w in settings.stop_words}
        start = not stop and word in {w.casefold() for w in settings.start_words}
        if not (stop or start):
            return
        try:
            number = normalize_number(str(message["peer"]), self.region)
        except InvalidNumber:
            return  # an alphanumeric sender: nothing is ever sent to it
        if stop:
            await self.store.optouts.add(org, number, "sms", int(message["id"]))
            reply = settings.stop_reply
        else:
            await self.store.optouts.remove(org, number, "sms", int(message["id"]))
            reply = settings.start_reply
        _LOGGER.info("Opt-out: %s %s (org %s)", mask_number(number),
                     "opted out" if stop else "opted back in", org)  # fmt: skip
        if reply and self.sending is not None:
            order = SendOrder(
                to=[number], text=reply, source=SOURCE, optout="ignore",
                idempotency_key=f"optout-reply:{message['id']}",
            )  # fmt: skip
            await self.sending.submit(_org_key(org), order)


def merge(config: OptoutConfig, own: OptoutOverride) -> OptoutSettings:
    """The config file's settings with an org's own on top."""
    return OptoutSettings(
        enabled=config.enabled if own.enabled is None else own.enabled,
        stop_words=tuple(config.stop_words) if own.stop_words is None else own.stop_words,
        start_words=tuple(config.start_words) if own.start_words is None else own.start_words,
        stop_reply=config.stop_reply if own.stop_reply is None else own.stop_reply,
        start_reply=config.start_reply if own.start_reply is None else own.start_reply,
    )


def _org_key(org: str) -> ApiKey:
    """The relay itself sending a confirmation for `org` (no key of a user is involved)."""
    return ApiKey(0, org, "opt-out reply", "", frozenset({"send"}), (), None, False,
                  time.time(), None, None)  # fmt: skip
