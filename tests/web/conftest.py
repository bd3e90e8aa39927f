"""Fixtures of the browser tests: one demo relay and one Chromium per module, and per test
fresh browser contexts that fail the test on a console error, an exception or a dialog."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import RelaydProcess, clean_env, relayd_command
from tests.web.harness import CHROMIUM, CHROMIUM_ARGS, DEMO_CONFIG, Browser, DemoRelay, Watch


@pytest.fixture(scope="module")
def demo_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRelay]:
    """`relayd run --demo` on a free port, once its demo modem is online."""
    with run_demo(tmp_path_factory.mktemp("relay"), DEMO_CONFIG) as relay:
        yield relay


@contextlib.contextmanager
def run_demo(directory: Path, config: str) -> Iterator[DemoRelay]:
    """`relayd run --demo` with `config` in `directory`, stopped on exit."""
    daemon = RelaydProcess.create(directory, config)
    # RelaydProcess.spawn runs without --demo; the rest of the helper (ready, stop) fits.
    with daemon.log_path.open("ab") as log:
        daemon.process = subprocess.Popen(
            relayd_command(
                "run", "--config", str(daemon.config_path), "--demo", "--log-level", "INFO"
            ),
            cwd=daemon.directory,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        daemon.wait_ready()
        relay = DemoRelay(daemon, daemon.admin_key(), "")
        deadline = time.monotonic() + 20
        while not relay.control_url:
            _, body = relay.call("GET", "/api/v1/sims")
            for sim in body["sims"]:
                if sim["name"] == "demo" and sim["online"]:
                    relay.control_url = sim["control_url"]
            if time.monotonic() > deadline:
                raise AssertionError(f"the demo modem never came online:\n{daemon.log_tail()}")
            time.sleep(0.05)
        yield relay
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless. Never `playwright install`: it downloads a browser."""
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "apt-get install chromium (.ci/run does)"
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def ui(demo_relay: DemoRelay, browser: Any) -> Iterator[Browser]:
    """Tabs for one test; the test fails on any console error, exception or dialog in them."""
    session = Browser(demo_relay, browser, Watch())
    yield session
    for context in session.contexts:
        context.close()
    assert not session.watch.dialogs, session.watch.dialogs
    assert not session.watch.unexpected(), session.watch.unexpected()
