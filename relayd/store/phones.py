"""Phones: paired devices (device tokens, stored hashed) and the SIM slots each phone reported."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from relayd.store.backend import Backend, Transaction
from relayd.store.keys import ensure_org_in, hash_org_secret, hash_secret
from relayd.store.records import Record

TOKEN_PREFIX = "pt_"  # noqa: S105 - the prefix of device tokens, not a secret


@dataclass(frozen=True)
class PhoneSlot:
    """One SIM slot as a phone last reported it."""

    slot: int
    number: str | None
    carrier: str | None


@dataclass(frozen=True)
class PhoneDeviceRow:
    """A known phone: paired with a token, or first seen over the org secret."""

    id: str
    org: str
    name: str
    token_prefix: str | None
    created_at: float
    last_seen_at: float | None
    slots: tuple[PhoneSlot, ...] = ()
    owner: str | None = None  # the credential it was first seen with (never a secret)


def _device(row: Record, slots: Sequence[PhoneSlot] = ()) -> PhoneDeviceRow:
    return PhoneDeviceRow(
        id=row["id"],
        org=row["org"],
        name=row["name"],
        token_prefix=row["token_prefix"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        slots=tuple(slots),
        owner=row["owner"],
    )


class PhoneStore:
    """Devices, their tokens and slots; org creation by the first phone (`allow_new_orgs`)."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def pair(self, org: str, name: str, device_id: str) -> tuple[PhoneDeviceRow, str]:
        """Create a device with a fresh token (and the org if needed); the token is shown once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)

        def op(tx: Transaction) -> PhoneDeviceRow:
            ensure_org_in(tx, org)
            now = time.time()
            tx.execute(
                "INSERT INTO phone_devices (id, org, name, token_hash, token_prefix, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (device_id, org, name, hash_secret(token), token[:8], now),
            )
            return PhoneDeviceRow(device_id, org, name, token[:8], now, None)

        return await self.db.write(op), token

    async def by_token(self, token: str) -> PhoneDeviceRow | None:
        """The active device holding `token`, or None."""
        digest = hash_secret(token)
        row = await self.db.fetchone(
            "SELECT * FROM phone_devices WHERE token_hash = ? AND revoked_at IS NULL", (digest,)
        )
        if row is None or not secrets.compare_digest(row["token_hash"], digest):
            return None
        return _device(row)

    async def create_org(self, org: str, secret: str) -> bool:
        """Create `org` with this phone secret; False when it exists already (nothing changes)."""
        hashed = await asyncio.to_thread(hash_org_secret, secret)

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "INSERT INTO orgs (id, secret_hash, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO NOTHING",
                (org, hashed, time.time()),
            )
            return cursor.rowcount > 0

        return await self.db.write(op)

    async def remember(
        self,
        device_id: str,
        org: str,
        name: str,
        slots: Sequence[PhoneSlot],
        owner: str | None = None,
    ) -> None:
        """Record a device seen now and the slots it reported (replacing the previous list);
        its `owner` credential is kept from the first time it was recorded with one."""

        def op(tx: Transaction) -> None:
            now = time.time()
            tx.execute(
                "INSERT INTO phone_devices (id, org, name, created_at, last_seen_at, owner) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET last_seen_at = ?, "
                "owner = COALESCE(phone_devices.owner, excluded.owner)",
                (device_id, org, name, now, now, owner, now),
            )
            tx.execute("DELETE FROM phone_sims WHERE device = ?", (device_id,))
            tx.executemany(
                "INSERT INTO phone_sims (device, slot, number, carrier, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(device_id, s.slot, s.number, s.carrier, now) for s in slots],
            )

        await self.db.write(op)

    async def touch(self, device_id: str) -> None:
        """Note that a device was connected until now."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "UPDATE phone_devices SET last_seen_at = ? WHERE id = ?", (time.time(), device_id)
            )

        await self.db.write(op)

    async def devices(self, org: str | None = None) -> list[PhoneDeviceRow]:
        """Active devices (of one org, or all) with their last reported slots."""
        rows = await self.db.fetchall(
            "SELECT * FROM phone_devices WHERE revoked_at IS NULL "
            "AND (CAST(? AS TEXT) IS NULL OR org = ?) "
            "ORDER BY created_at, id",
            (org, org),
        )
        slot_rows = await self.db.fetchall(
            "SELECT s.device, s.slot, s.number, s.carrier FROM phone_sims s JOIN phone_devices d "
            "ON d.id = s.device WHERE d.revoked_at IS NULL "
            "AND (CAST(? AS TEXT) IS NULL OR d.org = ?) "
            "ORDER BY s.device, s.slot",
            (org, org),
        )
        slots: dict[str, list[PhoneSlot]] = {}
        for s in slot_rows:
            slots.setdefault(s["device"], []).append(
                PhoneSlot(s["slot"], s["number"], s["carrier"])
            )
        return [_device(r, slots.get(r["id"], ())) for r in rows]

    async def revoke(self, device_id: str, org: str) -> bool:
        """Revoke a device of `org` (its token stops working, its slots are forgotten)."""

        def op(tx: Transaction) -> bool:
            tx.execute("DELETE FROM phone_sims WHERE device = ?", (device_id,))
            # A phone known only by the org secret is forgotten (it may connect again);
            # a paired one keeps its row, so its token can never be reused.
            cursor = tx.execute(
                "DELETE FROM phone_devices WHERE id = ? AND org = ? AND token_prefix IS NULL",
                (device_id, org),
            )
            if cursor.rowcount == 0:
                cursor = tx.execute(
                    "UPDATE phone_devices SET revoked_at = ?, token_hash = NULL "
                    "WHERE id = ? AND org = ? AND revoked_at IS NULL",
                    (time.time(), device_id, org),
                )
            return cursor.rowcount > 0

        return await self.db.write(op)
