"""The one lenient body reader of the compatible APIs: a JSON object or a form, read once.

Compat routes look for credentials in the body before they validate it (a request without
credentials is a 401 however broken its body is), so the reader never raises by itself: it
keeps what was wrong and `Body.require()` raises it when the route is ready to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from relayd.exceptions import ApiError

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Body:
    """A request body's fields ({} when unreadable), and why it was unreadable if it was."""

    fields: dict[str, Any] = field(default_factory=dict)
    problem: ApiError | None = None

    def text(self, name: str) -> str | None:
        """A non-empty string field, else None (for credentials looked up before validation)."""
        value = self.fields.get(name)
        return value if isinstance(value, str) and value else None

    def require(self) -> dict[str, Any]:
        """The fields, or the 422 that says what is wrong with the body."""
        if self.problem is not None:
            raise self.problem
        return self.fields


async def read_body(request: web.Request, *, allow_empty: bool = False) -> Body:
    """The JSON object or form of `request`; an empty body is {} when `allow_empty`."""
    if request.content_type in FORM_TYPES:
        return await _read_form(request)
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return Body()
        return _bad("invalid_json", "the request body is empty; send a JSON object")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _bad("invalid_json", f"the body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        return _bad("invalid_body", "the body must be a JSON object")
    return Body(data)


async def _read_form(request: web.Request) -> Body:
    try:
        form = await request.post()
    except ValueError as exc:  # multipart without a boundary, a torn part
        return _bad("invalid_body", f"the form could not be read: {exc}")
    return Body({k: v for k, v in form.items() if isinstance(v, str)})


def _bad(code: str, message: str) -> Body:
    return Body(problem=ApiError(422, code, message))
