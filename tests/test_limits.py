"""[limits]: open event streams per credential, failed logins per client address."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import pytest

from relayd.config import Config
from tests.conftest import RelayClient, RelayFactory
from tests.test_asg_e2e import started_app

SHOP_SECRET = "shop-secret-0123"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def open_streams(
    stack: AsyncExitStack, http: aiohttp.ClientSession, url: str, headers: dict[str, str], n: int
) -> list[aiohttp.ClientResponse]:
    """`n` GETs left open (until `stack` closes), one after the other."""
    return [await stack.enter_async_context(http.get(url, headers=headers)) for _ in range(n)]


async def statuses(
    http: aiohttp.ClientSession, url: str, headers: list[dict[str, str]]
) -> list[int]:
    """The status of one GET per headers, one after the other."""
    out = []
    for each in headers:
        async with http.get(url, headers=each) as resp:
            out.append(resp.status)
    return out


async def test_100_event_streams_from_one_key_are_refused_past_the_limit(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    limit = relay.relay.config.limits.streams_per_key
    assert limit < 100
    key = await relay.new_key(["read"])
    url = str(relay.http.make_url("/api/v1/events"))
    async with AsyncExitStack() as stack:
        responses = await open_streams(stack, http, url, relay.headers(key), 100)
        assert [r.status for r in responses] == [200] * limit + [429] * (100 - limit)
        refusals = [await r.json() for r in responses[limit:]]
        assert refusals[0]["error"]["code"] == "too_many_streams"
        assert "[limits] streams_per_key" in refusals[0]["error"]["message"]
        other = await relay.new_key(["read"])  # the limit is per key, not per org
        async with http.get(url, headers=relay.headers(other)) as resp:
            assert resp.status == 200
    async with http.get(url, headers=relay.headers(key)) as resp:  # closed streams count no more
        assert resp.status == 200


async def test_streams_per_key_is_read_from_the_config_and_covers_the_apps_event_stream(
    make_relay: RelayFactory, config: Config, http: aiohttp.ClientSession
) -> None:
    config.limits.streams_per_key = 2
    relay = await make_relay()
    app = await started_app(relay, http)
    url = str(relay.http.make_url("/api/mobile/v1/events"))
    async with AsyncExitStack() as stack:
        responses = await open_streams(stack, http, url, {"Authorization": app.bearer}, 3)
        assert [r.status for r in responses] == [200, 200, 429]


async def test_wrong_app_passwords_from_one_address_are_throttled_with_retry_after(
    make_relay: RelayFactory, config: Config, http: aiohttp.ClientSession
) -> None:
    config.limits.failed_auth_max = 3
    config.limits.failed_auth_window = 2.0
    relay = await make_relay()
    app = await started_app(relay, http)
    assert app.login is not None and app.password is not None
    url = str(relay.http.make_url("/api/3rdparty/v1/devices"))
    assert await statuses(http, url, [basic(app.login, "wrong-password-1")] * 3) == [401] * 3
    async with http.get(url, headers=basic(app.login, app.password)) as resp:
        body = await resp.json()
        assert resp.status == 429, body  # even the right password waits: no more guesses
        assert body["error"]["code"] == "too_many_failed_logins"
        wait = int(resp.headers["Retry-After"])
    assert 1 <= wait <= 2
    await asyncio.sleep(wait)
    async with http.get(url, headers=basic(app.login, app.password)) as resp:
        assert resp.status == 200


async def test_wrong_org_secrets_count_toward_the_back_off_too(
    make_relay: RelayFactory, config: Config, http: aiohttp.ClientSession
) -> None:
    config.limits.failed_auth_max = 2
    relay = await make_relay()
    status, _ = await relay.call("POST", "/api/v1/phones", json={"org": "shop", "secret": SHOP_SECRET})
    assert status in (200, 201)
    url = str(relay.http.make_url("/messages/shop"))
    tries = [{"X-Secret-Key": s} for s in ("wrong-secret-000", "wrong-secret-001", SHOP_SECRET)]
    assert await statuses(http, url, tries) == [401, 401, 429]
    # API keys are not guessable and cost no scrypt run: they are not held back
    status, _ = await relay.call("GET", "/api/v1/messages")
    assert status == 200
