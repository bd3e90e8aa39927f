"""The browser UI: `/` serves web/index.html under a strict CSP, `/ui/<digest>/` its assets.

The assets' prefix carries a digest of their content, so a browser never mixes modules of
two versions after an upgrade, however long it cached the old ones.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

from aiohttp import web

from relayd.api.framework import Api

ASSETS_ROOT = "/ui"
_PLACEHOLDER = "{{ASSETS}}"
_ASSET_SUFFIXES = (".html", ".js", ".css", ".svg")

# The UI is plain ES modules and one stylesheet from this origin; it talks only to this
# origin's API. Nothing inline, nothing remote, no frames, no plugins.
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def web_dir() -> Path:
    """Where the UI's files are installed (the top-level `web` package)."""
    return Path(str(importlib.resources.files("web")))


def assets_prefix(directory: Path) -> str:
    """`/ui/<first 12 hex digits of a SHA-256 over the asset files>`."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.suffix in _ASSET_SUFFIXES:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{ASSETS_ROOT}/{digest.hexdigest()[:12]}"


def register(api: Api) -> None:
    """Add `/` and the UI's assets (public: the page holds no data, the API needs a key)."""
    directory = web_dir()
    prefix = assets_prefix(directory)
    index = (directory / "index.html").read_text(encoding="utf-8").replace(_PLACEHOLDER, prefix)

    async def web_ui(request: web.Request) -> web.Response:
        """GET /: the web UI's page."""
        return web.Response(
            text=index, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
        )

    api.route(
        "GET",
        "/",
        summary="Web UI (sign in with an API key)",
        tags=("web",),
        auth="public",
        content_type="text/html",
    )(web_ui)
    api.static(prefix, directory)
