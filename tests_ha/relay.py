"""A real relayd for the Home Assistant tests: `.venv/bin/relayd run --demo`, on loopback.

The demo modem's control API sits on a fixed port, so a restarted relay keeps it.
Only the standard library is used to talk to it (these helpers run in executor threads).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.daemon import DaemonError, RelaydProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
RELAYD = ROOT / ".venv" / "bin" / "relayd"
WAIT_SECONDS = 20.0


def http(
    method: str, url: str, body: dict[str, Any] | None = None, key: str | None = None
) -> tuple[int, Any]:
    """One JSON request; returns (status, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


@dataclass
class Relay:
    """One relayd daemon with the demo modem, and the keys the tests use."""

    daemon: RelaydProcess
    control_port: int
    mdns_name: str | None = None
    https_port: int | None = None
    """With TLS: the HTTPS port (announced); `port` is then relayd's plain loopback port."""

    @classmethod
    def create(cls, directory: Path, mdns_name: str | None = None, *, tls: bool = False) -> Relay:
        """Write the config; nothing is started yet."""
        if not RELAYD.exists():
            raise DaemonError(f"{RELAYD} is missing: run `make test-ha` (it builds .venv first)")
        port, control_port = free_port(), free_port()
        https_port = free_port() if tls else None
        server = (
            f'port = {https_port}\ntls = "auto"\nhttp_port = {port}\n'
            if tls
            else f"port = {port}\n"
        )
        mdns = (
            f'backend = "zeroconf"\ninterfaces = ["127.0.0.1"]\nname = "{mdns_name}"\n'
            if mdns_name
            else 'backend = "off"\n'
        )
        config = directory / "relayd.toml"
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(
            f'[server]\nhost = "127.0.0.1"\n{server}drain_seconds = 1.0\n\n'
            f'[storage]\npath = "{directory / "state" / "relayd.db"}"\n\n'
            f"[mdns]\n{mdns}\n"
            f"[demo]\nsend_delay = 0.05\nreport_delay = 0.05\ncontrol_port = {control_port}\n",
            encoding="utf-8",
        )
        daemon = RelaydProcess(
            directory, config, port, command=(str(RELAYD),), run_args=("--demo",)
        )
        return cls(daemon, control_port, mdns_name, https_port)

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start and wait until the demo modem is online (it registers in about a second)."""
        self.daemon.start()
        self.wait_for(lambda: http("GET", f"{self.url}/health")[1]["sims_online"] == 1)

    def stop(self) -> None:
        """SIGTERM: relayd drains and closes its event streams."""
        self.daemon.stop()

    def kill(self) -> None:
        """SIGKILL: the streams break off without a goodbye, as in a power cut."""
        self.daemon.kill()

    # --- the API --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL."""
        return self.daemon.url

    @property
    def host(self) -> str:
        """Where it listens."""
        return self.daemon.host

    @property
    def port(self) -> int:
        """Its port."""
        return self.daemon.port

    @property
    def instance_id(self) -> str:
        """The id relayd announces in mDNS TXT."""
        return (self.daemon.db_path.parent / "instance-id").read_text().strip()

    def admin_key(self) -> str:
        """The first admin key relayd wrote."""
        return self.daemon.admin_key()

    def create_key(self, name: str, scopes: list[str]) -> tuple[int, str]:
        """A new key through the admin API: (id, secret)."""
        status, body = http(
            "POST", f"{self.url}/api/v1/keys", {"name": name, "scopes": scopes}, self.admin_key()
        )
        assert status == 201, body
        return body["info"]["id"], body["key"]

    def revoke_key(self, key_id: int) -> None:
        """DELETE /api/v1/keys/{id} (takes effect at once)."""
        status, body = http("DELETE", f"{self.url}/api/v1/keys/{key_id}", key=self.admin_key())
        assert status in (200, 204), body

    def sims(self) -> list[dict[str, Any]]:
        """GET /api/v1/sims as an admin (with the demo modem's control URL)."""
        return http("GET", f"{self.url}/api/v1/sims", key=self.admin_key())[1]["sims"]

    def messages(self, direction: str) -> list[dict[str, Any]]:
        """Every message of one direction."""
        url = f"{self.url}/api/v1/messages?direction={direction}&limit=1000"
        return http("GET", url, key=self.admin_key())[1]["messages"]

    def message(self, message_id: int) -> dict[str, Any]:
        """One message with its history."""
        return http("GET", f"{self.url}/api/v1/messages/{message_id}", key=self.admin_key())[1]

    # --- the demo modem -------------------------------------------------------------

    @property
    def control_url(self) -> str:
        """The simulator's control API."""
        return f"http://127.0.0.1:{self.control_port}"

    def inject_sms(self, sender: str, text: str) -> None:
        """An SMS arrives at the demo modem from the network."""
        status, body = http("POST", f"{self.control_url}/inbound", {"from": sender, "text": text})
        assert status == 201, body

    def modem_sent(self) -> list[dict[str, Any]]:
        """What the demo modem put on the air."""
        return http("GET", f"{self.control_url}/sent")[1]["messages"]

    def modem_calls(self) -> list[dict[str, Any]]:
        """The voice calls the demo modem dialled."""
        return http("GET", f"{self.control_url}/calls")[1]["calls"]

    def wait_for(self, check: Any, timeout: float = WAIT_SECONDS) -> Any:
        """Poll `check()` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except (OSError, KeyError, TypeError) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.05)
        raise AssertionError(f"not reached in {timeout:.0f} s (last: {last!r})")
