"""schemathesis against relayd's own /api/openapi.json: every operation, with a key and without.

A real `relayd run --demo` (simulated modem on a pty) is started for the module; the
schemathesis CLI fuzzes it and must find no server error. The relay's own log is read too:
an `Unhandled error` there is a 500 whatever the fuzzer concluded.

Bounded for `make test` (a few examples per operation); `make fuzz` sets FUZZ_EXAMPLES and
FUZZ_PHASES for a long run with every phase.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from relayd.simcare.settings import CareSettings
from relayd.webhooks import ATTEMPT_TIMEOUT  # a test-fire waits this long for the receiver
from tests.support.daemon import RelaydProcess, clean_env, http_get

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
PHASES = os.environ.get("FUZZ_PHASES", "examples,fuzzing")
SEED = os.environ.get("FUZZ_SEED", "20261204")
# schemathesis' coverage phase is not thread-safe on this Python (an AST recursion-depth
# error in hypothesis' lambda descriptions): `make fuzz` runs it with one worker.
WORKERS = os.environ.get("FUZZ_WORKERS", "2")
TIMEOUT = 60 + EXAMPLES * 60  # seconds for one schemathesis run
# Streams never end and a WebSocket is no HTTP operation: the fuzzer would only wait on them.
STREAMS = r"(/events|^/websocket)$"
# The native read/send/key/webhook operations: the document must let valid data through.
# (Not USSD: which well-formed codes a network serves, no document can say.)
NATIVE = r"^/api/v1/(messages|keys|sims|conversations|webhooks)"
POSITIVE_CONFIG = """
[warnings]
fail-on = ["validation_mismatch"]  # an operation where every valid-looking request is refused

[checks]
enabled = false
not_a_server_error.enabled = true
positive_data_acceptance.enabled = true

# A send names a SIM and a channel that this relay's hardware decides about (422 unknown_sim,
# unsupported_channel): valid per document, refused here. Some of its requests must pass.
[[operations]]
include-path = "/api/v1/messages"
include-method = "POST"
checks.positive_data_acceptance.enabled = false

# A SIM's care keys are checked together with the keys the SIM already has (its config file
# block, earlier PATCHes) and what it can do: a keepalive needs its number or code, a SIM
# takes expires_on or topup_every, a phone runs no USSD (422). Each key alone is in the schema.
[[operations]]
include-path = "/api/v1/sims/{id}"
include-method = "PATCH"
checks.positive_data_acceptance.enabled = false
"""

pytestmark = pytest.mark.timeout(TIMEOUT * 3 + 120)


@pytest.fixture(scope="module")
def demo_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelaydProcess]:
    """A daemon with the demo modem, whose callee hangs up after 0.5 s."""
    daemon = RelaydProcess.create(
        tmp_path_factory.mktemp("fuzz"),
        "[demo]\nsend_delay = 0.01\nreport_delay = 0.01\n",
        run_args=("--demo",),
    )
    daemon.start()
    try:
        # A callee who hangs up soon: a call the fuzzer makes must not outlast its timeout.
        set_faults(daemon, callee_hangup_after=0.5)
        yield daemon
    finally:
        daemon.stop()


def set_faults(daemon: RelaydProcess, **faults: object) -> None:
    """Configure the demo modem's simulator through its control API (its URL: GET /sims)."""
    admin = {"Authorization": f"Bearer {daemon.admin_key()}"}
    _, body = http_get(f"{daemon.url}/api/v1/sims", admin)
    [control] = [s["control_url"] for s in body["sims"] if s.get("control_url")]
    request = urllib.request.Request(
        f"{control}/faults", data=json.dumps(faults).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def known_care(daemon: RelaydProcess) -> None:
    """The demo SIM's care as a user would set it, whatever an earlier fuzz run PATCHed: a
    balance check without a code then asks the network `*100#` (other codes get the network's
    refusal, 422 `ussd_failed`: valid per document, refused by the network)."""
    cleared: dict[str, object] = dict.fromkeys(CareSettings.model_fields)
    request = urllib.request.Request(
        f"{daemon.url}/api/v1/sims/modem:demo", method="PATCH",
        data=json.dumps({"care": cleared | {"balance_ussd": "*100#"}}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {daemon.admin_key()}"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def schemathesis(
    daemon: RelaydProcess, *args: str, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """One `schemathesis run` of the relay's document; the output is kept for the assertion."""
    settings = ["--config-file", str(config)] if config else []
    command = [
        sys.executable, "-m", "schemathesis.cli", "--no-color", *settings,
        "run", f"{daemon.url}/api/openapi.json",
        "--max-examples", str(EXAMPLES), "--seed", SEED, "--phases", PHASES,
        "--workers", WORKERS, "--request-timeout", str(ATTEMPT_TIMEOUT + 5),
        "--output-truncate", "false",
        "--exclude-path-regex", STREAMS, "--suppress-health-check", "all",
        *args,
    ]
    return subprocess.run(
        command, cwd=daemon.directory, env=clean_env(), capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )


def unhandled_errors(daemon: RelaydProcess) -> list[str]:
    """The relay's own record of requests that ended in a 500."""
    log = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    return [line for line in log.splitlines() if "Unhandled error" in line]


def operations_tested(output: str) -> int:
    match = re.search(r"Tested:\s+(\d+)", output)
    return int(match.group(1)) if match else 0


def test_a_second_call_while_the_modem_rings_is_409_sim_busy_not_502(
    demo_relay: RelaydProcess,
) -> None:
    """Found by the fuzzer: two calls at once made the modem answer +CME ERROR: 3 (a 502).

    First in the module, so that no call of the fuzzer's is still up.
    """
    key = demo_relay.create_key("caller", "send,read")
    body = json.dumps({"to": "+15551230001", "ring_seconds": 3}).encode()
    set_faults(demo_relay, callee_hangup_after=None)  # it rings the whole 3 s

    def call() -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(
            f"{demo_relay.url}/api/v1/calls", data=body, method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(call)
        time.sleep(0.5)  # the first ATD is on the line
        second = pool.submit(call)
        results = sorted([first.result(), second.result()], key=lambda r: r[0])
    assert results[0][0] == 200, results
    assert results[1][0] == 409 and results[1][1]["error"]["code"] == "sim_busy", results  # type: ignore[index]
    assert call()[0] == 200  # the SIM is free again
    set_faults(demo_relay, callee_hangup_after=0.5)


def test_fuzzing_every_operation_without_credentials_finds_no_server_error(
    demo_relay: RelaydProcess,
) -> None:
    result = schemathesis(demo_relay, "--checks", "not_a_server_error")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert operations_tested(output) >= 60, output
    assert unhandled_errors(demo_relay) == []


def test_fuzzing_every_operation_with_an_admin_key_finds_no_server_error(
    demo_relay: RelaydProcess,
) -> None:
    key = demo_relay.create_key("fuzzer", "send,read,admin")
    result = schemathesis(
        demo_relay,
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {key}",
        "--exclude-operation-id", "revoke_key",  # it would revoke the fuzzer's own key
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert operations_tested(output) >= 60, output
    assert unhandled_errors(demo_relay) == []
    assert http_get(f"{demo_relay.url}/api/v1/sims", {"Authorization": f"Bearer {key}"})[0] == 200


def test_positive_data_from_the_document_is_accepted_by_the_native_api(
    demo_relay: RelaydProcess, tmp_path: Path
) -> None:
    """What the document calls valid, relayd takes: the schemas say what validation says."""
    key = demo_relay.create_key("positive", "send,read,admin")
    known_care(demo_relay)
    config = tmp_path / "schemathesis.toml"
    config.write_text(POSITIVE_CONFIG, encoding="utf-8")
    result = schemathesis(
        demo_relay,
        "--mode", "positive",
        "--header", f"Authorization: Bearer {key}",
        "--include-path-regex", NATIVE,
        "--exclude-operation-id", "revoke_key",
        config=config,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert operations_tested(output) >= 8, output

