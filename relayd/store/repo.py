"""The repository: every SQL statement of relayd lives here or in db.py/schema.py."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relayd.store.db import Database, Tx
from relayd.store.parts import apply_report_in, record_parts_in
from relayd.store.rows import emit, iso, message_json, transition_in


@dataclass(frozen=True)
class NewMessage:
    """One outbound message to store (one recipient)."""

    peer: str
    text: str
    parts: int
    encoding: str
    channel: str = "sms"
    sim_request: str | None = None
    source: str | None = None
    subject: str | None = None
    send_at: float | None = None
    expires_at: float | None = None
    delivery_report: bool = True
    force_gsm7: bool = False


@dataclass(frozen=True)
class Created:
    """The outcome of one accepted message: the stored row and whether it is new."""

    message: dict[str, Any]
    created: bool
    request_hash: str | None


class IdempotencyConflict(Exception):
    """The idempotency key was used before with another request body."""


class MessageStore:
    """Messages, their history, parts and events."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- outbound -------------------------------------------------------------------

    async def create_outbound(
        self,
        org: str,
        items: Sequence[NewMessage],
        *,
        idempotency_key: str | None,
        request_hash: str | None,
    ) -> list[Created]:
        """Store messages as `queued` (one per recipient) or replay an idempotent request."""

        def replay(tx: Tx) -> list[Created] | None:
            rows = tx.execute(
                "SELECT * FROM messages WHERE org = ? AND idempotency_key = ? ORDER BY batch_index",
                (org, idempotency_key),
            ).fetchall()
            if not rows:
                return None
            if rows[0]["request_hash"] != request_hash:
                raise IdempotencyConflict(str(idempotency_key))
            return [Created(message_json(r), False, r["request_hash"]) for r in rows]

        def op(tx: Tx) -> list[Created]:
            try:
                return insert(tx)
            except sqlite3.IntegrityError:
                # The unique index on the key found an earlier request: replay it. (Cheaper
                # than a lookup before every insert; SQLite undoes only the failed statement.)
                if idempotency_key is None or (replayed := replay(tx)) is None:
                    raise
                return replayed

        def insert(tx: Tx) -> list[Created]:
            now = time.time()
            out = []
            for index, item in enumerate(items):
                values = {
                    "org": org,
                    "direction": "out",
                    "channel": item.channel,
                    "peer": item.peer,
                    "text": item.text,
                    "sim": None,
                    "sim_request": item.sim_request,
                    "parts": item.parts,
                    "encoding": item.encoding,
                    "status": "queued",
                    "error": None,
                    "idempotency_key": idempotency_key,
                    "request_hash": request_hash,
                    "batch_index": index,
                    "source": item.source,
                    "subject": item.subject,
                    "delivery_report": int(item.delivery_report),
                    "force_gsm7": int(item.force_gsm7),
                    "created_at": now,
                    "send_at": item.send_at,
                    "expires_at": item.expires_at,
                    "sent_at": None,
                    "delivered_at": None,
                    "received_at": None,
                    "partial": 0,
                }
                cursor = tx.execute(
                    f"INSERT INTO messages ({', '.join(values)}) "  # noqa: S608 - fixed names
                    f"VALUES ({', '.join(':' + k for k in values)})",
                    values,
                )
                values["id"] = int(cursor.lastrowid or 0)
                tx.execute(
                    "INSERT INTO message_history (message_id, status, at) VALUES (?, 'queued', ?)",
                    (values["id"], now),
                )
                message = message_json(values)
                emit(tx, org, "sms.queued", message, now)
                out.append(Created(message, True, request_hash))
            return out

        return await self.db.write(op)

    async def transition(
        self,
        message_id: int,
        status: str,
        *,
        error: str | None = None,
        sim: str | None = None,
        only_from: Sequence[str] | None = None,
        count_attempt: bool = False,
    ) -> dict[str, Any] | None:
        """Move a message to `status`, with history and event; None if it was not in `only_from`."""

        def op(tx: Tx) -> dict[str, Any] | None:
            return transition_in(
                tx,
                message_id,
                status,
                error=error,
                sim=sim,
                only_from=only_from,
                count_attempt=count_attempt,
            )

        return await self.db.write(op)

    async def mark_sent(self, message_id: int, sim: str, references: Sequence[int]) -> None:
        """Record the parts' references and move to `sent` in one transaction."""

        def op(tx: Tx) -> None:
            record_parts_in(tx, message_id, sim, references)

        await self.db.write(op)

    async def apply_delivery_report(
        self, sim: str, reference: int, recipient: str, *, delivered: bool, detail: str
    ) -> dict[str, Any] | None:
        """Pair a status report with the newest part sent on `sim` with that reference."""

        def op(tx: Tx) -> dict[str, Any] | None:
            return apply_report_in(
                tx, sim, reference, recipient, delivered=delivered, detail=detail
            )

        return await self.db.write(op)

    async def interrupt(self, message_ids: Sequence[int]) -> list[int]:
        """Sends torn by a stop (handed to a line, never confirmed) become `failed: interrupted`.

        Only those still `sending` move; returns their ids.
        """

        def op(tx: Tx) -> list[int]:
            moved = []
            for message_id in message_ids:
                row = transition_in(
                    tx, message_id, "failed", error="interrupted", only_from=("sending",)
                )
                if row is not None:
                    moved.append(message_id)
            return moved

        return await self.db.write(op)

    async def pending_outbound(self) -> list[sqlite3.Row]:
        """Queued messages and sends left `sending` by the last stop, oldest first, at start."""
        return await self.db.fetchall(
            "SELECT id, org, peer, text, sim_request, send_at, expires_at, delivery_report, "
            "force_gsm7, attempts, channel, status, sim FROM messages "
            "WHERE status IN ('queued', 'sending') ORDER BY id"
        )

    # --- reads ----------------------------------------------------------------------

    async def get_message(self, org: str, message_id: int) -> dict[str, Any] | None:
        """One message of `org` with its state history, or None."""
        row = await self.db.fetchone(
            "SELECT * FROM messages WHERE id = ? AND org = ?", (message_id, org)
        )
        if row is None:
            return None
        message = message_json(row)
        history = await self.db.fetchall(
            "SELECT status, at, error FROM message_history WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
        message["history"] = [
            {"status": h["status"], "at": iso(h["at"])}
            | ({"error": h["error"]} if h["error"] else {})
            for h in history
        ]
        return message

    async def list_messages(
        self,
        org: str,
        *,
        since_id: int = 0,
        limit: int = 100,
        direction: str | None = None,
        sim: str | None = None,
        peer: str | None = None,
        status: str | None = None,
        newest_first: bool = False,
        channel: str | None = None,
    ) -> list[dict[str, Any]]:
        """Messages of `org` after `since_id`, filtered, ascending by id (or newest first)."""
        clauses, params = ["org = ?", "id > ?"], [org, since_id]
        for column, value in (
            ("direction", direction),
            ("sim", sim),
            ("peer", peer),
            ("status", status),
            ("channel", channel),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        order = "DESC" if newest_first else "ASC"
        rows = await self.db.fetchall(
            f"SELECT * FROM messages WHERE {' AND '.join(clauses)} "  # noqa: S608 - fixed names
            f"ORDER BY id {order} LIMIT ?",
            (*params, limit),
        )
        return [message_json(r) for r in rows]

    async def conversations(self, org: str, limit: int = 200) -> list[dict[str, Any]]:
        """One row per peer with its newest message, newest first."""
        rows = await self.db.fetchall(
            "SELECT m.*, c.total, c.unanswered FROM messages m JOIN ("
            "  SELECT peer, MAX(id) AS last_id, COUNT(*) AS total,"
            "  SUM(direction = 'in') AS unanswered FROM messages WHERE org = ? GROUP BY peer"
            ") c ON m.id = c.last_id ORDER BY m.id DESC LIMIT ?",
            (org, limit),
        )
        return [
            {
                "peer": r["peer"],
                "messages": r["total"],
                "inbound": r["unanswered"],
                "last_message": message_json(r),
                "last_sim": r["sim"],
                "updated_at": iso(r["created_at"]),
            }
            for r in rows
        ]

    async def last_inbound_sim(self, org: str, peer: str) -> str | None:
        """The SIM that `peer` last wrote to (sticky replies)."""
        row = await self.db.fetchone(
            "SELECT sim FROM messages WHERE org = ? AND peer = ? AND direction = 'in' "
            "ORDER BY id DESC LIMIT 1",
            (org, peer),
        )
        return None if row is None else row["sim"]

    async def events_since(self, org: str, last_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored events of `org` after `last_id`, oldest first (SSE resume)."""
        rows = await self.db.fetchall(
            "SELECT id, org, type, at, data FROM events WHERE org = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (org, last_id, limit),
        )
        return [
            {
                "id": r["id"],
                "org": r["org"],
                "type": r["type"],
                "at": r["at"],
                "data": json.loads(r["data"]),
            }
            for r in rows
        ]

    async def unforwarded_inbound(
        self, org: str, key_prefix: str, window: float
    ) -> list[dict[str, Any]]:
        """Inbound messages of the last `window` seconds with no message keyed prefix+id."""
        rows = await self.db.fetchall(
            "SELECT * FROM messages m WHERE m.org = ? AND m.direction = 'in' AND m.created_at > ? "
            "AND NOT EXISTS (SELECT 1 FROM messages f WHERE f.org = m.org "
            "AND f.idempotency_key = ? || m.id) ORDER BY m.id",
            (org, time.time() - window, key_prefix),
        )
        return [message_json(r) for r in rows]

    async def last_event_id(self) -> int:
        """The newest event id (0 when none)."""
        row = await self.db.fetchone("SELECT MAX(id) FROM events")
        return int(row[0] or 0) if row else 0

    async def status_counts(self) -> list[sqlite3.Row]:
        """(org, direction, status, count) for /metrics."""
        return await self.db.fetchall(
            "SELECT org, direction, status, COUNT(*) AS n FROM messages "
            "GROUP BY org, direction, status"
        )


async def record_event(db: Database, org: str, type_: str, data: dict[str, Any]) -> int:
    """Store and publish an event that is not a message state change (e.g. `sim.online`)."""

    def op(tx: Tx) -> int:
        return emit(tx, org, type_, data)

    return await db.write(op)


async def recent_senders(db: Database, limit: int = 10_000) -> list[sqlite3.Row]:
    """(org, peer, sim) of the newest inbound message per peer: seeds sticky routing at start."""
    return await db.fetchall(
        "SELECT m.org, m.peer, m.sim FROM messages m JOIN (SELECT MAX(id) AS id FROM messages "
        "WHERE direction = 'in' GROUP BY org, peer ORDER BY id DESC LIMIT ?) l ON m.id = l.id",
        (limit,),
    )
