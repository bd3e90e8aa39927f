"""Standard Webhooks secrets and signatures, and the checks every endpoint passes (SPEC §9).

Shared by the API that manages endpoints, the config file's `[[webhook]]` entries and the
delivery worker.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

from yarl import URL

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
HA_EVENT = "sms.incoming_sms"
TEST_EVENT = "webhook.test"
KINDS = ("standard", "homeassistant")
EVENT_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp",
     "webhook-signature", "transfer-encoding", "connection"}
)  # fmt: skip


# --- signing ------------------------------------------------------------------------


def generate_secret() -> str:
    """A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64 after `whsec_`, read as the reference library reads it.

    A config secret that is not base64 at all signs with its own UTF-8 bytes.
    """
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    return key or secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def mask(value: str, keep: int = 4) -> str:
    """A secret as the API shows it: its first characters only."""
    prefix = SECRET_PREFIX if value.startswith(SECRET_PREFIX) else ""
    rest = value[len(prefix) :]
    return prefix + (rest[:keep] if len(rest) > 2 * keep else "") + "…"


# --- endpoint checks (API and config) -----------------------------------------------


def check_url(url: str, kind: str) -> str:
    """An http(s) URL; a Home Assistant base URL gets the event path appended."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("give an absolute http:// or https:// URL")
    if kind == "homeassistant" and "/api/events/" not in parsed.path:
        return url.rstrip("/") + f"/api/events/{HA_EVENT}"
    return url


def check_events(events: Sequence[str], kind: str) -> tuple[str, ...]:
    """Event types (`sms.received`), families (`sms.*`) or `*`; HA gets `sms.received`."""
    if kind == "homeassistant":
        if any(e not in ("sms.received", "sms.*", "*") for e in events):
            raise ValueError("a homeassistant endpoint receives sms.received only")
        return ("sms.received",)
    if not events:
        raise ValueError("list at least one event type, e.g. sms.received, or *")
    for event in events:
        if not EVENT_PATTERN.match(event):
            raise ValueError(f"{event!r} is not an event type such as sms.received or sms.*")
    return tuple(dict.fromkeys(events))


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Extra headers: valid names, single-line values, none that signing or HTTP owns."""
    if len(headers) > 20:
        raise ValueError("at most 20 extra headers")
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"{name} is set by relayd itself")
        if "\r" in value or "\n" in value or len(value) > 4096:
            raise ValueError(f"the value of {name} must be one line of at most 4096 characters")
    return dict(headers)


def check_secret(secret: str) -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 24 to 64 bytes."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise ValueError("use whsec_ followed by base64 of 24 to 64 random bytes (or omit it)")
    return secret
