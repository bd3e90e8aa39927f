"""/metrics shows a key its own org only; /docs keeps no key and runs under the UI's CSP."""

from __future__ import annotations

from relayd.api.web import CSP
from tests.conftest import RelayClient

NUMBER = "+15551230000"


async def _metrics(relay: RelayClient, key: str | None = None) -> str:
    async with relay.http.get("/metrics", headers=relay.headers(key)) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_metrics_with_a_key_of_another_org_show_only_that_org(relay: RelayClient) -> None:
    shop = await relay.new_key(["send", "read"], org="shop")
    shop_admin = await relay.new_key(["admin"], org="shop")
    await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "ours"})
    await relay.call("POST", "/api/v1/messages", key=shop, json={"to": NUMBER, "text": "theirs"})
    operator = await _metrics(relay)  # an admin key of `default`: the whole relay
    assert 'org="default"' in operator and 'org="shop"' in operator
    assert "relayd_db_commits_total" in operator
    for key in (shop, shop_admin, await relay.new_key(["read"])):
        scoped = await _metrics(relay, key)
        own = "default" if key not in (shop, shop_admin) else "shop"
        other = "shop" if own == "default" else "default"
        assert f'relayd_messages{{org="{own}",direction="out",status="queued"}} 1' in scoped
        assert f'org="{other}"' not in scoped
        assert "relayd_outbox_queued 1" in scoped  # the org's queue, not the relay's
        assert "relayd_db_commits_total" not in scoped and "relayd_webhook" not in scoped


async def test_docs_page_carries_the_uis_csp_and_does_not_persist_a_pasted_key(
    relay: RelayClient,
) -> None:
    async with relay.http.get("/docs") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["X-Frame-Options"] == "DENY"
    async with relay.http.get("/docs/init.js") as resp:
        script = await resp.text()
    assert "persistAuthorization: false" in script
