"""The tools of `relayd mcp`: what an AI agent may do with the relay, over its HTTP API.

Each tool is a small coroutine on `RelayApi` (the agent's key, so its scopes, allowlist and
rate limit apply) and a description written for a model to read.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from relayd.numbers import InvalidNumber, normalize_number

HTTP_TIMEOUT = 30.0
SEND_RETRIES = 2  # a send whose answer was lost is tried again with the same idempotency key
POLL_SECONDS = 1.0
MAX_WAIT_SECONDS = 600


class ToolError(Exception):
    """A tool call that failed in a way the model should read (bad input, relay refused)."""


@dataclass(frozen=True)
class Tool:
    """One MCP tool: what the model reads, its argument schema, and what it does."""

    name: str
    title: str
    description: str
    schema: dict[str, Any]
    run: Callable[[RelayApi, dict[str, Any]], Awaitable[dict[str, Any]]]
    read_only: bool = True

    def describe(self) -> dict[str, Any]:
        """The tool as `tools/list` shows it."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": False,
                "idempotentHint": self.read_only,
                "openWorldHint": not self.read_only,
            },
        }


class RelayApi:
    """The relay's HTTP API with the agent's key."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RelayApi:
        self._http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.key}", "User-Agent": "relayd-mcp"},
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer, or ToolError with the relay's own message."""
        assert self._http is not None
        try:
            async with self._http.request(method, self.url + path, **kwargs) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ToolError(f"cannot reach the relay at {self.url}: {exc or 'timeout'}") from exc
        except json.JSONDecodeError:
            raise ToolError(f"the relay answered {method} {path} with something not JSON") from None
        if status >= 400:
            error = data.get("error", {}) if isinstance(data, dict) else {}
            code = error.get("code", "error")
            field = f", field {error['field']}" if error.get("field") else ""
            raise ToolError(
                f"the relay refused ({status} {code}{field}): {error.get('message', data)}"
            )
        return data


# --- tools ---------------------------------------------------------------------------------


async def send_sms(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/messages, retried on lost answers with one idempotency key."""
    to = args.get("to")
    text = args.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ToolError("text: give the message text")
    if not (isinstance(to, str) and to.strip()) and not (
        isinstance(to, list) and to and all(isinstance(t, str) for t in to)
    ):
        raise ToolError("to: give an E.164 number such as +15551234567, or a list of them")
    body: dict[str, Any] = {"to": to, "text": text}
    for name in ("sim", "send_at"):
        if args.get(name):
            body[name] = args[name]
    return await post_send(api, body, args.get("idempotency_key"))


async def post_send(api: RelayApi, body: dict[str, Any], key: str | None) -> dict[str, Any]:
    """POST /api/v1/messages (source `mcp`), retried on lost answers with one idempotency key."""
    key = key or f"mcp-{uuid.uuid4()}"
    body = {**body, "idempotency_key": key, "source": "mcp"}
    for attempt in range(SEND_RETRIES + 1):
        try:
            result = await api.call("POST", "/api/v1/messages", json=body)
            break
        except ToolError as exc:
            if "cannot reach" not in str(exc) or attempt == SEND_RETRIES:
                raise
            await asyncio.sleep(1.0 + attempt)
    result = result if isinstance(result, dict) else {"result": result}
    result["idempotency_key"] = key
    return dict(result)


async def get_message(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """GET /api/v1/messages/{id}."""
    message_id = args.get("id")
    if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id < 1:
        raise ToolError("id: give the message id (a positive integer) that send_sms returned")
    return dict(await api.call("GET", f"/api/v1/messages/{message_id}"))


async def list_messages(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """GET /api/v1/messages with the given filters."""
    params: dict[str, str] = {"limit": str(_int(args, "limit", 20, 1, 1000))}
    params["since_id"] = str(_int(args, "since_id", 0, 0, None))
    direction = args.get("direction")
    if direction is not None:
        if direction not in ("in", "out"):
            raise ToolError("direction: 'in' (received) or 'out' (sent)")
        params["direction"] = direction
    if args.get("peer"):
        params["peer"] = _number(str(args["peer"]))
    if args.get("status"):
        params["status"] = str(args["status"])
    return dict(await api.call("GET", "/api/v1/messages", params=params))


async def list_sims(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """GET /api/v1/sims."""
    return dict(await api.call("GET", "/api/v1/sims"))


async def wait_for_reply(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """Poll for the first message from `peer` after `since_id` (default: our last one to it)."""
    raw = args.get("peer")
    if not isinstance(raw, str) or not raw.strip():
        raise ToolError("peer: give the number you expect the reply from, e.g. +15551234567")
    peer = _number(raw)
    timeout = float(_int(args, "timeout_seconds", 120, 1, MAX_WAIT_SECONDS))
    since = args.get("since_id")
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        since = await _last_id(api, peer, "out")
    deadline = time.monotonic() + timeout
    while True:
        params = {"direction": "in", "peer": peer, "since_id": str(since), "limit": "1"}
        found = await api.call("GET", "/api/v1/messages", params=params)
        if found["messages"]:
            return {"replied": True, "message": found["messages"][0]}
        left = deadline - time.monotonic()
        if left <= 0:
            return {
                "replied": False,
                "peer": peer,
                "since_id": since,
                "waited_seconds": timeout,
                "hint": "no reply yet; call wait_for_reply again with this since_id to go on",
            }
        await asyncio.sleep(min(POLL_SECONDS, left))


async def _last_id(api: RelayApi, peer: str, direction: str) -> int:
    last = 0
    while True:
        params = {"peer": peer, "direction": direction, "since_id": str(last), "limit": "1000"}
        page = await api.call("GET", "/api/v1/messages", params=params)
        if not page["messages"]:
            return last
        last = int(page["next_since_id"])


def _int(args: dict[str, Any], name: str, default: int, low: int, high: int | None) -> int:
    value = args.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ToolError(f"{name}: give a number")
    number = int(value)
    if number < low or (high is not None and number > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ToolError(f"{name}: give a number from {bound}")
    return number


def _number(raw: str) -> str:
    try:
        return normalize_number(raw, "US", allow_short_codes=True)
    except InvalidNumber:
        return raw.strip()


TOOLS = (
    Tool(
        "send_sms",
        "Send an SMS",
        "Send an SMS through the relay's GSM modems or Android phones. Confirm the recipient "
        "and the text with the user first. Returns the message `id`, `status` (queued), `parts` "
        "and `encoding`, and the `idempotency_key` used: if you are unsure whether a call went "
        "through, call again with that same idempotency_key and the same text; the relay "
        "returns the original message instead of sending twice. The API key may only be "
        "allowed to send to some numbers: a refused recipient comes back as an error.",
        {
            "type": "object",
            "properties": {
                "to": {
                    "description": "Recipient in E.164 form (+15551234567), or a list of them",
                    "anyOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"type": "string"}, "maxItems": 100},
                    ],
                },
                "text": {"type": "string", "description": "Message text (long texts are split)"},
                "sim": {"type": "string", "description": "Optional SIM id, name or number"},
                "idempotency_key": {
                    "type": "string",
                    "maxLength": 200,
                    "description": "Reuse the key of an earlier call to retry it safely",
                },
                "send_at": {
                    "type": "string",
                    "description": "Optional ISO 8601 time with offset to send later",
                },
            },
            "required": ["to", "text"],
            "additionalProperties": False,
        },
        send_sms,
        read_only=False,
    ),
    Tool(
        "get_message",
        "Get one message",
        "One message by id with its status history: queued -> sending -> sent -> delivered, or "
        "failed (see `error`), expired, cancelled. Use it to check a message from send_sms.",
        {
            "type": "object",
            "properties": {"id": {"type": "integer", "minimum": 1}},
            "required": ["id"],
            "additionalProperties": False,
        },
        get_message,
    ),
    Tool(
        "list_messages",
        "List messages",
        "Messages of this relay in ascending id order. direction 'in' lists received SMS. "
        "Page with since_id = the `next_since_id` of the previous answer.",
        {
            "type": "object",
            "properties": {
                "direction": {"type": "string", "enum": ["in", "out"]},
                "peer": {"type": "string", "description": "Only messages with this number"},
                "status": {"type": "string", "description": "e.g. received, sent, failed"},
                "since_id": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
            },
            "additionalProperties": False,
        },
        list_messages,
    ),
    Tool(
        "list_sims",
        "List SIMs",
        "The relay's SIMs (modems and phone slots): number, operator, signal, online, queue "
        "depth, send caps (`caps`: daily/monthly limit and used), health (`health`: "
        "`quarantined` until a time after repeated failures), last known `balance` and "
        "`expires_at`. Messages only go out while a SIM is online, in the pool and under its "
        "caps; otherwise they wait queued.",
        {"type": "object", "properties": {}, "additionalProperties": False},
        list_sims,
    ),
    Tool(
        "wait_for_reply",
        "Wait for a reply",
        "Block until an SMS from `peer` arrives, or until timeout_seconds (default 120, at most "
        "600) pass. Without since_id it waits for a message newer than the last one sent to "
        "that peer, so a reply that came in before this call is found too. On timeout it "
        "answers replied=false with the since_id to call again with.",
        {
            "type": "object",
            "properties": {
                "peer": {"type": "string", "description": "The number expected to reply"},
                "timeout_seconds": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_WAIT_SECONDS,
                    "default": 120,
                },
                "since_id": {"type": "integer", "minimum": 0},
            },
            "required": ["peer"],
            "additionalProperties": False,
        },
        wait_for_reply,
    ),
)
