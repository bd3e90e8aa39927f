"""Where a request carries its API key: the one place that reads credentials off headers."""

from __future__ import annotations

from aiohttp import web


def credentials_from(request: web.Request) -> str | None:
    """The API key a request carries: `Authorization: Bearer`, `X-Api-Key`, or None."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    api_key = request.headers.get("X-Api-Key", "").strip()
    return api_key or None


def bare_key_from(request: web.Request) -> str | None:
    """`Authorization: <key>` without a scheme (seed 002), else as `credentials_from`."""
    header = request.headers.get("Authorization", "").strip()
    if header and header[:7].lower() != "bearer ":
        return header
    return credentials_from(request)
