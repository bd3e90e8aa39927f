"""The inbox poll of seeds 000/001 (relay message API): `POST /api/v1/webchat/poll`.

Sending needs no module of its own: `POST /api/v1/messages` (v1.py) already takes the seeds'
`phone_id`, `channel`, `to`, `text`, `subject`, `source` and `idempotency_key`.

The seed's AI worker polls every few seconds without saying what it has seen, so the relay
keeps a cursor per API key, named by `chat_address` (several workers may share a key): each
poll returns the inbound messages after the cursor, oldest first, and moves it past them.
The cursor is durable (SQLite), so a restarted relay does not hand the backlog out again. A
caller that wants to page by itself sends `since_id`: that poll is stateless and leaves the
cursor where it is. Auth is an API key (`Authorization: Bearer`); the seed's pChat sessions
(`X-PChat-Session`) are not served.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd.api.bodies import read_body
from relayd.api.context import key_of, relay_of
from relayd.api.framework import Api, json_response, validate
from relayd.api.models import Message
from relayd.api.presenters import message_json

TAGS = ("seed 000/001",)


class PollRequest(BaseModel):
    """The seed's poll body; every field is optional."""

    model_config = ConfigDict(extra="ignore")

    phone_id: str | None = Field(None, max_length=100, description="Seed field; ignored")
    chat_address: str | None = Field(
        None, max_length=100, description="Names this poller's cursor (one per key and name)"
    )
    limit: int = Field(20, ge=1, le=1000)
    since_id: int | None = Field(
        None, ge=0, description="Messages after this id; the cursor is neither read nor moved"
    )


class PollResult(BaseModel):
    """New inbound messages, oldest first; `next_since_id` is the id to continue after."""

    ok: bool = True
    count: int
    messages: list[Message]
    next_since_id: int


def register(api: Api) -> None:
    """Add the inbox poll."""
    api.route(
        "POST",
        "/api/v1/webchat/poll",
        summary="New inbound messages since this key's last poll (seed 001 inbox poll)",
        tags=TAGS,
        scope="read",
        body=PollRequest,
        response=PollResult,
    )(poll)


async def poll(request: web.Request) -> web.Response:
    """POST /api/v1/webchat/poll."""
    relay = relay_of(request)
    key = key_of(request)
    body = validate(PollRequest, (await read_body(request, allow_empty=True)).require())
    cursor = body.chat_address or ""
    after = (
        body.since_id
        if body.since_id is not None
        else await relay.store.cursors.get(key.id, cursor)
    )
    messages = await relay.store.messages.list_messages(
        key.org, since_id=after, limit=body.limit, direction="in"
    )
    last = messages[-1].id if messages else after
    if body.since_id is None and messages:
        await relay.store.cursors.advance(key.id, cursor, last)
    result = {
        "ok": True,
        "count": len(messages),
        "messages": [message_json(m) for m in messages],
        "next_since_id": last,
    }
    return json_response(result)
