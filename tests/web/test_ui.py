"""The web UI in Debian's Chromium against a real demo relay (issue 7's acceptance 1-5 and more).

Every test fails on a console error, an uncaught exception or a dialog (see conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.web.harness import CHROMIUM, DESKTOP, PHONE, SCREENSHOTS, Browser

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (`.ci/run` installs it)", allow_module_level=True)
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(autouse=True)
def no_lingering_tasks() -> None:
    """Synchronous tests (Playwright's sync API runs its own loop): no asyncio tasks to check."""


def expose_module_base(page: Any) -> None:
    """`moduleBase()` in the page: the URL the UI's modules are served under (versioned)."""
    page.evaluate("window.moduleBase = () => document.querySelector('script[type=module]').src")


def record_states(page: Any) -> None:
    """Remember every status the Send page's tracked messages show, in order."""
    page.evaluate(
        """() => {
          window.__states = [];
          const note = () => {
            for (const el of document.querySelectorAll('.tracked')) {
              if (window.__states.at(-1) !== el.dataset.status) window.__states.push(el.dataset.status);
            }
          };
          new MutationObserver(note).observe(document.querySelector('.tracker'),
            {subtree: true, childList: true, attributes: true});
        }"""
    )


# ---- acceptance 1: sign in, see the demo modem, send, watch it reach `sent` ------------------


def test_sign_in_see_the_demo_modem_send_and_watch_the_status_reach_sent(ui: Browser) -> None:
    relay = ui.relay
    page = ui.page(key=None)
    page.goto(f"{relay.url}/")

    ui.watch.expect_console_error(r"status of 401")  # the wrong key below, on purpose
    page.fill("#key", "rk_this_is_not_a_key")
    page.press("#key", "Enter")
    expect(page.locator("#signin-error")).to_contain_text("not valid")
    assert page.evaluate("sessionStorage.getItem('relayd.key')") is None

    page.fill("#key", relay.admin_key)
    page.click("form.signin button[type=submit]")
    card = page.locator('article.sim[data-sim="modem:demo"]')
    expect(card.locator(".state")).to_have_text("Online")
    expect(card.locator(".sim-number")).to_have_text("+15550001111")
    expect(card.locator(".signal-text")).to_have_text(re.compile(r"^\d{1,3}% · -\d+ dBm$"))
    assert card.locator("svg.signal .bar.on").count() >= 1
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    page.click("#nav a[data-page=send]")
    page.fill("#send-to", "+15550009999")
    page.fill("#send-text", "Hello from the browser test")
    expect(page.locator("#send-check")).to_have_attribute("data-agree", "true")
    record_states(page)
    page.click("#send-button")

    tracked = page.locator(".tracked").first
    expect(tracked.locator('.step[data-state="sent"]')).to_have_class(
        re.compile(r"\bdone\b"), timeout=10_000
    )
    states = page.evaluate("window.__states")
    assert states[0] == "queued", states
    assert "sent" in states or "delivered" in states, states
    assert page.evaluate("window.__sameDocument") is True
    message_id = int(tracked.get_attribute("data-id"))
    status, message = relay.call("GET", f"/api/v1/messages/{message_id}")
    assert status == 200 and message["status"] in ("sent", "delivered")
    assert message["peer"] == "+15550009999" and message["source"] == "web-ui"


# ---- acceptance 2: an inbound SMS shows up live, within a second ----------------------------


def test_an_inbound_sms_appears_live_in_messages_and_in_its_conversation(ui: Browser) -> None:
    peer = "+15557000002"
    messages = ui.open("messages")
    thread = ui.open(f"conversations/{quote(peer)}")
    expect(messages.locator("main[data-ready=true]")).to_have_count(1)
    expect(thread.locator(".bubbles[data-ready=true]")).to_have_count(1)
    text = f"Inbound, live at {time.time():.3f}"

    started = time.monotonic()
    ui.relay.inject(peer, text)
    row = messages.locator("tbody tr", has_text=text)
    row.wait_for(timeout=1000)
    bubble = thread.locator(".bubble.in", has_text=text)
    bubble.wait_for(timeout=1000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"took {elapsed:.2f} s"

    assert row.get_attribute("data-direction") == "in"
    expect(row.locator(".c-peer")).to_have_text(peer)
    expect(row.locator(".badge")).to_have_text("received")
    expect(row.locator(".c-sim")).to_have_text("demo")
    expect(thread.locator(f'.thread-link[data-peer="{peer}"]')).to_contain_text(text)
    expect(thread.locator(".thread-via")).to_contain_text("via demo")


# ---- acceptance 3: SMS text is text ---------------------------------------------------------


def test_markup_in_an_sms_renders_as_text_and_runs_nothing(ui: Browser) -> None:
    peer = "+15557000003"
    payloads = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>"]
    for payload in payloads:
        ui.relay.inject(peer, payload)
    ui.relay.wait_for_message(lambda m: m["peer"] == peer and m["text"] == payloads[1])

    page = ui.open("messages")
    for payload in payloads:
        expect(page.locator(".msg-text", has_text=payload).first).to_have_text(payload)

    page.click(f'a[href="#/conversations/{quote(peer)}"] >> nth=0')
    for payload in payloads:
        expect(page.locator(".bubble.in .bubble-text", has_text=payload).first).to_have_text(
            payload
        )
    expect(page.locator(f'.thread-link[data-peer="{peer}"] .thread-snippet')).to_have_text(
        payloads[1]
    )
    # The same text going out, through the reply box.
    page.fill("textarea[name=reply]", payloads[0])
    page.press("textarea[name=reply]", "Control+Enter")
    expect(page.locator(".bubble.out .bubble-text", has_text=payloads[0])).to_have_text(payloads[0])

    page.wait_for_timeout(300)  # give an injected handler every chance to fire
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert not [url for url in ui.watch.requests if url.rstrip("/").endswith("/x")]
    assert ui.watch.dialogs == []


# ---- acceptance 4: a key is shown once; revoking it locks it out ---------------------------


def test_a_phone_key_is_made_only_when_its_box_is_ticked(ui: Browser) -> None:
    page = ui.open("keys")
    expect(page.locator("#scope-phone")).not_to_be_checked()  # it receives the org's texts
    page.fill("#key-name", "pixel")
    page.uncheck("#scope-send")
    page.uncheck("#scope-read")
    page.check("#scope-phone")
    page.click(".key-form button[type=submit]")
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("rk_")
    expect(page.locator('tr[data-name="pixel"]')).to_contain_text("phone")
    _, listed = ui.relay.call("GET", "/api/v1/keys")
    assert [k["scopes"] for k in listed["keys"] if k["name"] == "pixel"] == [["phone"]]


def test_a_created_key_is_shown_once_and_revoking_it_makes_the_api_refuse_it(ui: Browser) -> None:
    relay = ui.relay
    page = ui.open("keys")
    page.fill("#key-name", "browser-test")
    page.uncheck("#scope-send")
    page.fill("#key-allowlist", "+1555*")
    page.click(".key-form button[type=submit]")

    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("rk_")
    assert relay.call("GET", "/api/v1/sims", key=secret)[0] == 200
    row = page.locator('tr[data-name="browser-test"]')
    expect(row).to_contain_text("read")
    expect(row).to_contain_text("+1555*")

    page.click(".reveal button:has-text('Done')")
    expect(page.locator("#new-key-secret")).to_have_count(0)
    page.reload()
    expect(page.locator('tr[data-name="browser-test"]')).to_have_count(1)
    assert secret not in page.content()
    _, listed = relay.call("GET", "/api/v1/keys")
    assert secret not in json.dumps(listed)

    page.click('button[aria-label="Revoke browser-test"]')
    expect(page.locator("dialog#confirm")).to_be_visible()
    page.click("dialog#confirm button[value=ok]")
    expect(page.locator('tr[data-name="browser-test"] .badge')).to_have_text("revoked")
    status, body = relay.call("GET", "/api/v1/sims", key=secret)
    assert status == 401 and body["error"]["code"] == "unauthorized"


# ---- acceptance 5: screenshots at desktop and phone sizes -----------------------------------


def test_screenshots_of_dashboard_conversation_and_send(ui: Browser) -> None:
    relay = ui.relay
    peer = "+15557000005"
    relay.inject(peer, "Hi! Is the garage door closed?")
    relay.wait_for_message(lambda m: m["peer"] == peer)
    _, sent = relay.call(
        "POST", "/api/v1/messages", {"to": peer, "text": "Yes, closed at 18:02. Alarm armed."}
    )
    relay.wait_for_message(lambda m: m["id"] == sent["id"] and m["status"] == "delivered")
    relay.inject(peer, "Great, thanks")
    relay.wait_for_message(lambda m: m["peer"] == peer and m["text"] == "Great, thanks")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    for viewport in (DESKTOP, PHONE):
        size = f"{viewport['width']}x{viewport['height']}"
        page = ui.open("dashboard", viewport)
        expect(page.locator("main[data-ready=true]")).to_have_count(1)
        expect(page.locator("article.sim")).not_to_have_count(0)
        shoot(page, f"dashboard-{size}")

        page.evaluate(f"location.hash = '#/conversations/{quote(peer)}'")
        expect(page.locator(".bubbles[data-ready=true]")).to_have_count(1)
        expect(page.locator(".bubble")).to_have_count(3)
        shoot(page, f"conversation-{size}")

        page.evaluate("location.hash = '#/send'")
        page.fill("#send-to", "+15557000006")
        page.fill("#send-text", "Water leak sensor: the basement is dry again.")
        page.click("#send-button")
        expect(page.locator('.tracked[data-status="delivered"]')).to_have_count(1, timeout=10_000)
        page.fill("#send-text", "Reminder: bins go out tonight — {recycling} week")
        expect(page.locator("#send-check")).to_have_attribute("data-agree", "true")
        shoot(page, f"send-{size}")


def shoot(page: Any, name: str) -> None:
    """Save var/screenshots/<name>.png; the page must not scroll sideways."""
    page.evaluate("document.getElementById('toast')?.classList.remove('show')")
    page.wait_for_timeout(300)  # the toast's fade, and the last live update
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: {overflow}px wider than the screen"
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


# ---- the Send page's counter is the server's ------------------------------------------------

COUNTER_TEXTS = [
    "Hello",
    "a" * 160,  # one part, full
    "a" * 161,  # two parts of 153
    "a" * 159 + "€",  # the extension char takes two septets: 161 -> two parts
    "{" * 80,  # 160 septets
    "{" * 81,
    "a" * 152 + "[]",  # an escape pair is never cut between parts
    "Grüße aus Köln, Ærø, Ñandú §¿¡",  # all GSM-7 basic table
    "`backticks` are not GSM-7",
    "Привет, мир! " * 6,  # 78 chars of UCS-2: two parts of 67
    "😀" * 35,  # 70 UTF-16 units: one part
    "a" * 69 + "😀",  # 71 units: two parts, the surrogate pair stays whole
    "line one\nline two\rthree",
    "x" * (153 * 3) + "y",
]


def test_the_counter_agrees_with_the_servers_dry_run(ui: Browser) -> None:
    relay = ui.relay
    page = ui.open("send")
    expose_module_base(page)
    plans = page.evaluate(
        "async (texts) => { const sms = await import(new URL('sms.js', moduleBase()));"
        " return texts.map((t) => sms.planSms(t)); }",
        COUNTER_TEXTS,
    )
    for text, plan in zip(COUNTER_TEXTS, plans, strict=True):
        status, server = relay.call(
            "POST", "/api/v1/messages", {"to": "+15550001234", "text": text, "dry_run": True}
        )
        assert status == 200, server
        assert (plan["encoding"], plan["parts"], plan["segments"]) == (
            server["encoding"],
            server["parts"],
            server["segments"],
        ), text

    page.fill("#send-to", "+15550001234")
    page.fill("#send-text", "a" * 159 + "€")
    expect(page.locator("#count-encoding")).to_have_text("GSM-7")
    expect(page.locator("#count-parts")).to_have_text("2 parts")
    expect(page.locator("#count-left")).to_have_text("145 characters left")
    expect(page.locator("#send-check")).to_have_attribute("data-parts", "2")
    expect(page.locator("#send-check")).to_have_attribute("data-agree", "true")

    page.fill("#send-text", "Привет")
    expect(page.locator("#count-encoding")).to_have_text("UCS-2")
    expect(page.locator("#count-left")).to_have_text("64 characters left")
    expect(page.locator("#send-check")).to_have_attribute("data-encoding", "ucs2")
    expect(page.locator("#send-check")).to_have_attribute("data-agree", "true")


# ---- keyboard only --------------------------------------------------------------------------


def test_sign_in_navigate_and_send_with_the_keyboard_only(ui: Browser) -> None:
    page = ui.page(key=None)
    page.goto(f"{ui.relay.url}/")
    expect(page.locator("#key")).to_be_focused()
    page.keyboard.type(ui.relay.admin_key)
    page.keyboard.press("Enter")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    expect(page.locator("main")).to_be_focused()  # the form is gone; focus is on the page
    for _ in range(12):  # backwards: Sign out, then the menu from its end
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.dataset.page") == "send":
            break
    else:
        pytest.fail("Shift+Tab never reached the Send link")
    page.keyboard.press("Enter")
    expect(page.locator("#send-to")).to_be_focused()
    page.keyboard.type("+15550004444")
    page.keyboard.press("Tab")
    expect(page.locator("#send-text")).to_be_focused()
    page.keyboard.type("Sent without a mouse")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".tracked")).to_have_count(1)
    expect(page.locator(".tracked .tracked-peer")).to_have_text("+15550004444")

    page.focus("a.skip")  # the first stop of the page: skip the menu
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


# ---- modem tools (USSD, ring call) ----------------------------------------------------------


def test_modem_tools_show_the_ussd_answer_and_ring_a_number(ui: Browser) -> None:
    page = ui.open("modems")
    card = page.locator('article.tool[data-sim="modem:demo"]')
    card.locator("input[name=code]").fill("*100#")
    card.locator("input[name=code]").press("Enter")
    answer = card.locator(".ussd-answer")
    expect(answer).not_to_be_empty()
    _, direct = ui.relay.call("POST", "/api/v1/ussd", {"sim": "modem:demo", "code": "*100#"})
    expect(answer).to_have_text(direct["answer"])

    card.locator("input[name=to]").fill("+15550002222")
    card.locator("input[name=ring_seconds]").fill("1")
    card.locator("form.call button[type=submit]").click()
    expect(card.locator(".call-result")).to_contain_text("Call to +15550002222:", timeout=8000)


# ---- phones: pairing QR code ----------------------------------------------------------------

QR_TEXTS = [
    "ws://192.168.1.20:8080/websocket?org_id=default&token=pt_" + "x" * 40,
    "hello",
    "é€ unicode ✓",
    "A" * 300,  # version 13: version information blocks
    "x" * 1200,  # version 29: many blocks, remainder bits
]


def decode_qr(modules: list[list[bool]], scale: int = 3) -> list[str]:
    """Texts a real decoder (zxing-cpp) reads from a module matrix, quiet zone added."""
    zxingcpp = pytest.importorskip("zxingcpp")
    quiet = 4
    width = (len(modules) + 2 * quiet) * scale
    pixels = bytearray(b"\xff" * (width * width))
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = ((y + quiet) * scale + dy) * width + (x + quiet) * scale
                    pixels[start : start + scale] = b"\0" * scale
    image = memoryview(bytes(pixels)).cast("B", (width, width))
    return [result.text for result in zxingcpp.read_barcodes(image)]


def test_qr_codes_made_in_the_browser_decode_with_a_real_reader(ui: Browser) -> None:
    page = ui.open("dashboard")
    expose_module_base(page)
    for text in QR_TEXTS:
        for mask in (None, 0, 3, 5, 7):
            qr = page.evaluate(
                "async ([t, m]) => (await import(new URL('qr.js', moduleBase()))).qrMatrix(t, {mask: m})",
                [text, mask],
            )
            assert qr["size"] == 17 + 4 * qr["version"]
            assert decode_qr(qr["modules"]) == [text], (text[:20], mask, qr["version"])


def test_pairing_a_phone_shows_a_scannable_link_and_unpairing_removes_it(ui: Browser) -> None:
    relay = ui.relay
    _, spec = relay.call("GET", "/api/openapi.json")
    if "/api/v1/phones" not in spec["paths"]:
        pytest.skip("this build has no phone routes")
    page = ui.open("phones")
    expect(page.locator("main[data-ready=true]")).to_have_count(1)
    page.fill("#phone-name", "hall-phone")
    page.click("form.key-form button[type=submit]")
    link = page.locator("#pair-url").inner_text()
    assert link.startswith(f"ws://127.0.0.1:{relay.daemon.port}/websocket?") and "token=" in link
    # What a camera would see: the SVG on the page, rasterised by the browser itself.
    pixels = page.evaluate(
        """async () => {
          const svg = document.querySelector('.qr');
          const img = new Image();
          img.src = 'data:image/svg+xml;base64,' + btoa(new XMLSerializer().serializeToString(svg));
          await img.decode();
          const canvas = document.createElement('canvas');
          canvas.width = canvas.height = 330;
          const g = canvas.getContext('2d');
          g.drawImage(img, 0, 0, 330, 330);
          return Array.from(g.getImageData(0, 0, 330, 330).data.filter((_, i) => i % 4 === 0));
        }"""
    )
    zxingcpp = pytest.importorskip("zxingcpp")
    image = memoryview(bytes(pixels)).cast("B", (330, 330))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [link]
    expect(page.locator(".warn-note")).to_contain_text("can't reach")  # opened on 127.0.0.1

    card = page.locator('article.phone[aria-label="Phone hall-phone"]')
    expect(card.locator(".state")).to_have_text("Offline")
    _, listed = relay.call("GET", "/api/v1/phones")
    phone = next(p for p in listed["phones"] if p["name"] == "hall-phone")
    assert phone["paired"] and phone["token_prefix"] in link

    card.locator("button", has_text="Unpair").click()
    page.click("dialog#confirm button[value=ok]")
    expect(card).to_have_count(0)
    _, listed = relay.call("GET", "/api/v1/phones")
    assert all(p["name"] != "hall-phone" or not p["paired"] for p in listed["phones"])


# ---- webhooks: add, test-fire, delivery log, replay -----------------------------------------


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """An HTTP endpoint on 127.0.0.1 that answers 200 and records (webhook-id, body)."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.headers.get("webhook-id", ""), json.loads(body or b"null")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def wait_until(predicate: Any, seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_webhook_added_in_the_ui_fires_logs_its_deliveries_and_replays(ui: Browser) -> None:
    relay = ui.relay
    _, spec = relay.call("GET", "/api/openapi.json")
    if "/api/v1/webhooks" not in spec["paths"]:
        pytest.skip("this build has no webhook routes")
    with webhook_receiver() as (url, received):
        page = ui.open("webhooks")
        expect(page.locator("main[data-ready=true]")).to_have_count(1)
        page.fill("#hook-url", url)
        expect(page.locator('[id="ev-sms.received"]')).to_be_checked()
        page.click("form.key-form button[type=submit]")
        secret = page.locator("#new-hook-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        card = page.locator(f'article.hook[aria-label="Webhook {url}"]')
        expect(card).to_contain_text("sms.received")
        assert secret not in card.inner_text()  # masked from now on

        card.locator("button", has_text="Send test").click()
        expect(card.locator(".fire-result")).to_have_attribute("data-status", "delivered")
        expect(card.locator(".fire-result")).to_contain_text("HTTP 200")
        assert received and received[-1][0]

        relay.inject("+15557000009", "tell the webhook")
        wait_until(
            lambda: any(
                body["type"] == "sms.received" and body["data"]["text"] == "tell the webhook"
                for _, body in received
            )
        )
        [hook_id] = [i for i, body in received if body["type"] == "sms.received"]
        card.locator("button", has_text="Deliveries").click()
        row = card.locator('tr[data-status="delivered"]', has_text="sms.received")
        expect(row).to_have_count(1)
        row.locator("button", has_text="Replay").click()
        wait_until(lambda: [i for i, _ in received].count(hook_id) == 2)  # same webhook-id

        card.locator("button", has_text="Delete").click()
        page.click("dialog#confirm button[value=ok]")
        expect(card).to_have_count(0)


# ---- issue 12: an event for a page that is gone throws nothing -------------------------------


def test_an_event_that_arrives_as_the_dashboard_is_left_throws_nothing(ui: Browser) -> None:
    page = ui.open("dashboard")
    expect(page.locator("main[data-ready=true]")).to_have_count(1)
    received = page.locator(".stats .tile", has_text="Received today")
    before = received.inner_text()
    ui.relay.inject("+15557000003", f"Arrives as you leave {time.time():.3f}")
    expect(received).not_to_have_text(before)  # the event is in; its SIM refresh is pending
    page.evaluate("location.hash = '#/messages'")
    expect(page.locator("main[data-page=messages][data-ready=true]")).to_have_count(1)
    page.wait_for_timeout(1000)  # past the dashboard's pending refresh (400 ms)
    assert ui.watch.unexpected() == []



def test_the_api_docs_start_under_the_uis_csp_without_a_console_error(ui: Browser) -> None:
    page = ui.page(key=None)
    page.goto(f"{ui.relay.url}/docs")
    # The bundle ran (a CSP block would say so) and rendered the document's title; the first child
    # of .swagger-ui is a hidden placeholder in Swagger UI 5, so wait for the title, not any child
    expect(page.locator(".swagger-ui .info .title")).to_be_visible(timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert f"{ui.relay.url}/api/openapi.json" in ui.watch.requests
    # The document renders (Swagger UI 4 showed "Unable to render this definition" for 3.1)
    operation = page.locator(".opblock-summary-path", has_text="/api/v1/messages").first
    expect(operation).to_be_visible(timeout=30_000)  # a 1.4 MB bundle: slow on a loaded machine
    expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
