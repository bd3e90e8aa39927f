"""Webhook endpoints, their durable delivery queue and the delivery log (SPEC §9).

A delivery row is written by `queue_deliveries` inside the transaction that stores the
event, so an event is never committed without its deliveries. The worker in
`relayd.webhooks` reads due rows and records every attempt here.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.webhook_rows import (
    AttemptResult,
    AttemptRow,
    ConfigEndpoint,
    DeliveryRow,
    DueDelivery,
    Endpoint,
    attempt_row,
    delivery_row,
    due_delivery,
    endpoint_row,
)

DELIVERY_STATES = ("pending", "delivered", "failed")


def subscribed(patterns: Sequence[str], type_: str) -> bool:
    """An endpoint subscribes to exact types, to `*`, or to a family such as `sms.*`."""
    return any(
        isinstance(p, str)
        and (p in ("*", type_) or (p.endswith(".*") and type_.startswith(p[:-1])))
        for p in patterns
    )


def new_msg_id() -> str:
    """The `webhook-id` header: random, stored, so it is the same on every retry and replay."""
    return "msg_" + secrets.token_hex(12)


def not_in(column: str, values: Sequence[Any]) -> str:
    """`column NOT IN (?, ...)`, true for an empty list (PostgreSQL refuses `IN ()`)."""
    return f"{column} NOT IN ({', '.join('?' * len(values))})" if values else "1 = 1"


def queue_deliveries(tx: Transaction, event_id: int, org: str, type_: str, at: float) -> int:
    """In the event's own transaction: one pending delivery per enabled matching endpoint."""
    endpoints = tx.execute(
        "SELECT id, events FROM webhooks WHERE org = ? AND enabled = 1 ORDER BY id", (org,)
    ).fetchall()
    rows = [
        (row[0], event_id, new_msg_id(), type_, at, at)
        for row in endpoints
        if subscribed(json.loads(row[1]), type_)
    ]
    tx.executemany(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, msg_id, type, status, "
        "next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        rows,
    )
    return len(rows)


class WebhookStore:
    """Endpoints, deliveries and attempts."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    # --- endpoints ------------------------------------------------------------------

    async def sync_config(self, entries: Sequence[ConfigEndpoint]) -> None:
        """Make the `config` endpoints exactly the file's entries; keep ids, secrets, state."""

        def op(tx: Transaction) -> None:
            now = time.time()
            keys = []
            for entry in entries:
                if entry.key in keys:
                    continue
                keys.append(entry.key)
                _ensure_org(tx, entry.org, now)
                tx.execute(
                    "INSERT INTO webhooks (org, url, kind, events, secret, headers, source, "
                    "config_key, enabled, created_at) VALUES (:org, :url, :kind, :events, "
                    ":secret, :headers, 'config', :key, 1, :now) ON CONFLICT (config_key) "
                    "DO UPDATE SET events = :events, headers = :headers, updated_at = :now, "
                    "secret = CASE WHEN :given = '' THEN webhooks.secret ELSE :given END",
                    {
                        "org": entry.org,
                        "url": entry.url,
                        "kind": entry.kind,
                        "events": json.dumps(list(entry.events)),
                        "secret": entry.secret or entry.generated,
                        "given": entry.secret,
                        "headers": json.dumps(entry.headers),
                        "key": entry.key,
                        "now": now,
                    },
                )
            tx.execute(
                "DELETE FROM webhooks WHERE source = 'config' "  # noqa: S608 - placeholders
                f"AND {not_in('config_key', keys)}",
                tuple(keys),
            )

        await self.db.write(op)

    async def create(
        self,
        org: str,
        url: str,
        kind: str,
        events: Sequence[str],
        secret: str,
        headers: dict[str, str],
    ) -> Endpoint:
        """Store a new API-created endpoint."""

        def op(tx: Transaction) -> Endpoint:
            now = time.time()
            _ensure_org(tx, org, now)
            endpoint_id = tx.insert(
                "INSERT INTO webhooks (org, url, kind, events, secret, headers, source, "
                "enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, 'api', 1, ?)",
                (org, url, kind, json.dumps(list(events)), secret, json.dumps(headers), now),
            )
            # Read back in the same transaction: a DELETE racing in after the commit must not
            # turn this create into a 500 (found by the fuzzer with two workers).
            row = tx.execute("SELECT * FROM webhooks WHERE id = ?", (endpoint_id,)).fetchone()
            return endpoint_row(row)

        return await self.db.write(op)

    async def get(self, org: str, endpoint_id: int) -> Endpoint | None:
        """One endpoint of `org`, or None."""
        row = await self.db.fetchone(
            "SELECT * FROM webhooks WHERE id = ? AND org = ?", (endpoint_id, org)
        )
        return None if row is None else endpoint_row(row)

    async def list_endpoints(self, org: str) -> list[Endpoint]:
        """Every endpoint of `org`, oldest first."""
        rows = await self.db.fetchall("SELECT * FROM webhooks WHERE org = ? ORDER BY id", (org,))
        return [endpoint_row(r) for r in rows]

    async def counts(self, endpoint_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Deliveries per endpoint and state."""
        if not endpoint_ids:
            return {}
        marks = ", ".join("?" * len(endpoint_ids))
        rows = await self.db.fetchall(
            "SELECT webhook_id, status, COUNT(*) AS n FROM webhook_deliveries "  # noqa: S608
            f"WHERE webhook_id IN ({marks}) GROUP BY webhook_id, status",
            tuple(endpoint_ids),
        )
        out: dict[int, dict[str, int]] = {
            i: dict.fromkeys(DELIVERY_STATES, 0) for i in endpoint_ids
        }
        for row in rows:
            out[row["webhook_id"]][row["status"]] = row["n"]
        return out

    async def update(self, org: str, endpoint_id: int, changes: dict[str, Any]) -> bool:
        """Change fields (url, events, headers, secret, enabled) of one endpoint."""
        values = dict(changes)
        for name in ("events", "headers"):
            if name in values:
                values[name] = json.dumps(list(values[name]) if name == "events" else values[name])
        if "enabled" in values:
            values["enabled"] = int(values["enabled"])
            values["disabled_reason"] = None if values["enabled"] else "disabled by an admin"

        def op(tx: Transaction) -> bool:
            assignments = ", ".join(f"{k} = :{k}" for k in values)
            cursor = tx.execute(
                f"UPDATE webhooks SET {assignments}, updated_at = :now "  # noqa: S608 - names
                "WHERE id = :id AND org = :org",
                {**values, "now": time.time(), "id": endpoint_id, "org": org},
            )
            return cursor.rowcount > 0

        return await self.db.write(op)

    async def delete(self, org: str, endpoint_id: int) -> bool:
        """Remove an endpoint with its queue and log."""

        def op(tx: Transaction) -> bool:
            return (
                tx.execute(
                    "DELETE FROM webhooks WHERE id = ? AND org = ?", (endpoint_id, org)
                ).rowcount
                > 0
            )

        return await self.db.write(op)

    async def orgs_with_endpoints(self) -> set[str]:
        """Orgs that have at least one enabled endpoint (the worker's wake-up filter)."""
        rows = await self.db.fetchall("SELECT DISTINCT org FROM webhooks WHERE enabled = 1")
        return {r[0] for r in rows}

    # --- the queue ------------------------------------------------------------------

    async def due(self, now: float, exclude: Sequence[int], limit: int) -> list[DueDelivery]:
        """Pending deliveries of enabled endpoints whose time has come, oldest due first."""
        rows = await self.db.fetchall(
            "SELECT d.id, d.webhook_id, d.msg_id, d.type, d.attempts, d.payload, "  # noqa: S608
            "e.at AS event_at, e.data AS event_data, w.url, w.kind, w.secret, w.headers "
            "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
            "LEFT JOIN events e ON e.id = d.event_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1 "
            f"AND {not_in('d.id', exclude)} ORDER BY d.next_attempt_at, d.id LIMIT ?",
            (now, *exclude, limit),
        )
        return [due_delivery(r) for r in rows]

    async def next_due_at(self, exclude: Sequence[int]) -> float | None:
        """When the earliest pending delivery (not in flight) is due, or None."""
        row = await self.db.fetchone(
            "SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d "  # noqa: S608
            "JOIN webhooks w ON w.id = d.webhook_id WHERE d.status = 'pending' "
            f"AND w.enabled = 1 AND {not_in('d.id', exclude)}",
            tuple(exclude),
        )
        return None if row is None or row[0] is None else float(row[0])

    async def record_attempt(self, delivery_id: int, result: AttemptResult) -> None:
        """Log one attempt and move the delivery on; a 410 disables its endpoint."""

        def op(tx: Transaction) -> None:
            status = {"delivered": "delivered", "retry": "pending"}.get(result.outcome, "failed")
            cursor = tx.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, "
                "next_attempt_at = ?, last_attempt_at = ?, last_status_code = ?, last_error = ?, "
                "delivered_at = ? WHERE id = ? AND status = 'pending'",
                (
                    status,
                    result.next_at if result.outcome == "retry" else None,
                    result.at,
                    result.status_code,
                    result.error,
                    result.at if result.outcome == "delivered" else None,
                    delivery_id,
                ),
            )
            if cursor.rowcount == 0:
                return  # deleted or replayed meanwhile: nothing to log against
            tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, at, status_code, error, duration_ms, "
                "response) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    result.at,
                    result.status_code,
                    result.error,
                    result.duration_ms,
                    result.response,
                ),
            )
            if result.outcome != "gone":
                return
            reason = "the receiver answered 410 Gone"
            tx.execute(
                "UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? "
                "WHERE id = (SELECT webhook_id FROM webhook_deliveries WHERE id = ?)",
                (reason, result.at, delivery_id),
            )
            tx.execute(
                "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, "
                "last_error = 'endpoint disabled: ' || ? WHERE status = 'pending' AND "
                "webhook_id = (SELECT webhook_id FROM webhook_deliveries WHERE id = ?)",
                (reason, delivery_id),
            )

        await self.db.write(op)

    async def queue_test(self, endpoint_id: int, type_: str, payload: str) -> int:
        """A delivery that carries its own body and goes to one endpoint only (test-fire)."""

        def op(tx: Transaction) -> int:
            now = time.time()
            delivery_id = tx.insert(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, msg_id, type, payload, "
                "status, next_attempt_at, created_at) VALUES (?, NULL, ?, ?, ?, 'pending', ?, ?)",
                (endpoint_id, new_msg_id(), type_, payload, now, now),
            )
            return int(delivery_id or 0)

        return await self.db.write(op)

    async def replay(self, endpoint_id: int, delivery_id: int | None, limit: int) -> list[int]:
        """Queue again one delivery (any state), or every failed one; same `webhook-id`."""

        def op(tx: Transaction) -> list[int]:
            if delivery_id is not None:
                rows = tx.execute(
                    "SELECT id FROM webhook_deliveries WHERE id = ? AND webhook_id = ?",
                    (delivery_id, endpoint_id),
                ).fetchall()
            else:
                rows = tx.execute(
                    "SELECT id FROM webhook_deliveries WHERE webhook_id = ? AND status = 'failed' "
                    "ORDER BY id LIMIT ?",
                    (endpoint_id, limit),
                ).fetchall()
            ids = [int(r[0]) for r in rows]
            now = time.time()
            tx.executemany(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, "
                "next_attempt_at = ?, delivered_at = NULL WHERE id = ?",
                [(now, i) for i in ids],
            )
            return ids

        return await self.db.write(op)

    # --- the log --------------------------------------------------------------------

    async def prune(self, older_than: float) -> int:
        """Forget finished deliveries (and their attempts) created before `older_than`."""

        def op(tx: Transaction) -> int:
            return tx.execute(
                "DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < ?",
                (older_than,),
            ).rowcount

        return await self.db.write(op)

    async def deliveries(
        self,
        endpoint_id: int,
        *,
        status: str | None = None,
        before_id: int | None = None,
        delivery_id: int | None = None,
        limit: int = 50,
    ) -> list[DeliveryRow]:
        """Deliveries of one endpoint, newest first, each with its attempts (oldest first)."""
        clauses: list[str] = ["webhook_id = ?"]
        params: list[Any] = [endpoint_id]
        for clause, value in (
            ("status = ?", status),
            ("id < ?", before_id),
            ("id = ?", delivery_id),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        rows = await self.db.fetchall(
            f"SELECT * FROM webhook_deliveries WHERE {' AND '.join(clauses)} "  # noqa: S608
            "ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        if not rows:
            return []
        marks = ", ".join("?" * len(rows))
        attempts = await self.db.fetchall(
            "SELECT delivery_id, at, status_code, error, duration_ms, response "  # noqa: S608
            f"FROM webhook_attempts WHERE delivery_id IN ({marks}) ORDER BY id",
            tuple(r["id"] for r in rows),
        )
        logs: dict[int, list[AttemptRow]] = {r["id"]: [] for r in rows}
        for attempt in attempts:
            logs[attempt["delivery_id"]].append(attempt_row(attempt))
        return [delivery_row(r, tuple(logs[r["id"]])) for r in rows]


def _ensure_org(tx: Transaction, org: str, now: float) -> None:
    # Not keys.ensure_org_in: keys -> rows -> webhooks would be an import cycle.
    tx.execute("INSERT INTO orgs (id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (org, now))
