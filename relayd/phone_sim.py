"""A scripted phone for tests, demos and benches: the seed-004 phone protocol over a real socket.

It reports its SIMs, answers each `send_sms` after `delay` seconds (failing a `fail_rate`
share of them), dedupes by id as real phones do (a send pushed again is answered again,
never "sent" twice), injects received SMS, and reconnects with capped backoff.

    phone = ScriptedPhone("ws://127.0.0.1:8080", "myorg", secret="my-secret-key-123")
    await phone.start()            # returns once the relay said `connected`
    await phone.inject("+15551112222", "hello")
    await phone.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
ACK_TIMEOUT = 10.0
BACKOFF_START, BACKOFF_MAX = 0.2, 10.0


def websocket_url(base: str, query: dict[str, str]) -> str:
    """`ws://host:port[/websocket]` (http:// also taken) with the credentials in the query."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme or "ws")
    path = parts.path.rstrip("/")
    if not path.endswith("/websocket"):
        path += "/websocket"
    extra = urlencode(query)
    full_query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((scheme, parts.netloc, path, full_query, ""))


@dataclass
class SentSms:
    """What the scripted phone put on air (once per id)."""

    id: int
    to: str
    body: str
    sim: Any
    ok: bool
    error: str | None = None
    at: float = field(default_factory=time.time)


class ScriptedPhone:
    """One simulated Android phone connected to a relay."""

    def __init__(
        self,
        url: str,
        org: str | None = None,
        secret: str | None = None,
        *,
        token: str | None = None,
        device_id: str | None = None,
        sims: int = 1,
        numbers: list[str] | None = None,
        carrier: str = "Simulated",
        delay: float = 0.0,
        fail_rate: float = 0.0,
        reconnect: bool = True,
        report_sims: bool = True,
        rng: random.Random | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        query = {
            k: v
            for k, v in (
                ("org_id", org),
                ("secret_key", secret),
                ("token", token),
                ("device_id", device_id),
            )
            if v
        }
        self.url = websocket_url(url, query)
        self.numbers = numbers or [_number_for(device_id or org or "phone", s) for s in range(sims)]
        self.carrier = carrier
        self.delay = delay
        self.fail_rate = fail_rate
        self.reconnect = reconnect
        self.report_sims = report_sims
        self.hold = False  # True: take send_sms but never answer (a phone about to drop)
        self.rng = rng or random.Random()  # noqa: S311 - simulation, not security
        self.on_event = on_event
        self.received: list[dict[str, Any]] = []  # every send_sms frame, repeats included
        self.sent: dict[int, SentSms] = {}  # what went "on air", once per id
        self.frames: list[dict[str, Any]] = []  # every frame from the relay
        self.connects = 0
        self.connected = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._http = http  # shared by many phones in one process (bench); else our own
        self._own_http = http is None
        self._task: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Task[None]] = set()
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._next_inbound = int(time.time() * 1000)

    # --- control --------------------------------------------------------------------

    async def start(self, wait: bool = True) -> None:
        """Connect (and keep reconnecting); with `wait`, return once `connected` arrived."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="phone-sim")
        if wait:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self.connected.wait()

    async def stop(self) -> None:
        """Disconnect for good."""
        self.reconnect = False
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._answers):
            task.cancel()
        if self._answers:
            await asyncio.gather(*self._answers, return_exceptions=True)
        if self._http is not None and self._own_http:
            await self._http.close()

    async def drop(self) -> None:
        """Lose the connection (it reconnects when `reconnect` is on)."""
        self.connected.clear()
        if self._ws is not None:
            await self._ws.close()

    async def wait_connected(self) -> None:
        """Until the relay said `connected` again."""
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await self.connected.wait()

    async def inject(
        self, address: str, body: str, *, slot: int = 0, sms_id: str | None = None
    ) -> str:
        """Report a received SMS and wait for the relay's `inbound_ack`; returns its id."""
        self._next_inbound += 1
        sms_id = sms_id or str(self._next_inbound)
        ack = asyncio.get_running_loop().create_future()
        self._acks[sms_id] = ack
        try:
            await self.send(
                {
                    "type": "inbound",
                    "message": {
                        "address": address,
                        "body": body,
                        "date": int(time.time() * 1000),
                        "sim_slot": slot,
                        "id": sms_id,
                    },
                }
            )
            async with asyncio.timeout(ACK_TIMEOUT):
                await ack
        finally:
            self._acks.pop(sms_id, None)
        return sms_id

    async def send(self, frame: dict[str, Any]) -> None:
        """Write one JSON frame."""
        if self._ws is None or self._ws.closed:
            raise ConnectionError("the phone is not connected")
        await self._ws.send_str(json.dumps(frame))

    # --- the connection -------------------------------------------------------------

    async def _run(self) -> None:
        assert self._http is not None
        backoff = BACKOFF_START
        while True:
            try:
                async with self._http.ws_connect(self.url, heartbeat=None) as ws:
                    self._ws = ws
                    self.connects += 1
                    backoff = BACKOFF_START
                    await self._serve(ws)
                    self.close_code = ws.close_code
            except (aiohttp.ClientError, OSError) as exc:
                _LOGGER.debug("Phone sim cannot connect: %s", exc)
            finally:
                self._ws = None
                self.connected.clear()
            if not self.reconnect:
                return
            await asyncio.sleep(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.CLOSE:
                self.close_reason = str(message.extra or "")
                await ws.close()
                return
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            self.frames.append(frame)
            kind = frame.get("type")
            if kind == "connected":
                if self.report_sims:
                    sims = [
                        {"slot": slot, "number": number, "carrier": self.carrier}
                        for slot, number in enumerate(self.numbers)
                    ]
                    await ws.send_str(json.dumps({"type": "sims", "sims": sims}))
                self.connected.set()
            elif kind == "send_sms":
                self.received.append(frame)
                if not self.hold:
                    task = asyncio.create_task(self._answer(ws, frame))
                    self._answers.add(task)
                    task.add_done_callback(self._answers.discard)
            elif kind == "inbound_ack":
                ack = self._acks.get(str(frame.get("id")))
                if ack is not None and not ack.done():
                    ack.set_result(None)
            if self.on_event is not None:
                self.on_event(str(kind), frame)

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        message_id = int(frame["id"])
        done = self.sent.get(message_id)
        if done is None:  # a new id: "send" it; a repeat is answered from memory
            if self.delay:
                await asyncio.sleep(self.delay)
            ok = self.rng.random() >= self.fail_rate
            done = SentSms(
                message_id,
                frame["to"],
                frame["body"],
                frame.get("sim"),
                ok,
                None if ok else "RESULT_ERROR_GENERIC_FAILURE",
            )
            self.sent[message_id] = done
        result: dict[str, Any] = {"type": "send_result", "id": message_id, "success": done.ok}
        if not done.ok:
            result["error"] = done.error
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps(result))


def _number_for(seed: str, slot: int) -> str:
    """A stable fictional US number (+1 555 ...) per phone and slot."""
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 100_000
    return f"+1555{digest:05d}{slot:02d}"
