"""GET /api/v1/events: Server-Sent Events with Last-Event-ID resume from the event log."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Hashable

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.credentials import credentials_from
from relayd.api.framework import Api, row_id
from relayd.api.presenters import iso
from relayd.events import CLOSE
from relayd.exceptions import ApiError
from relayd.limits import StreamCounter, TooManyStreams
from relayd.store import EventRow

KEEPALIVE_SECONDS = 15.0
BACKLOG_PAGE = 1000


def register(api: Api) -> None:
    """Add the event stream route."""
    api.route(
        "GET",
        "/api/v1/events",
        summary="Server-Sent Events of the key's org; send Last-Event-ID to resume",
        tags=("events",),
        scope="read",
        content_type="text/event-stream",
        extra_responses={429: "This key has [limits] streams_per_key streams open already"},
    )(event_stream)


@contextlib.asynccontextmanager
async def stream_slot(
    streams: StreamCounter,
    holder: Hashable,
    what: str = "event streams",
    setting: str = "streams_per_key",
) -> AsyncIterator[None]:
    """Hold one of `holder`'s streams (or sockets), or answer 429 naming the limit."""
    try:
        async with streams.hold(holder):
            yield
    except TooManyStreams as exc:
        raise ApiError(
            429,
            f"too_many_{what.split()[-1]}",
            f"{exc.limit} {what} are open with this credential already "
            f"([limits] {setting}): close one first",
        ) from None


def _frame(event: EventRow) -> bytes:
    payload = {"id": event.seq, "type": event.type, "timestamp": iso(event.at), "data": event.data}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.type}\ndata: {body}\n\n".encode()


async def event_stream(request: web.Request) -> web.StreamResponse:
    """Stream events; with Last-Event-ID first replay exactly the stored ones after it."""
    relay = relay_of(request)
    key = key_of(request)
    async with stream_slot(relay.limits.streams, ("key", key.org, key.id)):
        return await _stream(request, key.org, credentials_from(request) or "")


async def _stream(request: web.Request, org: str, secret: str) -> web.StreamResponse:
    relay = relay_of(request)
    raw_last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    last = row_id(raw_last.strip()) if raw_last else None
    wanted = {t for t in request.query.get("types", "").split(",") if t}
    sub = relay.bus.subscribe(org)  # before reading the log, so nothing falls in between
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        if last is not None:
            while True:
                backlog = await relay.store.events.since(org, last, BACKLOG_PAGE)
                for event in backlog:
                    if not wanted or event.type in wanted:
                        await response.write(_frame(event))
                    last = event.seq
                if len(backlog) < BACKLOG_PAGE:
                    break
        while not sub.overflowed:
            item: EventRow | None
            try:
                item = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                item = None
            if item is CLOSE or await relay.auth.authenticate(secret) is None:
                break  # a revoked key's open stream gets nothing more
            if item is None:
                await response.write(b": keepalive\n\n")
                continue
            if last is not None and item.seq <= last:
                continue  # already sent from the log
            last = item.seq
            if not wanted or item.type in wanted:
                await response.write(_frame(item))
    except ConnectionResetError:
        pass
    finally:
        relay.bus.unsubscribe(sub)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
