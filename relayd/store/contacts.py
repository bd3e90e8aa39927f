"""Contacts (a number, a name, free fields) and groups of them, one set per org (issue 14)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from relayd.store.backend import Backend, ConstraintViolated, Transaction
from relayd.store.keys import ensure_org_in
from relayd.store.records import Columns, from_row
from relayd.store.templates import NameTaken


@dataclass(frozen=True)
class ContactRow:
    """A stored contact; `fields` fill a template's placeholders."""

    id: int
    org: str
    number: str
    name: str
    fields: dict[str, str]
    created_at: float
    updated_at: float | None


@dataclass(frozen=True)
class GroupRow:
    """A group of contacts."""

    id: int
    org: str
    name: str
    created_at: float
    members: int


def contact_row(row: Columns) -> ContactRow:
    """A `contacts` row as a ContactRow (its fields decoded)."""
    return from_row(ContactRow, row, fields=json.loads(row["fields"]))


def group_row(row: Columns) -> GroupRow:
    """A `contact_groups` row with its member count as a GroupRow."""
    return from_row(GroupRow, row)


_GROUPS = (
    "SELECT g.*, (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS members "
    "FROM contact_groups g"
)


class ContactStore:
    """Contacts and groups of each org."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    # --- contacts -------------------------------------------------------------------

    async def create(
        self, org: str, number: str, name: str, fields: dict[str, str]
    ) -> ContactRow:
        """Store a new contact; NameTaken when the org has one with this number."""

        def op(tx: Transaction) -> ContactRow:
            now = time.time()
            ensure_org_in(tx, org)
            try:
                new_id = tx.insert(
                    "INSERT INTO contacts (org, number, name, fields, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (org, number, name, json.dumps(fields), now),
                )
            except ConstraintViolated:
                raise NameTaken(number) from None
            return ContactRow(int(new_id or 0), org, number, name, dict(fields), now, None)

        return await self.db.write(op)

    async def update(
        self,
        org: str,
        contact_id: int,
        *,
        number: str | None,
        name: str | None,
        fields: dict[str, str] | None,
    ) -> ContactRow | None:
        """Change what is given; None when there is no such contact."""

        def op(tx: Transaction) -> ContactRow | None:
            encoded = None if fields is None else json.dumps(fields)
            try:
                tx.execute(
                    "UPDATE contacts SET number = COALESCE(?, number), name = COALESCE(?, name), "
                    "fields = COALESCE(?, fields), updated_at = ? WHERE id = ? AND org = ?",
                    (number, name, encoded, time.time(), contact_id, org),
                )
            except ConstraintViolated:
                raise NameTaken(str(number)) from None
            row = tx.execute(
                "SELECT * FROM contacts WHERE id = ? AND org = ?", (contact_id, org)
            ).fetchone()
            return None if row is None else contact_row(row)

        return await self.db.write(op)

    async def get(self, org: str, contact_id: int) -> ContactRow | None:
        """One contact by id."""
        row = await self.db.fetchone(
            "SELECT * FROM contacts WHERE id = ? AND org = ?", (contact_id, org)
        )
        return None if row is None else contact_row(row)

    async def list_contacts(self, org: str, group_id: int | None = None) -> list[ContactRow]:
        """Contacts of `org` (of one group when given), by name then number."""
        if group_id is None:
            rows = await self.db.fetchall(
                "SELECT * FROM contacts WHERE org = ? ORDER BY name, number", (org,)
            )
        else:
            rows = await self.db.fetchall(
                "SELECT c.* FROM contacts c JOIN group_members m ON m.contact_id = c.id "
                "WHERE c.org = ? AND m.group_id = ? ORDER BY c.name, c.number",
                (org, group_id),
            )
        return [contact_row(r) for r in rows]

    async def delete(self, org: str, contact_id: int) -> bool:
        """Remove a contact (and its group memberships); False when there was none."""

        def op(tx: Transaction) -> bool:
            tx.execute("DELETE FROM group_members WHERE contact_id = ? AND contact_id IN "
                       "(SELECT id FROM contacts WHERE org = ?)", (contact_id, org))
            cursor = tx.execute("DELETE FROM contacts WHERE id = ? AND org = ?", (contact_id, org))
            return cursor.rowcount > 0

        return await self.db.write(op)

    # --- groups ---------------------------------------------------------------------

    async def create_group(self, org: str, name: str) -> GroupRow:
        """Store a new, empty group; NameTaken when the org has one of that name."""

        def op(tx: Transaction) -> GroupRow:
            now = time.time()
            ensure_org_in(tx, org)
            try:
                new_id = tx.insert(
                    "INSERT INTO contact_groups (org, name, created_at) VALUES (?, ?, ?)",
                    (org, name, now),
                )
            except ConstraintViolated:
                raise NameTaken(name) from None
            return GroupRow(int(new_id or 0), org, name, now, 0)

        return await self.db.write(op)

    async def rename_group(self, org: str, group_id: int, name: str) -> GroupRow | None:
        """Give a group a new name; None when there is no such group."""

        def op(tx: Transaction) -> GroupRow | None:
            try:
                tx.execute(
                    "UPDATE contact_groups SET name = ? WHERE id = ? AND org = ?",
                    (name, group_id, org),
                )
            except ConstraintViolated:
                raise NameTaken(name) from None
            row = tx.execute(f"{_GROUPS} WHERE g.id = ? AND g.org = ?", (group_id, org)).fetchone()
            return None if row is None else group_row(row)

        return await self.db.write(op)

    async def group(self, org: str, group_id: int) -> GroupRow | None:
        """One group by id."""
        row = await self.db.fetchone(f"{_GROUPS} WHERE g.id = ? AND g.org = ?", (group_id, org))
        return None if row is None else group_row(row)

    async def group_by_name(self, org: str, name: str) -> GroupRow | None:
        """One group by name (what a send names)."""
        row = await self.db.fetchone(f"{_GROUPS} WHERE g.org = ? AND g.name = ?", (org, name))
        return None if row is None else group_row(row)

    async def groups(self, org: str) -> list[GroupRow]:
        """Every group of `org`, by name."""
        rows = await self.db.fetchall(f"{_GROUPS} WHERE g.org = ? ORDER BY g.name", (org,))
        return [group_row(r) for r in rows]

    async def delete_group(self, org: str, group_id: int) -> bool:
        """Remove a group (its contacts stay); False when there was none."""

        def op(tx: Transaction) -> bool:
            found = tx.execute(
                "SELECT id FROM contact_groups WHERE id = ? AND org = ?", (group_id, org)
            ).fetchone()
            if found is None:
                return False
            tx.execute("DELETE FROM group_members WHERE group_id = ?", (group_id,))
            tx.execute("DELETE FROM contact_groups WHERE id = ?", (group_id,))
            return True

        return await self.db.write(op)

    async def add_members(
        self, org: str, group_id: int, contact_ids: Sequence[int]
    ) -> list[int] | None:
        """Add contacts to a group; the ids that are not contacts of `org` (none added then).

        None when there is no such group."""

        def op(tx: Transaction) -> list[int] | None:
            if tx.execute(
                "SELECT id FROM contact_groups WHERE id = ? AND org = ?", (group_id, org)
            ).fetchone() is None:
                return None
            unknown = [
                cid for cid in contact_ids
                if tx.execute(
                    "SELECT id FROM contacts WHERE id = ? AND org = ?", (cid, org)
                ).fetchone() is None
            ]
            if unknown:
                return unknown
            now = time.time()
            tx.executemany(
                "INSERT INTO group_members (group_id, contact_id, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(group_id, cid, now) for cid in contact_ids],
            )
            return []

        return await self.db.write(op)

    async def remove_member(self, org: str, group_id: int, contact_id: int) -> bool:
        """Take a contact out of a group; False when it was not in it."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "DELETE FROM group_members WHERE group_id = ? AND contact_id = ? AND group_id IN "
                "(SELECT id FROM contact_groups WHERE org = ?)",
                (group_id, contact_id, org),
            )
            return cursor.rowcount > 0

        return await self.db.write(op)
