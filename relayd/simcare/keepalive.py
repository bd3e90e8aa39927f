"""Keepalive: an SMS, a USSD code or a short call now and then, so a prepaid SIM stays active.

The SMS goes through the one send pipeline (`SendService.submit`) pinned to its SIM, so it is
stored and listed like any message (source `keepalive`); a call is recorded like any call.
"""

from __future__ import annotations

import logging
import time

from relayd.bridges.base import SimBackend
from relayd.dispatch.calls import CallDispatcher
from relayd.numbers import mask_number
from relayd.sending import SendOrder, SendService
from relayd.simcare.settings import DEFAULT_KEEPALIVE_TEXT, CareSettings
from relayd.store import ApiKey

_LOGGER = logging.getLogger(__name__)
SOURCE = "keepalive"
RING_SECONDS = 10.0  # a keepalive call rings this long, then hangs up


def needs_online(settings: CareSettings) -> bool:
    """A USSD code or a call needs the SIM online now; an SMS waits in the queue for it."""
    return (settings.keepalive_kind or "sms") != "sms"


def care_key(org: str) -> ApiKey:
    """The key SIM care sends with: the SIM's org, send scope, no allowlist or rate limit."""
    return ApiKey(
        0, org, "sim care", "", frozenset({"send"}), (), None, False, time.time(), None, None
    )


async def send_keepalive(
    backend: SimBackend,
    settings: CareSettings,
    *,
    period: float,
    sending: SendService,
    calls: CallDispatcher,
) -> str:
    """Send the keepalive SMS, or ring the call, of `settings`; what was done, for the log.

    (A USSD keepalive is a balance check of its own: `SimCare` runs and records it.)

    `period` (the time of the previous keepalive) makes the SMS's idempotency key, so a
    restart between storing the SMS and recording the keepalive does not send it twice.
    """
    info = backend.info
    assert settings.keepalive_to is not None  # CareSettings.problems refuses it unset
    to = settings.keepalive_to
    if settings.keepalive_kind == "call":
        calls.pick(info.org, info.id, "call")
        call = await calls.ring(backend, to, ring_seconds=RING_SECONDS, source=SOURCE)
        return f"call {call.id} to {mask_number(to)}"
    order = SendOrder(
        to=[to],
        text=settings.keepalive_text or DEFAULT_KEEPALIVE_TEXT,
        sim=info.id,
        source=SOURCE,
        idempotency_key=f"keepalive:{info.id}:{int(period)}",
    )
    accepted = await sending.submit(care_key(info.org), order)
    return f"SMS {accepted.results[0].message.id} to {mask_number(to)}"
