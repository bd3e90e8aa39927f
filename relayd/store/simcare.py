"""SIM care: each SIM's care state (settings set through the API, last runs) and balance history.

Times are epoch seconds. The settings column holds the API's `care` object as JSON text
(decoded here with `json`, never with SQL functions); the service merges it over the file's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.records import Record
from relayd.store.rows import emit, insert_row

# Which column each run kind keeps its last time in.
RUN_COLUMNS = {"balance": "balance_checked_at", "keepalive": "keepalive_at", "topup": "topup_at"}


@dataclass(frozen=True)
class CareState:
    """What the relay remembers of one SIM's care across restarts."""

    sim: str
    settings: tuple[tuple[str, Any], ...] = ()  # the API's care settings (key, value)
    balance_checked_at: float | None = None  # last check attempt, answered or not
    balance_low: bool = False  # under the threshold at the last answered check
    keepalive_at: float | None = None
    topup_at: float | None = None
    expiring_for: float | None = None  # the expiry time sim.expiring was fired for


@dataclass(frozen=True)
class BalanceEntry:
    """One balance check: the network's answer and the amount found in it."""

    id: int
    sim: str
    kind: str  # "check", or "keepalive" (a USSD keepalive's answer)
    at: float
    answer: str | None
    amount: float | None
    currency: str | None
    error: str | None


@dataclass(frozen=True)
class BalanceRecorded:
    """A stored check, and whether it fired `sim.balance_low` (a crossing under the threshold)."""

    entry: BalanceEntry
    fired: bool
    state: CareState


class SimCareStore:
    """Care state per SIM and the balance history; events go out in the same transaction."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def states(self) -> list[CareState]:
        """Every SIM with a care row."""
        rows = await self.db.fetchall("SELECT * FROM sim_care ORDER BY sim")
        return [_state(r) for r in rows]

    async def save_settings(self, sim: str, settings: dict[str, Any]) -> CareState:
        """Replace the API's care settings of `sim` (an empty dict clears them)."""
        text = json.dumps(settings, sort_keys=True, separators=(",", ":"))

        def op(tx: Transaction) -> CareState:
            _ensure(tx, sim)
            tx.execute(
                "UPDATE sim_care SET settings = ?, updated_at = ? WHERE sim = ?",
                (text, time.time(), sim),
            )
            return _read(tx, sim)

        return await self.db.write(op)

    async def mark_run(self, sim: str, kind: str, at: float) -> CareState:
        """Remember when `kind` (balance, keepalive, topup) last ran for `sim`."""
        column = RUN_COLUMNS[kind]

        def op(tx: Transaction) -> CareState:
            _ensure(tx, sim)
            tx.execute(
                f"UPDATE sim_care SET {column} = ?, updated_at = ? WHERE sim = ?",  # noqa: S608
                (at, time.time(), sim),
            )
            return _read(tx, sim)

        return await self.db.write(op)

    async def record_balance(
        self,
        org: str,
        sim: str,
        *,
        kind: str,
        at: float,
        answer: str | None,
        amount: float | None,
        currency: str | None,
        error: str | None,
        low: bool | None,
        event: dict[str, Any],
    ) -> BalanceRecorded:
        """Store a check; `low` (None: no amount) fires `sim.balance_low` on a crossing only."""

        def op(tx: Transaction) -> BalanceRecorded:
            _ensure(tx, sim)
            values = {
                "sim": sim,
                "org": org,
                "kind": kind,
                "at": at,
                "answer": answer,
                "amount": amount,
                "currency": currency,
                "error": error,
            }
            entry_id = int(insert_row(tx, "sim_balances", values) or 0)
            was_low = bool(_read(tx, sim).balance_low)
            now_low = was_low if low is None else low
            tx.execute(
                "UPDATE sim_care SET balance_checked_at = ?, balance_low = ?, updated_at = ? "
                "WHERE sim = ?",
                (at, int(now_low), time.time(), sim),
            )
            fired = now_low and not was_low
            if fired:
                emit(tx, org, "sim.balance_low", event, at)
            entry = BalanceEntry(entry_id, sim, kind, at, answer, amount, currency, error)
            return BalanceRecorded(entry, fired, _read(tx, sim))

        return await self.db.write(op)

    async def mark_expiring(
        self, org: str, sim: str, expires_at: float, event: dict[str, Any]
    ) -> CareState | None:
        """Fire `sim.expiring` for this expiry time unless it was fired for it (then None)."""

        def op(tx: Transaction) -> CareState | None:
            _ensure(tx, sim)
            if _read(tx, sim).expiring_for == expires_at:
                return None
            tx.execute(
                "UPDATE sim_care SET expiring_for = ?, updated_at = ? WHERE sim = ?",
                (expires_at, time.time(), sim),
            )
            emit(tx, org, "sim.expiring", event)
            return _read(tx, sim)

        return await self.db.write(op)

    async def history(self, sim: str, limit: int = 50) -> list[BalanceEntry]:
        """The newest balance checks of `sim`, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM sim_balances WHERE sim = ? ORDER BY id DESC LIMIT ?", (sim, limit)
        )
        return [_entry(r) for r in rows]

    async def latest_amounts(self) -> list[BalanceEntry]:
        """Per SIM, its newest check that found an amount."""
        rows = await self.db.fetchall(
            "SELECT b.* FROM sim_balances b JOIN (SELECT sim, MAX(id) AS id FROM sim_balances "
            "WHERE amount IS NOT NULL GROUP BY sim) n ON n.id = b.id ORDER BY b.sim"
        )
        return [_entry(r) for r in rows]


def _ensure(tx: Transaction, sim: str) -> None:
    tx.execute(
        "INSERT INTO sim_care (sim, settings, balance_low, updated_at) VALUES (?, '{}', 0, ?) "
        "ON CONFLICT (sim) DO NOTHING",
        (sim, time.time()),
    )


def _read(tx: Transaction, sim: str) -> CareState:
    return _state(tx.execute("SELECT * FROM sim_care WHERE sim = ?", (sim,)).fetchone())


def _state(row: Record) -> CareState:
    settings = json.loads(row["settings"] or "{}")
    return CareState(
        sim=row["sim"],
        settings=tuple(sorted(settings.items())),
        balance_checked_at=row["balance_checked_at"],
        balance_low=bool(row["balance_low"]),
        keepalive_at=row["keepalive_at"],
        topup_at=row["topup_at"],
        expiring_for=row["expiring_for"],
    )


def _entry(row: Record) -> BalanceEntry:
    return BalanceEntry(
        id=row["id"],
        sim=row["sim"],
        kind=row["kind"],
        at=row["at"],
        answer=row["answer"],
        amount=row["amount"],
        currency=row["currency"],
        error=row["error"],
    )
