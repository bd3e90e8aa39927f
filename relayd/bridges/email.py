"""The `email` channel: one SMTP server from `[email]`, driven by smtplib in a worker thread.

smtplib blocks, so every conversation runs in `asyncio.to_thread` with a socket timeout;
the event loop never waits on the network. The SMTP steps are issued one by one so that a
failure can be placed: anything before DATA was answered means the server did not take the
message (safe to retry when the reply was 4xx or the connection failed); a connection lost
after DATA went out leaves the outcome unknown, which is reported `interrupted`.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage

from relayd.bridges.base import SendFailed
from relayd.config import EmailConfig
from relayd.dispatch.channels import ChannelMessage

_LOGGER = logging.getLogger(__name__)

SMTP_TIMEOUT = 30.0  # seconds per socket operation of an SMTP conversation
IMPLICIT_TLS_PORT = 465
MAX_ADDRESS = 254
DEFAULT_SUBJECT = "Message from relayd"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@" + _LABEL + r"(?:\." + _LABEL + r")+$"
)


class InvalidAddress(ValueError):
    """Not an e-mail address the relay will send to."""


def normalize_address(raw: str) -> str:
    """`raw` as a bare address with its domain in lower case; InvalidAddress otherwise."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("an e-mail address is required")
    if len(text) > MAX_ADDRESS or not ADDRESS_RE.match(text):
        raise InvalidAddress(f"not an e-mail address: {text[:60]!r}; write it as name@example.org")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def compose(sender: str, to: str, subject: str | None, text: str) -> EmailMessage:
    """A plain-text UTF-8 message (headers RFC 2047-encoded by the policy when needed)."""
    # 7-bit transfer encodings (quoted-printable or base64): no 8BITMIME needed of the server.
    mail = EmailMessage(policy=email.policy.default.clone(cte_type="7bit"))
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = _one_line(subject) if subject else _subject_from(text)
    mail["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = email.utils.make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the relay
    mail.set_content(text)
    return mail


class SmtpSender:
    """Sends a channel message as one e-mail through the configured SMTP server."""

    channel = "email"
    line_id = "email"
    max_in_flight = 2

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    async def deliver(self, message: ChannelMessage) -> None:
        """Hand the message to the SMTP server; SendFailed says whether a retry may help."""
        mail = compose(self.config.from_, message.to, message.subject, message.text)
        await asyncio.to_thread(self._converse, mail, message.to)

    def _converse(self, mail: EmailMessage, to: str) -> None:
        cfg = self.config
        after_data = accepted = False
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if cfg.smtp_port == IMPLICIT_TLS_PORT:
                smtp = smtplib.SMTP_SSL(
                    cfg.smtp_host, cfg.smtp_port, timeout=SMTP_TIMEOUT, context=context
                )
            else:
                smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=SMTP_TIMEOUT)
            with smtp:
                smtp.ehlo_or_helo_if_needed()
                if cfg.starttls and cfg.smtp_port != IMPLICIT_TLS_PORT:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if cfg.username:
                    smtp.login(cfg.username, cfg.password)
                code, reply = smtp.mail(cfg.from_)
                if code != 250:
                    raise _refused("sender_refused", code, reply)
                code, reply = smtp.rcpt(to)
                if code not in (250, 251):
                    raise _refused("recipient_refused", code, reply)
                after_data = True
                code, reply = smtp.data(mail.as_bytes(policy=email.policy.SMTP))
                if code != 250:
                    raise _refused("data_refused", code, reply)
                accepted = True
        except SendFailed:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            if not accepted:
                raise _failure(exc, after_data, f"{cfg.smtp_host}:{cfg.smtp_port}") from None
            _LOGGER.debug("SMTP goodbye failed after the message was taken: %s", exc)


def _failure(exc: Exception, after_data: bool, server: str) -> SendFailed:
    """What an SMTP exception means for the message: refused, unreachable, or unknown."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SendFailed(
            "smtp_auth",
            f"the SMTP server refused the login ({exc.smtp_code}); check [email] username "
            "and password",
            transient=False,
            not_sent=True,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendFailed(
            "smtp_unsupported", f"{exc}; check [email] starttls", transient=False, not_sent=True
        )
    if isinstance(exc, smtplib.SMTPResponseException):  # the server answered: it did not take it
        return _refused("smtp_refused", exc.smtp_code, exc.smtp_error)
    detail = str(exc) or type(exc).__name__
    if after_data:
        return SendFailed(
            "interrupted",
            f"the SMTP connection broke while the message went out: {detail}",
            transient=False,
            not_sent=False,
        )
    return SendFailed(
        "smtp_unreachable", f"cannot talk to {server}: {detail}", transient=True, not_sent=True
    )


def _refused(code: str, smtp_code: int, reply: bytes | str) -> SendFailed:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return SendFailed(
        code,
        f"SMTP {smtp_code} {text.strip()[:300]}",
        transient=400 <= smtp_code < 500,
        not_sent=True,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _subject_from(text: str) -> str:
    first = _one_line(text.splitlines()[0] if text.strip() else "")
    if not first:
        return DEFAULT_SUBJECT
    return first if len(first) <= 60 else first[:57] + "..."
