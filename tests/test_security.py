"""Auth, scopes, org isolation, allowlists, rate limits and log masking."""

from __future__ import annotations

import logging
import re

import pytest

from tests.conftest import RelayClient

PUBLIC = {
    "/health",
    "/docs",
    "/docs/init.js",
    "/api/openapi.json",
    "/llms.txt",
    "/",
    "/ca.pem",
    "/api/3rdparty/v1/health",
}
NOT_SET_UP = {"/ca.pem"}  # public, and 404 while the relay has no CA of its own
NUMBER = "+15551230001"


async def test_every_non_public_route_in_openapi_answers_401_without_a_key(
    relay: RelayClient,
) -> None:
    async with relay.http.get("/api/openapi.json") as resp:
        spec = await resp.json()
    checked = 0
    for path, methods in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in methods:
            async with relay.http.request(method.upper(), concrete, data=b"{}") as resp:
                if path in PUBLIC:
                    assert resp.status == (404 if path in NOT_SET_UP else 200), (method, path)
                    continue
                assert resp.status == 401, (method, path, resp.status)
                body = await resp.json()
                assert body["ok"] is False and body["error"]["code"] == "unauthorized"
                checked += 1
    assert checked >= 8


async def test_wrong_key_is_401_and_revoked_key_stops_working(relay: RelayClient) -> None:
    status, _ = await relay.call("GET", "/api/v1/messages", key="rk_wrong")
    assert status == 401
    key = await relay.new_key(["read"])
    assert (await relay.call("GET", "/api/v1/messages", key=key))[0] == 200
    _, keys = await relay.call("GET", "/api/v1/keys")
    key_id = next(k["id"] for k in keys["keys"] if key.startswith(k["prefix"]) and k["scopes"] == ["read"])
    assert (await relay.call("DELETE", f"/api/v1/keys/{key_id}"))[0] == 200
    assert (await relay.call("GET", "/api/v1/messages", key=key))[0] == 401


async def test_keys_are_stored_hashed_never_in_clear(relay: RelayClient) -> None:
    key = await relay.new_key(["send"])
    rows = await relay.relay.store.db.fetchall("SELECT * FROM api_keys")
    dumped = repr([tuple(r) for r in rows])
    assert key not in dumped and relay.admin_key not in dumped


async def test_x_api_key_header_is_accepted(relay: RelayClient) -> None:
    async with relay.http.get("/api/v1/sims", headers={"X-Api-Key": relay.admin_key}) as resp:
        assert resp.status == 200


async def test_send_scoped_key_cannot_read(relay: RelayClient) -> None:
    key = await relay.new_key(["send"])
    status, body = await relay.call("POST", "/api/v1/messages", key=key, json={"to": NUMBER, "text": "x"})
    assert status == 202
    status, err = await relay.call("GET", f"/api/v1/messages/{body['id']}", key=key)
    assert status == 403 and "read" in err["error"]["message"]
    assert (await relay.call("GET", "/api/v1/messages", key=key))[0] == 403
    assert (await relay.call("GET", "/api/v1/keys", key=key))[0] == 403


async def test_read_scoped_key_cannot_send(relay: RelayClient) -> None:
    key = await relay.new_key(["read"])
    status, _ = await relay.call("POST", "/api/v1/messages", key=key, json={"to": NUMBER, "text": "x"})
    assert status == 403


async def test_a_key_of_org_a_sees_nothing_of_org_b(relay: RelayClient) -> None:
    key_a = await relay.new_key(["send", "read"], org="org-a")
    key_b = await relay.new_key(["send", "read"], org="org-b")
    _, sent = await relay.call("POST", "/api/v1/messages", key=key_a, json={"to": NUMBER, "text": "secret"})
    status, _ = await relay.call("GET", f"/api/v1/messages/{sent['id']}", key=key_b)
    assert status == 404
    assert (await relay.call("DELETE", f"/api/v1/messages/{sent['id']}", key=key_b))[0] == 404
    _, listing = await relay.call("GET", "/api/v1/messages", key=key_b)
    assert listing["messages"] == []
    _, convs = await relay.call("GET", "/api/v1/conversations", key=key_b)
    assert convs["conversations"] == []
    _, own = await relay.call("GET", "/api/v1/messages", key=key_a)
    assert [m["text"] for m in own["messages"]] == ["secret"]


async def test_allowlisted_key_cannot_send_elsewhere(relay: RelayClient) -> None:
    key = await relay.new_key(["send"], allowlist=["+1555123*"])
    ok, _ = await relay.call("POST", "/api/v1/messages", key=key, json={"to": NUMBER, "text": "x"})
    assert ok == 202
    status, body = await relay.call(
        "POST", "/api/v1/messages", key=key, json={"to": "+442071838750", "text": "x"}
    )
    assert status == 403 and body["error"]["field"] == "to"
    status, _ = await relay.call(
        "POST", "/api/v1/messages", key=key, json={"to": [NUMBER, "+442071838750"], "text": "x"}
    )
    assert status == 403
    _, listing = await relay.call("GET", "/api/v1/messages")
    assert len(listing["messages"]) == 1  # the refused list stored nothing


async def test_rate_limited_key_gets_429_with_retry_after(relay: RelayClient) -> None:
    key = await relay.new_key(["send"], rate_limit=2)
    for _ in range(2):
        assert (await relay.call("POST", "/api/v1/messages", key=key, json={"to": NUMBER, "text": "x"}))[0] == 202
    async with relay.http.post(
        "/api/v1/messages", headers=relay.headers(key), json={"to": NUMBER, "text": "x"}
    ) as resp:
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert (await resp.json())["error"]["code"] == "rate_limited"


async def test_short_codes_need_a_key_that_allows_them(relay: RelayClient) -> None:
    status, _ = await relay.call("POST", "/api/v1/messages", json={"to": "12345", "text": "x"})
    assert status == 422
    key = await relay.new_key(["send"], allow_short_codes=True)
    status, body = await relay.call("POST", "/api/v1/messages", key=key, json={"to": "12345", "text": "x"})
    assert status == 202 and body["to"] == "12345"


async def test_non_default_org_admin_cannot_make_keys_for_other_orgs(relay: RelayClient) -> None:
    admin_b = await relay.new_key(["admin"], org="org-b")
    status, _ = await relay.call(
        "POST", "/api/v1/keys", key=admin_b, json={"name": "x", "org": "org-c"}
    )
    assert status == 403


async def test_no_key_or_number_appears_unmasked_in_logs_at_info(
    relay: RelayClient, caplog: pytest.LogCaptureFixture
) -> None:
    from relayd.log import RedactingFilter

    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "x"})
        await relay.call("GET", "/api/v1/messages", key="rk_notavalidkey123")
        logging.getLogger("relayd.test").info("sent to %s with %s", NUMBER, relay.admin_key)
    text = caplog.text
    assert caplog.records
    assert NUMBER not in text and relay.admin_key not in text and "rk_notavalidkey123" not in text
    assert "+155…01" in text


async def test_key_last_used_is_recorded(relay: RelayClient) -> None:
    key = await relay.new_key(["read"])
    assert (await relay.call("GET", "/api/v1/sims", key=key))[0] == 200
    await relay.relay.auth.flush()
    _, keys = await relay.call("GET", "/api/v1/keys")
    used = next(k for k in keys["keys"] if key.startswith(k["prefix"]) and k["scopes"] == ["read"])
    assert used["last_used_at"] is not None
