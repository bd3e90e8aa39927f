"""The native send/read API against a real relay on a real SQLite file."""

from __future__ import annotations

import pytest

from tests.conftest import RelayClient

NUMBER = "+15551230001"


async def test_send_returns_202_with_id_and_is_readable_with_history(relay: RelayClient) -> None:
    status, body = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "hi"})
    assert status == 202
    assert body == {"ok": True, "id": body["id"], "to": NUMBER, "status": "queued", "parts": 1,
                    "encoding": "gsm7"}
    status, message = await relay.call("GET", f"/api/v1/messages/{body['id']}")
    assert status == 200
    assert message["peer"] == NUMBER and message["text"] == "hi" and message["direction"] == "out"
    assert [h["status"] for h in message["history"]] == ["queued"]


async def test_number_is_normalised_to_e164_with_default_region(relay: RelayClient) -> None:
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"to": "(202) 555-0123", "text": "x"}
    )
    assert status == 202 and body["to"] == "+12025550123"


async def test_list_send_makes_one_message_per_recipient(relay: RelayClient) -> None:
    to = ["+15551230001", "+15551230002", "+15551230003"]
    status, body = await relay.call("POST", "/api/v1/messages", json={"to": to, "text": "all"})
    assert status == 202
    assert [m["to"] for m in body["messages"]] == to
    assert len({m["id"] for m in body["messages"]}) == 3


async def test_encoding_and_parts_follow_the_codec(relay: RelayClient) -> None:
    _, ascii_body = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "a" * 400})
    assert (ascii_body["encoding"], ascii_body["parts"]) == ("gsm7", 3)
    _, emoji = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "Привет 😀" * 10})
    assert emoji["encoding"] == "ucs2" and emoji["parts"] == 2


async def test_listing_pages_with_since_id_in_ascending_order(relay: RelayClient) -> None:
    ids = []
    for i in range(5):
        _, body = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": f"m{i}"})
        ids.append(body["id"])
    _, page1 = await relay.call("GET", "/api/v1/messages?limit=2")
    assert [m["id"] for m in page1["messages"]] == ids[:2]
    _, page2 = await relay.call("GET", f"/api/v1/messages?limit=2&since_id={page1['next_since_id']}")
    assert [m["id"] for m in page2["messages"]] == ids[2:4]
    _, filtered = await relay.call("GET", "/api/v1/messages?direction=in")
    assert filtered["messages"] == []


async def test_cancel_moves_a_queued_message_to_cancelled_once(relay: RelayClient) -> None:
    _, body = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "x"})
    status, cancelled = await relay.call("DELETE", f"/api/v1/messages/{body['id']}")
    assert status == 200 and cancelled["status"] == "cancelled"
    status, again = await relay.call("DELETE", f"/api/v1/messages/{body['id']}")
    assert status == 409 and "cancelled" in again["error"]["message"]
    assert relay.relay.outbox.queued_count() == 0


async def test_same_idempotency_key_twice_stores_one_message(relay: RelayClient) -> None:
    body = {"to": NUMBER, "text": "once", "idempotency_key": "k-1"}
    first_status, first = await relay.call("POST", "/api/v1/messages", json=body)
    second_status, second = await relay.call("POST", "/api/v1/messages", json=body)
    assert (first_status, second_status) == (202, 200)
    assert first["id"] == second["id"]
    _, listing = await relay.call("GET", "/api/v1/messages")
    assert len(listing["messages"]) == 1


async def test_idempotency_key_header_works_like_the_field(relay: RelayClient) -> None:
    headers = {"Idempotency-Key": "hdr-1"}
    body = {"to": NUMBER, "text": "once"}
    _, first = await relay.call("POST", "/api/v1/messages", json=body, headers=headers)
    status, second = await relay.call("POST", "/api/v1/messages", json=body, headers=headers)
    assert status == 200 and second["id"] == first["id"]


async def test_same_idempotency_key_with_other_body_is_422(relay: RelayClient) -> None:
    await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "a", "idempotency_key": "k"})
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"to": NUMBER, "text": "b", "idempotency_key": "k"}
    )
    assert status == 422 and body["error"]["field"] == "idempotency_key"


async def test_dry_run_answers_plan_and_stores_nothing(relay: RelayClient) -> None:
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"to": NUMBER, "text": "b" * 200, "dry_run": True}
    )
    assert status == 200
    assert body["parts"] == 2 and body["encoding"] == "gsm7"
    assert "".join(body["segments"]) == "b" * 200
    _, listing = await relay.call("GET", "/api/v1/messages")
    assert listing["messages"] == []


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"data": "{not json"}, 422, None),
        ({"json": {"text": "no recipient"}}, 422, "to"),
        ({"json": {"to": NUMBER}}, 422, "text"),
        ({"json": {"to": "not-a-number", "text": "x"}}, 422, "to"),
        ({"json": {"to": "+1555", "text": "x"}}, 422, "to"),
        ({"json": {"to": NUMBER, "text": "x" * 2000}}, 422, "text"),
        ({"json": {"to": NUMBER, "text": ""}}, 422, "text"),
        ({"json": {"to": NUMBER, "text": "x", "channel": "fax"}}, 422, "channel"),
        ({"json": {"to": NUMBER, "text": "x", "channel": "wa"}}, 422, "channel"),
        ({"json": {"to": NUMBER, "text": "x", "sim": "nope"}}, 422, "sim"),
        ({"json": {"to": NUMBER, "text": "x", "send_at": "2030-01-01T00:00:00"}}, 422, "send_at"),
        ({"json": [1, 2]}, 422, None),
        ({"data": "x" * 70_000}, 413, None),
    ],
)
async def test_bad_input_gets_a_clear_4xx_and_the_relay_keeps_serving(
    relay: RelayClient, kwargs: dict[str, object], status: int, field: str | None
) -> None:
    got, body = await relay.call("POST", "/api/v1/messages", **kwargs)
    assert got == status
    assert body["ok"] is False and body["error"]["message"]
    assert body["error"].get("field") == field
    ok, _ = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "still up"})
    assert ok == 202


async def test_too_long_text_says_how_many_parts_it_needs(relay: RelayClient) -> None:
    _, body = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "x" * 2000})
    assert "14" in body["error"]["message"] and "10" in body["error"]["message"]


async def test_unknown_and_non_numeric_ids_are_404(relay: RelayClient) -> None:
    assert (await relay.call("GET", "/api/v1/messages/999"))[0] == 404
    assert (await relay.call("GET", "/api/v1/messages/abc"))[0] == 404


async def test_conversations_group_by_peer_newest_first(relay: RelayClient) -> None:
    await relay.call("POST", "/api/v1/messages", json={"to": "+15551230001", "text": "a"})
    await relay.call("POST", "/api/v1/messages", json={"to": "+15551230002", "text": "b"})
    await relay.call("POST", "/api/v1/messages", json={"to": "+15551230001", "text": "c"})
    _, body = await relay.call("GET", "/api/v1/conversations")
    assert [c["peer"] for c in body["conversations"]] == ["+15551230001", "+15551230002"]
    assert body["conversations"][0]["messages"] == 2
    assert body["conversations"][0]["last_message"]["text"] == "c"


async def test_health_is_public_and_reports_version(relay: RelayClient) -> None:
    async with relay.http.get("/health") as resp:
        assert resp.status == 200
        assert resp.headers["Server"] == "relayd"
        body = await resp.json()
    assert body["ok"] is True and body["version"] and body["sims_online"] == 0


async def test_metrics_expose_message_counts(relay: RelayClient) -> None:
    await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "x"})
    async with relay.http.get("/metrics", headers=relay.headers()) as resp:
        text = await resp.text()
    assert 'relayd_messages{org="default",direction="out",status="queued"} 1' in text
    assert "relayd_db_commits_total" in text


async def test_docs_are_served_offline_from_the_installed_bundle(relay: RelayClient) -> None:
    async with relay.http.get("/docs") as resp:
        page = await resp.text()
    assert resp.status == 200 and "swagger-ui-bundle.js" in page and "http" not in page.split("<body>")[1]
    async with relay.http.get("/docs/static/swagger-ui-bundle.js") as resp:
        assert resp.status == 200 and len(await resp.read()) > 100_000
