"""SMS to e-mail: every SMS the `default` org receives is sent on to `[email] forward_inbound_to`.

A forward is an ordinary outbound message of the `email` channel (source `forward`), so it
is stored, retried and visible like any other; its idempotency key is the inbound message's
id, so an SMS is forwarded once however often its event is seen. Only the `default` org is
forwarded: the `[email]` settings belong to the appliance's owner, and other orgs' SMS are
not theirs to read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from relayd.bridges.email import InvalidAddress, normalize_address
from relayd.config import EmailConfig
from relayd.exceptions import Refused
from relayd.sending import SendOrder, SendService
from relayd.store import ApiKey, EventRow, MessageRow
from relayd.store.repo import MessageStore

_LOGGER = logging.getLogger(__name__)
FORWARD_ORG = "default"
SOURCE = "forward"
CATCH_UP_SECONDS = 3600.0  # a restart forwards SMS of the last hour that have no forward yet


def forward_text(message: dict[str, Any]) -> str:
    """The body of a forward (from the message's JSON): who, when, on which SIM, the SMS."""
    when = message.get("received_at") or message.get("created_at")
    lines = [f"From: {message['peer']}", f"Received: {when}", f"SIM: {message.get('sim') or '-'}"]
    if message.get("partial"):
        lines.append("Note: parts of this multipart SMS never arrived")
    return "\n".join(lines) + "\n\n" + str(message["text"])


class InboundForwarder:
    """Listens to committed events and turns `sms.received` into e-mail messages."""

    def __init__(
        self,
        config: EmailConfig,
        sending: SendService,
        describe: Callable[[MessageRow], dict[str, Any]],
    ) -> None:
        self.sending = sending
        self.describe = describe  # a stored SMS as its `sms.received` event carries it
        self.addresses: list[str] = []
        for raw in config.forward_inbound_to:
            try:
                self.addresses.append(normalize_address(raw))
            except InvalidAddress as exc:
                _LOGGER.error("[email] forward_inbound_to: %s (skipped)", exc)
        self.enabled = bool(config.smtp_host and self.addresses)
        if config.forward_inbound_to and not config.smtp_host:
            _LOGGER.warning("[email] forward_inbound_to is set but smtp_host is empty: no forwards")
        self._key = ApiKey(
            0, FORWARD_ORG, "email forward", "", frozenset({"send"}), (), None, False,
            time.time(), None, None,
        )  # fmt: skip
        self._tasks: set[asyncio.Task[None]] = set()

    def on_commit(self, events: list[EventRow]) -> None:
        """Commit listener: forward each SMS received by the default org."""
        if not self.enabled:
            return
        for event in events:
            if event.type == "sms.received" and event.org == FORWARD_ORG:
                task = asyncio.create_task(self._forward(event.data), name="email-forward")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def catch_up(self, store: MessageStore) -> int:
        """At start: forward what a crash caught between storing an SMS and its forward."""
        if not self.enabled:
            return 0
        missed = await store.unforwarded_inbound(FORWARD_ORG, "forward:", CATCH_UP_SECONDS)
        for message in missed:
            await self._forward(self.describe(message))
        if missed:
            _LOGGER.info("Forwarded %d SMS that arrived just before the last stop", len(missed))
        return len(missed)

    async def stop(self) -> None:
        """Let forwards being stored finish (each is one quick write)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _forward(self, message: dict[str, Any]) -> None:
        order = SendOrder(
            to=self.addresses,
            text=forward_text(message),
            channel="email",
            subject=f"SMS from {message['peer']}",
            source=SOURCE,
            idempotency_key=f"forward:{message['id']}",
        )
        try:
            await self.sending.submit(self._key, order)
        except Refused as exc:
            _LOGGER.warning("Forwarding SMS %d by e-mail refused: %s", message["id"], exc.message)
        except Exception:
            _LOGGER.exception("Forwarding SMS %d by e-mail failed", message["id"])
