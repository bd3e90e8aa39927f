"""A small client for relayd's native HTTP API (/api/v1), on Home Assistant's aiohttp session."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from yarl import URL

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

REQUEST_TIMEOUT = 15.0
"""A USSD answer or a ring call can take a while; everything else answers at once."""
STREAM_READ_TIMEOUT = 45.0
"""relayd writes a keepalive every 15 s: three missed ones mean the stream is dead."""


class RelaydError(Exception):
    """Anything that went wrong talking to relayd."""


class RelaydConnectionError(RelaydError):
    """relayd cannot be reached (down, wrong host or port, timeout)."""


class RelaydAuthError(RelaydError):
    """The key is wrong or has been revoked (401)."""


class RelaydApiError(RelaydError):
    """relayd refused the request with its JSON error."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


@dataclass(frozen=True)
class StreamEvent:
    """One Server-Sent Event of /api/v1/events."""

    id: int
    type: str
    data: dict[str, Any]
    timestamp: str | None


async def async_make_client(
    hass: HomeAssistant, host: str, port: int, api_key: str, *, ca_pem: str | None = None
) -> RelaydClient:
    """A client on Home Assistant's session; with `ca_pem`, HTTPS trusting only that CA."""
    context = None
    if ca_pem is not None:
        context = await hass.async_add_executor_job(_trusting, ca_pem)
    return RelaydClient(async_get_clientsession(hass), host, port, api_key, ssl_context=context)


async def async_fetch_ca(hass: HomeAssistant, host: str, port: int) -> str:
    """The relay's own CA from GET /ca.pem (trusted on first use, then pinned in the entry)."""
    url = URL.build(scheme="https", host=host, port=port, path="/ca.pem")
    try:
        async with (
            asyncio.timeout(REQUEST_TIMEOUT),
            async_get_clientsession(hass).get(url, ssl=False) as response,
        ):
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RelaydConnectionError(f"GET {url}: {exc!r}") from exc
    if response.status != 200 or "BEGIN CERTIFICATE" not in text:
        raise RelaydApiError(response.status, "no_ca", f"{url} did not answer a certificate")
    return text


def _trusting(ca_pem: str) -> ssl.SSLContext:
    # Only the relay's CA: not the system's, so no public certificate can stand in for it.
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)


class RelaydClient:
    """Talks to one relay with one API key."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        port: int,
        api_key: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._session = session
        self._key = api_key
        self._ssl: ssl.SSLContext | bool = ssl_context or True
        scheme = "https" if ssl_context else "http"
        self.base = URL.build(scheme=scheme, host=host, port=port)

    # --- the routes -------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """GET /health (no key)."""
        return await self._request("GET", "/health", auth=False, ok_statuses=(200, 503))

    async def sims(self) -> list[dict[str, Any]]:
        """GET /api/v1/sims: the key's SIMs with signal, operator, queue depth."""
        body = await self._request("GET", "/api/v1/sims")
        return list(body.get("sims", []))

    async def messages(
        self, since_id: int = 0, limit: int = 1000, direction: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """GET /api/v1/messages in ascending id order; returns (messages, next_since_id)."""
        params: dict[str, str | int] = {"since_id": since_id, "limit": limit}
        if direction:
            params["direction"] = direction
        body = await self._request("GET", "/api/v1/messages", params=params)
        return list(body.get("messages", [])), int(body.get("next_since_id") or since_id)

    async def message(self, message_id: int) -> dict[str, Any]:
        """GET /api/v1/messages/{id}."""
        return await self._request("GET", f"/api/v1/messages/{message_id}")

    async def send(
        self, to: str | list[str], text: str, sim: str | None = None
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """POST /api/v1/messages; a list of numbers gives a list of results."""
        body: dict[str, Any] = {"to": to, "text": text, "source": "homeassistant"}
        if sim:
            body["sim"] = sim
        answer = await self._request("POST", "/api/v1/messages", payload=body)
        return answer.get("messages", answer) if isinstance(to, list) else answer

    async def ussd(self, code: str, sim: str | None = None) -> dict[str, Any]:
        """POST /api/v1/ussd: the network's answer (needs an admin key)."""
        body: dict[str, Any] = {"code": code}
        if sim:
            body["sim"] = sim
        return await self._request("POST", "/api/v1/ussd", payload=body)

    async def ring(self, to: str, sim: str | None, ring_seconds: float) -> dict[str, Any]:
        """POST /api/v1/calls: ring a number, then hang up."""
        body: dict[str, Any] = {"to": to, "ring_seconds": ring_seconds}
        if sim:
            body["sim"] = sim
        return await self._request("POST", "/api/v1/calls", payload=body)

    async def events(
        self, last_event_id: int | None, on_open: Callable[[], None] | None = None
    ) -> AsyncIterator[StreamEvent]:
        """GET /api/v1/events: yield events until the stream ends; resume after last_event_id.

        `on_open` is called once relayd has accepted the stream (before any event).
        """
        headers = self._headers()
        headers["Accept"] = "text/event-stream"
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=REQUEST_TIMEOUT, sock_read=STREAM_READ_TIMEOUT
        )
        try:
            async with self._session.get(
                self.base.with_path("/api/v1/events"),
                headers=headers,
                timeout=timeout,
                ssl=self._ssl,
            ) as response:
                await _raise_for_status(response, (200,))
                if on_open is not None:
                    on_open()
                async for event in _parse_sse(response.content):
                    yield event
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RelaydConnectionError(f"event stream from {self.base}: {exc!r}") from exc

    # --- plumbing ---------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        payload: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
        auth: bool = True,
        ok_statuses: tuple[int, ...] = (200, 201, 202),
    ) -> dict[str, Any]:
        try:
            async with (
                asyncio.timeout(REQUEST_TIMEOUT),
                self._session.request(
                    method,
                    self.base.with_path(path),
                    json=payload,
                    params=params,
                    headers=self._headers() if auth else None,
                    ssl=self._ssl,
                ) as response,
            ):
                await _raise_for_status(response, ok_statuses)
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RelaydConnectionError(f"{method} {self.base}{path}: {exc!r}") from exc
        if not isinstance(body, dict):
            raise RelaydApiError(502, "bad_answer", f"{path} did not answer a JSON object")
        return body


async def _raise_for_status(response: aiohttp.ClientResponse, ok: tuple[int, ...]) -> None:
    if response.status in ok:
        return
    if response.status == 401:
        raise RelaydAuthError("relayd refused the API key (wrong or revoked)")
    try:
        error = (await response.json(content_type=None)).get("error") or {}
    except (ValueError, AttributeError, aiohttp.ClientError):
        error = {}
    raise RelaydApiError(
        response.status,
        str(error.get("code") or f"http_{response.status}"),
        str(error.get("message") or response.reason or "error"),
        error.get("field"),
    )


async def _parse_sse(content: aiohttp.StreamReader) -> AsyncIterator[StreamEvent]:
    """Server-Sent Events framing: `field: value` lines, a blank line ends an event."""
    data: list[str] = []
    event_id: str | None = None
    async for raw in content:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data and event_id is not None and event_id.isdigit():
                yield _event(int(event_id), "\n".join(data))
            data, event_id = [], None
            continue
        if line.startswith(":"):
            continue  # keepalive comment
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


def _event(event_id: int, payload: str) -> StreamEvent:
    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    data = body.get("data")
    return StreamEvent(
        id=event_id,
        type=str(body.get("type", "")),
        data=data if isinstance(data, dict) else {},
        timestamp=body.get("timestamp"),
    )
