"""A real `relayd run` subprocess: config in a temp dir, free port, start, wait, kill, restart.

Used by the tests that need a daemon they can `kill -9` and by `bench/api_ingest.py`.
Only the standard library is used here so the helpers work from any script.

    daemon = RelaydProcess.create(tmp_path)      # writes relayd.toml, picks a free port
    daemon.start()                               # returns once /health answers 200
    key = daemon.create_key("t", "send,read")    # `relayd keys create` on the same database
    daemon.kill()                                # SIGKILL, as a power cut would look
    daemon.start()                               # same database, same port
    daemon.stop()                                # SIGTERM (drain), SIGKILL if it hangs
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.postgres import storage_toml

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_config(
    directory: Path, port: int, extra: str = "", host: str = "127.0.0.1", url: str | None = None
) -> Path:
    """A minimal relayd.toml in `directory`: loopback, `port`, database under state/ (or the
    test's PostgreSQL database, or `url`), no mDNS."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "relayd.toml"
    db = directory / "state" / "relayd.db"
    path.write_text(
        f'[server]\nhost = "{host}"\nport = {port}\ndrain_seconds = 2.0\n\n'
        f"{storage_toml(db, url)}\n"
        f'[mdns]\nbackend = "off"\n\n{extra}',
        encoding="utf-8",
    )
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without RELAYD_* overrides (they would change the config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def relayd_command(*args: str) -> list[str]:
    """`relayd ARGS` with this interpreter, so the subprocess uses the same venv."""
    return [sys.executable, "-m", "relayd", *args]


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> Any:
    """GET `url` and return (status, decoded JSON or None)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


class DaemonError(RuntimeError):
    """The daemon did not start, or died; the message carries the tail of its log."""


@dataclass
class RelaydProcess:
    """One relayd daemon (across restarts) on one config file and database."""

    directory: Path
    config_path: Path
    port: int
    host: str = "127.0.0.1"
    log_level: str = "INFO"  # the suite greps every log at INFO for secrets
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    startup_seconds: list[float] = field(default_factory=list)
    command: tuple[str, ...] = ()
    """How to run relayd (default: this interpreter's `-m relayd`; tests_ha use .venv's)."""
    run_args: tuple[str, ...] = ()
    """Extra `relayd run` options, e.g. ("--demo",)."""

    @classmethod
    def create(
        cls,
        directory: Path,
        extra_config: str = "",
        log_level: str = "INFO",
        run_args: tuple[str, ...] = (),
        storage_url: str | None = None,
    ) -> RelaydProcess:
        """Write a config with a free port in `directory`; nothing is started yet."""
        port = free_port()
        config = write_config(directory, port, extra_config, url=storage_url)
        return cls(directory, config, port, log_level=log_level, run_args=run_args)

    # --- paths ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        """The SQLite file the config names."""
        return self.directory / "state" / "relayd.db"

    @property
    def admin_key_path(self) -> Path:
        """Where relayd writes its first admin key."""
        return self.db_path.parent / "admin.key"

    @property
    def log_path(self) -> Path:
        """stdout+stderr of every start, appended (a pipe nobody reads would block relayd)."""
        return self.directory / "relayd.log"

    @property
    def pid(self) -> int:
        """The running process id."""
        if self.process is None:
            raise DaemonError("relayd is not running")
        return self.process.pid

    @property
    def running(self) -> bool:
        """The process exists and has not exited."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the daemon's output, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- lifecycle ------------------------------------------------------------------

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process and return at once (see wait_ready)."""
        if self.running:
            raise DaemonError("relayd is already running")
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self._command(
                    "run",
                    "--config",
                    str(self.config_path),
                    "--log-level",
                    self.log_level,
                    *self.run_args,
                ),
                cwd=self.directory,
                env=clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        return self.process

    def wait_ready(self, timeout: float = START_TIMEOUT, interval: float = 0.01) -> None:
        """Poll /health until it answers 200 `ok`; raise with the log if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = self.process.returncode if self.process else None
                raise DaemonError(f"relayd exited with {code} while starting:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, body = http_get(f"{self.url}/health", timeout=1.0)
                if status == 200 and body and body.get("ok"):
                    return
            time.sleep(interval)
        raise DaemonError(f"relayd not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def start(self, timeout: float = START_TIMEOUT, interval: float = 0.01) -> float:
        """Start and wait for /health; return seconds from process start to ready.

        The figure includes interpreter start-up and imports, and is at most `interval`
        late (the poll period).
        """
        began = time.monotonic()
        self.spawn()
        try:
            self.wait_ready(timeout, interval)
        except DaemonError:
            self.kill()
            raise
        took = time.monotonic() - began
        self.startup_seconds.append(took)
        return took

    def kill(self) -> None:
        """SIGKILL (no drain, no cleanup: what a crash or power cut leaves) and reap."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM and wait for the drain; SIGKILL if it hangs. Returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    # --- keys -----------------------------------------------------------------------

    def create_key(
        self, name: str = "test", scopes: str = "send,read", org: str = "default"
    ) -> str:
        """`relayd keys create` on this database; the key is the last line it prints."""
        result = subprocess.run(
            self._command(
                "keys",
                "create",
                "--name",
                name,
                "--scopes",
                scopes,
                "--org",
                org,
                "--config",
                str(self.config_path),
            ),
            cwd=self.directory,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise DaemonError(f"relayd keys create failed: {result.stderr or result.stdout}")
        return result.stdout.strip().splitlines()[-1]

    def _command(self, *args: str) -> list[str]:
        return [*self.command, *args] if self.command else relayd_command(*args)

    def admin_key(self) -> str:
        """The admin key relayd wrote beside the database on its first start."""
        return self.admin_key_path.read_text(encoding="utf-8").strip()

    def rss_kib(self) -> int:
        """Resident set size of the running daemon, from /proc/PID/status (VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise DaemonError("no VmRSS in /proc status")


@contextlib.contextmanager
def running_relayd(directory: Path, extra_config: str = "") -> Iterator[RelaydProcess]:
    """A started daemon that is always stopped (killed if need be) on exit."""
    daemon = RelaydProcess.create(directory, extra_config)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
