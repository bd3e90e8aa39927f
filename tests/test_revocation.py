"""Key revocation: through the API at once, from the CLI (another process) within a second."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from relayd.auth import REVISION_CHECK_SECONDS
from relayd.config import Config
from tests.conftest import RelayClient
from tests.support.postgres import storage_toml

# a key used on each surface that checks API keys: native, seed-004, the 3rd-party API
SURFACES = ("/api/v1/messages", "/messages/default", "/api/3rdparty/v1/devices")


async def _key_id(relay: RelayClient, secret: str) -> int:
    _, body = await relay.call("GET", "/api/v1/keys")
    return int(next(k["id"] for k in body["keys"] if secret.startswith(k["prefix"])))


async def _statuses(relay: RelayClient, secret: str) -> list[int]:
    return [(await relay.call("GET", path, key=secret))[0] for path in SURFACES]


async def test_a_key_revoked_through_the_api_is_refused_on_every_surface_at_once(
    relay: RelayClient,
) -> None:
    secret = await relay.new_key(["read", "send"])
    assert await _statuses(relay, secret) == [200, 200, 200]  # each surface has it cached now
    assert (await relay.call("DELETE", f"/api/v1/keys/{await _key_id(relay, secret)}"))[0] == 200
    assert await _statuses(relay, secret) == [401, 401, 401]


async def test_a_key_revoked_by_the_cli_on_the_same_file_is_refused_within_a_second(
    relay: RelayClient, config: Config, tmp_path: Path
) -> None:
    secret = await relay.new_key(["read"])
    key_id = await _key_id(relay, secret)
    assert (await relay.call("GET", "/api/v1/messages", key=secret))[0] == 200
    toml = tmp_path / "relayd.toml"
    toml.write_text(storage_toml(config.storage.path))
    revoked = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "relayd", "keys", "revoke", str(key_id), "--config", str(toml)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    # the relay asks SQLite whether another connection wrote at most this long after the
    # last check, so the first request after it must see the revocation
    assert REVISION_CHECK_SECONDS < 1.0
    await asyncio.sleep(REVISION_CHECK_SECONDS)
    assert (await relay.call("GET", "/api/v1/messages", key=secret))[0] == 401
    assert (await relay.call("GET", "/messages/default", key=secret))[0] == 401



async def test_an_open_event_stream_of_a_revoked_key_gets_nothing_more_and_ends(
    relay: RelayClient,
) -> None:
    secret = await relay.new_key(["read"])
    key_id = await _key_id(relay, secret)
    async with relay.http.get("/api/v1/events", headers=relay.headers(secret)) as resp:
        assert resp.status == 200
        assert (await relay.call("DELETE", f"/api/v1/keys/{key_id}"))[0] == 200
        status, _ = await relay.call("POST", "/api/v1/messages", json={"to": "+15551230009", "text": "2FA 123456"})
        assert status == 202
        async with asyncio.timeout(5):
            rest = await resp.content.read()  # to the end of the stream
    assert b"2FA" not in rest and b"sms." not in rest
