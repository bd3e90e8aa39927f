"""The answers of the workflow CRUD routes: a row found or 404, a name taken 409, one shape."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

from relayd.api.framework import json_response
from relayd.exceptions import Conflict, NotFound
from relayd.store.templates import NameTaken

T = TypeVar("T")


def found(row: T | None, what: str) -> T:
    """`row`, or NotFound `no such <what>`."""
    if row is None:
        raise NotFound(f"no such {what}")
    return row


async def stored(write: Awaitable[T | None], what: str, name: object) -> T:
    """The row a create or update wrote; 409 `name_taken` or 404 when it could not."""
    try:
        row = await write
    except NameTaken:
        raise Conflict(f"the org already has a {what} '{name}'", code="name_taken") from None
    return found(row, what)


def removed(done: bool, what: str) -> web.Response:
    """The answer of a DELETE: ok, or 404."""
    if not done:
        raise NotFound(f"no such {what}")
    return json_response({"ok": True})
