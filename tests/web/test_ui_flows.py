"""The workflow pages in Debian's Chromium against a real demo relay: templates, contacts and
groups, schedules (list, pause, delete), opt-outs, and a key that ignores the opt-out list.

Every test fails on a console error, an uncaught exception or a dialog (see conftest.py).
"""

from __future__ import annotations

import datetime as dt
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


def test_a_template_and_a_group_made_in_the_ui_send_one_text_per_contact(ui: Browser) -> None:
    relay = ui.relay
    page = ui.open("templates")
    expect(page.locator("main[data-ready=true]")).to_have_count(1)
    page.fill("#template-name", "ui-visit")
    page.fill("#template-text", "Hi {name}, your visit is {day}")
    page.click("#new-template button[type=submit]")
    row = page.locator('tr[data-name="ui-visit"]')
    expect(row).to_contain_text("day")

    page.click('nav a[data-page="contacts"]')
    expect(page.locator("main[data-ready=true]")).to_have_count(1)
    for number, name, day in (("+15557100001", "Ann", "Monday"), ("+15557100002", "Bob", "Friday")):
        page.fill("#contact-number", number)
        page.fill("#contact-name", name)
        page.fill("#contact-fields", f"day={day}")
        page.click("#new-contact button[type=submit]")
        expect(page.locator(f'tr[data-number="{number}"]')).to_contain_text(f"day={day}")
    page.fill("#group-name", "ui-visitors")
    page.click("#new-group button[type=submit]")
    card = page.locator('article[aria-label="Group ui-visitors"]')
    for members in ("1", "2"):
        card.locator("button", has_text="Add").click()
        expect(card).to_have_attribute("data-members", members)  # the page reloaded the group

    status, body = relay.call("POST", "/api/v1/messages",
                              {"group": "ui-visitors", "template": "ui-visit"})
    assert status == 202, body
    texts = sorted(relay.call("GET", f"/api/v1/messages/{m['id']}")[1]["text"]
                   for m in body["messages"])
    assert texts == ["Hi Ann, your visit is Monday", "Hi Bob, your visit is Friday"]


def test_schedules_are_listed_with_their_next_run_paused_resumed_and_deleted(ui: Browser) -> None:
    relay = ui.relay
    soon = dt.date.today() + dt.timedelta(days=10)
    status, created = relay.call("POST", "/api/v1/schedules", {
        "name": "ui-standup", "rule": "FREQ=WEEKLY;BYDAY=MO", "start": f"{soon}T09:00:00",
        "timezone": "Europe/Berlin", "to": "+15557100003", "text": "Stand-up"})
    assert status == 201, created
    page = ui.open("schedules")
    row = page.locator(f'tr[data-id="{created["id"]}"]')
    expect(row).to_contain_text("ui-standup")
    expect(row).to_have_attribute("data-paused", "false")
    row.locator("button", has_text="Pause").click()
    expect(row).to_have_attribute("data-paused", "true")
    expect(row.locator(".next-run")).to_contain_text("paused")
    assert relay.call("GET", f"/api/v1/schedules/{created['id']}")[1]["paused"] is True
    row.locator("button", has_text="Resume").click()
    expect(row).to_have_attribute("data-paused", "false")
    row.locator("button", has_text="Delete").click()
    page.click("dialog#confirm button[value=ok]")
    expect(row).to_have_count(0)
    assert relay.call("GET", f"/api/v1/schedules/{created['id']}")[0] == 404

    ui.watch.expect_console_error(r"status of 422")  # the refusal below, on purpose
    page.fill("#schedule-rule", "FREQ=HOURLY")
    page.fill("#schedule-start", f"{soon}T09:00")
    page.fill("#schedule-to", "+15557100003")
    page.fill("#schedule-text", "too often")
    page.click("#new-schedule button[type=submit]")
    expect(page.locator("#new-schedule .error")).to_contain_text("FREQ must be one of")


def test_a_stop_word_puts_the_number_on_the_opt_out_page_and_removing_it_lifts_it(
    ui: Browser,
) -> None:
    relay = ui.relay
    relay.inject("+15557100004", "STOP")
    page = ui.open("optouts")
    row = page.locator('tr[data-number="+15557100004"]')
    for _ in range(50):  # the inbound SMS is looked at just after it is stored
        if row.count():
            break
        page.reload()
        page.wait_for_selector("main[data-ready=true]")
    expect(row).to_contain_text("sent a stop word")
    status, body = relay.call("POST", "/api/v1/messages", {"to": "+15557100004", "text": "x"})
    assert status == 422 and body["error"]["code"] == "opted_out"
    row.locator("button", has_text="Delete").click()
    page.click("dialog#confirm button[value=ok]")
    expect(row).to_have_count(0)
    assert relay.call("POST", "/api/v1/messages", {"to": "+15557100004", "text": "x"})[0] == 202


def test_a_key_created_with_ignore_opt_out_may_send_to_a_listed_number(ui: Browser) -> None:
    relay = ui.relay
    relay.call("POST", "/api/v1/optouts", {"number": "+15557100005"})
    page = ui.open("keys")
    page.fill("#key-name", "ui-otp")
    page.check("#key-ignore-optout")
    page.click("form.key-form button[type=submit]")
    secret = page.locator("#new-key-secret").inner_text().strip()
    expect(page.locator('tr[data-name="ui-otp"]')).to_contain_text("ignores opt-out")
    status, _ = relay.call("POST", "/api/v1/messages", {"to": "+15557100005", "text": "1234"},
                           key=secret)
    assert status == 202
