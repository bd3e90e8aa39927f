"""A real SMTP server for tests: aiosmtpd's Controller (its own thread and loop) and a mailbox.

    with smtp_server() as mailbox:          # listens on 127.0.0.1:mailbox.port
        ...                                 # point [email] smtp_host/smtp_port at it
        await mailbox.wait_for(1)
        mail = mailbox.messages[0]          # an email.message.EmailMessage

`mailbox.refuse` makes the server answer the next DATA with that reply (e.g. "451 try later").
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.daemon import free_port


@dataclass
class Mailbox:
    """What the server received: parsed messages and their envelopes."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` messages arrived."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                await asyncio.sleep(0.02)


@contextlib.contextmanager
def smtp_server(port: int | None = None) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 (a free port unless one is given), stopped on exit."""
    mailbox = Mailbox(port or free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
