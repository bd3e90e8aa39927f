"""The relay's long-lived parts wired together: store, bus, router, outbox, SIMs, sending."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relayd import __version__
from relayd.api.presenters import EVENT_PAYLOADS, message_json, sim_json
from relayd.auth import KeyAuthenticator
from relayd.bridges.asg_hub import AsgHub
from relayd.bridges.base import SimBackend
from relayd.bridges.device_hub import DeviceHub, HubDeps
from relayd.bridges.email import SmtpSender
from relayd.bridges.notify import PhoneNotifier
from relayd.bridges.phone_hub import PhoneHub
from relayd.config import Config
from relayd.dispatch.calls import CallDispatcher
from relayd.dispatch.caps import CapBook
from relayd.dispatch.channels import ChannelOutbox
from relayd.dispatch.claims import Claims
from relayd.dispatch.health import HealthBook
from relayd.dispatch.outbox import Outbox
from relayd.dispatch.router import Router
from relayd.dispatch.sims import SimRegistry
from relayd.event_feed import LocalFeed, SharedFeed
from relayd.events import EventBus
from relayd.fleet import Fleet, fleet_enabled, node_id_of
from relayd.flows.optout import OptoutGuard
from relayd.flows.schedules import Clock, Scheduler
from relayd.flows.templates import TemplateExpander
from relayd.forwarding import InboundForwarder
from relayd.limits import Limits
from relayd.sending import SendService
from relayd.simcare.service import SimCare
from relayd.store import Store
from relayd.webhooks import LEASE, WebhookWorker

_LOGGER = logging.getLogger(__name__)
ADMIN_KEY_FILE = "admin.key"


class Relay:
    """Everything the HTTP surfaces talk to."""

    version = __version__

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.store = Store(
            config.storage.path,
            url=config.storage.url,
            payloads=EVENT_PAYLOADS,
            retention_days=config.storage.retention_days,
        )
        self.bus = EventBus()
        shared = fleet_enabled(config)  # relays sharing the database share limits, events...
        node = node_id_of(config) if shared else ""
        self.limits = Limits(config.limits, self.store.limits if shared else None, node)
        self.auth = KeyAuthenticator(self.store.keys, self.limits.buckets)
        self.feed = SharedFeed(self.store.events, self.store) if shared else LocalFeed()
        self.router = Router(config.routing)
        self.sims = SimRegistry(
            self.store, self.router, config.sms.multipart_wait, describe=sim_json
        )
        self.outbox = Outbox(
            self.store,
            self.router,
            config.routing,
            self.sims.all,
            caps=CapBook(self.store.plans, config),
            health=HealthBook(self.store.plans, config.routing),
        )
        self.sims.outbox = self.outbox
        self.outbox.health.describe = self.sims.snapshot  # sim.quarantined reads like the API
        self.channels = ChannelOutbox(self.store, config.routing.max_attempts)
        if config.email.smtp_host:
            self.channels.register(SmtpSender(config.email))
        # Phones of every kind: seed-004 sockets and "SMS Gateway for Android" app phones.
        devices = HubDeps(
            sims=self.sims,
            wake_outbox=self.outbox.wake,
            region=config.sms.default_region,
            result_timeout=lambda: config.phones.result_timeout,
            message=self.store.messages.get_message,
            queued=self.outbox.queued_count,
            in_flight=lambda sim: self.outbox.lane(sim).load,
            priority=config.phones.priority,
            devices_per_org=config.limits.devices_per_org,
            org_devices=lambda org: sum(len(h.of_org(org)) for h in self.device_hubs),
            claim=self._claim_now,
        )
        self.phone_hub = PhoneHub(devices, self.store.phones)
        self.app_hub = AsgHub(devices, self.store.asg, config.limits.app_stream_queue)
        self.device_hubs: tuple[DeviceHub[Any], ...] = (self.phone_hub, self.app_hub)
        self.notifier = PhoneNotifier(self.store.events, self.bus, self.device_hubs)
        self.channels.register(self.notifier)
        self.sending = SendService(
            config, self.store, self.outbox, self.router, self.sims, self.channels, self.auth
        )
        # Message workflows (issue 14): hooks in the send pipeline, the inbound hook, the timer.
        self.optout = OptoutGuard(config.optout, self.store, config.sms.default_region)
        self.optout.sending = self.sending
        self.sending.expander = TemplateExpander(self.store)
        self.sending.optouts = self.optout
        self.scheduler = Scheduler(self.store, self.sending, clock)
        self.forwarder = InboundForwarder(config.email, self.sending, message_json)
        self.fleet: Fleet | None = None
        self.claims: Claims | None = None
        if shared:
            self._join_fleet(node)
        self.calls = CallDispatcher(self.store, self.sims)
        self.care = SimCare(config.modem, self.store, self.sims, self.calls, self.sending)
        claims = self.store.delivery_claims(secrets.token_hex(8), LEASE) if shared else None
        self.webhooks = WebhookWorker(config, self.store.webhooks, claims)
        self.admin_key: str | None = None  # set when this start created the first admin key
        self.started = False

    async def start(self, backends: list[SimBackend] | None = None) -> None:
        """Open the store, make the first admin key if needed, start SIMs and the outbox.

        A step that fails unwinds every step before it (newest first), so a failed start
        leaves no task running and the database closed.
        """
        async with contextlib.AsyncExitStack() as undo:
            await self.store.open()
            undo.push_async_callback(self.store.close)
            await self.limits.start()
            self.store.on_commit(self.feed.committed)
            self.feed.add_listener(self.bus.publish)  # every relay's events, in seq order
            self.feed.add_listener(self.webhooks.on_commit)
            self.store.on_commit(self.forwarder.on_commit)  # this relay's own SMS only
            self.store.on_commit(self.care.on_commit)
            self.store.on_commit(self.optout.on_commit)  # this relay's own inbound SMS
            await self.feed.start()
            undo.push_async_callback(self.feed.stop)
            if not await self.store.keys.has_admin_key():
                _key, secret = await self.store.keys.create_key("default", "admin", ["admin"])
                self.admin_key = secret
                write_admin_key(self.config, secret)
            await self.webhooks.start()  # before SIMs: their first events find the endpoints
            undo.push_async_callback(self.webhooks.stop)
            await self.sims.start()
            undo.push_async_callback(self.sims.stop)
            # After the SIM registry, before the outbox: the phones' SIMs (offline) are known
            # when the outbox decides what a restart tore and what it resumes.
            for hub in self.device_hubs:
                await hub.start()
                undo.push_async_callback(hub.stop)
            if self.fleet is not None:
                await self.fleet.start(self.sims.all())
                undo.push_async_callback(self.fleet.stop)
            await self.outbox.start()
            undo.push_async_callback(self.outbox.drain, 0.0)
            await self.channels.start()
            undo.push_async_callback(self.channels.drain, 0.0)
            await self.forwarder.catch_up(self.store.messages)
            undo.push_async_callback(self.forwarder.stop)
            await self.calls.start()
            undo.push_async_callback(self.calls.stop)
            await self.scheduler.start()  # after the outbox: a late run's sends are taken
            undo.push_async_callback(self.scheduler.stop)
            undo.push_async_callback(self.optout.stop)
            for backend in backends or []:
                await self.sims.add(backend)
            if self.claims is not None:
                await self.claims.start()
                undo.push_async_callback(self.claims.stop)
            await self.care.start()  # balance checks, expiry warnings, keepalives: timers
            undo.push_async_callback(self.care.stop)
            undo.pop_all()  # all started: from here on `stop` takes it down
        self.started = True

    async def close_connections(self) -> None:
        """Shutdown, first step: end phone sockets and app event streams."""
        for hub in self.device_hubs:
            await hub.close_connections()

    async def stop(self) -> None:
        """Park phone sends, drain sends, stop SIMs, close the store."""
        if self.claims is not None:
            await self.claims.stop()
        await self.scheduler.stop()  # no new runs
        for hub in reversed(self.device_hubs):  # before the outbox drains: sends stay `sending`
            await hub.stop()
        await self.outbox.drain(self.config.server.drain_seconds)
        if self.fleet is not None:
            await self.fleet.stop()  # after the drain: what is still queued goes to the others
        await self.forwarder.stop()
        await self.channels.drain(self.config.server.drain_seconds)
        await self.care.stop()
        await self.calls.stop()
        await self.sims.stop()
        await self.optout.stop()  # after the SIMs: the last SMS they stored are looked at too
        await self.webhooks.stop()
        await self.feed.stop()
        await self.auth.flush()
        await self.store.close()
        self.started = False

    async def _claim_now(self) -> None:
        """Fleet mode: claim queued work for this relay's SIMs now (a phone came online)."""
        if self.claims is not None:
            await self.claims.claim_now()

    def _join_fleet(self, node: str) -> None:
        """Fleet mode: work is claimed from the shared database, SIMs are published there."""
        self.claims = Claims(self.store, node, self.outbox)
        self.outbox.intake = self.claims
        self.channels.node = node
        self.sending.node = node
        self.fleet = Fleet(
            self.store,
            node,
            self.config.fleet.heartbeat_seconds,
            describe=lambda sim: sim_json(sim.info, self.outbox.queue_depth(sim)),
            on_tick=self.claims.want,
        )
        self.sims.observer = self.fleet.sim_changed
        self.sending.fleet_sim = self.fleet.knows_sim

    @property
    def admin_key_path(self) -> Path:
        """Where the first admin key is written."""
        return self.config.state_dir / ADMIN_KEY_FILE


def under_systemd(env: Mapping[str, str] = os.environ) -> bool:
    """Started by systemd: stdout goes to the journal, which other users may read."""
    return bool(env.get("INVOCATION_ID") or env.get("NOTIFY_SOCKET"))


def write_admin_key(config: Config, secret: str) -> Path:
    """Write the admin key beside the database, readable by its owner only."""
    path = config.state_dir / ADMIN_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)
    return path
