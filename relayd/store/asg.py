"""Phones of the "SMS Gateway for Android" app: accounts, devices, send ids, app webhooks.

An account (login + password) is the app's "user": the 3rd-party API's Basic credentials,
mapped onto one relayd org. Devices belong to an account; their tokens are stored hashed.
`asg_sends` gives every hand-over of a message to a phone its own id, kept so that a send
left in flight by a restart reaches the phone again under the same id (the app dedupes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from relayd.store.backend import Backend, Transaction
from relayd.store.keys import ensure_org_in, hash_secret
from relayd.store.records import MessageRow, Record, StatusChange, message_row


@dataclass(frozen=True)
class AsgAccount:
    """The app's notion of a user: Basic credentials that stand for one org."""

    login: str
    org: str
    password_hash: str


@dataclass(frozen=True)
class AsgDeviceRow:
    """A registered device, without its token."""

    id: str
    org: str
    login: str
    name: str
    token_hash: str | None
    signing_key: str
    push_token: str | None
    sim_cards: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    last_seen_at: float | None = None


@dataclass(frozen=True)
class AsgSendRow:
    """One hand-over of a message to a phone."""

    ext_id: str
    message_id: int
    device: str


@dataclass(frozen=True)
class AsgWebhookRow:
    """A webhook the 3rd-party API registered; `device` None: every phone of the org."""

    id: str
    device: str | None
    url: str
    event: str


def _device(row: Record) -> AsgDeviceRow:
    try:
        cards = json.loads(row["sim_cards"])
    except (TypeError, ValueError):
        cards = []
    return AsgDeviceRow(
        id=row["id"],
        org=row["org"],
        login=row["login"],
        name=row["name"],
        token_hash=row["token_hash"],
        signing_key=row["signing_key"],
        push_token=row["push_token"],
        sim_cards=cards if isinstance(cards, list) else [],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_seen_at=row["last_seen_at"],
    )


class AsgStore:
    """All SQL of the app bridge."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    # --- accounts -------------------------------------------------------------------

    async def create_account(self, org: str, login: str, password_hash: str) -> bool:
        """A new account of `org`; False when the login is taken."""

        def op(tx: Transaction) -> bool:
            ensure_org_in(tx, org)
            cursor = tx.execute(
                "INSERT INTO asg_accounts (login, org, password_hash, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(login) DO NOTHING",
                (login, org, password_hash, time.time()),
            )
            return cursor.rowcount > 0

        return await self.db.write(op)

    async def account(self, login: str) -> AsgAccount | None:
        """The account with this login, or None."""
        row = await self.db.fetchone(
            "SELECT login, org, password_hash FROM asg_accounts WHERE login = ?", (login,)
        )
        return None if row is None else AsgAccount(row[0], row[1], row[2])

    async def set_password(self, login: str, password_hash: str) -> None:
        """Replace an account's password."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "UPDATE asg_accounts SET password_hash = ? WHERE login = ?", (password_hash, login)
            )

        await self.db.write(op)

    # --- devices --------------------------------------------------------------------

    async def create_device(
        self,
        *,
        device_id: str,
        org: str,
        login: str,
        name: str,
        token: str,
        signing_key: str,
        push_token: str | None,
        sim_cards: Sequence[dict[str, Any]],
    ) -> AsgDeviceRow:
        """Register a device; its token is stored only as a digest."""
        now = time.time()
        row = AsgDeviceRow(
            device_id,
            org,
            login,
            name,
            hash_secret(token),
            signing_key,
            push_token,
            list(sim_cards),
            now,
            now,
            now,
        )

        def op(tx: Transaction) -> AsgDeviceRow:
            tx.execute(
                "INSERT INTO asg_devices (id, org, login, name, token_hash, signing_key, "
                "push_token, sim_cards, created_at, updated_at, last_seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    org,
                    login,
                    name,
                    row.token_hash,
                    signing_key,
                    push_token,
                    json.dumps(list(sim_cards)),
                    now,
                    now,
                    now,
                ),
            )
            return row

        return await self.db.write(op)

    async def devices(self) -> list[AsgDeviceRow]:
        """Every active device, oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM asg_devices WHERE revoked_at IS NULL ORDER BY created_at, id"
        )
        return [_device(r) for r in rows]

    async def update_device(
        self,
        device_id: str,
        *,
        push_token: str | None,
        sim_cards: Sequence[dict[str, Any]] | None,
    ) -> None:
        """PATCH /device: the push token and (when sent) the SIM cards."""

        def op(tx: Transaction) -> None:
            now = time.time()
            tx.execute(
                "UPDATE asg_devices SET push_token = ?, updated_at = ?, last_seen_at = ? "
                "WHERE id = ?",
                (push_token, now, now, device_id),
            )
            if sim_cards is not None:
                tx.execute(
                    "UPDATE asg_devices SET sim_cards = ? WHERE id = ?",
                    (json.dumps(list(sim_cards)), device_id),
                )

        await self.db.write(op)

    async def touch(self, device_id: str, at: float) -> None:
        """Note when the device was last heard from."""

        def op(tx: Transaction) -> None:
            tx.execute("UPDATE asg_devices SET last_seen_at = ? WHERE id = ?", (at, device_id))

        await self.db.write(op)

    async def revoke_device(self, device_id: str, org: str) -> bool:
        """Unregister a device of `org`: its token stops working for good."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "UPDATE asg_devices SET revoked_at = ?, token_hash = NULL "
                "WHERE id = ? AND org = ? AND revoked_at IS NULL",
                (time.time(), device_id, org),
            )
            return cursor.rowcount > 0

        return await self.db.write(op)

    # --- sends ----------------------------------------------------------------------

    async def new_send(self, ext_id: str, message_id: int, device: str) -> None:
        """Record a fresh hand-over id (before the phone can see it)."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO asg_sends (ext_id, message_id, device, created_at) "
                "VALUES (?, ?, ?, ?)",
                (ext_id, message_id, device, time.time()),
            )

        await self.db.write(op)

    async def last_send(self, message_id: int, device: str) -> str | None:
        """The id the newest hand-over of this message to this device had."""
        row = await self.db.fetchone(
            "SELECT ext_id FROM asg_sends WHERE message_id = ? AND device = ? "
            "ORDER BY created_at DESC LIMIT 1",  # two hand-overs never share a time.time()
            (message_id, device),
        )
        return None if row is None else str(row[0])

    async def send_by_ext_id(self, ext_id: str, device: str) -> AsgSendRow | None:
        """The hand-over a phone names in a state report."""
        row = await self.db.fetchone(
            "SELECT ext_id, message_id, device FROM asg_sends WHERE ext_id = ? AND device = ?",
            (ext_id, device),
        )
        return None if row is None else AsgSendRow(row[0], int(row[1]), row[2])

    async def messages_of_request(self, org: str, idempotency_key: str) -> list[MessageRow]:
        """The messages one 3rd-party request created (one per recipient), with history."""
        rows = await self.db.fetchall(
            "SELECT * FROM messages WHERE org = ? AND idempotency_key = ? ORDER BY batch_index",
            (org, idempotency_key),
        )
        return await self._with_history(rows)

    async def message_by_id(self, org: str, message_id: int) -> list[MessageRow]:
        """One outbound message (as a one-item request), or an empty list."""
        rows = await self.db.fetchall(
            "SELECT * FROM messages WHERE org = ? AND id = ? AND direction = 'out'",
            (org, message_id),
        )
        return await self._with_history(rows)

    async def _with_history(self, rows: Sequence[Record]) -> list[MessageRow]:
        out = []
        for row in rows:
            history = await self.db.fetchall(
                "SELECT status, at, error FROM message_history WHERE message_id = ? ORDER BY id",
                (row["id"],),
            )
            changes = tuple(StatusChange(h["status"], h["at"], h["error"]) for h in history)
            out.append(message_row(row, changes))
        return out

    # --- webhooks the 3rd-party API registered (the phones call them) ---------------

    async def webhooks(self, org: str) -> list[AsgWebhookRow]:
        """Webhooks of `org`, oldest first."""
        rows = await self.db.fetchall(
            "SELECT id, device, url, event FROM asg_webhooks WHERE org = ? ORDER BY created_at, id",
            (org,),
        )
        return [AsgWebhookRow(r["id"], r["device"], r["url"], r["event"]) for r in rows]

    async def put_webhook(
        self, org: str, webhook_id: str, device: str | None, url: str, event: str
    ) -> None:
        """Create or replace (same id) a webhook."""

        def op(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO asg_webhooks (org, id, device, url, event, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(org, id) DO UPDATE SET "
                "device = excluded.device, url = excluded.url, event = excluded.event",
                (org, webhook_id, device, url, event, time.time()),
            )

        await self.db.write(op)

    async def delete_webhook(self, org: str, webhook_id: str) -> bool:
        """Remove a webhook; False when there was none."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "DELETE FROM asg_webhooks WHERE org = ? AND id = ?", (org, webhook_id)
            )
            return cursor.rowcount > 0

        return await self.db.write(op)
