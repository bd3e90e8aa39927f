"""The web UI shows a `notify` channel message as soon as it is sent (Chromium, demo relay)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web.harness import CHROMIUM, Browser

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (`.ci/run` installs it)", allow_module_level=True)
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(autouse=True)
def no_lingering_tasks() -> None:
    """Synchronous tests (Playwright's sync API runs its own loop): no asyncio tasks to check."""


def test_a_notify_message_pops_up_in_the_open_ui_and_is_sent(ui: Browser) -> None:
    page = ui.open("dashboard")
    status, body = ui.relay.call(
        "POST",
        "/api/v1/messages",
        {"channel": "notify", "to": "", "text": "Dinner is ready", "subject": "Home"},
    )
    assert status == 202, body
    expect(page.locator("#toast")).to_have_text("Home: Dinner is ready")
    for _ in range(100):
        _, message = ui.relay.call("GET", f"/api/v1/messages/{body['id']}")
        if message["status"] == "sent":
            break
        page.wait_for_timeout(50)
    assert message["status"] == "sent" and message["channel"] == "notify"
