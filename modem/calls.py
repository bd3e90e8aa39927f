"""Voice calls for alerts: dial, let it ring, hang up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from .engine import ATEngine
from .errors import CallEnded, CommandError, ModemError

_LOGGER = logging.getLogger(__name__)

_DIAL_NUMBER = re.compile(r"\+?[0-9*#]{1,40}")
_OUTCOMES = {
    "BUSY": "busy",
    "NO ANSWER": "no_answer",
    "NO CARRIER": "no_carrier",
    "NO DIALTONE": "no_dialtone",
}


async def ring(engine: ATEngine, number: str, seconds: float) -> str:
    """Call ``number``, let it ring ``seconds``, hang up. Returns how it ended:
    "completed", "busy", "no_answer", "no_carrier" (rejected or hung up), "no_dialtone"."""
    if not _DIAL_NUMBER.fullmatch(number):
        raise ValueError("a phone number has only digits and a leading +")
    with engine.subscribe(*_OUTCOMES) as ended:
        try:
            await engine.command(f"ATD{number};")
        except CallEnded as err:
            return _OUTCOMES.get(err.result, "no_carrier")
        outcome = "completed"
        try:
            async with asyncio.timeout(seconds):
                outcome = _OUTCOMES[(await ended.get()).name]
        except TimeoutError:
            pass  # it rang the whole time: the alert is done
        finally:
            if outcome == "completed":  # also when cancelled: never leave a call up
                await hang_up(engine)
    return outcome


async def hang_up(engine: ATEngine) -> None:
    """ATH, or AT+CHUP where ATH is not enough."""
    try:
        await engine.command("ATH")
    except CommandError:
        with contextlib.suppress(ModemError):
            await engine.command("AT+CHUP")
    except ModemError as err:
        _LOGGER.warning("[%s] hang-up failed: %s", engine.name, err)
