"""The one lenient body reader of the compatible APIs: a JSON object or a form, read once.

JSON is decoded by `framework.read_json`, as on the native routes (aiohttp keeps the bytes,
so the body is read from the socket once).

Compat routes look for credentials in the body before they validate it (a request without
credentials is a 401 however broken its body is), so the reader never raises by itself: it
keeps what was wrong and `Body.require()` raises it when the route is ready to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from relayd.api.framework import read_json
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
    if allow_empty and not (await request.read()).strip():
        return Body()
    try:
        data = await read_json(request)  # the native routes' decoder: one set of JSON rules
    except ApiError as exc:
        return Body(problem=exc)
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
