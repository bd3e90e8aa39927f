"""The offline commands and configuration loading, as a user runs them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from relayd import __version__
from relayd.config import ConfigError, load_config
from tests.support.postgres import storage_toml, storage_url

ROOT = Path(__file__).resolve().parent.parent


def relayd(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "relayd", *args], cwd=cwd, capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})}, check=False,
    )


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "relayd.toml"
    path.write_text(f'{storage_toml(f"{tmp_path}/db/relayd.db")}{extra}')
    return path


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = relayd("--version", cwd=tmp_path)
    assert result.returncode == 0 and __version__ in result.stdout


def test_init_writes_the_commented_example_and_it_loads(tmp_path: Path) -> None:
    target = tmp_path / "relayd.toml"
    assert relayd("init", "--config", str(target), cwd=tmp_path).returncode == 0
    assert target.read_text() == (ROOT / "config.example.toml").read_text()
    load_config(target)
    assert relayd("init", "--config", str(target), cwd=tmp_path).returncode == 1  # no overwrite


def test_example_config_lists_every_key_of_every_section() -> None:
    import tomllib

    from relayd.config import Config

    text = (ROOT / "config.example.toml").read_text()
    data = tomllib.loads(text)
    for name, field in Config.model_fields.items():
        model = field.annotation
        if name in ("modem", "webhook"):
            continue
        assert name in data, name
        for key, info in model.model_fields.items():  # type: ignore[union-attr]
            name_in_file = info.alias or key
            documented = (f"# {name_in_file} = ", f"# [[{name}.{name_in_file}]]")
            assert name_in_file in data[name] or any(d in text for d in documented), f"{name}.{key}"
    for key in ("name", "port", "baudrate", "pin", "org", "delivery_reports", "priority"):
        assert f"# {key} = " in text


def test_bad_config_names_the_key_and_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[server]\nport = \"eighty\"\n")
    result = relayd("keys", "list", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "server.port" in result.stderr and "Traceback" not in result.stderr
    path.write_text("[routing]\npolicy = 'random'\n")
    result = relayd("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2 and "routing.policy" in result.stderr
    path.write_text("[server\n")
    result = relayd("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2 and "TOML" in result.stderr


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[sms]\ndefault_regoin = 'GB'\n")
    with pytest.raises(ConfigError, match=r"sms\.default_regoin"):
        load_config(path)


def test_env_overrides_a_section_key(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    env = {"RELAYD_SERVER_PORT": "9191", "RELAYD_SMS_DEFAULT_REGION": "GB",
           "RELAYD_EMAIL_FROM": "a@b.c", "RELAYD_MDNS_INTERFACES": '["127.0.0.1"]'}
    config = load_config(path, env)
    assert config.server.port == 9191 and config.sms.default_region == "GB"
    assert config.email.from_ == "a@b.c" and config.mdns.interfaces == ["127.0.0.1"]
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_config(path, {"RELAYD_SERVER_PORT": "many"})


def test_keys_create_list_revoke_work_offline(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    created = relayd("keys", "create", "--name", "ha", "--scopes", "send", "--allow", "+1555*",
                     "--config", str(path), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("rk_") and len(secret) > 30
    listed = relayd("keys", "list", "--config", str(path), cwd=tmp_path)
    assert "ha" in listed.stdout and secret not in listed.stdout and "active" in listed.stdout
    key_id = created.stdout.split()[2]
    assert relayd("keys", "revoke", key_id, "--config", str(path), cwd=tmp_path).returncode == 0
    assert "revoked" in relayd("keys", "list", "--config", str(path), cwd=tmp_path).stdout
    assert relayd("keys", "revoke", "999", "--config", str(path), cwd=tmp_path).returncode == 1


def test_first_start_writes_admin_key_file_with_mode_0600(tmp_path: Path) -> None:
    import asyncio

    from relayd.config import Config
    from relayd.relay import Relay

    config = Config()
    config.storage.path = str(tmp_path / "lib" / "relayd.db")
    config.storage.url = storage_url()

    async def start_twice() -> tuple[str | None, str | None]:
        first = Relay(config)
        await first.start()
        await first.stop()
        second = Relay(config)
        await second.start()
        await second.stop()
        return first.admin_key, second.admin_key

    created, again = asyncio.run(start_twice())
    key_file = tmp_path / "lib" / "admin.key"
    assert created and key_file.read_text().strip() == created
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert again is None  # printed once, not made again


def test_modem_sim_command_serves_a_pty_that_answers_at(tmp_path: Path) -> None:
    import signal
    import time

    link = tmp_path / "modem0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "relayd", "modem-sim", "--link", str(link), "--no-control"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not link.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"ATE0\r")
            answer = b""
            while b"OK" not in answer and time.monotonic() < deadline:
                answer += os.read(fd, 100)
        finally:
            os.close(fd)
        assert b"OK" in answer
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
