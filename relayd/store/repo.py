"""Messages: outbound creation, state changes, reads. Their SQL lives here and in rows.py."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from relayd.store.backend import Backend, ConstraintViolated, Transaction
from relayd.store.parts import apply_report_in, record_parts_in
from relayd.store.plans import Usage, count_usage_in
from relayd.store.records import (
    ConversationRow,
    MessageRow,
    RecentSender,
    StatusChange,
    StatusCount,
    message_row,
)
from relayd.store.rows import MessageShape, insert_message_in, transition_in


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
    node: str | None = None  # fleet mode: the relay that holds it (e-mail, notify: the one asked)
    schedule_id: int | None = None


@dataclass(frozen=True)
class Created:
    """The outcome of one accepted message: the stored row and whether it is new."""

    message: MessageRow
    created: bool
    request_hash: str | None


class IdempotencyConflict(Exception):
    """The idempotency key was used before with another request body."""


class MessageStore:
    """Messages, their history, parts and events."""

    def __init__(self, db: Backend, shape: MessageShape) -> None:
        self.db = db
        self.shape = shape  # a message as its events carry it

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

        def replay(tx: Transaction) -> list[Created] | None:
            rows = tx.execute(
                "SELECT * FROM messages WHERE org = ? AND idempotency_key = ? ORDER BY batch_index",
                (org, idempotency_key),
            ).fetchall()
            if not rows:
                return None
            if rows[0]["request_hash"] != request_hash:
                raise IdempotencyConflict(str(idempotency_key))
            return [Created(message_row(r), False, r["request_hash"]) for r in rows]

        def op(tx: Transaction) -> list[Created]:
            try:
                return insert(tx)
            except ConstraintViolated:
                # The unique index on the key found an earlier request: replay it. (Cheaper
                # than a lookup before every insert; SQLite undoes only the failed statement.)
                if idempotency_key is None or (replayed := replay(tx)) is None:
                    raise
                return replayed

        def insert(tx: Transaction) -> list[Created]:
            now = time.time()
            out = []
            for index, item in enumerate(items):
                values = {
                    "org": org,
                    "direction": "out",
                    "channel": item.channel,
                    "peer": item.peer,
                    "text": item.text,
                    "sim_request": item.sim_request,
                    "parts": item.parts,
                    "encoding": item.encoding,
                    "status": "queued",
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
                    "schedule_id": item.schedule_id,
                }
                if item.node is not None:
                    values["node"] = item.node
                message = insert_message_in(tx, values, self.shape)
                assert message is not None  # a plain INSERT stores or raises
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
        usage: tuple[Usage, int] | None = None,
    ) -> MessageRow | None:
        """Move a message to `status`, with history and event; None if it was not in `only_from`.

        `usage` (counted send, +1 or -1) moves the SIM's send counters in the same transaction.
        """

        def op(tx: Transaction) -> MessageRow | None:
            row = transition_in(
                tx,
                self.shape,
                message_id,
                status,
                error=error,
                sim=sim,
                only_from=only_from,
                count_attempt=count_attempt,
            )
            if row is not None and usage is not None:
                count_usage_in(tx, *usage)
            return row

        return await self.db.write(op)

    async def set_status_detail(self, message_ids: Sequence[int], detail: str | None) -> None:
        """Say why these queued messages wait (no history entry: their state is unchanged)."""

        def op(tx: Transaction) -> None:
            tx.executemany(
                "UPDATE messages SET status_detail = ? WHERE id = ? AND status = 'queued'",
                [(detail, message_id) for message_id in message_ids],
            )

        await self.db.write(op)

    async def mark_sent(self, message_id: int, sim: str, references: Sequence[int]) -> None:
        """Record the parts' references and move to `sent` in one transaction."""

        def op(tx: Transaction) -> None:
            record_parts_in(tx, self.shape, message_id, sim, references)

        await self.db.write(op)

    async def apply_delivery_report(
        self, sim: str, reference: int, recipient: str, *, delivered: bool, detail: str
    ) -> MessageRow | None:
        """Pair a status report with the newest part sent on `sim` with that reference."""

        def op(tx: Transaction) -> MessageRow | None:
            return apply_report_in(
                tx, self.shape, sim, reference, recipient, delivered=delivered, detail=detail
            )

        return await self.db.write(op)

    async def interrupt(self, message_ids: Sequence[int]) -> list[int]:
        """Sends torn by a stop (handed to a line, never confirmed) become `failed: interrupted`.

        Only those still `sending` move; returns their ids.
        """

        def op(tx: Transaction) -> list[int]:
            moved = []
            for message_id in message_ids:
                row = transition_in(
                    tx,
                    self.shape,
                    message_id,
                    "failed",
                    error="interrupted",
                    only_from=("sending",),
                )
                if row is not None:
                    moved.append(message_id)
            return moved

        return await self.db.write(op)

    async def pending_outbound(self, node: str | None = None) -> list[MessageRow]:
        """Queued messages and torn sends, oldest first, at start (fleet mode: `node`'s own)."""
        if node is None:
            rows = await self.db.fetchall(
                "SELECT * FROM messages WHERE status IN ('queued', 'sending') ORDER BY id"
            )
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM messages WHERE status IN ('queued', 'sending') AND node = ? "
                "ORDER BY id",
                (node,),
            )
        return [message_row(r) for r in rows]

    # --- reads ----------------------------------------------------------------------

    async def get_message(self, org: str, message_id: int) -> MessageRow | None:
        """One message of `org` with its state history, or None."""
        row = await self.db.fetchone(
            "SELECT * FROM messages WHERE id = ? AND org = ?", (message_id, org)
        )
        if row is None:
            return None
        history = await self.db.fetchall(
            "SELECT status, at, error FROM message_history WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
        return message_row(
            row, tuple(StatusChange(h["status"], h["at"], h["error"]) for h in history)
        )

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
    ) -> list[MessageRow]:
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
        return [message_row(r) for r in rows]

    async def conversations(self, org: str, limit: int = 200) -> list[ConversationRow]:
        """One row per peer with its newest message, newest first."""
        rows = await self.db.fetchall(
            "SELECT m.*, c.total, c.unanswered FROM messages m JOIN ("
            "  SELECT peer, MAX(id) AS last_id, COUNT(*) AS total,"
            "  SUM(CASE WHEN direction = 'in' THEN 1 ELSE 0 END) AS unanswered"
            "  FROM messages WHERE org = ? GROUP BY peer"
            ") c ON m.id = c.last_id ORDER BY m.id DESC LIMIT ?",
            (org, limit),
        )
        return [
            ConversationRow(r["peer"], int(r["total"]), int(r["unanswered"]), message_row(r))
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

    async def unforwarded_inbound(
        self, org: str, key_prefix: str, window: float
    ) -> list[MessageRow]:
        """Inbound messages of the last `window` seconds with no message keyed prefix+id."""
        rows = await self.db.fetchall(
            "SELECT * FROM messages m WHERE m.org = ? AND m.direction = 'in' AND m.created_at > ? "
            "AND NOT EXISTS (SELECT 1 FROM messages f WHERE f.org = m.org "
            "AND f.idempotency_key = ? || m.id) ORDER BY m.id",
            (org, time.time() - window, key_prefix),
        )
        return [message_row(r) for r in rows]

    async def recent_senders(self, limit: int = 10_000) -> list[RecentSender]:
        """The newest inbound message's SIM per (org, peer): seeds sticky routing at start."""
        rows = await self.db.fetchall(
            "SELECT m.org, m.peer, m.sim FROM messages m JOIN (SELECT MAX(id) AS id FROM messages "
            "WHERE direction = 'in' GROUP BY org, peer ORDER BY id DESC LIMIT ?) l ON m.id = l.id",
            (limit,),
        )
        return [RecentSender(r["org"], r["peer"], r["sim"]) for r in rows]

    async def status_counts(self) -> list[StatusCount]:
        """Messages per org, direction and status (/metrics)."""
        rows = await self.db.fetchall(
            "SELECT org, direction, status, COUNT(*) AS n FROM messages "
            "GROUP BY org, direction, status"
        )
        return [StatusCount(r["org"], r["direction"], r["status"], int(r["n"])) for r in rows]
