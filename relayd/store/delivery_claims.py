"""Webhook deliveries claimed by one relay at a time (relays sharing a database).

A relay takes due deliveries by writing a lease on them (`claimed_by`, `claim_until`): on
PostgreSQL one UPDATE over `SELECT … FOR UPDATE SKIP LOCKED` (rows another relay is leasing
at that moment are passed over); elsewhere a conditional UPDATE per row (of two writers that
race for a row, the second finds the lease set and leaves it). The lease
ends when the attempt is recorded (`WebhookStore.record_attempt` clears it), or runs out
when the relay died mid-POST: then another relay delivers it again (at least once, same
`webhook-id`). On one relay alone the worker needs none of this: it keeps its in-flight
deliveries in memory and reads the queue (`WebhookStore.due`).
"""

from __future__ import annotations

from relayd.store.backend import Backend, Transaction
from relayd.store.webhook_rows import DueDelivery, due_delivery
from relayd.store.webhooks import DUE_SELECT

# Due deliveries no live lease holds, oldest due first.
_DUE_IDS = (
    "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND w.enabled = 1 "
    "AND (d.claim_until IS NULL OR d.claim_until < :now) "
    "ORDER BY d.next_attempt_at, d.id LIMIT :limit"
)


class DeliveryClaims:
    """Leases on due deliveries for the relay `owner` (a token unique to this run)."""

    def __init__(self, db: Backend, owner: str, lease: float) -> None:
        self.db = db
        self.owner = owner
        self.lease = lease  # seconds: longer than one attempt and its recording

    async def claim(self, now: float, limit: int) -> list[DueDelivery]:
        """Lease up to `limit` due deliveries no live lease holds; oldest due first."""
        params = {"now": now, "limit": limit, "owner": self.owner, "until": now + self.lease}
        due = _DUE_IDS

        def skip_locked(tx: Transaction) -> list[DueDelivery]:
            # PostgreSQL: rows another relay is leasing right now are passed over, not waited for
            ids = [
                r[0]
                for r in tx.execute(
                    "UPDATE webhook_deliveries SET claimed_by = :owner, claim_until = :until "  # noqa: S608
                    f"WHERE id IN ({due} FOR UPDATE OF d SKIP LOCKED) RETURNING id",
                    params,
                ).fetchall()
            ]
            if not ids:
                return []
            rows = tx.execute(
                f"{DUE_SELECT} WHERE d.id IN ({', '.join('?' * len(ids))}) "
                "ORDER BY d.next_attempt_at, d.id",
                tuple(ids),
            ).fetchall()
            return [due_delivery(r) for r in rows]

        def one_by_one(tx: Transaction) -> list[DueDelivery]:
            rows = tx.execute(
                f"{DUE_SELECT} WHERE d.id IN ({due})", params
            ).fetchall()
            taken = []
            for row in sorted(rows, key=lambda r: r["id"]):
                cursor = tx.execute(
                    "UPDATE webhook_deliveries SET claimed_by = :owner, claim_until = :until "
                    "WHERE id = :id AND status = 'pending' "
                    "AND (claim_until IS NULL OR claim_until < :now)",
                    {**params, "id": row["id"]},
                )
                if cursor.rowcount:
                    taken.append(due_delivery(row))
            return taken

        return await self.db.write(skip_locked if self.db.dialect == "postgresql" else one_by_one)

    async def next_due_at(self, now: float) -> float | None:
        """When a pending delivery is next due for this relay: its time, or its lease's end."""
        row = await self.db.fetchone(
            "SELECT MIN(CASE WHEN d.claim_until > d.next_attempt_at THEN d.claim_until "
            "ELSE d.next_attempt_at END) FROM webhook_deliveries d "
            "JOIN webhooks w ON w.id = d.webhook_id WHERE d.status = 'pending' AND w.enabled = 1",
            (),
        )
        return None if row is None or row[0] is None else max(float(row[0]), now)

    async def release_mine(self) -> int:
        """At stop: give back leases this run holds (their POSTs did not finish)."""

        def op(tx: Transaction) -> int:
            return tx.execute(
                "UPDATE webhook_deliveries SET claimed_by = NULL, claim_until = NULL "
                "WHERE claimed_by = ? AND status = 'pending'",
                (self.owner,),
            ).rowcount

        return await self.db.write(op)
