"""Fleet mode: relays (nodes) with their heartbeat, the SIMs each drives, claims on queued work.

Several relays share one database; each claims the queued messages its own SIMs can carry.
A claim sets `messages.node`; the claiming relay then runs the usual state machine on them.
On PostgreSQL the claim reads with `FOR UPDATE SKIP LOCKED`, so two relays claiming at once
never wait for each other and never take the same row; on SQLite the one writer serialises
claims anyway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.records import MessageRow, message_row
from relayd.store.rows import MessageShape, transition_in

WORK_CHANNEL = "relayd_work"  # payload: the org with new claimable work ("" for any)
SIMS_CHANNEL = "relayd_sims"  # payload: the node whose SIMs changed


@dataclass(frozen=True)
class ClaimScope:
    """What one org's free SIMs on this relay can take: explicit names, and "any SIM"."""

    org: str
    names: tuple[str, ...]  # ids, names, numbers, slot indexes of its free SIMs
    any_sim: bool = True


@dataclass(frozen=True)
class NodeRow:
    """A relay of the fleet as its heartbeat row says."""

    id: str
    state: str  # up | down
    started_at: float
    heartbeat_at: float
    beats: int


@dataclass(frozen=True)
class FleetSim:
    """A SIM of the fleet as its owner published it."""

    id: str
    org: str
    node: str
    kind: str
    name: str
    number: str | None
    slot: int | None
    online: bool
    info: dict[str, Any]
    updated_at: float


@dataclass(frozen=True)
class Reaped:
    """What taking over a dead relay did: sends failed as interrupted, queued work released."""

    interrupted: list[int]
    released: int
    sims: int


class FleetStore:
    """Nodes, the fleet's SIM registry, and claims on queued outbound messages."""

    def __init__(self, db: Backend, shape: MessageShape) -> None:
        self.db = db
        self.shape = shape

    # --- nodes ----------------------------------------------------------------------

    async def join(self, node: str) -> None:
        """This relay starts: its row is up with a fresh heartbeat (a restart rejoins)."""
        now = time.time()

        def op(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO nodes (id, state, started_at, heartbeat_at, beats) "
                "VALUES (?, 'up', ?, ?, 0) ON CONFLICT (id) DO UPDATE SET state = 'up', "
                "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
                "beats = nodes.beats + 1",
                (node, now, now),
            )

        await self.db.write(op)

    async def heartbeat(self, node: str) -> bool:
        """Beat once; False when the others declared this relay dead meanwhile."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "UPDATE nodes SET heartbeat_at = ?, beats = beats + 1 "
                "WHERE id = ? AND state = 'up'",
                (time.time(), node),
            )
            return cursor.rowcount > 0

        return await self.db.write(op)

    async def leave(self, node: str) -> None:
        """A clean stop: the node is down, its SIMs offline, its unsent claims released."""

        def op(tx: Transaction) -> None:
            tx.execute("UPDATE nodes SET state = 'down' WHERE id = ?", (node,))
            tx.execute("UPDATE sims SET online = 0 WHERE node = ?", (node,))
            _release_in(tx, node)

        await self.db.write(op)

    async def nodes(self) -> list[NodeRow]:
        """Every relay that ever joined."""
        rows = await self.db.fetchall(
            "SELECT id, state, started_at, heartbeat_at, beats FROM nodes ORDER BY id"
        )
        return [
            NodeRow(r["id"], r["state"], r["started_at"], r["heartbeat_at"], int(r["beats"]))
            for r in rows
        ]

    async def reap(self, node: str, beats: int) -> Reaped | None:
        """Take over a relay whose heartbeat stopped at `beats`; None if it beat since (or gone).

        In one transaction: the node goes down, its SIMs offline, its `sending` rows fail as
        `interrupted` (nobody can tell whether they went on air), its queued claims are
        released for the others. The row lock makes one relay do it, once.
        """
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""

        def op(tx: Transaction) -> Reaped | None:
            found = tx.execute(
                f"SELECT beats FROM nodes WHERE id = ? AND state = 'up'{lock}",  # noqa: S608
                (node,),
            ).fetchone()
            if found is None or int(found["beats"]) != beats:
                return None
            tx.execute("UPDATE nodes SET state = 'down' WHERE id = ?", (node,))
            sims = tx.execute("UPDATE sims SET online = 0 WHERE node = ? AND online = 1", (node,))
            torn = tx.execute(
                "SELECT id FROM messages WHERE node = ? AND status = 'sending' ORDER BY id",
                (node,),
            ).fetchall()
            interrupted = []
            for row in torn:
                moved = transition_in(
                    tx, self.shape, row["id"], "failed", error="interrupted",
                    only_from=("sending",),
                )
                if moved is not None:
                    interrupted.append(moved.id)
            released = _release_in(tx, node)
            return Reaped(interrupted, released, sims.rowcount)

        return await self.db.write(op)

    # --- the SIM registry -----------------------------------------------------------

    async def publish_sim(self, node: str, sim: FleetSim) -> None:
        """Write what this relay knows of one of its SIMs (it owns the row from now on)."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO sims (id, org, node, kind, name, number, slot, online, info, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET org = excluded.org, node = excluded.node, kind = excluded.kind, "
                "name = excluded.name, number = excluded.number, slot = excluded.slot, "
                "online = excluded.online, info = excluded.info, updated_at = excluded.updated_at",
                (
                    sim.id, sim.org, node, sim.kind, sim.name, sim.number, sim.slot,
                    int(sim.online), json.dumps(sim.info, separators=(",", ":")), sim.updated_at,
                ),
            )

        await self.db.write(op)

    async def sims(self, org: str | None = None) -> list[FleetSim]:
        """The fleet's SIMs (of one org), by id."""
        where, params = ("WHERE org = ?", (org,)) if org is not None else ("", ())
        rows = await self.db.fetchall(
            "SELECT id, org, node, kind, name, number, slot, online, info, updated_at "  # noqa: S608
            f"FROM sims {where} ORDER BY id",
            params,
        )
        return [
            FleetSim(
                r["id"], r["org"], r["node"], r["kind"], r["name"], r["number"], r["slot"],
                bool(r["online"]), json.loads(r["info"]), r["updated_at"],
            )
            for r in rows
        ]

    # --- claims ---------------------------------------------------------------------

    async def claim(
        self, node: str, scopes: Sequence[ClaimScope], limit: int, now: float | None = None
    ) -> list[MessageRow]:
        """Claim up to `limit` queued SMS, oldest first, that the scopes' SIMs can carry now."""
        if limit <= 0 or not scopes:
            return []
        clauses, params = _scope_sql(scopes)
        when = time.time() if now is None else now
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        select = (
            "SELECT id FROM messages WHERE status = 'queued' AND node IS NULL "  # noqa: S608
            "AND direction = 'out' AND channel = 'sms' AND (send_at IS NULL OR send_at <= ?) "
            f"AND ({clauses}) ORDER BY id LIMIT ?{lock}"
        )

        def op(tx: Transaction) -> list[MessageRow]:
            ids = [r["id"] for r in tx.execute(select, (when, *params, limit)).fetchall()]
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            tx.execute(
                f"UPDATE messages SET node = ? WHERE id IN ({marks})",  # noqa: S608
                (node, *ids),
            )
            rows = tx.execute(
                f"SELECT * FROM messages WHERE id IN ({marks}) AND status = 'queued' "  # noqa: S608
                "ORDER BY id",
                tuple(ids),
            ).fetchall()
            return [message_row(r) for r in rows]

        return await self.db.write(op)

    async def release(self, node: str, message_ids: Sequence[int]) -> None:
        """Give claimed messages that are still queued back to the fleet."""
        if not message_ids:
            return
        marks = ", ".join("?" * len(message_ids))

        def op(tx: Transaction) -> None:
            tx.execute(
                f"UPDATE messages SET node = NULL WHERE node = ? AND status = 'queued' "  # noqa: S608
                f"AND id IN ({marks})",
                (node, *message_ids),
            )

        await self.db.write(op)

    async def next_due(self, scopes: Sequence[ClaimScope], now: float) -> float | None:
        """The earliest `send_at` still ahead among unclaimed messages the scopes could take."""
        if not scopes:
            return None
        clauses, params = _scope_sql(scopes)
        row = await self.db.fetchone(
            "SELECT MIN(send_at) AS due FROM messages WHERE status = 'queued' "  # noqa: S608
            "AND node IS NULL AND direction = 'out' AND channel = 'sms' AND send_at > ? "
            f"AND ({clauses})",
            (now, *params),
        )
        return None if row is None or row["due"] is None else float(row["due"])

    async def unclaimed_expiries(self, now: float) -> tuple[list[int], float | None]:
        """Unclaimed queued SMS whose ttl has passed, and the next `expires_at` still ahead
        (a message no relay claims — no SIM anywhere can take it — still expires)."""
        base = (
            "FROM messages WHERE status = 'queued' AND node IS NULL AND direction = 'out' "
            "AND channel = 'sms' AND expires_at IS NOT NULL"
        )
        due = await self.db.fetchall(f"SELECT id {base} AND expires_at <= ? ORDER BY id", (now,))
        ahead = await self.db.fetchone(
            f"SELECT MIN(expires_at) AS at {base} AND expires_at > ?", (now,)
        )
        later = None if ahead is None or ahead["at"] is None else float(ahead["at"])
        return [int(r["id"]) for r in due], later

    async def queued_count(self, org: str | None = None) -> int:
        """Outbound SMS `queued` in the whole fleet (claimed by a relay or not)."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM messages WHERE status = 'queued' AND direction = 'out' "
            "AND channel = 'sms' AND (CAST(? AS TEXT) IS NULL OR org = ?)",
            (org, org),
        )
        return 0 if row is None else int(row["n"])


def sim_row_info(data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a SIM row keeps: what `GET /api/v1/sims` shows of it (secrets left out)."""
    return {k: v for k, v in data.items() if k != "control_url"}


def _release_in(tx: Transaction, node: str) -> int:
    cursor = tx.execute(
        "UPDATE messages SET node = NULL WHERE node = ? AND status = 'queued' AND channel = 'sms'",
        (node,),
    )
    return cursor.rowcount


def _scope_sql(scopes: Sequence[ClaimScope]) -> tuple[str, list[Any]]:
    """`(org = ? AND (sim_request IS NULL OR sim_request IN (...)))` OR ... for every scope."""
    parts, params = [], []
    for scope in scopes:
        wants = []
        if scope.any_sim:
            wants.append("sim_request IS NULL")
        if scope.names:
            wants.append(f"sim_request IN ({', '.join('?' * len(scope.names))})")
        if not wants:
            continue
        parts.append(f"(org = ? AND ({' OR '.join(wants)}))")
        params.extend([scope.org, *scope.names])
    return (" OR ".join(parts) or "0 = 1"), params
