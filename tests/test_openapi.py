"""The OpenAPI document covers every route, and the agent guide is served."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import API
from tests.conftest import RelayClient


async def test_openapi_lists_every_route_the_app_serves(relay: RelayClient) -> None:
    async with relay.http.get("/api/openapi.json") as resp:
        spec = await resp.json()
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    app = relay.http.server.app
    assert app is not None
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path is None or route.method == "HEAD" or isinstance(route.resource, web.StaticResource):
            continue
        served.add((path, route.method))
    assert served - documented == set()
    assert len(app[API].routes) == len(documented)


async def test_request_and_response_schemas_come_from_the_models(relay: RelayClient) -> None:
    async with relay.http.get("/api/openapi.json") as resp:
        spec = await resp.json()
    send = spec["paths"]["/api/v1/messages"]["post"]
    body_ref = send["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert {"to", "text", "idempotency_key", "dry_run", "send_at"} <= set(schema["properties"])
    # `to` (or a contact `group`) and `text` (or a `template`) are required: one of each
    assert schema.get("required", []) == []
    assert schema["allOf"] == [
        {"oneOf": [{"required": ["to"]}, {"required": ["group"]}]},
        {"oneOf": [{"required": ["text"]}, {"required": ["template"]}]},
    ]
    assert "401" in send["responses"] and "422" in send["responses"]
    assert spec["components"]["schemas"]["ErrorResponse"]["properties"]["error"]


async def test_llms_txt_is_public_and_names_this_relays_url(relay: RelayClient) -> None:
    async with relay.http.get("/llms.txt") as resp:
        text = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/plain"
    base = str(relay.http.make_url("/")).rstrip("/")
    assert f"POST {base}/api/v1/messages" in text and "idempotency_key" in text
