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
from relayd.exceptions import ApiError
from relayd.numbers import mask_number
from relayd.store import Store
from relayd.store.calls import CallRow

_LOGGER = logging.getLogger(__name__)
# modem outcome -> call status; `ended`: rejected, or answered and hung up (GSM cannot tell)
STATUS_FOR_RESULT = {
    "completed": "completed",
    "busy": "busy",
    "no_answer": "no_answer",
    "no_carrier": "ended",
    "no_dialtone": "failed",
}


@runtime_checkable
class CallCapable(Protocol):
    """A SIM that can ring a number (modems)."""

    async def call(self, to: str, ring_seconds: float) -> str: ...


class CallDispatcher:
    """Starts ring calls on a call-capable SIM and records how each ended."""

    def __init__(self, store: Store, sims: SimRegistry) -> None:
        self.store = store
        self.sims = sims
        self._tasks: set[asyncio.Task[None]] = set()

    def able(self, org: str) -> list[SimBackend]:
        """The org's SIMs online now that can place calls."""
        return [
            s for s in self.sims.for_org(org) if "call" in s.capabilities and s.info.online
        ]

    async def start(self) -> None:
        """Calls cut by the last stop are recorded as failed."""
        if await self.store.calls.interrupt_open():
            _LOGGER.warning("Calls in progress at the last stop were recorded as interrupted")

    async def ring(
        self,
        org: str,
        to: str,
        *,
        ring_seconds: float,
        sim: str | None = None,
        prompt: str | None = None,
        source: str | None = None,
    ) -> CallRow:
        """Record the call and dial it in the background; 409/422 when no SIM can."""
        candidates = [s for s in self.sims.for_org(org) if "call" in s.capabilities]
        if sim is not None:
            candidates = [s for s in candidates if sim_matches(s, sim)]
            if not candidates:
                raise ApiError(422, "unknown_sim", f"sim: no SIM '{sim}' that can call", "sim")
        online = [s for s in candidates if s.info.online]
        if not online:
            raise ApiError(
                409,
                "no_sim_online",
                "no SIM that can place calls (a GSM modem) is online; phones connected "
                "over the SMS bridge cannot place calls",
            )
        backend = online[0]
        call = await self.store.calls.create(
            org, to, backend.info.id, ring_seconds=ring_seconds, prompt=prompt, source=source
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
