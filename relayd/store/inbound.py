"""Inbound SMS: dedupe and durable multipart reassembly in SQLite."""

from __future__ import annotations

import time
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.records import MessageRow
from relayd.store.rows import MessageShape, insert_message_in

MISSING_PART = "[…]"
# Reassembled parts are kept this long so a part read twice is not taken for a new message.
ASSEMBLED_KEEP_SECONDS = 2 * 86400


WEBHOOK_SIM = "webhook"  # the SIM of an SMS posted to seed-004 /webhook without a device
SOURCES = ("modem", "phone", "app", "webhook")  # what `source` an inbound message carries


def inbound_source(sim: str) -> str:
    """Where an inbound SMS came from, by the SIM that has it (`phone:…`, `asg:…`, a modem)."""
    if sim == WEBHOOK_SIM:
        return "webhook"
    if sim.startswith("phone:"):
        return "phone"
    if sim.startswith("asg:"):
        return "app"
    return "modem"


class InboundStore:
    """Stores what SIMs receive; whole messages come out once, parts are held until complete."""

    def __init__(self, db: Backend, shape: MessageShape) -> None:
        self.db = db
        self.shape = shape

    async def store(
        self,
        org: str,
        sim: str,
        sender: str,
        text: str,
        *,
        encoding: str,
        received_at: float | None,
        external_id: str | None,
        concat: tuple[int, int, int] | None = None,
        source: str | None = None,
    ) -> MessageRow | None:
        """Store one SMS or part; return the message when a whole new one is now stored.
        `source` (one of SOURCES) defaults to what the SIM says (`inbound_source`)."""

        def op(tx: Transaction) -> MessageRow | None:
            if concat is None or concat[1] <= 1 or not 1 <= concat[2] <= concat[1]:
                # Not a part of anything (23.040: a bad sequence number voids the element):
                # a message of its own, so its text is neither lost nor spliced into another.
                return _insert_received(
                    tx,
                    self.shape,
                    org,
                    sim,
                    sender,
                    text,
                    encoding,
                    received_at,
                    external_id,
                    partial=False,
                    source=source,
                )
            reference, total, seq = concat
            cursor = tx.execute(
                "INSERT INTO inbound_parts (org, sim, sender, reference, total, seq, text, "
                "encoding, received_at, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (org, sim, sender, reference, total, seq, text, encoding, received_at, time.time()),
            )
            if cursor.rowcount == 0:
                return None  # this part was seen before
            return _assemble(tx, self.shape, (org, sim, sender, reference, total), partial=False)

        return await self.db.write(op)

    async def flush_stale(self, older_than: float) -> list[MessageRow]:
        """Give up on multipart messages waiting longer than `older_than` seconds: store partial."""

        def op(tx: Transaction) -> list[MessageRow]:
            now = time.time()
            tx.execute(
                "DELETE FROM inbound_parts WHERE message_id IS NOT NULL AND first_seen < ?",
                (now - ASSEMBLED_KEEP_SECONDS,),
            )
            groups = tx.execute(
                "SELECT org, sim, sender, reference, total FROM inbound_parts "
                "WHERE message_id IS NULL GROUP BY org, sim, sender, reference, total "
                "HAVING MIN(first_seen) < ?",
                (now - older_than,),
            ).fetchall()
            out = []
            for group in groups:
                message = _assemble(tx, self.shape, tuple(group), partial=True)
                if message is not None:
                    out.append(message)
            return out

        return await self.db.write(op)


def _assemble(
    tx: Transaction, shape: MessageShape, group: tuple[Any, ...], *, partial: bool
) -> MessageRow | None:
    org, sim, sender, _reference, total = group
    where = (
        "org = ? AND sim = ? AND sender = ? AND reference = ? AND total = ? AND message_id IS NULL"
    )
    parts = tx.execute(
        f"SELECT seq, text, encoding, received_at FROM inbound_parts WHERE {where} "  # noqa: S608
        "ORDER BY seq",
        group,
    ).fetchall()
    if not partial and len(parts) < total:
        return None
    by_seq = {p["seq"]: p for p in parts}
    text = "".join(by_seq[s]["text"] if s in by_seq else MISSING_PART for s in range(1, total + 1))
    first = parts[0]
    times = [p["received_at"] for p in parts if p["received_at"] is not None]
    message = _insert_received(
        tx,
        shape,
        org,
        sim,
        sender,
        text,
        first["encoding"],
        min(times) if times else None,
        None,
        partial=len(parts) < total,
        parts=total,
    )
    assert message is not None
    tx.execute(f"UPDATE inbound_parts SET message_id = ? WHERE {where}", (message.id, *group))  # noqa: S608
    return message


def _insert_received(
    tx: Transaction,
    shape: MessageShape,
    org: str,
    sim: str,
    sender: str,
    text: str,
    encoding: str,
    received_at: float | None,
    external_id: str | None,
    *,
    partial: bool,
    parts: int = 1,
    source: str | None = None,
) -> MessageRow | None:
    now = time.time()
    values: dict[str, Any] = {
        "org": org,
        "direction": "in",
        "channel": "sms",
        "peer": sender,
        "text": text,
        "sim": sim,
        "parts": parts,
        "encoding": encoding,
        "status": "received",
        "created_at": now,
        "received_at": received_at if received_at is not None else now,
        "partial": int(partial),
        "external_id": external_id,
        "source": source or inbound_source(sim),
    }
    # Ignored (None): the same SMS was stored before (dedupe on external_id).
    return insert_message_in(tx, values, shape, or_ignore=True)
