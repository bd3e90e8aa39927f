"""Accepting sends: the one path of every surface (validate, spend the rate limit, store, enqueue).

`SendService.submit` and `SendService.cancel` are the only way a message is sent or cancelled;
an API surface maps its request to a `SendOrder` and the `Accepted` result back to its shape.
Everything is checked before a rate-limit token is spent, so a refused request costs nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from modem.codec import CodecError, split_text
from relayd.auth import check_allowlist
from relayd.bridges.base import SimBackend
from relayd.bridges.email import InvalidAddress, normalize_address
from relayd.bridges.notify import MAX_TEXT as MAX_NOTIFY_TEXT
from relayd.config import Config
from relayd.dispatch.channels import ChannelMessage, ChannelOutbox
from relayd.dispatch.outbox import Outbox
from relayd.dispatch.queue import pending_of
from relayd.dispatch.router import Pending, Router, sim_matches
from relayd.dispatch.sims import SimRegistry
from relayd.exceptions import Conflict, IdempotencyConflict, InvalidField, NotFound
from relayd.numbers import InvalidNumber, normalize_number
from relayd.store import ApiKey, Created, NewMessage, Store
from relayd.store import IdempotencyConflict as StoredKeyConflict

MAX_RECIPIENTS = 100
KNOWN_CHANNELS = ("sms", "email", "notify", "wa", "tg", "tg_bot", "pchat", "mms", "voice")
NOTIFY_PEER = "phones"  # a notification goes to the org's own phones, whatever `to` says
MAX_EMAIL_TEXT = 60_000


@dataclass(frozen=True)
class SendOrder:
    """A validated send request as every API surface expresses it."""

    to: Sequence[str]
    text: str
    channel: str = "sms"
    sim: str | None = None
    idempotency_key: str | None = None
    source: str | None = None
    subject: str | None = None
    send_at: dt.datetime | None = None
    ttl: int | None = None
    delivery_report: bool | None = None
    encoding: Literal["auto", "gsm7"] = "auto"
    field_to: str = "to"  # how the caller's API names the fields, for error messages
    field_text: str = "text"
    wait_for_sim: bool = False  # an explicit SIM no phone has brought yet is waited for (seed 004)
    template: str | None = None  # a template's name: its text, placeholders filled from `vars`
    vars: Mapping[str, str] | None = None
    group: str | None = None  # a contact group's name: one message per contact (relayd/flows)
    schedule_id: int | None = None  # the recurring schedule this send is a run of
    optout: Literal["refuse", "skip", "ignore"] = "refuse"  # listed numbers: 422, left out,
    # or sent to anyway (the confirmation of a stop word)


@dataclass(frozen=True)
class Plan:
    """What a send will be on air."""

    encoding: str
    segments: list[str]


@dataclass(frozen=True)
class Accepted:
    """The stored messages of one request, and whether they were stored just now."""

    results: list[Created]
    replayed: bool


class RateLimit(Protocol):
    """Spends a key's send tokens, or raises RateLimited and spends none."""

    async def take(self, key: ApiKey, cost: int = 1) -> None: ...

    async def refund(self, key: ApiKey, cost: int = 1) -> None: ...


class OrderExpander(Protocol):
    """Turns an order naming a template or a group into the plain orders it stands for."""

    async def expand(self, key: ApiKey, order: SendOrder) -> list[SendOrder]: ...


class OptoutCheck(Protocol):
    """The recipients an order may go to after the opt-out list (or InvalidField)."""

    async def admit(self, key: ApiKey, order: SendOrder, peers: Sequence[str]) -> list[str]: ...


class SendService:
    """Validates and accepts sends; hands them to the outbox."""

    def __init__(
        self,
        config: Config,
        store: Store,
        outbox: Outbox,
        router: Router,
        sims: SimRegistry,
        channels: ChannelOutbox | None = None,
        limiter: RateLimit | None = None,
    ) -> None:
        self.config = config
        self.limiter = limiter
        self.store = store
        self.outbox = outbox
        self.router = router
        self.sims = sims
        self.channels = channels
        # Fleet mode: this relay's node id (its e-mails and notifications are its own to send),
        # and whether a SIM of another relay answers to a name (org, wanted).
        self.node: str | None = None
        self.fleet_sim: Callable[[str, str], bool] | None = None
        self.expander: OrderExpander | None = None  # set by the composition root
        self.optouts: OptoutCheck | None = None

    @property
    def served_channels(self) -> tuple[str, ...]:
        """`sms` and the channels configured here (`email` needs `[email] smtp_host`)."""
        return ("sms", *(self.channels.served if self.channels is not None else ()))

    def plan(self, text: str, encoding: str = "auto", field: str = "text") -> Plan:
        """Encoding and parts of `text` by the codec the modems use; refused when too long."""
        if not text:
            raise InvalidField(field, f"{field}: the message text is empty")
        try:
            split = split_text(text, encoding)  # type: ignore[arg-type]
        except CodecError as exc:
            raise InvalidField(field, f"{field}: {exc}") from None
        limit = self.config.sms.max_parts
        if len(split.segments) > limit:
            raise InvalidField(
                field,
                f"{field}: this text needs {len(split.segments)} SMS parts "
                f"({split.encoding}, {len(text)} characters); the limit is {limit} parts",
                "text_too_long",
            )
        return Plan(split.encoding, list(split.segments))

    def recipients(self, key: ApiKey, order: SendOrder) -> list[str]:
        """The recipients (E.164, or addresses for e-mail), checked against the key's allowlist."""
        if order.channel == "notify":
            return [NOTIFY_PEER]
        field = order.field_to
        if not order.to:
            raise InvalidField(field, f"{field}: at least one recipient is required")
        if len(order.to) > MAX_RECIPIENTS:
            raise InvalidField(field, f"{field}: at most {MAX_RECIPIENTS} recipients per request")
        out = []
        for raw in order.to:
            if order.channel == "email":
                try:
                    address = normalize_address(raw)
                except InvalidAddress as exc:
                    raise InvalidField(field, f"{field}: {exc}", "invalid_address") from None
                check_allowlist(key, address, field)
                out.append(address)
                continue
            try:
                number = normalize_number(
                    raw,
                    self.config.sms.default_region,
                    allow_short_codes=key.allow_short_codes or self.config.sms.allow_short_codes,
                )
            except InvalidNumber as exc:
                raise InvalidField(field, f"{field}: {exc}", "invalid_number") from None
            check_allowlist(key, number, field)
            out.append(number)
        return out

    def dial_target(self, key: ApiKey, raw: str, field: str = "to") -> str:
        """A number to ring: E.164, inside the key's allowlist; InvalidField/Forbidden otherwise."""
        try:
            number = normalize_number(raw, self.config.sms.default_region)
        except InvalidNumber as exc:
            raise InvalidField(field, f"{field}: {exc}", "invalid_number") from None
        check_allowlist(key, number, field)
        return number

    def check_channel(self, channel: str) -> None:
        """Refuse channels this hardware does not serve, naming those it does."""
        if channel not in self.served_channels:
            served = ", ".join(self.served_channels)
            what = (
                "unknown channel" if channel not in KNOWN_CHANNELS else "not served by this relay"
            )
            raise InvalidField(
                "channel",
                f"channel: '{channel}' is {what}; this relay serves: {served}",
                "unsupported_channel",
            )

    def check_sim(self, org: str, wanted: str | None) -> None:
        """Refuse an explicit SIM that names nothing this org has."""
        if wanted is None:
            return
        if any(sim_matches(s, wanted) for s in self.sims.for_org(org)):
            return
        if self.fleet_sim is None or not self.fleet_sim(org, wanted):
            raise InvalidField("sim", f"sim: no SIM '{wanted}' in this org", "unknown_sim")

    def choose_sim(self, org: str, peer: str, wanted: str | None) -> SimBackend | None:
        """The SIM the router would pick now (for dry runs)."""
        pending = Pending(id=0, org=org, peer=peer, text="", sim_request=wanted)
        org_sims = sorted(self.sims.for_org(org), key=lambda s: s.info.id)
        return self.router.choose(pending, org_sims, lambda s: s.info.online, lambda s: 0)

    def prepare(self, key: ApiKey, order: SendOrder) -> tuple[list[str], Plan]:
        """Everything a send is checked for before it is stored: channel, recipients, text, SIM."""
        self.check_channel(order.channel)
        peers = self.recipients(key, order)
        if order.channel != "sms":
            return peers, self._plain_text(order)
        plan = self.plan(order.text, order.encoding, order.field_text)
        if not order.wait_for_sim:
            self.check_sim(key.org, order.sim)
        return peers, plan

    async def submit(self, key: ApiKey, order: SendOrder) -> Accepted:
        """Check the order, spend the key's tokens (one per message), store it and enqueue.

        A group send is one order for several messages: their results come back together."""
        accepted = await self.submit_all(key, [order])
        if len(accepted) == 1:
            return accepted[0]
        results = [created for one in accepted for created in one.results]
        return Accepted(results, all(one.replayed for one in accepted))

    async def check(
        self, key: ApiKey, orders: Sequence[SendOrder]
    ) -> list[tuple[SendOrder, list[str], Plan]]:
        """Expand templates and groups, validate, apply the opt-out list; nothing is stored."""
        expanded = [o for order in orders for o in await self._expand(key, order)]
        checked = [(order, *self.prepare(key, order)) for order in expanded]
        if self.optouts is None:
            return checked
        admitted = []
        for order, peers, plan in checked:
            kept = await self.optouts.admit(key, order, peers)
            if kept:
                admitted.append((order, kept, plan))
        if not admitted:  # every recipient was skipped: say why rather than accept nothing
            raise InvalidField(None, "every recipient of this send opted out", "opted_out")
        return admitted

    async def submit_all(self, key: ApiKey, orders: Sequence[SendOrder]) -> list[Accepted]:
        """`submit` for several orders: all are checked before a token is spent or one stored."""
        checked = await self.check(key, orders)
        unpaid = sum(len(peers) for _, peers, _ in checked)
        if self.limiter is not None:
            await self.limiter.take(key, unpaid)
        accepted = []
        try:
            for order, peers, plan in checked:
                accepted.append(await self._store(key, order, peers, plan))
                unpaid -= len(peers)
        except IdempotencyConflict:  # found only when storing: the refusal still costs nothing
            if self.limiter is not None:
                await self.limiter.refund(key, unpaid)
            raise
        return accepted

    async def _expand(self, key: ApiKey, order: SendOrder) -> list[SendOrder]:
        if self.expander is None:
            return [order]
        return await self.expander.expand(key, order)

    async def cancel(self, key: ApiKey, message_id: int) -> None:
        """Cancel an outbound message of the key's org still queued; NotFound or Conflict."""
        messages = self.store.messages
        current = await messages.get_message(key.org, message_id)
        if current is None or current.direction != "out":
            raise NotFound("no such message")
        done = await messages.transition(
            message_id, "cancelled", error="cancelled by API", only_from=("queued",)
        )
        if done is None:
            latest = await messages.get_message(key.org, message_id)
            state = latest.status if latest else current.status
            raise Conflict(
                f"the message is already {state}; only queued messages can be cancelled",
                code="not_cancellable",
            )
        self.outbox.forget(message_id)

    async def _store(self, key: ApiKey, order: SendOrder, peers: list[str], plan: Plan) -> Accepted:
        sim_request = order.sim if order.channel == "sms" else None
        now = time.time()
        send_at = order.send_at.timestamp() if order.send_at else None
        ttl = order.ttl or self.config.sms.default_ttl or None
        expires = (send_at or now) + ttl if ttl else None
        report = (
            self.config.sms.delivery_reports
            if order.delivery_report is None
            else order.delivery_report
        )
        items = [
            NewMessage(
                peer=peer,
                text=order.text,
                parts=len(plan.segments),
                encoding=plan.encoding,
                channel=order.channel,
                sim_request=sim_request,
                source=order.source,
                subject=order.subject,
                send_at=send_at,
                expires_at=expires,
                delivery_report=report,
                force_gsm7=order.encoding == "gsm7",
                node=self.node if order.channel != "sms" else None,
                schedule_id=order.schedule_id,
            )
            for peer in peers
        ]
        request_hash = _request_hash(order, peers) if order.idempotency_key else None
        try:
            results = await self.store.messages.create_outbound(
                key.org, items, idempotency_key=order.idempotency_key, request_hash=request_hash
            )
        except StoredKeyConflict:
            raise IdempotencyConflict() from None
        replayed = not results[0].created
        if not replayed and order.channel != "sms":
            self._enqueue_channel(key.org, order, results, items)
        elif not replayed:
            for created in results:
                self.outbox.enqueue(pending_of(created.message))
        return Accepted(results, replayed)

    def _plain_text(self, order: SendOrder) -> Plan:
        """E-mail and notifications carry the text as it is: one part, no SMS encoding."""
        field = order.field_text
        if not order.text.strip():
            raise InvalidField(field, f"{field}: the message text is empty")
        limit = MAX_NOTIFY_TEXT if order.channel == "notify" else MAX_EMAIL_TEXT
        if len(order.text) > limit:
            raise InvalidField(
                field,
                f"{field}: {len(order.text)} characters; a {order.channel} message takes "
                f"at most {limit}",
                "text_too_long",
            )
        return Plan("utf-8", [order.text])

    def _enqueue_channel(
        self,
        org: str,
        order: SendOrder,
        results: Sequence[Created],
        items: Sequence[NewMessage],
    ) -> None:
        assert self.channels is not None  # check_channel admitted the channel
        for created, item in zip(results, items, strict=True):
            self.channels.enqueue(
                ChannelMessage(
                    id=created.message.id,
                    org=org,
                    channel=order.channel,
                    to=item.peer,
                    text=item.text,
                    subject=item.subject,
                    send_at=item.send_at,
                    expires_at=item.expires_at,
                )
            )


def _request_hash(order: SendOrder, peers: Sequence[str]) -> str:
    body: dict[str, Any] = {
        "to": list(peers),
        "text": order.text,
        "channel": order.channel,
        "sim": order.sim,
        "send_at": order.send_at.isoformat() if order.send_at else None,
        "ttl": order.ttl,
        "encoding": order.encoding,
        "subject": order.subject,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
