"""Message templates: named texts with `{placeholders}`, one set per org (issue 14)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from relayd.store.backend import Backend, ConstraintViolated, Transaction
from relayd.store.keys import ensure_org_in
from relayd.store.records import Columns, from_row


@dataclass(frozen=True)
class TemplateRow:
    """A stored template."""

    id: int
    org: str
    name: str
    text: str
    created_at: float
    updated_at: float | None


class NameTaken(Exception):
    """Another row of the org already has this name (or number)."""


def template_row(row: Columns) -> TemplateRow:
    """A `templates` row as a TemplateRow."""
    return from_row(TemplateRow, row)


class TemplateStore:
    """Templates of each org."""

    def __init__(self, db: Backend) -> None:
        self.db = db

    async def create(self, org: str, name: str, text: str) -> TemplateRow:
        """Store a new template; NameTaken when the org has one of that name."""

        def op(tx: Transaction) -> TemplateRow:
            now = time.time()
            ensure_org_in(tx, org)
            try:
                new_id = tx.insert(
                    "INSERT INTO templates (org, name, text, created_at) VALUES (?, ?, ?, ?)",
                    (org, name, text, now),
                )
            except ConstraintViolated:
                raise NameTaken(name) from None
            return TemplateRow(int(new_id or 0), org, name, text, now, None)

        return await self.db.write(op)

    async def update(
        self, org: str, template_id: int, *, name: str | None, text: str | None
    ) -> TemplateRow | None:
        """Change a template's name or text; None when there is no such template."""

        def op(tx: Transaction) -> TemplateRow | None:
            try:
                tx.execute(
                    "UPDATE templates SET name = COALESCE(?, name), text = COALESCE(?, text), "
                    "updated_at = ? WHERE id = ? AND org = ?",
                    (name, text, time.time(), template_id, org),
                )
            except ConstraintViolated:
                raise NameTaken(str(name)) from None
            row = tx.execute(
                "SELECT * FROM templates WHERE id = ? AND org = ?", (template_id, org)
            ).fetchone()
            return None if row is None else template_row(row)

        return await self.db.write(op)

    async def get(self, org: str, template_id: int) -> TemplateRow | None:
        """One template by id."""
        row = await self.db.fetchone(
            "SELECT * FROM templates WHERE id = ? AND org = ?", (template_id, org)
        )
        return None if row is None else template_row(row)

    async def by_name(self, org: str, name: str) -> TemplateRow | None:
        """One template by name (what a send names)."""
        row = await self.db.fetchone(
            "SELECT * FROM templates WHERE org = ? AND name = ?", (org, name)
        )
        return None if row is None else template_row(row)

    async def list_templates(self, org: str) -> list[TemplateRow]:
        """Every template of `org`, by name."""
        rows = await self.db.fetchall("SELECT * FROM templates WHERE org = ? ORDER BY name", (org,))
        return [template_row(r) for r in rows]

    async def delete(self, org: str, template_id: int) -> bool:
        """Remove a template; False when there was none."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "DELETE FROM templates WHERE id = ? AND org = ?", (template_id, org)
            )
            return cursor.rowcount > 0

        return await self.db.write(op)
