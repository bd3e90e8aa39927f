"""SIGTERM drains: in-flight sends finish, the process exits 0 well within 10 s."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.daemon import clean_env, free_port, http_get, relayd_command, write_config
from tests.support.postgres import run_sql


def post_json(url: str, key: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_sigterm_finishes_the_in_flight_send_and_exits_cleanly(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, "[demo]\nsend_delay = 1.0\nreport_delay = 0.0\n")
    log = (tmp_path / "relayd.log").open("wb")
    proc = subprocess.Popen(
        relayd_command("run", "--config", str(config), "--demo", "--log-level", "INFO"),
        cwd=tmp_path, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = http_get(f"{url}/health", timeout=1)
                if status == 200 and body["sims_online"] == 1:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "relayd.log").read_text()
            time.sleep(0.05)
        key = (tmp_path / "state" / "admin.key").read_text().strip()
        sent = post_json(f"{url}/api/v1/messages", key, {"to": "+15551230001", "text": "drain me"})
        headers = {"Authorization": f"Bearer {key}"}
        while http_get(f"{url}/api/v1/messages/{sent['id']}", headers)[1]["status"] != "sending":
            time.sleep(0.02)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "relayd.log").read_text()
    assert code == 0, output
    assert took < 10
    assert "Traceback" not in output
    # The send that was on air when SIGTERM came finished as sent, not torn.
    [(status,)] = run_sql(
        tmp_path / "state" / "relayd.db", "SELECT status FROM messages WHERE id = ?", (sent["id"],)
    )
    assert status in ("sent", "delivered"), output
