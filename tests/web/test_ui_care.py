"""SIM care on the dashboard's SIM cards: balance, when checked, expiry, "Check balance" (Chromium)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from tests.web.harness import CHROMIUM, Browser

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (`.ci/run` installs it)", allow_module_level=True)
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(autouse=True)
def no_lingering_tasks() -> None:
    """Synchronous tests (Playwright's sync API runs its own loop): no asyncio tasks to check."""


def network_answers(ui: Browser, code: str, answer: str) -> None:
    """The demo modem's simulated network answers `code` with `answer` from now on."""
    ui.relay.control("/ussd", {"code": code, "answer": answer})


def test_the_sim_card_shows_balance_and_expiry_and_checks_the_balance_on_a_click(
    ui: Browser,
) -> None:
    network_answers(ui, "*100#", "Your balance is 3.00 EUR")
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=20)).date().isoformat()
    status, body = ui.relay.call(
        "PATCH", "/api/v1/sims/modem:demo",
        {"care": {"balance_ussd": "*100#", "balance_every": "7d", "expires_on": expires}},
    )  # fmt: skip
    assert status == 200, body
    for _ in range(200):  # the first check runs at once: the SIM never had one
        _, history = ui.relay.call("GET", "/api/v1/sims/modem:demo/balance")
        if history["history"]:
            break
        time.sleep(0.05)
    assert history["balance"]["amount"] == 3.0

    page = ui.open("dashboard")
    card = page.locator('article.sim[data-sim="modem:demo"]')
    expect(card.locator(".sim-balance")).to_have_text("Balance 3.00 EUR")
    expect(card.locator(".sim-balance-checked")).to_contain_text("checked ")
    expect(card.locator(".sim-expiry")).to_contain_text("SIM expires in ")

    network_answers(ui, "*100#", "Your balance is 1.50 EUR")
    card.get_by_role("button", name="Check balance").click()
    expect(card.locator(".sim-balance")).to_have_text("Balance 1.50 EUR")
    _, history = ui.relay.call("GET", "/api/v1/sims/modem:demo/balance")
    assert [e["amount"] for e in history["history"]] == [1.5, 3.0]  # the click's check, stored
