"""USSD requests (balance queries and the like): AT+CUSD and its answer URC."""

from __future__ import annotations

import asyncio
import contextlib
import re

from .codec import decode_ussd, encode_ussd_packed
from .commands import split_params
from .engine import ATEngine, Priority
from .errors import ATTimeoutError, ModemError, UssdError
from .startup import optional
from .urc import Urc

USSD_TIMEOUT = 30.0
"""From AT+CUSD=1 to the network's answer."""

_USSD_CODE = re.compile(r"[0-9*#+]{1,160}")
_HEX = re.compile(r"[0-9A-Fa-f]+")


async def request_ussd(engine: ATEngine, code: str, *, packed: bool) -> str:
    """Send ``code`` (e.g. *100#) and return the network's answer as text.

    ``packed``: the modem wants the code as packed GSM-7 hex (Huawei transparent mode).
    Otherwise the character set is switched to UCS2 for the request, so an answer in any
    script arrives intact rather than as "?", and switched back afterwards.
    """
    if not _USSD_CODE.fullmatch(code):
        raise ValueError("a USSD code has only digits, *, # and +")
    charset = None if packed else await _switch_charset(engine, "UCS2")
    if packed:
        request = encode_ussd_packed(code)
    elif charset is not None:
        request = code.encode("utf-16-be").hex().upper()
    else:
        request = code
    try:
        with engine.subscribe("+CUSD") as answers:
            # The answer may come before OK: the queue exists before the command is written.
            await engine.command(f'AT+CUSD=1,"{request}",15', prefix="")
            try:
                async with asyncio.timeout(USSD_TIMEOUT):
                    status, payload, dcs = await _answer(answers, code)
            except TimeoutError:
                raise ATTimeoutError(f"USSD {code}", USSD_TIMEOUT) from None
        if status == 1:
            # The network waits for a reply we will not give: close the session.
            with contextlib.suppress(ModemError):
                await engine.command("AT+CUSD=2", prefix="")
    finally:
        if charset is not None:
            with contextlib.suppress(ModemError):
                await _switch_charset(engine, charset)
    if charset is not None and len(payload) % 4 == 0 and _HEX.fullmatch(payload):
        return bytes.fromhex(payload).decode("utf-16-be", errors="replace")
    return decode_ussd(payload, dcs if dcs is not None else 15)


async def _answer(answers: asyncio.Queue[Urc], code: str) -> tuple[int, str, int | None]:
    while True:
        status, payload, dcs = parse_cusd((await answers.get()).value)
        if payload:
            return status, payload, dcs
        if status == 2:
            continue  # a stale session's end, before our answer
        if status == 4:
            raise UssdError(f"the network does not support {code}")
        raise UssdError(f"USSD {code} ended without an answer (status {status})")


async def _switch_charset(engine: ATEngine, charset: str) -> str | None:
    """Set AT+CSCS; returns the previous character set, None when nothing changed."""
    current = await optional(engine, "AT+CSCS?", priority=Priority.SEND)
    value = current.value("+CSCS:") if current else None
    if value is None:
        return None
    previous = value.strip().strip('"')
    if previous.upper() == charset:
        return None
    if await optional(engine, f'AT+CSCS="{charset}"', priority=Priority.SEND) is None:
        return None
    return previous


def parse_cusd(value: str) -> tuple[int, str | None, int | None]:
    """`0,"text",15` -> (0, "text", 15)."""
    params = split_params(value)
    status = int(params[0]) if params[0].isdigit() else 2
    payload = params[1] if len(params) >= 2 else None
    dcs = int(params[2]) if len(params) >= 3 and params[2].isdigit() else None
    return status, payload, dcs
