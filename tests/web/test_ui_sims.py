"""The dashboard's SIM cards show send caps and quarantine (issue 14), in real Chromium.

Its own demo relay: a quarantine after one failed send, so the demo modem can be made to
fail through its simulator's control API without touching other modules' relays.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.conftest import run_demo
from tests.web.harness import CHROMIUM, DEMO_CONFIG, Browser, DemoRelay

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (`.ci/run` installs it)", allow_module_level=True)
expect = pytest.importorskip("playwright.sync_api").expect
CARD = 'article.sim[data-sim="modem:demo"]'


@pytest.fixture(autouse=True)
def no_lingering_tasks() -> None:
    """Synchronous tests (Playwright's sync API runs its own loop): no asyncio tasks to check."""


@pytest.fixture(scope="module")
def demo_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRelay]:
    config = DEMO_CONFIG + "[routing]\nquarantine_after = 1\nquarantine_backoff = 600\n"
    with run_demo(tmp_path_factory.mktemp("relay"), config) as relay:
        yield relay


def wait_status(relay: DemoRelay, message_id: int, *statuses: str) -> dict[str, object]:
    deadline = time.monotonic() + 15
    while True:
        _, message = relay.call("GET", f"/api/v1/messages/{message_id}")
        if message["status"] in statuses or time.monotonic() > deadline:
            return dict(message)
        time.sleep(0.05)


def test_a_sim_card_shows_its_daily_cap_used_and_then_its_quarantine(ui: Browser) -> None:
    relay = ui.relay
    status, sim = relay.call("PATCH", "/api/v1/sims/modem:demo", {"daily_cap": 2})
    assert status == 200 and sim["caps"]["daily"] == {"limit": 2, "used": 0}, sim
    page = ui.page()
    page.goto(f"{relay.url}/")
    card = page.locator(CARD)
    expect(card.locator(".cap-daily dd")).to_have_text("0 / 2")
    expect(card.locator(".cap-monthly")).to_have_count(0)  # no monthly cap: not shown
    expect(card.locator(".sim-health")).to_have_count(0)

    _, sent = relay.call("POST", "/api/v1/messages", {"to": "+15550009999", "text": "one"})
    assert wait_status(relay, sent["id"], "sent", "delivered")["status"] in ("sent", "delivered")
    expect(card.locator(".cap-daily dd")).to_have_text("1 / 2")  # live, from the events

    # The demo modem now fails every send: one failure quarantines it ([routing] above).
    request = urllib.request.Request(
        f"{relay.control_url}/faults",
        data=json.dumps({"cms_error": 1000}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    _, failing = relay.call("POST", "/api/v1/messages", {"to": "+15550009999", "text": "two"})
    health = card.locator(".sim-health")
    expect(health).to_have_attribute("data-state", "quarantined", timeout=10_000)
    expect(health).to_contain_text("Quarantined after 1 failed send, until")
    expect(card.locator(".cap-daily dd")).to_have_text("1 / 2")  # not sent: not counted
    _, listed = relay.call("GET", "/api/v1/sims")
    [demo] = [s for s in listed["sims"] if s["id"] == "modem:demo"]
    assert demo["health"]["state"] == "quarantined" and demo["health"]["failures"] == 1
    deadline = time.monotonic() + 10
    while True:
        _, waiting = relay.call("GET", f"/api/v1/messages/{failing['id']}")
        if waiting["status_detail"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert waiting["status"] == "queued"  # waits for the probe, 10 minutes away
    assert "modem:demo quarantined (failing sends) until" in waiting["status_detail"], waiting
