"""Message parts and their status reports: pairing, including reports that beat their send."""

from __future__ import annotations

import time
from collections.abc import Sequence

from relayd.store.backend import Transaction
from relayd.store.records import MessageRow
from relayd.store.rows import MessageShape, transition_in

# Reports are paired with parts sent at most this long ago (networks retry for days).
REPORT_WINDOW = 3 * 86400.0
# A status report may beat the end of its own multipart send; keep it this long for pairing.
EARLY_REPORT_WINDOW = 600.0


def record_parts_in(
    tx: Transaction, shape: MessageShape, message_id: int, sim: str, references: Sequence[int]
) -> None:
    """Store each part's reference, move the message to `sent`, pair reports that came early."""
    now = time.time()
    tx.executemany(
        "INSERT INTO message_parts (message_id, seq, sim, reference, status, sent_at) "
        "VALUES (?, ?, ?, ?, 'sent', ?) ON CONFLICT (message_id, seq) DO UPDATE SET "
        "sim = excluded.sim, reference = excluded.reference, status = excluded.status, "
        "sent_at = excluded.sent_at, reported_at = NULL, detail = NULL",
        [(message_id, seq, sim, ref, now) for seq, ref in enumerate(references, 1)],
    )
    transition_in(tx, shape, message_id, "sent", sim=sim, only_from=("sending",))
    if not references:
        return
    # Reports for early parts can come back while later parts are still going out.
    marks = ", ".join("?" * len(references))
    early = tx.execute(
        "SELECT u.id, u.reference, u.recipient, u.delivered, u.detail FROM "  # noqa: S608
        "unmatched_reports u JOIN messages m ON m.id = ? AND m.peer = u.recipient "
        f"WHERE u.sim = ? AND u.at > ? AND u.reference IN ({marks}) ORDER BY u.id",
        (message_id, sim, now - EARLY_REPORT_WINDOW, *references),
    ).fetchall()
    for report in early:
        tx.execute("DELETE FROM unmatched_reports WHERE id = ?", (report["id"],))
        apply_report_in(
            tx,
            shape,
            sim,
            report["reference"],
            report["recipient"],
            delivered=bool(report["delivered"]),
            detail=report["detail"],
            window=EARLY_REPORT_WINDOW,
            keep_unmatched=False,
        )


def apply_report_in(
    tx: Transaction,
    shape: MessageShape,
    sim: str,
    reference: int,
    recipient: str,
    *,
    delivered: bool,
    detail: str,
    window: float = REPORT_WINDOW,
    keep_unmatched: bool = True,
) -> MessageRow | None:
    """Mark the matching part; the message is `delivered` when all parts are, or `failed`.

    A report that matches no part yet is kept (`keep_unmatched`) for record_parts_in.
    """
    now = time.time()
    part = tx.execute(
        "SELECT p.message_id, p.seq FROM message_parts p JOIN messages m "
        "ON m.id = p.message_id WHERE p.sim = ? AND p.reference = ? AND m.peer = ? "
        "AND p.sent_at > ? AND p.status = 'sent' ORDER BY p.sent_at DESC LIMIT 1",
        (sim, reference, recipient, now - window),
    ).fetchone()
    if part is None:
        if keep_unmatched:
            tx.execute("DELETE FROM unmatched_reports WHERE at < ?", (now - EARLY_REPORT_WINDOW,))
            tx.execute(
                "INSERT INTO unmatched_reports (sim, reference, recipient, delivered, detail, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (sim, reference, recipient, int(delivered), detail, now),
            )
        return None
    tx.execute(
        "UPDATE message_parts SET status = ?, reported_at = ?, detail = ? "
        "WHERE message_id = ? AND seq = ?",
        ("delivered" if delivered else "failed", now, detail, *part),
    )
    message_id = part["message_id"]
    if not delivered:
        return transition_in(
            tx, shape, message_id, "failed", error=f"not delivered: {detail}", only_from=("sent",)
        )
    remaining = tx.execute(
        "SELECT COUNT(*) FROM message_parts WHERE message_id = ? AND status != 'delivered'",
        (message_id,),
    ).fetchone()[0]
    if remaining:
        return None
    return transition_in(tx, shape, message_id, "delivered", only_from=("sent",))
