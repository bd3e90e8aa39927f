"""Ring calls in the background with a durable record (seed 003's `POST /api/messaging/voice`).

`POST /api/v1/calls` rings and answers when the call is over; an agent API wants an id at
once and the outcome later. Each call here is stored as `ringing`, dialled by a task, and
finished with how it ended. A GSM modem carries no speech from the relay: a call is an
alert (the phone rings, shows the relay's number) and never plays a prompt.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, runtime_checkable

from relayd.bridges.base import SendFailed, SimBackend
from relayd.dispatch.router import sim_matches
from relayd.dispatch.sims import SimRegistry
from relayd.exceptions import Conflict, InvalidField
from relayd.numbers import mask_number
from relayd.store import CallRow, Store

_LOGGER = logging.getLogger(__name__)
# modem outcome -> call status; `ended`: rejected, or answered and hung up (GSM cannot tell)
STATUS_FOR_RESULT = {
    "completed": "completed",
    "busy": "busy",
    "no_answer": "no_answer",
    "no_carrier": "ended",
    "no_dialtone": "failed",
}
ABLE_TO = {"call": "place calls", "ussd": "run USSD codes"}  # what a capability lets a SIM do


@runtime_checkable
class CallCapable(Protocol):
    """A SIM that can ring a number (modems)."""

    async def call(self, to: str, ring_seconds: float) -> str: ...


@runtime_checkable
class UssdCapable(Protocol):
    """A SIM that can run USSD codes (modems)."""

    async def ussd(self, code: str) -> str: ...


class CallDispatcher:
    """Starts ring calls on a call-capable SIM and records how each ended."""

    def __init__(self, store: Store, sims: SimRegistry) -> None:
        self.store = store
        self.sims = sims
        self._tasks: set[asyncio.Task[None]] = set()

    def pick(self, org: str, wanted: str | None, capability: str = "call") -> SimBackend:
        """An online SIM of `org` with `capability` (the one `wanted` names, if given).

        InvalidField `unknown_sim` when `wanted` names no such SIM, Conflict `no_sim_online`
        when none is online (phones over the SMS bridge have neither calls nor USSD).
        """
        what = ABLE_TO.get(capability, f"do {capability}")
        able = [s for s in self.sims.for_org(org) if capability in s.capabilities]
        if wanted is not None:
            able = [s for s in able if sim_matches(s, wanted)]
            if not able:
                raise InvalidField("sim", f"sim: no SIM '{wanted}' that can {what}", "unknown_sim")
        online = [s for s in able if s.info.online]
        if not online:
            raise Conflict(
                f"no SIM that can {what} (a GSM modem) is online; phones connected over the "
                "SMS bridge cannot",
                code="no_sim_online",
            )
        return online[0]

    async def ussd(self, backend: SimBackend, code: str) -> str:
        """The network's answer to `code` on `backend` (from `pick(..., "ussd")`); SendFailed."""
        assert isinstance(backend, UssdCapable)  # pick admits SIMs with the capability only
        return await backend.ussd(code)

    async def start(self) -> None:
        """Calls cut by the last stop are recorded as failed."""
        if await self.store.calls.interrupt_open():
            _LOGGER.warning("Calls in progress at the last stop were recorded as interrupted")

    async def ring(
        self,
        backend: SimBackend,
        to: str,
        *,
        ring_seconds: float,
        prompt: str | None = None,
        source: str | None = None,
    ) -> CallRow:
        """Record the call on `backend` (from `pick`) and dial it in the background."""
        call = await self.store.calls.create(
            backend.info.org,
            to,
            backend.info.id,
            ring_seconds=ring_seconds,
            prompt=prompt,
            source=source,
        )
        task = asyncio.create_task(
            self._dial(call.id, backend, to, ring_seconds), name=f"call-{call.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return call

    async def stop(self) -> None:
        """Hang up calls still ringing (the modem layer hangs up when cancelled)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _dial(self, call_id: int, backend: SimBackend, to: str, seconds: float) -> None:
        assert isinstance(backend, CallCapable)
        try:
            result = await backend.call(to, seconds)
        except SendFailed as exc:
            await self.store.calls.finish(call_id, "failed", error=f"{exc.code}: {exc.message}")
            _LOGGER.warning("Call %d to %s failed: %s", call_id, mask_number(to), exc.message)
            return
        except asyncio.CancelledError:
            await self.store.calls.finish(
                call_id, "failed", error="interrupted: the relay stopped during the call"
            )
            raise
        except Exception as exc:
            _LOGGER.exception("Call %d on %s raised", call_id, backend.info.id)
            await self.store.calls.finish(call_id, "failed", error=str(exc) or "internal error")
            return
        status = STATUS_FOR_RESULT.get(result, "failed")
        await self.store.calls.finish(call_id, status, result=result)
