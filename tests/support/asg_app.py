"""A scripted "SMS Gateway for Android" app in private-server mode, speaking as the real one.

Requests carry what the app's Ktor client sends (User-Agent `me.capcom.smsgateway/<v>`,
Gson JSON with nulls left out, dates `yyyy-MM-dd'T'HH:mm:ss.SSSXXX` in the phone's zone)
in the order the app sends them; `run_events` is a real SSE reader that pulls on
`MessageEnqueued` and reports states the way the app's SendStateWorker does.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

APP_VERSION = "1.40.0"
USER_AGENT = f"me.capcom.smsgateway/{APP_VERSION}"
PHONE_ZONE = dt.timezone(dt.timedelta(hours=7))
SIM_CARDS = [
    {"slotIndex": 0, "simNumber": 1, "phoneNumber": "+15550001111", "carrierName": "T-Mobile",
     "iccid": "8901260000000000001"},
    {"slotIndex": 1, "simNumber": 2, "carrierName": "Mint"},  # no number: Android did not tell
]


def gson(value: Any) -> str:
    """Serialize like Gson: nulls dropped (at every depth), no spaces."""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return json.dumps(strip(value), separators=(",", ":"), ensure_ascii=False)


def app_date(ts: float | None = None) -> str:
    """`yyyy-MM-dd'T'HH:mm:ss.SSSXXX` in the phone's zone (+07:00)."""
    moment = dt.datetime.fromtimestamp(time.time() if ts is None else ts, PHONE_ZONE)
    return moment.isoformat(timespec="milliseconds")


@dataclass
class ScriptedApp:
    """One phone: registration info kept across "restarts" like the app's settings."""

    http: aiohttp.ClientSession
    base: str  # e.g. http://127.0.0.1:8080/api/mobile/v1
    private_token: str | None = None
    device_id: str | None = None
    token: str | None = None
    login: str | None = None
    password: str | None = None
    signing_key: str | None = None
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)  # messages pulled
    events: list[str] = field(default_factory=list)
    sim_cards: list[dict[str, Any]] = field(default_factory=lambda: list(SIM_CARDS))
    deliver: bool = True  # report Delivered after Sent
    hold: bool = False  # take messages but report nothing (a phone about to be cut off)
    fail_ids: set[str] = field(default_factory=set)

    def headers(self, auth: str | None = None, body: bool = False) -> dict[str, str]:
        """What Ktor + ContentNegotiation(gson) puts on a request."""
        out = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Charset": "UTF-8"}
        if auth is not None:
            out["Authorization"] = auth
        if body:
            out["Content-Type"] = "application/json; charset=UTF-8"
        return out

    @property
    def bearer(self) -> str:
        assert self.token is not None
        return f"Bearer {self.token}"

    async def request(
        self, method: str, path: str, *, auth: str | None = None, body: Any = None
    ) -> aiohttp.ClientResponse:
        """One request; the response is read in full (and kept as `.json_body`)."""
        data = None if body is None else gson(body).encode()
        resp = await self.http.request(
            method, self.base + path, data=data, headers=self.headers(auth, body is not None)
        )
        raw = await resp.read()
        resp.json_body = json.loads(raw) if raw else None  # type: ignore[attr-defined]
        resp.release()
        return resp

    # --- start-up, as GatewayService does it -----------------------------------------

    async def register(self, basic: tuple[str, str] | None = None) -> aiohttp.ClientResponse:
        """POST /device with the private token (or Basic login:password)."""
        if basic is not None:
            auth = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        else:
            auth = f"Bearer {self.private_token}" if self.private_token else None
        resp = await self.request(
            "POST",
            "/device",
            auth=auth,
            body={"name": "Google/sdk_gphone64_x86_64", "pushToken": None, "simCards": self.sim_cards},
        )
        if resp.status == 201:
            info = resp.json_body  # type: ignore[attr-defined]
            self.device_id, self.token, self.login = info["id"], info["token"], info["login"]
            self.password = info.get("password", self.password)
        return resp

    async def patch_device(self, device_id: str | None = None) -> aiohttp.ClientResponse:
        """PATCH /device, first thing on every start of a registered app."""
        body = {"id": device_id or self.device_id, "pushToken": None, "simCards": self.sim_cards}
        return await self.request("PATCH", "/device", auth=self.bearer, body=body)

    async def start(self) -> None:
        """What the app does on start: PATCH (POST after a 401), pull, webhooks, settings."""
        if self.token is not None:
            resp = await self.patch_device()
            if resp.status == 401:
                self.token = None
        if self.token is None:
            resp = await self.register((self.login, self.password) if self.login else None)
            assert resp.status == 201, resp.status
        await self.pull()
        resp = await self.request("GET", "/webhooks", auth=self.bearer)
        self.webhooks = resp.json_body  # type: ignore[attr-defined]
        resp = await self.request("GET", "/settings", auth=self.bearer)
        self.signing_key = resp.json_body["webhooks"]["signing_key"]  # type: ignore[attr-defined]

    # --- sending -----------------------------------------------------------------------

    async def pull(self) -> list[dict[str, Any]]:
        """GET /message, then the states of what it got (the app sends each and reports)."""
        resp = await self.request("GET", "/message?order=lifo", auth=self.bearer)
        messages: list[dict[str, Any]] = resp.json_body  # type: ignore[attr-defined]
        self.received.extend(messages)
        for message in messages:
            if not self.hold:
                await self.report(message)
        return messages

    async def report(self, message: dict[str, Any]) -> None:
        """Processed, then Sent (or Failed), then Delivered: one PATCH per change."""
        history: dict[str, str] = {"Pending": app_date(), "Processed": app_date()}
        await self.patch_state(message, "Processed", history)
        if message["id"] in self.fail_ids:
            history = {"Failed": app_date()}
            await self.patch_state(message, "Failed", history, error="RESULT_ERROR_NO_SERVICE")
            return
        await self.patch_state(message, "Sent", {"Sent": app_date()})
        if self.deliver and message.get("withDeliveryReport", True):
            await self.patch_state(message, "Delivered", {"Sent": app_date(), "Delivered": app_date()})

    async def patch_state(
        self, message: dict[str, Any], state: str, states: dict[str, str], error: str | None = None
    ) -> aiohttp.ClientResponse:
        """PATCH /message with one item, as buildMessagePatchRequest makes it."""
        recipients = [
            {"phoneNumber": n, "state": state, "error": error if state == "Failed" else None}
            for n in message["phoneNumbers"]
        ]
        item = {"id": message["id"], "state": state, "recipients": recipients, "states": states}
        resp = await self.request("PATCH", "/message", auth=self.bearer, body=[item])
        assert resp.status == 204, resp.status
        return resp

    async def run_events(self, ready: asyncio.Event | None = None) -> None:
        """The SSE connection: pull on MessageEnqueued, until cancelled or the relay ends it."""
        headers = {"Authorization": self.bearer, "Accept": "text/event-stream"}
        async with self.http.get(self.base + "/events", headers=headers) as resp:
            assert resp.status == 200, resp.status
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            if ready is not None:
                ready.set()
            event = None
            async for raw in resp.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.events.append(line)
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event is not None:
                    self.events.append(event)
                    if event == "MessageEnqueued":
                        await self.pull()
                    event = None

    # --- webhooks the phone posts ----------------------------------------------------------

    def webhook_url(self, event: str) -> str:
        return next(w["url"] for w in self.webhooks if w["event"] == event)

    async def post_webhook(
        self, event: str, payload: dict[str, Any], event_id: str, *, key: str | None = None
    ) -> aiohttp.ClientResponse:
        """What SendWebhookWorker posts, signed like PayloadSingingPlugin."""
        hook = next(w for w in self.webhooks if w["event"] == event)
        body = gson(
            {"id": event_id, "webhookId": hook["id"], "event": event, "deviceId": self.device_id,
             "payload": payload}
        )
        stamp = str(int(time.time()))
        secret = (key or self.signing_key or "").encode()
        signature = hmac.new(secret, (body + stamp).encode(), hashlib.sha256).hexdigest()
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json; charset=UTF-8",
            "X-Signature": signature,
            "X-Timestamp": stamp,
        }
        resp = await self.http.post(hook["url"], data=body.encode(), headers=headers)
        await resp.read()
        resp.release()
        return resp

    async def sms_received(
        self, sender: str, text: str, event_id: str, sim_number: int = 1
    ) -> aiohttp.ClientResponse:
        """An SMS arrived on the phone: the sms:received webhook."""
        payload = {
            "messageId": hashlib.sha256(f"{sender}{text}".encode()).hexdigest()[:16],
            "message": text,
            "phoneNumber": sender,
            "sender": sender,
            "recipient": "+15550001111" if sim_number == 1 else None,
            "simNumber": sim_number,
            "receivedAt": app_date(),
        }
        return await self.post_webhook("sms:received", payload, event_id)
