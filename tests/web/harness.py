"""What the browser tests drive: the demo relay (a real `relayd run --demo` subprocess)
and Chromium tabs on it that record console errors, exceptions, dialogs and requests."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.daemon import RelaydProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# Quick enough for tests, slow enough that `queued` and `sending` are visible states.
DEMO_CONFIG = "[demo]\nsend_delay = 0.3\nreport_delay = 0.4\n"


@dataclass
class DemoRelay:
    """The demo relay under test, with plain-HTTP helpers for the test's own API calls."""

    daemon: RelaydProcess
    admin_key: str
    control_url: str

    @property
    def url(self) -> str:
        return self.daemon.url

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        """(status, JSON) of one API request, with the admin key unless `key` is given."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {key or self.admin_key}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def inject(self, sender: str, text: str) -> None:
        """An SMS from `sender` arrives at the demo modem (its simulator's control API)."""
        self.control("/inbound", {"from": sender, "text": text})

    def control(self, path: str, body: dict[str, Any]) -> None:
        """POST `body` to the demo modem simulator's control API."""
        request = urllib.request.Request(
            f"{self.control_url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert 200 <= resp.status < 300, resp.status

    def wait_for_message(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Poll the API until a message matching `predicate` is stored."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, body = self.call("GET", "/api/v1/messages?limit=1000")
            for message in body["messages"]:
                if predicate(message):
                    return message  # type: ignore[no-any-return]
            time.sleep(0.05)
        raise AssertionError("message never arrived")


@dataclass
class Watch:
    """What a page did that a test must not ignore: console errors, exceptions, dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_console_error(self, pattern: str) -> None:
        """Allow console errors matching `pattern` (e.g. the 401 of a wrong key, on purpose)."""
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


@dataclass
class Browser:
    """Opens pages on the relay, signed in or not, each watched."""

    relay: DemoRelay
    browser: Any
    watch: Watch
    contexts: list[Any] = field(default_factory=list)

    def page(self, viewport: dict[str, int] | None = None, key: str | None = "admin") -> Any:
        """A new tab (own context) on `/`; `key` is put in sessionStorage first unless None."""
        context = self.browser.new_context(viewport=viewport or DESKTOP)
        self.contexts.append(context)
        if key is not None:
            secret = self.relay.admin_key if key == "admin" else key
            context.add_init_script(f"sessionStorage.setItem('relayd.key', {json.dumps(secret)})")
        page = context.new_page()
        page.set_default_timeout(5000)
        page.on(
            "console",
            lambda msg: (
                self.watch.errors.append(f"console: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc: self.watch.errors.append(f"exception: {exc}"))

        def on_dialog(dialog: Any) -> None:
            self.watch.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("request", lambda request: self.watch.requests.append(request.url))
        return page

    def open(self, route: str, viewport: dict[str, int] | None = None, key: str = "admin") -> Any:
        """A signed-in page on `#/route`, once the live event stream is connected."""
        page = self.page(viewport, key)
        page.goto(f"{self.relay.url}/#/{route}")
        page.wait_for_selector("#live[data-state=live]")
        return page
