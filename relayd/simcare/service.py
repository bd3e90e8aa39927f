"""SimCare: per SIM, balance checks, expiry warnings and keepalives, each on its own timer.

Settings come from the SIM's `[[modem]]` keys, with what the API set (`PATCH
/api/v1/sims/{id}` `care`) over them key by key. When each care last ran is stored, so a
restart arms every timer for the time it is due, never at once when it is not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from relayd.bridges.base import SendFailed, SimBackend
from relayd.config import ModemConfig
from relayd.dispatch.calls import CallDispatcher
from relayd.dispatch.sims import SimRegistry
from relayd.exceptions import InvalidField, Refused
from relayd.sending import SendService
from relayd.simcare.balance import is_low, parse_balance
from relayd.simcare.expiry import expires_at, warn_at
from relayd.simcare.keepalive import needs_online, send_keepalive
from relayd.simcare.settings import CARE_KEYS, CareSettings, parse_duration
from relayd.simcare.timers import CareTimers
from relayd.store import BalanceEntry, CareState, EventRow, Store
from relayd.timefmt import iso

_LOGGER = logging.getLogger(__name__)
DEFAULT_BALANCE_EVERY = "1d"
FAILED_CHECK_RETRY = 1800.0  # a check the network did not answer is tried again this soon


@dataclass(frozen=True)
class CareStatus:
    """What `GET /api/v1/sims` shows of a SIM's care."""

    settings: CareSettings
    balance: BalanceEntry | None  # the newest check that found an amount
    balance_checked_at: float | None
    next_balance_check: float | None
    expires_at: float | None
    topup_at: float | None
    keepalive_at: float | None


class SimCare:
    """Runs the care of every SIM that has settings; the API's entry point for it too."""

    def __init__(
        self,
        modems: Sequence[ModemConfig],
        store: Store,
        sims: SimRegistry,
        calls: CallDispatcher,
        sending: SendService,
    ) -> None:
        self.store = store
        self.sims = sims
        self.calls = calls
        self.sending = sending
        self._file = {
            f"modem:{m.name}": CareSettings.model_validate(
                m.model_dump(include=set(CARE_KEYS), exclude_none=True)
            )
            for m in modems
        }
        self._states: dict[str, CareState] = {}
        self._balances: dict[str, BalanceEntry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: set[str] = set()  # SIMs with care due that waits for them to be online
        self._retry: dict[str, float] = {}  # balance checks that failed: next try
        self.timers = CareTimers(self._run)

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Read the stored state and arm the timers of every SIM with settings."""
        self._states = {s.sim: s for s in await self.store.simcare.states()}
        self._balances = {b.sim: b for b in await self.store.simcare.latest_amounts()}
        for sim in sorted(set(self._file) | set(self._states)):
            await self._arm(sim)

    async def stop(self) -> None:
        """Cancel the timers and the care runs in progress."""
        await self.timers.stop()

    def on_commit(self, events: list[EventRow]) -> None:
        """Commit listener: a SIM that comes online gets the care that waited for it."""
        for event in events:
            sim = event.data.get("id") if event.type == "sim.online" else None
            if isinstance(sim, str) and sim in self._waiting:
                self._waiting.discard(sim)
                self._schedule(sim)

    # --- settings and status ----------------------------------------------------------

    def settings(self, sim: str) -> CareSettings:
        """The SIM's care settings: the config file's, with the API's over them."""
        base = self._file.get(sim, CareSettings())
        state = self._states.get(sim)
        if state is None or not state.settings:
            return base
        try:
            return CareSettings.model_validate(
                base.model_dump(exclude_none=True) | dict(state.settings)
            )
        except ValidationError:  # stored by a version that took other values
            _LOGGER.warning("Stored care settings of %s no longer valid; using the file's", sim)
            return base

    def status(self, sim: str) -> CareStatus:
        """The SIM's care as the API shows it."""
        settings = self.settings(sim)
        state = self._states.get(sim, CareState(sim))
        return CareStatus(
            settings=settings,
            balance=self._balances.get(sim),
            balance_checked_at=state.balance_checked_at,
            next_balance_check=self.timers.due(sim, "balance"),
            expires_at=expires_at(settings, state.topup_at),
            topup_at=state.topup_at,
            keepalive_at=state.keepalive_at,
        )

    async def update_settings(self, backend: SimBackend, changes: dict[str, Any]) -> CareSettings:
        """Set (a value) or clear (None) the API's care settings of a SIM; InvalidField."""
        sim = backend.info.id
        state = self._states.get(sim, CareState(sim))
        stored = dict(state.settings)
        for key, value in changes.items():
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = value
        merged = self._file.get(sim, CareSettings()).model_dump(exclude_none=True) | stored
        settings = CareSettings.model_validate(merged)
        for key, reason in settings.problems():
            raise InvalidField(f"care.{key}", f"care.{key}: {reason}")
        wants = {"ussd"} if settings.balance_ussd else set()
        if settings.keepalive_every and settings.keepalive_kind in ("ussd", "call"):
            wants.add(settings.keepalive_kind)
        for capability in sorted(wants - set(backend.capabilities)):
            raise InvalidField(
                "care", f"care: this SIM cannot {capability} (only modems can)", "not_capable"
            )
        self._states[sim] = await self.store.simcare.save_settings(sim, stored)
        await self._arm(sim)
        return settings

    async def history(self, sim: str, limit: int) -> list[BalanceEntry]:
        """The SIM's newest balance checks, newest first."""
        return await self.store.simcare.history(sim, limit)

    # --- actions ----------------------------------------------------------------------

    async def check_balance(
        self, backend: SimBackend, code: str | None = None, kind: str = "check"
    ) -> BalanceEntry:
        """Ask the network for the balance now and store the answer; Refused or SendFailed.

        A failed request is stored too (with its error) before SendFailed is raised. `kind`
        `keepalive` is a USSD keepalive: its answer is kept in the history as well.
        """
        info = backend.info
        settings = self.settings(info.id)
        code = code or settings.balance_ussd
        if not code:
            raise InvalidField(
                "code", "code: this SIM has no balance_ussd; give the code", "no_balance_code"
            )
        self.calls.pick(info.org, info.id, "ussd")  # refuses SIMs without USSD, or offline
        async with self._locks.setdefault(info.id, asyncio.Lock()):
            answer: str | None = None
            error: str | None = None
            try:
                answer = await self.calls.ussd(backend, code)
            except SendFailed as exc:
                error = f"{exc.code}: {exc.message}"
                await self._record(backend, settings, kind, None, error)
                raise
            return await self._record(backend, settings, kind, answer, error)

    async def record_topup(self, backend: SimBackend, at: float | None = None) -> CareStatus:
        """A top-up was made (now, or at `at`): the top-up period counts from it."""
        sim = backend.info.id
        self._states[sim] = await self.store.simcare.mark_run(sim, "topup", at or time.time())
        await self._arm(sim)
        return self.status(sim)

    # --- internals --------------------------------------------------------------------

    async def _record(
        self,
        backend: SimBackend,
        settings: CareSettings,
        kind: str,
        answer: str | None,
        error: str | None,
    ) -> BalanceEntry:
        info = backend.info
        amount = parse_balance(answer, settings.balance_regex) if answer is not None else None
        if answer is not None and amount is None and kind == "check":
            error = "no amount found in the answer (see balance_regex)"
        at = time.time()
        event = self._describe(backend) | {
            "balance": {
                "amount": amount.value if amount else None,
                "currency": amount.currency if amount else None,
                "checked_at": iso(at),
            },
            "threshold": settings.balance_low,
        }
        recorded = await self.store.simcare.record_balance(
            info.org,
            info.id,
            kind=kind,
            at=at,
            answer=answer,
            amount=amount.value if amount else None,
            currency=amount.currency if amount else None,
            error=error,
            low=is_low(amount, settings.balance_low),
            event=event,
        )
        self._states[info.id] = recorded.state
        if amount is not None:
            self._balances[info.id] = recorded.entry
        if recorded.fired:
            _LOGGER.warning(
                "Balance of %s is %s %s, under %s", info.id, amount.value if amount else "?",
                (amount.currency if amount else None) or "", settings.balance_low,
            )  # fmt: skip
        if kind == "check" and error:
            self._retry[info.id] = at + FAILED_CHECK_RETRY
        elif kind == "check":
            self._retry.pop(info.id, None)
        self._schedule(info.id)
        return recorded.entry

    def _describe(self, backend: SimBackend) -> dict[str, Any]:
        return self.sims.snapshot(backend)

    async def _arm(self, sim: str) -> None:
        """Start counting a top-up period the first time it is seen, then arm the timers."""
        settings = self.settings(sim)
        state = self._states.get(sim)
        if settings.topup_every and (state is None or state.topup_at is None):
            self._states[sim] = await self.store.simcare.mark_run(sim, "topup", time.time())
        self._schedule(sim)

    def _schedule(self, sim: str) -> None:
        settings = self.settings(sim)
        state = self._states.get(sim, CareState(sim))
        now = time.time()
        if settings.balance_ussd:
            every = parse_duration(settings.balance_every or DEFAULT_BALANCE_EVERY)
            last = state.balance_checked_at
            due = now if last is None else last + every
            self.timers.arm(sim, "balance", min(due, self._retry.get(sim, due)))
        else:
            self.timers.cancel(sim, "balance")
        if settings.keepalive_every:
            last = state.keepalive_at
            due = now if last is None else last + parse_duration(settings.keepalive_every)
            self.timers.arm(sim, "keepalive", due)
        else:
            self.timers.cancel(sim, "keepalive")
        expiry = expires_at(settings, state.topup_at)
        if expiry is not None and state.expiring_for != expiry:
            self.timers.arm(sim, "expiry", warn_at(settings, expiry))
        else:
            self.timers.cancel(sim, "expiry")

    async def _run(self, sim: str, kind: str) -> None:
        backend = self.sims.get(sim)
        settings = self.settings(sim)
        online = backend is not None and backend.info.online
        if backend is None or (not online and (kind == "balance" or needs_online(settings))):
            self._waiting.add(sim)  # on_commit arms it again when the SIM comes online
            return
        if kind == "balance":
            try:
                await self.check_balance(backend)
            except (Refused, SendFailed) as exc:
                _LOGGER.warning("Balance check of %s failed: %s", sim, exc)
        elif kind == "keepalive":
            await self._keepalive(backend, settings)
        else:
            await self._warn_expiry(backend, settings)
        self._schedule(sim)

    async def _keepalive(self, backend: SimBackend, settings: CareSettings) -> None:
        sim = backend.info.id
        state = self._states.get(sim, CareState(sim))
        try:
            if settings.keepalive_kind == "ussd":
                entry = await self.check_balance(backend, settings.keepalive_ussd, "keepalive")
                done = f"USSD {settings.keepalive_ussd}, answer {entry.id} in the history"
            else:
                done = await send_keepalive(
                    backend, settings, period=state.keepalive_at or 0.0,
                    sending=self.sending, calls=self.calls,
                )  # fmt: skip
        except (Refused, SendFailed) as exc:
            _LOGGER.warning("Keepalive of %s failed: %s", sim, exc)
            return  # tried again at the next period
        finally:
            self._states[sim] = await self.store.simcare.mark_run(sim, "keepalive", time.time())
        _LOGGER.info("Keepalive of %s: %s", sim, done)

    async def _warn_expiry(self, backend: SimBackend, settings: CareSettings) -> None:
        info = backend.info
        state = self._states.get(info.id, CareState(info.id))
        expiry = expires_at(settings, state.topup_at)
        if expiry is None:
            return
        event = self._describe(backend) | {
            "expires_at": iso(expiry),
            "days_left": round(max(0.0, expiry - time.time()) / 86400, 1),
            "by": "expires_on" if settings.expires_on else "topup_every",
        }
        marked = await self.store.simcare.mark_expiring(info.org, info.id, expiry, event)
        if marked is not None:
            self._states[info.id] = marked
            _LOGGER.warning("SIM %s expires at %s", info.id, iso(expiry))

