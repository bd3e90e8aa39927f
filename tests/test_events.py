"""Server-Sent Events: live delivery and exact resume with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse

from tests.conftest import RelayClient

NUMBER = "+15551230001"


async def read_events(resp: ClientResponse, count: int) -> list[dict[str, Any]]:
    """Parse `count` SSE events off a streaming response."""
    events: list[dict[str, Any]] = []
    current: dict[str, str] = {}
    async with asyncio.timeout(5):
        while len(events) < count:
            raw = await resp.content.readline()
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in current:
                    events.append({"id": int(current["id"]), "event": current["event"],
                                   **json.loads(current["data"])})
                current = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            current[name] = value
    return events


async def send(relay: RelayClient, text: str) -> int:
    status, body = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": text})
    assert status == 202
    message_id: int = body["id"]
    return message_id


async def test_stream_delivers_committed_events_live(relay: RelayClient) -> None:
    async with relay.http.get("/api/v1/events", headers=relay.headers()) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        message_id = await send(relay, "live")
        [event] = await read_events(resp, 1)
    assert event["type"] == event["event"] == "sms.queued"
    assert event["data"]["id"] == message_id and event["data"]["text"] == "live"


async def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(
    relay: RelayClient,
) -> None:
    async with relay.http.get("/api/v1/events", headers=relay.headers()) as resp:
        await send(relay, "seen-1")
        await send(relay, "seen-2")
        seen = await read_events(resp, 2)
    last_id = seen[-1]["id"]
    missed_ids = [await send(relay, f"missed-{i}") for i in range(3)]
    headers = {**relay.headers(), "Last-Event-ID": str(last_id)}
    async with relay.http.get("/api/v1/events", headers=headers) as resp:
        replay = await read_events(resp, 3)
        after = await send(relay, "after")
        [live] = await read_events(resp, 1)
    assert [e["data"]["id"] for e in replay] == missed_ids
    assert [e["id"] for e in replay] == sorted(e["id"] for e in replay)
    assert all(e["id"] > last_id for e in replay)
    assert live["data"]["id"] == after and live["id"] > replay[-1]["id"]


async def test_stream_only_carries_the_keys_org(relay: RelayClient) -> None:
    other = await relay.new_key(["send", "read"], org="org-b")
    async with relay.http.get("/api/v1/events", headers=relay.headers(other)) as resp:
        await send(relay, "default org")  # not for org-b
        status, _ = await relay.call("POST", "/api/v1/messages", key=other,
                                     json={"to": NUMBER, "text": "org-b"})
        assert status == 202
        [event] = await read_events(resp, 1)
    assert event["data"]["text"] == "org-b" and event["data"]["org"] == "org-b"


async def test_type_filter_limits_the_stream(relay: RelayClient) -> None:
    async with relay.http.get("/api/v1/events?types=sms.cancelled", headers=relay.headers()) as resp:
        first = await send(relay, "a")
        await relay.call("DELETE", f"/api/v1/messages/{first}")
        [event] = await read_events(resp, 1)
    assert event["type"] == "sms.cancelled" and event["data"]["id"] == first
