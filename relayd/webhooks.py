"""Outbound webhooks (SPEC §9): Standard Webhooks signing and the delivery worker.

Deliveries are queued in SQLite by the transaction that stores each event
(`relayd.store.webhooks.queue_deliveries`). The worker wakes when a batch with events
of an org that has endpoints commits, or when the next retry is due, posts every due
delivery (bounded concurrency, no redirects, a timeout per attempt) and records the
outcome. A crash between the POST and the record means one more delivery with the same
`webhook-id`: at least once, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import json
import logging
import random
import time
from collections.abc import Sequence

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from relayd import __version__
from relayd.config import Config, WebhookConfig
from relayd.store.delivery_claims import DeliveryClaims
from relayd.store.records import EventRow
from relayd.store.webhook_rows import AttemptResult, ConfigEndpoint, DueDelivery
from relayd.store.webhooks import WebhookStore
from relayd.timefmt import iso
from relayd.webhook_rules import (
    TEST_EVENT,
    check_events,
    check_headers,
    check_url,
    generate_secret,
    sign,
)

_LOGGER = logging.getLogger(__name__)

ATTEMPT_TIMEOUT = 15.0  # seconds for one POST, connect to last byte of the answer's head
# Seconds before retry n (after the first attempt fails): capped exponential, ~2.7 days in all.
RETRY_DELAYS: tuple[float, ...] = (
    5.0,
    300.0,
    1800.0,
    7200.0,
    18000.0,
    36000.0,
    43200.0,
    43200.0,
    43200.0,
    43200.0,
)
JITTER = 0.1  # each delay +-10 %, so a receiver that comes back is not hit by every retry at once
RETRY_AFTER_CAP = 86400.0  # a receiver's Retry-After is honoured up to a day
MAX_CONCURRENCY = 8  # POSTs in flight at once, over every endpoint
IDLE_POLL = 60.0  # look at the queue at least this often, whatever woke us or not
ERROR_PAUSE = 5.0  # after the queue could not be read
STOP_GRACE = 2.0  # seconds in-flight POSTs get to finish at shutdown
RESPONSE_LOG_BYTES = 256  # of each answer's body kept in the delivery log
LOG_KEEP = 30 * 86400.0  # finished deliveries and their attempts are kept this long
PRUNE_INTERVAL = 6 * 3600.0
LEASE = 4 * ATTEMPT_TIMEOUT  # a delivery leased by a relay that died is delivered again after

# --- payloads -----------------------------------------------------------------------


def delivery_body(delivery: DueDelivery) -> bytes | None:
    """What is posted: `{type, timestamp, data}`, or HA's `{phone, date, text}`; None if gone."""
    if delivery.payload is not None:
        return delivery.payload.encode()
    if delivery.event_data is None or delivery.event_at is None:
        return None
    if delivery.kind == "homeassistant":
        data = json.loads(delivery.event_data)
        return ha_body(data["peer"], data.get("received_at") or data["created_at"], data["text"])
    return (
        f'{{"type":{json.dumps(delivery.type)},"timestamp":{json.dumps(iso(delivery.event_at))},'
        f'"data":{delivery.event_data}}}'
    ).encode()


def ha_body(phone: str, when: str, text: str) -> bytes:
    """The event data of HA's former `sms` integration; `date` as it was: local, no zone.

    That integration named the text `message` (automations read `trigger.event.data.message`);
    `text` is kept beside it for automations written against relayd's earlier shape.
    """
    local = dt.datetime.fromisoformat(when).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    data = {"phone": phone, "date": local, "message": text, "text": text}
    return json.dumps(data, ensure_ascii=False).encode()


def probe_body(kind: str, endpoint_id: int) -> str:
    """The body of a test-fire."""
    now = time.time()
    if kind == "homeassistant":
        return ha_body("relayd-test", iso(now) or "", "relayd webhook test").decode()
    data = {"webhook": endpoint_id, "message": "relayd webhook test"}
    return json.dumps({"type": TEST_EVENT, "timestamp": iso(now), "data": data})


def retry_delay(attempts: int, retry_after: float | None) -> float | None:
    """Seconds until the next try after `attempts` failed ones; None once they are used up."""
    if attempts > len(RETRY_DELAYS):
        return None
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
    base = RETRY_DELAYS[attempts - 1]
    return base * (1 + random.uniform(-JITTER, JITTER))  # noqa: S311 - jitter, not crypto


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` in seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        return email.utils.parsedate_to_datetime(value).timestamp() - now
    return None


def config_entries(webhooks: Sequence[WebhookConfig]) -> list[ConfigEndpoint]:
    """The file's `[[webhook]]` entries as the store syncs them; bad ones are logged, skipped."""
    out = []
    for index, hook in enumerate(webhooks):
        try:
            entry = ConfigEndpoint(
                org=hook.org,
                url=check_url(hook.url, hook.kind),
                kind=hook.kind,
                events=check_events(hook.events, hook.kind),
                secret=hook.secret,
                headers=check_headers(hook.headers),
                generated=generate_secret(),
            )
        except ValueError as exc:
            _LOGGER.error("[[webhook]] #%d is ignored: %s", index + 1, exc)
            continue
        out.append(entry)
    return out


# --- the worker ---------------------------------------------------------------------


class WebhookWorker:
    """Posts due deliveries; wakes on committed events and on the next retry's time."""

    def __init__(
        self, config: Config, store: WebhookStore, claims: DeliveryClaims | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.claims = claims  # relays sharing a database lease each delivery to one of them
        self.delivered = 0
        self.failed_attempts = 0
        self._orgs: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._attempted: dict[int, list[asyncio.Future[None]]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Sync the config's endpoints into the store and start delivering."""
        await self.store.sync_config(config_entries(self.config.webhook))
        self._orgs = await self.store.orgs_with_endpoints()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONCURRENCY),
            headers={"User-Agent": f"relayd/{__version__}"},
        )
        self._task = asyncio.create_task(self._run(), name="relayd-webhooks")

    async def stop(self) -> None:
        """Stop; POSTs still in flight after a short grace are delivered again after restart."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _done, pending = await asyncio.wait(list(self._inflight.values()), timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.claims is not None:
            with contextlib.suppress(Exception):  # else the leases simply run out
                await self.claims.release_mine()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def on_commit(self, events: list[EventRow]) -> None:
        """Event listener: wake when an org with endpoints got events (deliveries queued).

        Relays sharing a database wake for every org: endpoints another relay added are
        not in `_orgs`, and whichever relay claims a delivery first posts it.
        """
        if self.claims is not None or any(event.org in self._orgs for event in events):
            self._wake.set()

    async def endpoints_changed(self, org: str | None = None) -> None:
        """Refresh the wake-up filter after endpoints were added, changed or removed."""
        if org is not None:
            self._orgs.add(org)  # before the read: an event meanwhile still wakes us
        self._orgs = await self.store.orgs_with_endpoints()
        self._wake.set()

    async def test_fire(self, endpoint_id: int, kind: str, wait: float) -> int:
        """Queue a test delivery to one endpoint; wait up to `wait` s for its first attempt."""
        delivery_id = await self.store.queue_test(
            endpoint_id, TEST_EVENT, probe_body(kind, endpoint_id)
        )
        await self.wait_attempt([delivery_id], wait)
        return delivery_id

    async def replay(self, endpoint_id: int, delivery_id: int | None) -> list[int]:
        """Queue deliveries again (same `webhook-id`) and wake the worker."""
        ids = await self.store.replay(endpoint_id, delivery_id, limit=1000)
        self._wake.set()
        return ids

    async def wait_attempt(self, delivery_ids: Sequence[int], within: float) -> None:
        """Wait until each delivery had one more attempt recorded, or `within` s passed."""
        loop = asyncio.get_running_loop()
        futures = []
        for delivery_id in delivery_ids:
            future: asyncio.Future[None] = loop.create_future()
            self._attempted.setdefault(delivery_id, []).append(future)
            futures.append(future)
        self._wake.set()
        try:
            await asyncio.wait(futures, timeout=within)
        finally:
            for delivery_id, future in zip(delivery_ids, futures, strict=True):
                waiting = self._attempted.get(delivery_id, [])
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self._attempted.pop(delivery_id, None)

    @property
    def in_flight(self) -> int:
        """POSTs under way."""
        return len(self._inflight)

    async def _run(self) -> None:
        next_prune = 0.0
        while True:
            self._wake.clear()
            try:
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_INTERVAL
                    await self.store.prune(time.time() - LOG_KEEP)
                timeout = await self._dispatch_due()
            except Exception:  # the queue must outlive a bad read
                _LOGGER.exception("Webhook queue could not be read")
                timeout = ERROR_PAUSE
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _dispatch_due(self) -> float:
        """Start POSTs for due deliveries; return how long to sleep unless woken."""
        free = MAX_CONCURRENCY - len(self._inflight)
        now = time.time()
        if free > 0:
            if self.claims is not None:
                due = await self.claims.claim(now, free)
            else:
                due = await self.store.due(now, list(self._inflight), free)
            for delivery in due:
                task = asyncio.create_task(
                    self._deliver(delivery), name=f"relayd-webhook-{delivery.id}"
                )
                self._inflight[delivery.id] = task
        if len(self._inflight) >= MAX_CONCURRENCY:
            return IDLE_POLL  # a finishing POST wakes us
        if self.claims is not None:
            next_at = await self.claims.next_due_at(time.time())
        else:
            next_at = await self.store.next_due_at(list(self._inflight))
        if next_at is None:
            return IDLE_POLL
        return min(max(next_at - time.time(), 0.0), IDLE_POLL)

    async def _deliver(self, delivery: DueDelivery) -> None:
        try:
            result = await self._attempt(delivery)
            await self.store.record_attempt(delivery.id, result)
            if result.outcome == "delivered":
                self.delivered += 1
            else:
                self.failed_attempts += 1
                self._log_failure(delivery, result)
        except Exception:  # one delivery must not take the worker down
            _LOGGER.exception("Webhook delivery %d could not be recorded", delivery.id)
        finally:
            self._inflight.pop(delivery.id, None)
            for future in self._attempted.pop(delivery.id, []):
                if not future.done():
                    future.set_result(None)
            self._wake.set()

    async def _attempt(self, delivery: DueDelivery) -> AttemptResult:
        """One signed POST and what it means for the delivery."""
        assert self._session is not None
        started = time.time()
        body = delivery_body(delivery)
        if body is None:
            return AttemptResult(started, None, "the event is no longer stored", 0, None, "failed")
        timestamp = int(started)
        headers: CIMultiDict[str] = CIMultiDict(delivery.headers)
        headers["Content-Type"] = "application/json"
        headers["webhook-id"] = delivery.msg_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = sign(delivery.secret, delivery.msg_id, timestamp, body)
        status: int | None = None
        error: str | None = None
        response: str | None = None
        retry_after: float | None = None
        try:
            async with (
                asyncio.timeout(ATTEMPT_TIMEOUT),
                self._session.post(
                    delivery.url, data=body, headers=headers, allow_redirects=False
                ) as resp,
            ):
                status = resp.status
                raw = await resp.content.read(RESPONSE_LOG_BYTES)
                response = raw.decode("utf-8", "replace") or None
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
                if 300 <= status < 400:
                    where = resp.headers.get("Location", "")
                    error = f"redirect to {where or '(no Location)'} not followed"
                elif not 200 <= status < 300:
                    error = f"HTTP {status} {resp.reason or ''}".rstrip()
        except TimeoutError:
            error = f"no answer within {ATTEMPT_TIMEOUT:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration = int((time.time() - started) * 1000)
        if error is None:
            return AttemptResult(started, status, None, duration, response, "delivered")
        if status == 410:
            return AttemptResult(started, status, error, duration, response, "gone")
        delay = retry_delay(delivery.attempts + 1, retry_after)
        if delay is None:
            return AttemptResult(started, status, error, duration, response, "failed")
        next_at = time.time() + delay
        return AttemptResult(started, status, error, duration, response, "retry", next_at)

    @staticmethod
    def _log_failure(delivery: DueDelivery, result: AttemptResult) -> None:
        host = URL(delivery.url).host  # never the path: it often carries a token
        if result.outcome == "retry":
            _LOGGER.info(
                "Webhook %d to %s failed (%s); retry in %.0f s",
                delivery.webhook_id,
                host,
                result.error,
                (result.next_at or result.at) - time.time(),
            )
        elif result.outcome == "gone":
            _LOGGER.warning(
                "Webhook %d to %s answered 410: endpoint disabled", delivery.webhook_id, host
            )
        else:
            _LOGGER.warning(
                "Webhook %d to %s: delivery %d given up after %d attempts (%s)",
                delivery.webhook_id,
                host,
                delivery.id,
                delivery.attempts + 1,
                result.error,
            )
