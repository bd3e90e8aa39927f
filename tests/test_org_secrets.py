"""Org phone secrets: salted scrypt at rest, old digests migrated, one 401 for every org."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from relayd.api.presenters import EVENT_PAYLOADS
from relayd.config import Config
from relayd.store import Store
from relayd.store.db import Tx
from tests.conftest import RelayClient, RelayFactory

SECRET = "shop-secret-0123"


async def _refusal(relay: RelayClient, path: str, secret: str) -> tuple[int, Any, str | None]:
    async with relay.http.get(path, headers={"X-Secret-Key": secret}) as resp:
        return resp.status, await resp.json(), resp.headers.get("WWW-Authenticate")


async def test_a_wrong_secret_and_an_unknown_org_get_the_same_401(relay: RelayClient) -> None:
    await relay.relay.store.keys.ensure_org("shop", SECRET)
    existing = await _refusal(relay, "/messages/shop", "wrong-secret-000")
    missing = await _refusal(relay, "/messages/nosuchorg", "wrong-secret-000")
    assert existing[0] == 401
    assert existing == missing
    async with relay.http.post(
        "/send/nosuchorg", json={"secret_key": "wrong-secret-000", "to": "+15551234567", "body": "x"}
    ) as a, relay.http.post(
        "/send/shop", json={"secret_key": "wrong-secret-000", "to": "+15551234567", "body": "x"}
    ) as b:
        assert (a.status, await a.json()) == (b.status, await b.json())


async def test_org_secrets_are_stored_as_salted_scrypt(relay: RelayClient) -> None:
    await relay.relay.store.keys.ensure_org("shop", SECRET)
    await relay.relay.store.keys.ensure_org("cafe", SECRET)
    rows = await relay.relay.store.db.fetchall(
        "SELECT id, secret_hash FROM orgs WHERE id IN ('shop', 'cafe') ORDER BY id"
    )
    hashes = [r["secret_hash"] for r in rows]
    assert all(h.startswith("scrypt$") for h in hashes)
    assert hashes[0] != hashes[1]  # the same secret, different salts
    dumped = repr([tuple(r) for r in rows])
    assert SECRET not in dumped and hashlib.sha256(SECRET.encode()).hexdigest() not in dumped
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": SECRET}) as resp:
        assert resp.status == 200


async def test_an_old_unsalted_digest_is_migrated_at_start_and_the_secret_keeps_working(
    make_relay: RelayFactory, config: Config
) -> None:
    legacy = hashlib.sha256(SECRET.encode()).hexdigest()  # how earlier versions stored it
    store = Store(config.storage.path, url=config.storage.url, payloads=EVENT_PAYLOADS)
    await store.open()

    def op(tx: Tx) -> None:
        tx.execute(
            "INSERT INTO orgs (id, secret_hash, created_at) VALUES ('shop', ?, ?)",
            (legacy, time.time()),
        )

    await store.db.write(op)
    await store.close()
    relay = await make_relay()
    row = await relay.relay.store.db.fetchone("SELECT secret_hash FROM orgs WHERE id = 'shop'")
    assert row is not None and row["secret_hash"].startswith("scrypt$")
    assert legacy not in row["secret_hash"]
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": SECRET}) as resp:
        assert resp.status == 200
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": "wrong-secret-000"}) as resp:
        assert resp.status == 401


async def test_a_changed_org_secret_stops_the_old_one_at_once(relay: RelayClient) -> None:
    await relay.relay.store.keys.ensure_org("shop", SECRET)
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": SECRET}) as resp:
        assert resp.status == 200  # checked once: remembered against this stored hash
    status, _ = await relay.call(
        "POST", "/api/v1/phones", json={"org": "shop", "secret": "shop-secret-4567"}
    )
    assert status in (200, 201)
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": SECRET}) as resp:
        assert resp.status == 401
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": "shop-secret-4567"}) as resp:
        assert resp.status == 200
