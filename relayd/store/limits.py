"""Limits kept in the database, for relays that share it: per-key token buckets and failed logins.

Each check is one atomic statement (a conditional UPDATE), so two relays spending the same
key's tokens at once never both get the last one: on PostgreSQL the second UPDATE waits
for the first's commit and re-reads the row. Times are wall-clock seconds (relays share
them; a monotonic clock is per machine).
"""

from __future__ import annotations

from relayd.store.backend import Backend, Transaction

# The bucket's level now: its stored tokens plus what flowed in since, capped at capacity. A
# relay's `now` may be a hair older than the last update (ops commit out of call order):
# no time flowed then, rather than a negative amount.
_ELAPSED = "(CASE WHEN :now > updated THEN :now - updated ELSE 0 END)"
_LEVEL = (
    f"CASE WHEN tokens + {_ELAPSED} * :rate > :cap THEN :cap "
    f"ELSE tokens + {_ELAPSED} * :rate END"
)
_LATEST = "CASE WHEN :now > updated THEN :now ELSE updated END"


class LimitStore:
    """Token buckets per API key and failed logins per client address."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def take_tokens(
        self, key_id: int, per_second: float, capacity: float, cost: int, now: float
    ) -> float | None:
        """Spend `cost` tokens; None when spent, else the tokens the bucket holds (too few)."""

        def op(tx: Transaction) -> float | None:
            params = {
                "key": key_id, "rate": per_second, "cap": capacity, "cost": float(cost), "now": now
            }
            tx.execute(
                "INSERT INTO rate_buckets (key_id, tokens, updated) VALUES (:key, :cap, :now) "
                "ON CONFLICT (key_id) DO NOTHING",
                params,
            )
            spent = tx.execute(
                f"UPDATE rate_buckets SET tokens = {_LEVEL} - :cost, updated = {_LATEST} "  # noqa: S608
                f"WHERE key_id = :key AND {_LEVEL} >= :cost",
                params,
            ).rowcount
            if spent:
                return None
            row = tx.execute(
                f"SELECT {_LEVEL} FROM rate_buckets WHERE key_id = :key", params  # noqa: S608
            ).fetchone()
            return float(row[0])

        return await self.db.write(op)

    async def refund_tokens(self, key_id: int, capacity: float, cost: int) -> None:
        """Give back `cost` tokens (up to the capacity)."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "UPDATE rate_buckets SET tokens = CASE WHEN tokens + :cost > :cap THEN :cap "
                "ELSE tokens + :cost END WHERE key_id = :key",
                {"key": key_id, "cap": capacity, "cost": float(cost)},
            )

        await self.db.write(op)

    async def open_stream(self, holder: str, node: str, limit: int) -> bool:
        """Count one more stream of `holder` at relay `node`, unless the relays that are up
        hold `limit` already (then False)."""

        def op(tx: Transaction) -> bool:
            # The holder's row of no node is written first: its lock (PostgreSQL, until the
            # commit) makes two relays opening streams of one holder take turns.
            tx.execute(
                "INSERT INTO stream_slots (holder, node, n) VALUES (?, '', 0) "
                "ON CONFLICT (holder, node) DO UPDATE SET n = 0",
                (holder,),
            )
            total = tx.execute(
                "SELECT COALESCE(SUM(s.n), 0) FROM stream_slots s LEFT JOIN nodes r "
                "ON r.id = s.node WHERE s.holder = ? AND (r.state IS NULL OR r.state = 'up')",
                (holder,),
            ).fetchone()[0]
            if int(total) >= limit:
                return False
            tx.execute(
                "INSERT INTO stream_slots (holder, node, n) VALUES (?, ?, 1) "
                "ON CONFLICT (holder, node) DO UPDATE SET n = stream_slots.n + 1",
                (holder, node),
            )
            return True

        return await self.db.write(op)

    async def close_stream(self, holder: str, node: str) -> None:
        """One stream of `holder` at relay `node` ended."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "UPDATE stream_slots SET n = n - 1 WHERE holder = ? AND node = ? AND n > 0",
                (holder, node),
            )

        await self.db.write(op)

    async def clear_streams(self, node: str, kind: str) -> None:
        """Forget the `kind` streams counted for relay `node` (it starts again: none is open)."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "DELETE FROM stream_slots WHERE node = ? AND holder LIKE ?", (node, f"{kind}:%")
            )

        await self.db.write(op)

    async def failed_login(self, address: str, now: float, window: float) -> None:
        """Record one wrong credential from `address`; forget failures older than `window`."""

        def op(tx: Transaction) -> None:
            tx.execute("DELETE FROM failed_logins WHERE at <= ?", (now - window,))
            tx.execute("INSERT INTO failed_logins (address, at) VALUES (?, ?)", (address, now))

        await self.db.write(op)

    async def recent_failures(self, address: str, since: float, limit: int) -> list[float]:
        """Times of the newest `limit` failures from `address` after `since`, newest first."""
        rows = await self.db.fetchall(
            "SELECT at FROM failed_logins WHERE address = ? AND at > ? ORDER BY at DESC LIMIT ?",
            (address, since, limit),
        )
        return [float(r[0]) for r in rows]
