"""How relayd serves the web UI: public page, strict CSP, right content types, no markup sinks."""

from __future__ import annotations

import re
from pathlib import Path

from relayd.api.web import assets_prefix
from tests.conftest import RelayClient

WEB = Path(__file__).resolve().parents[2] / "web"
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".svg": ("image/svg+xml",),
}


async def test_the_ui_page_is_public_and_carries_a_strict_csp(relay: RelayClient) -> None:
    async with relay.http.get("/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        csp = resp.headers["Content-Security-Policy"]
        html = await resp.text()
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Server"] == "relayd"
    assert re.search(r'<script type="module" src="/ui/[0-9a-f]{12}/app\.js">', html)


def test_the_page_has_no_inline_script_style_or_remote_asset() -> None:
    html = (WEB / "index.html").read_text(encoding="utf-8")
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), "inline script"
    assert "<style" not in html and " style=" not in html
    assert html.count("{{ASSETS}}/") == 4  # every asset URL carries the versioned prefix
    assert not re.search(r" on[a-z]+=", html), "inline event handler"
    for asset in (WEB / "index.html", WEB / "style.css"):
        assert not re.search(r"https?://|//[a-z]", asset.read_text("utf-8")), asset
    for module in WEB.glob("*.js"):
        code = module.read_text("utf-8")
        assert not re.search(r'(from|import\(|fetch\()\s*"(?!\.?/)', code), f"{module.name}: remote"


async def test_every_asset_is_served_with_its_content_type_and_no_key(
    relay: RelayClient,
) -> None:
    async with relay.http.get("/") as resp:
        html = await resp.text()
    prefix = re.search(r'src="(/ui/[0-9a-f]{12})/app\.js"', html)
    assert prefix, html
    assets = sorted(p for p in WEB.iterdir() if p.suffix in CONTENT_TYPES)
    assert {"app.js", "api.js", "sms.js", "style.css", "icon.svg"} <= {p.name for p in assets}
    for asset in assets:
        async with relay.http.get(f"{prefix[1]}/{asset.name}") as resp:
            assert resp.status == 200, asset.name
            assert resp.content_type in CONTENT_TYPES[asset.suffix], (asset.name, resp.content_type)
            assert await resp.read() == asset.read_bytes()
    async with relay.http.get(f"{prefix[1]}/no-such-file.js") as resp:
        assert resp.status == 404


def test_the_asset_prefix_changes_with_the_content(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("one")
    first = assets_prefix(tmp_path)
    (tmp_path / "app.js").write_text("two")
    assert assets_prefix(tmp_path) != first
    assert first.startswith("/ui/") and len(first) == len("/ui/") + 12


def test_every_module_import_resolves_to_a_file_of_web() -> None:
    for module in WEB.glob("*.js"):
        for target in re.findall(r'from "(\./[^"]+)"', module.read_text(encoding="utf-8")):
            assert (WEB / target).is_file(), f"{module.name} imports missing {target}"


def test_no_script_turns_strings_into_markup() -> None:
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    for module in WEB.glob("*.js"):
        for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
            assert not sinks.search(line), f"{module.name}:{number}: {line.strip()}"
