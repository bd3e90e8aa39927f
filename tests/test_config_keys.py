"""Every key of config.example.toml takes effect (issue 11): a walk over the file.

The walk reads every key of every table in the example, commented-out blocks included
(`# [[modem]]`, `# tls_cert = ...`). Each key must have a check below that loads a config
file with a non-default value for it and observes what that changes, through the real part
that acts on it (the daemon, a relay on a real SQLite file, a modem simulator on a pty,
a real SMTP server, a real HTTP receiver, a phone on a real WebSocket), or be listed in
INFORMATIONAL with the reason. A key that is in neither fails, so a new key needs a check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import termios
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel

from modem.simulator import ModemSimulator
from relayd.bridges.base import InboundSms
from relayd.bridges.email import SmtpSender
from relayd.bridges.modem import ModemBackend, backends_from_config
from relayd.config import Config, ConfigError, load_config
from relayd.demo import DemoModem
from relayd.dispatch.channels import ChannelMessage
from relayd.dispatch.lane import Lane
from relayd.dispatch.router import Pending, Router
from relayd.mdns import Announcer, announce_addresses, choose_backend
from relayd.phone_sim import ScriptedPhone
from relayd.relay import Relay
from relayd.sending import SendOrder
from tests import test_modem_e2e, test_webhooks
from tests.conftest import RelayClient, RelayFactory
from tests.support.daemon import clean_env, free_port, relayd_command
from tests.support.postgres import Cluster, run_sql, storage_toml, storage_url
from tests.support.smtp import smtp_server
from tests.test_dispatch import ScriptedSim
from tests.test_webhooks import Receiver, assert_signed

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
PEER = "+15551230001"
SHOP = "shop-secret-0123"  # an org secret for the seed-004 routes
PHONE_SECRET = "my-secret-key-123"
COMMENTED = re.compile(r"^# ((?:\[\[?[\w.]+\]\]?|\w+ = ).*)$")

# Keys whose value changes nothing the relay does, with the reason. (None today.)
INFORMATIONAL: dict[str, str] = {}

receiver = test_webhooks.receiver  # a real HTTP server on 127.0.0.1
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def example_keys() -> list[str]:
    """`section.key` for every key of the example, commented-out blocks uncommented."""
    lines = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = COMMENTED.match(line)
        lines.append(match.group(1) if match else line)
    data = tomllib.loads("\n".join(lines))
    keys: list[str] = []

    def walk(prefix: str, model: type[BaseModel] | None, table: dict[str, Any]) -> None:
        for name, value in table.items():
            field = model.model_fields.get(name) if model else None
            if field is None and model is not None:  # an alias, such as [email] from
                field = next((f for f in model.model_fields.values() if f.alias == name), None)
            inner = _model_of(field.annotation) if field is not None else None
            if inner is not None and isinstance(value, dict):
                walk(f"{prefix}{name}.", inner, value)
            elif inner is not None and isinstance(value, list):
                for item in value:
                    walk(f"{prefix}{name}.", inner, item)
            elif f"{prefix}{name}" not in keys:
                keys.append(f"{prefix}{name}")

    walk("", Config, data)
    return keys


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


# --- how a check sees the world ---------------------------------------------------------


@dataclass
class Env:
    """What an in-process check gets: a temp dir, a relay factory, real servers to use."""

    tmp: Path
    make_relay: RelayFactory
    receiver: Receiver
    simulators: list[ModemSimulator]
    demos: list[DemoModem]

    def load(self, toml: str, storage: str = "") -> Config:
        """A config file with `toml` (plus the test's own database path), loaded as relayd does."""
        path = self.tmp / f"relayd-{time.monotonic_ns()}.toml"
        path.write_text(
            f'{storage_toml(f"{self.tmp}/state/relayd.db")}{storage}\n{toml}',
            encoding="utf-8",
        )
        return load_config(path, env={})

    async def relay(self, toml: str, backends: list[Any] | None = None) -> RelayClient:
        return await self.make_relay(backends, cfg=self.load(toml))


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def send(relay: RelayClient, **body: Any) -> tuple[int, Any]:
    return await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "x", **body})


async def message(relay: RelayClient, message_id: int, *statuses: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    try:
        async with asyncio.timeout(10):
            while body.get("status") not in statuses:
                await asyncio.sleep(0.02)
                body = (await relay.call("GET", f"/api/v1/messages/{message_id}"))[1]
    except TimeoutError:
        raise AssertionError(f"message {message_id} never became {statuses}: {body}") from None
    return body


# --- [server]: one daemon with every server key off its default ---------------------------


@dataclass
class Daemon:
    port: int
    http_port: int
    host: str = "127.0.0.2"
    http_host: str = "127.0.0.3"
    key: str = ""

    def https(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return _request(f"https://{self.host}:{self.port}{path}", headers, context)

    def certificate(self) -> Any:
        from cryptography import x509

        pem = ssl.get_server_certificate((self.host, self.port))
        return x509.load_pem_x509_certificate(pem.encode())


def _request(
    url: str, headers: dict[str, str], context: ssl.SSLContext | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _refused(host: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return True
    return False



def _start_daemon(tmp: Path, toml: str, ready: Callable[[], bool]) -> subprocess.Popen[bytes]:
    config = tmp / "relayd.toml"
    config.write_text(
        f'{toml}\n{storage_toml(f"{tmp}/state/relayd.db")}[mdns]\nbackend = "off"\n',
        encoding="utf-8",
    )
    with (tmp / "relayd.log").open("wb") as log:
        proc = subprocess.Popen(
            relayd_command("run", "--config", str(config)),
            cwd=tmp, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if ready():
                return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError((tmp / "relayd.log").read_text())
        time.sleep(0.1)


def _stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """`relayd run` with every [server] key but the certificate files off its default."""
    tmp = tmp_path_factory.mktemp("server-keys")
    daemon = Daemon(port=free_port(), http_port=free_port())
    toml = (
        f'[server]\nhost = "{daemon.host}"\nport = {daemon.port}\ntls = "auto"\n'
        f'tls_names = ["sms.home.arpa"]\nhttp_port = {daemon.http_port}\n'
        f'http_host = "{daemon.http_host}"\ncors_origins = ["http://ui.example"]\n'
        "max_body_bytes = 2048\n"
    )
    proc = _start_daemon(tmp, toml, lambda: daemon.https("/health")[0] == 200)
    daemon.key = (tmp / "state" / "admin.key").read_text().strip()
    yield daemon
    _stop_daemon(proc)


@pytest.fixture(scope="module")
def own_cert_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, int]]:
    """`relayd run` on certificate files of our own; yields it and the certificate's serial."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tmp = tmp_path_factory.mktemp("own-cert")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "own.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    daemon = Daemon(port=free_port(), http_port=0, host="127.0.0.1")
    toml = (
        f'[server]\nhost = "127.0.0.1"\nport = {daemon.port}\n'
        f'tls_cert = "{tmp}/cert.pem"\ntls_key = "{tmp}/key.pem"\n'
    )
    proc = _start_daemon(tmp, toml, lambda: daemon.https("/health")[0] == 200)
    yield daemon, cert.serial_number
    _stop_daemon(proc)


def check_host(d: Daemon) -> None:
    assert d.https("/health")[0] == 200
    assert _refused("127.0.0.1", d.port)  # the default 0.0.0.0 would answer here too


def check_port(d: Daemon) -> None:
    assert d.https("/health")[0] == 200 and d.port != 8080


def check_tls(d: Daemon) -> None:
    assert d.https("/health")[0] == 200
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        _request(f"http://{d.host}:{d.port}/health", {})  # plain HTTP is not spoken there


def check_tls_names(d: Daemon) -> None:
    from cryptography import x509

    names = d.certificate().extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "sms.home.arpa" in names.value.get_values_for_type(x509.DNSName)


def check_http_port(d: Daemon) -> None:
    assert _request(f"http://{d.http_host}:{d.http_port}/health", {})[0] == 200


def check_http_host(d: Daemon) -> None:
    assert _request(f"http://{d.http_host}:{d.http_port}/health", {})[0] == 200
    assert _refused("127.0.0.1", d.http_port)


def check_cors_origins(d: Daemon) -> None:
    _, headers, _ = d.https("/health", Origin="http://ui.example")
    assert headers.get("Access-Control-Allow-Origin") == "http://ui.example"
    _, headers, _ = d.https("/health", Origin="http://elsewhere.example")
    assert "Access-Control-Allow-Origin" not in headers


def check_max_body_bytes(d: Daemon) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://{d.host}:{d.port}/api/v1/messages"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {d.key}"}
    small = _request(url, headers, context, b"{}")[0]
    big = _request(url, headers, context, b" " * 3000)[0]
    assert big == 413 and small != 413  # 3000 bytes fit under the default 65536


def check_tls_cert(pair: tuple[Daemon, int]) -> None:
    daemon, serial = pair
    assert daemon.certificate().serial_number == serial


def check_tls_key(pair: tuple[Daemon, int]) -> None:
    daemon, serial = pair  # the handshake succeeds only with the matching private key
    assert daemon.https("/health")[0] == 200 and daemon.certificate().serial_number == serial


async def check_drain_seconds(env: Env) -> None:
    async def in_flight_at_stop(drain: str) -> str:
        config = env.load(f"[server]\ndrain_seconds = {drain}\n")
        config.storage.path = str(env.tmp / f"drain-{drain}.db")
        sim = ScriptedSim("a")
        sim.gate = asyncio.Event()
        relay = Relay(config)
        await relay.start([sim])
        key, _ = await relay.store.keys.create_key("default", "t", ["send"])
        accepted = await relay.sending.submit(key, SendOrder(to=[PEER], text="drain"))
        message_id = accepted.results[0].message.id
        await until(lambda: relay.outbox.lane(sim).load == 1)
        stopping = asyncio.create_task(relay.stop())
        await asyncio.sleep(0.2)
        sim.gate.set()  # the line answers 0.2 s into the stop
        await stopping
        query = "SELECT status FROM messages WHERE id = ?"
        [(status,)] = run_sql(config.storage.path, query, (message_id,))
        return str(status)

    assert await in_flight_at_stop("0.0") == "sending"  # cut at once: left for the next start
    assert await in_flight_at_stop("10.0") == "sent"  # the default waits for it


# --- [storage] ----------------------------------------------------------------------------


async def check_storage_path(env: Env) -> None:
    await env.make_relay(cfg=env.load(""))  # the file names {tmp}/state/relayd.db
    # the SQLite file, unless [storage] url puts the data in PostgreSQL (check_storage_url)
    assert (env.tmp / "state" / "relayd.db").exists() == (not storage_url())
    assert (env.tmp / "state" / "admin.key").exists()  # written beside the database


def check_storage_url(cluster: Cluster) -> None:
    """The relay keeps its data in the PostgreSQL database the URL names, not in the file."""
    url = cluster.fresh_url()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "relayd.toml"
        path.write_text(
            f'[storage]\npath = "{tmp}/state/relayd.db"\nurl = "{url}"\n[mdns]\nbackend = "off"\n'
        )
        config = load_config(path, env={})

        async def run() -> list[str]:
            relay = Relay(config)
            await relay.start([])
            try:
                key, _ = await relay.store.keys.create_key("default", "in-postgres", ["read"])
            finally:
                await relay.stop()
            conn = await asyncpg.connect(url)
            try:
                rows = await conn.fetch("SELECT name FROM api_keys WHERE id = $1", key.id)
            finally:
                await conn.close()
            return [r["name"] for r in rows]

        try:
            assert asyncio.run(run()) == ["in-postgres"]
            assert not (Path(tmp) / "state" / "relayd.db").exists()
            assert (Path(tmp) / "state" / "admin.key").exists()  # still beside `path`
        finally:
            cluster.drop(url)
    bad = Path(tempfile.mkdtemp()) / "relayd.toml"
    bad.write_text('[storage]\nurl = "mysql://root@localhost/relayd"\n')
    with pytest.raises(ConfigError, match=r"\[storage.url\].*postgresql://"):
        load_config(bad, env={})
    shutil.rmtree(bad.parent)


async def check_retention_days(env: Env) -> None:
    relay = await env.make_relay(cfg=env.load("", storage="retention_days = 1"))
    db = relay.relay.store.db

    def old_rows(tx: Any) -> None:
        for _ in range(2):
            tx.execute(
                "INSERT INTO messages (org, direction, peer, text, encoding, status, created_at) "
                "VALUES ('default', 'in', ?, 'old', 'gsm7', 'received', ?)",
                (PEER, time.time() - 3 * 86400),
            )

    await db.write(old_rows)
    counts = await relay.relay.store.pruner.prune()
    assert counts["messages"] == 1  # the older one; the newest row is always kept


# --- [[modem]] and [demo] -----------------------------------------------------------------


async def modem_relay(
    env: Env, block: str = "", *, pin: str | None = None, extra: str = "", sims: int = 1
) -> tuple[RelayClient, list[ModemBackend], list[ModemSimulator]]:
    simulators = []
    blocks = []
    for index in range(sims):
        sim = ModemSimulator(env.tmp / f"modem{index}-{time.monotonic_ns()}", pin=pin)
        await sim.start()
        env.simulators.append(sim)
        simulators.append(sim)
        blocks.append(f'[[modem]]\nname = "m{index}"\nport = "{sim.link}"\n'
                      + (block if index == 0 else ""))
    config = env.load(extra + "\n".join(blocks))
    backends = backends_from_config(config)
    relay = await env.make_relay(backends, cfg=config)
    modems = [b for b in backends if isinstance(b, ModemBackend)]
    await until(lambda: all(b.info.state != "starting" for b in modems))
    return relay, modems, simulators


async def check_modem_name(env: Env) -> None:
    relay, _, _ = await modem_relay(env)  # the block's name is "m0"
    _, body = await relay.call("GET", "/api/v1/sims")
    assert [s["id"] for s in body["sims"]] == ["modem:m0"]


async def check_modem_port(env: Env) -> None:
    _, [modem], [sim] = await modem_relay(env)
    await until(lambda: modem.info.online)
    assert modem.info.extra["port"] == str(sim.link)


async def check_modem_baudrate(env: Env) -> None:
    _, [modem], [sim] = await modem_relay(env, "baudrate = 9600\n")
    await until(lambda: modem.info.online)
    fd = os.open(sim.device_name, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        speed = termios.tcgetattr(fd)[5]  # the line speed the driver set on the port
    finally:
        os.close(fd)
    assert speed == termios.B9600


async def check_modem_pin(env: Env) -> None:
    _, [modem], _ = await modem_relay(env, 'pin = "4321"\n', pin="4321")
    await until(lambda: modem.info.online)
    _, [locked], _ = await modem_relay(env, pin="4321")  # no pin: the SIM stays locked
    assert locked.info.state == "sim_pin_required"


async def check_modem_org(env: Env) -> None:
    relay, [modem], _ = await modem_relay(env, 'org = "shop"\n')
    assert relay.relay.sims.for_org("shop") == [modem] and relay.relay.sims.for_org("default") == []


async def check_modem_delivery_reports(env: Env) -> None:
    relay, [modem], [sim] = await modem_relay(env, "delivery_reports = false\n", sims=1)
    await until(lambda: modem.info.online)
    status, body = await send(relay)
    assert status == 202
    await message(relay, body["id"], "sent", "delivered")
    assert [part.status_report for part in sim.sent] == [False]  # the default asks for one


async def check_modem_priority(env: Env) -> None:
    relay, modems, sims = await modem_relay(
        env, "priority = -1\n", extra='[routing]\npolicy = "priority"\n', sims=2)
    await until(lambda: all(m.info.online for m in modems))
    for _ in range(2):
        _, body = await send(relay)
        await message(relay, body["id"], "sent", "delivered")
    assert (len(sims[0].sent), len(sims[1].sent)) == (0, 2)  # m0 has the lower priority


async def check_modem_rate_per_minute(env: Env) -> None:
    _, [modem], _ = await modem_relay(env, "rate_per_minute = 30\n")
    lane = Lane.for_sim(modem)  # spacing on air: tests/test_sim_contract.py measures it
    lane.assign()
    lane.hand_off()
    assert lane.interval == 2.0 and not lane.ready(time.monotonic())


async def check_modem_health_interval(env: Env) -> None:
    _, [modem], [sim] = await modem_relay(env, "health_interval = 0.1\n")
    await until(lambda: modem.info.online)
    before = modem.info.signal
    sim.signal_csq = 5
    await until(lambda: modem.info.signal != before)  # the default polls every 30 s


# --- [[modem]] SIM care: balance, expiry, keepalive (issue 14; tests/test_simcare.py) ---------


async def cared(env: Env, block: str) -> tuple[RelayClient, ModemSimulator]:
    """A relay on one simulated modem with these care keys; once its SIM is online."""
    relay, [modem], [sim] = await modem_relay(env, block)
    await until(lambda: modem.info.online)
    return relay, sim


async def care_history(relay: RelayClient, at_least: int = 1) -> list[dict[str, Any]]:
    """The SIM's balance history (newest first), once it has `at_least` entries."""
    entries: list[dict[str, Any]] = []

    async def fetch() -> None:
        nonlocal entries
        while len(entries) < at_least:
            await asyncio.sleep(0.05)
            entries = (await relay.call("GET", "/api/v1/sims/modem:m0/balance"))[1]["history"]

    await asyncio.wait_for(fetch(), 15)
    return entries


def care_events(relay: RelayClient, kind: str) -> Callable[[], Awaitable[list[Any]]]:
    async def stored() -> list[Any]:
        return [e for e in await relay.relay.store.events.since("default", 0) if e.type == kind]

    return stored


async def eventually(probe: Callable[[], Awaitable[list[Any]]]) -> list[Any]:
    async with asyncio.timeout(15):
        while not (found := await probe()):
            await asyncio.sleep(0.05)
    return found


async def check_modem_balance_ussd(env: Env) -> None:
    relay, _ = await cared(env, 'balance_ussd = "*100#"\n')  # by default no check at all
    [entry] = await care_history(relay)
    assert (entry["answer"], entry["amount"]) == ("Your balance is 12.34 EUR", 12.34)


async def check_modem_balance_every(env: Env) -> None:
    relay, _ = await cared(env, 'balance_ussd = "*100#"\nbalance_every = "1s"\n')
    assert len(await care_history(relay, 2)) >= 2  # the default checks once a day


async def check_modem_balance_regex(env: Env) -> None:
    relay, _ = await cared(env, 'balance_ussd = "*100#"\nbalance_regex = "(\\\\d+)\\\\."\n')
    [entry] = await care_history(relay)
    assert (entry["amount"], entry["currency"]) == (12, None)  # the default reads 12.34 EUR


async def check_modem_balance_low(env: Env) -> None:
    relay, _ = await cared(env, 'balance_ussd = "*100#"\nbalance_low = 20.0\n')
    [event] = await eventually(care_events(relay, "sim.balance_low"))  # none without a threshold
    assert event.data["balance"]["amount"] == 12.34 and event.data["threshold"] == 20.0


async def check_modem_expires_on(env: Env) -> None:
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date().isoformat()
    relay, _ = await cared(env, f'expires_on = "{soon}"\n')
    [event] = await eventually(care_events(relay, "sim.expiring"))  # unknown expiry: no event
    assert event.data["expires_at"].startswith(soon) and event.data["by"] == "expires_on"


async def check_modem_topup_every(env: Env) -> None:
    relay, _ = await cared(env, 'topup_every = "3d"\n')
    [event] = await eventually(care_events(relay, "sim.expiring"))  # 3 days left, warned at 7
    assert event.data["by"] == "topup_every"
    expires = dt.datetime.fromisoformat(event.data["expires_at"]).timestamp()
    assert abs(expires - (time.time() + 3 * 86400)) < 120


async def check_modem_expiry_warn(env: Env) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=20)).date().isoformat()
    relay, _ = await cared(env, f'expires_on = "{later}"\nexpiry_warn = "30d"\n')
    assert await eventually(care_events(relay, "sim.expiring"))  # the default warns 7 days ahead
    assert relay.relay.care.timers.due("modem:m0", "expiry") is None


async def keepalive_sms(sim: ModemSimulator) -> Any:
    async with asyncio.timeout(15):
        while not sim.sent_messages():
            await asyncio.sleep(0.05)
    return sim.sent_messages()[0]


async def check_modem_keepalive_every(env: Env) -> None:
    _, sim = await cared(env, f'keepalive_every = "1s"\nkeepalive_to = "{PEER}"\n')
    async with asyncio.timeout(15):  # no keepalive by default
        while len(sim.sent_messages()) < 2:
            await asyncio.sleep(0.05)


async def check_modem_keepalive_kind(env: Env) -> None:
    _, sim = await cared(
        env, f'keepalive_every = "1d"\nkeepalive_to = "{PEER}"\nkeepalive_kind = "call"\n')
    await until(lambda: sim.calls, timeout=15)  # the default sends an SMS
    assert sim.calls[0].number == PEER and sim.sent_messages() == []


async def check_modem_keepalive_to(env: Env) -> None:
    relay, sim = await cared(env, f'keepalive_every = "1d"\nkeepalive_to = "{PEER}"\n')
    assert (await keepalive_sms(sim)).to == PEER
    _, body = await relay.call("GET", "/api/v1/messages?direction=out")
    assert [(m["peer"], m["source"]) for m in body["messages"]] == [(PEER, "keepalive")]


async def check_modem_keepalive_ussd(env: Env) -> None:
    relay, sim = await cared(
        env, 'keepalive_every = "1d"\nkeepalive_kind = "ussd"\nkeepalive_ussd = "*101#"\n')
    [entry] = await care_history(relay)
    assert (entry["kind"], entry["answer"]) == ("keepalive", sim.ussd_answers["*101#"])


async def check_modem_keepalive_text(env: Env) -> None:
    _, sim = await cared(
        env, f'keepalive_every = "1d"\nkeepalive_to = "{PEER}"\nkeepalive_text = "I am alive"\n')
    assert (await keepalive_sms(sim)).text == "I am alive"  # the default says "keepalive"


async def demo(env: Env, toml: str) -> DemoModem:
    extra = DemoModem(env.load(toml))
    await extra.start()
    env.demos.append(extra)
    return extra


async def check_demo_send_delay(env: Env) -> None:
    assert (await demo(env, "[demo]\nsend_delay = 0.01\n")).simulator.faults.send_delay == 0.01


async def check_demo_report_delay(env: Env) -> None:
    extra = await demo(env, "[demo]\nreport_delay = 0.02\n")
    assert extra.simulator.faults.report_delay == 0.02


async def check_demo_control_port(env: Env) -> None:
    port = free_port()
    await demo(env, f"[demo]\ncontrol_port = {port}\n")
    status, _, _ = await asyncio.to_thread(_request, f"http://127.0.0.1:{port}/", {})
    assert status == 200


async def check_demo_rate_per_minute(env: Env) -> None:
    [backend] = (await demo(env, "[demo]\nrate_per_minute = 30\n")).backends
    assert Lane.for_sim(backend).interval == 2.0


async def check_demo_ussd_answers(env: Env) -> None:
    extra = await demo(env, '[demo]\nussd_answers = { "*100#" = "Your balance is 1.50 EUR" }\n')
    [backend] = extra.backends
    relay = await env.make_relay([backend], cfg=env.load(""))
    await until(lambda: backend.info.online)
    _, body = await relay.call("POST", "/api/v1/ussd", json={"code": "*100#"})
    assert body["answer"] == "Your balance is 1.50 EUR"  # the default answers 12.34 EUR


# --- [phones] -------------------------------------------------------------------------------


def ws(relay: RelayClient, **query: str) -> str:
    return str(relay.http.make_url("/websocket").with_query(query)).replace("http", "ws", 1)


async def paired(env: Env, toml: str) -> RelayClient:
    relay = await env.relay(toml)
    status, body = await relay.call(
        "POST", "/api/v1/phones", json={"org": "default", "secret": PHONE_SECRET})
    assert status == 201, body
    return relay


async def check_phones_enabled(env: Env) -> None:
    relay = await paired(env, "[phones]\nenabled = false\n")
    async with relay.http.get(f"/websocket?org_id=default&secret_key={PHONE_SECRET}") as resp:
        assert resp.status == 404  # the default upgrades this request to a phone socket


async def check_phones_allow_new_orgs(env: Env) -> None:
    relay = await env.relay("[phones]\nallow_new_orgs = true\n")
    phone = ScriptedPhone(str(relay.http.make_url("/")), "fresh-org", PHONE_SECRET)
    await phone.start()  # with the default the socket is refused: the org does not exist
    await phone.stop()
    assert phone.connects == 1


async def check_phones_result_timeout(env: Env) -> None:
    relay = await paired(env, "[phones]\nresult_timeout = 0.3\n")
    phone = ScriptedPhone(str(relay.http.make_url("/")), "default", PHONE_SECRET)
    phone.hold = True  # takes send_sms and never answers
    await phone.start()
    try:
        _, body = await send(relay)
        failed = await message(relay, body["id"], "failed")
    finally:
        await phone.stop()
    assert "no_result" in failed["error"]


async def check_phones_priority(env: Env) -> None:
    import aiohttp

    from tests.support.asg_app import ScriptedApp

    relay = await paired(env, "[phones]\npriority = 7\n")
    phone = ScriptedPhone(str(relay.http.make_url("/")), "default", PHONE_SECRET)
    await phone.start()
    try:
        async with aiohttp.ClientSession() as http:  # and an "SMS Gateway for Android" phone
            app = ScriptedApp(http=http, base=str(relay.http.make_url("/api/mobile/v1")),
                              private_token=await relay.new_key(["admin"]))
            assert (await app.register()).status == 201
        await until(lambda: {s.info.id.split(":")[0] for s in relay.relay.sims.all()}
                    == {"phone", "asg"})
        priorities = {s.priority for s in relay.relay.sims.all()}
    finally:
        await phone.stop()
    assert priorities == {7}  # both kinds; routing by it: tests/test_sim_contract.py


async def capped_second_send(relay: RelayClient) -> str:
    """Two sends: the first goes out, the second waits; its status_detail."""
    _, first = await send(relay)
    await message(relay, first["id"], "sent", "delivered")
    _, second = await send(relay)
    async with asyncio.timeout(10):
        while not (body := (await relay.call("GET", f"/api/v1/messages/{second['id']}"))[1])[
            "status_detail"
        ]:
            await asyncio.sleep(0.02)
    assert body["status"] == "queued", body
    detail: str = body["status_detail"]
    return detail  # the default (no cap) sends both


async def check_modem_daily_cap(env: Env) -> None:
    relay, _, _ = await modem_relay(env, "daily_cap = 1\n")
    assert "modem:m0 daily_cap 1 reached" in await capped_second_send(relay)


async def check_modem_monthly_cap(env: Env) -> None:
    relay, _, _ = await modem_relay(env, "monthly_cap = 1\n")
    assert "modem:m0 monthly_cap 1 reached" in await capped_second_send(relay)


async def _phone_cap(env: Env, key: str) -> str:
    relay = await paired(env, f"[phones]\n{key} = 1\n")
    phone = ScriptedPhone(str(relay.http.make_url("/")), "default", PHONE_SECRET)
    await phone.start()
    try:
        await until(lambda: any(s.info.online for s in relay.relay.sims.all()))
        return await capped_second_send(relay)
    finally:
        await phone.stop()


async def check_phones_daily_cap(env: Env) -> None:
    assert "daily_cap 1 reached" in await _phone_cap(env, "daily_cap")


async def check_phones_monthly_cap(env: Env) -> None:
    assert "monthly_cap 1 reached" in await _phone_cap(env, "monthly_cap")


# --- [routing] ------------------------------------------------------------------------------


def choose(config: Config, sims: list[ScriptedSim], peer: str = PEER,
           load: Callable[[Any], int] = lambda s: 0, router: Router | None = None) -> str | None:
    router = router or Router(config.routing)
    chosen = router.choose(Pending(id=1, org="default", peer=peer, text="x"),
                           sorted(sims, key=lambda s: s.info.id), lambda s: s.info.online, load)
    return chosen.info.name if chosen else None


async def check_routing_policy(env: Env) -> None:
    config = env.load('[routing]\npolicy = "least_busy"\n')
    a, b = ScriptedSim("a"), ScriptedSim("b")
    router = Router(config.routing)
    busy = {"a": 1, "b": 0}
    picks = [choose(config, [a, b], load=lambda s: busy[s.info.name], router=router)
             for _ in range(3)]
    assert picks == ["b", "b", "b"]  # round robin would alternate


async def check_routing_failover(env: Env) -> None:
    config = env.load('[routing]\nfailover = false\n[[routing.rule]]\nprefix = "+44"\nsim = "uk"\n')
    uk, us = ScriptedSim("uk", online=False), ScriptedSim("us")
    assert choose(config, [uk, us], peer="+442071838750") is None  # the default uses "us"


async def check_routing_sticky_replies(env: Env) -> None:
    config = env.load("[routing]\nsticky_replies = false\n")
    router = Router(config.routing)
    router.remember_sender("default", PEER, "modem:b")
    assert choose(config, [ScriptedSim("a"), ScriptedSim("b")], router=router) == "a"


async def check_routing_max_attempts(env: Env) -> None:
    from relayd.bridges.base import SendFailed

    sim = ScriptedSim("a")
    sim.script = [SendFailed("cms_500", "busy", transient=True, not_sent=True)]
    relay = await env.relay("[routing]\nmax_attempts = 1\n", [sim])
    _, body = await send(relay)
    failed = await message(relay, body["id"], "failed", "sent")
    assert failed["status"] == "failed"  # the default 3 tries again and it goes out


async def quarantined_after(env: Env, toml: str, script: list[bool]) -> dict[str, Any]:
    """A SIM whose sends fail (True) or go out (False) as scripted; its health after them."""
    from relayd.bridges.base import SendFailed

    sim = ScriptedSim("a")
    sim.script = [
        SendFailed("cms_500", "busy", transient=True, not_sent=True) if bad else None
        for bad in script
    ]
    relay = await env.relay(f"[routing]\nmax_attempts = 1\n{toml}", [sim])
    for _ in script:
        _, body = await send(relay)
        await message(relay, body["id"], "failed", "sent")
    _, sims = await relay.call("GET", "/api/v1/sims")
    health: dict[str, Any] = sims["sims"][0]["health"]
    return health


async def check_routing_quarantine_after(env: Env) -> None:
    health = await quarantined_after(env, "quarantine_after = 2\n", [True, True])
    assert health["state"] == "quarantined"  # the default waits for 5 in a row


async def check_routing_quarantine_rate(env: Env) -> None:
    # 3 of the last 4 failed, never 5 in a row: the default (rate 0: off) keeps the SIM.
    script = [True, False, True, True]
    health = await quarantined_after(
        env, "quarantine_rate = 0.5\nquarantine_window = 4\n", script
    )
    assert health["state"] == "quarantined"


async def check_routing_quarantine_window(env: Env) -> None:
    # The last 2 both failed: above 0.5. The default window (20 sends) has too few to judge.
    script = [False, False, True, True]
    health = await quarantined_after(
        env, "quarantine_rate = 0.5\nquarantine_window = 2\nquarantine_after = 0\n", script
    )
    assert health["state"] == "quarantined"


async def check_routing_quarantine_backoff(env: Env) -> None:
    health = await quarantined_after(
        env, "quarantine_after = 1\nquarantine_backoff = 3600\n", [True]
    )
    until = dt.datetime.fromisoformat(health["until"]).timestamp()
    assert until - time.time() > 3000  # the default's back-off is 60 s


async def check_routing_rule_prefix(env: Env) -> None:
    config = env.load('[[routing.rule]]\nprefix = "+44"\nsim = "uk"\n')
    uk, us = ScriptedSim("uk"), ScriptedSim("us")
    router = Router(config.routing)
    picks = {choose(config, [uk, us], peer="+442071838750", router=router) for _ in range(3)}
    assert picks == {"uk"}
    others = {choose(config, [uk, us], peer=PEER, router=router) for _ in range(2)}
    assert others == {"uk", "us"}  # a number off the prefix: round robin as before


async def check_routing_rule_sim(env: Env) -> None:
    config = env.load('[[routing.rule]]\nprefix = "+1"\nsim = "us"\n')
    assert {choose(config, [ScriptedSim("uk"), ScriptedSim("us")]) for _ in range(3)} == {"us"}


# --- [sms] ----------------------------------------------------------------------------------


async def check_sms_default_region(env: Env) -> None:
    relay = await env.relay('[sms]\ndefault_region = "GB"\n')
    status, body = await send(relay, to="07700 900123")
    assert status == 202 and body["to"] == "+447700900123"


async def check_sms_delivery_reports(env: Env) -> None:
    relay, [modem], [sim] = await modem_relay(env, extra="[sms]\ndelivery_reports = false\n")
    await until(lambda: modem.info.online)
    _, body = await send(relay)
    await message(relay, body["id"], "sent", "delivered")
    assert [part.status_report for part in sim.sent] == [False]  # the default asks for one
    assert "delivery_reports" not in modem.capabilities


async def check_sms_max_parts(env: Env) -> None:
    relay = await env.relay("[sms]\nmax_parts = 1\n")
    status, _ = await send(relay, text="y" * 200)  # two parts: the default 10 takes it
    assert status == 422


async def check_sms_allow_short_codes(env: Env) -> None:
    relay = await env.relay("[sms]\nallow_short_codes = true\n")
    status, _ = await send(relay, to="12345")
    assert status == 202  # 422 with the default


async def check_sms_multipart_wait(env: Env) -> None:
    sim = ScriptedSim("a")
    relay = await env.relay("[sms]\nmultipart_wait = 0.2\n", [sim])
    await relay.relay.sims.on_inbound("modem:a", InboundSms(
        sender=PEER, text="first half", received_at=None, concat_ref=7, concat_total=2,
        concat_seq=1))

    async def partial() -> list[Any]:
        _, body = await relay.call("GET", "/api/v1/messages?direction=in")
        return [m for m in body["messages"] if m["partial"]]

    async with asyncio.timeout(10):
        while not await partial():  # the default waits 600 s for the second part
            await asyncio.sleep(0.05)


async def check_sms_default_ttl(env: Env) -> None:
    relay = await env.relay("[sms]\ndefault_ttl = 1\n")  # no SIM: it can only wait
    _, body = await send(relay)
    assert (await message(relay, body["id"], "expired"))["status"] == "expired"


# --- [mdns] ---------------------------------------------------------------------------------


async def check_mdns_backend(env: Env) -> None:
    config = env.load('[mdns]\nbackend = "off"\n')
    assert config.mdns.backend == "off" and choose_backend(config.mdns) == "off"
    from relayd.mdns import start_announcer

    assert await start_announcer(config, 8080, lambda: 0) is None  # "auto" would announce


async def check_mdns_interfaces(env: Env) -> None:
    config = env.load('[mdns]\ninterfaces = ["127.0.0.1"]\n')
    assert announce_addresses(config) == ["127.0.0.1"]  # the default: every LAN address


async def check_mdns_name(env: Env) -> None:
    config = env.load('[mdns]\nbackend = "zeroconf"\ninterfaces = ["127.0.0.1"]\n'
                      'name = "kitchen relay"\n')
    announcer = Announcer(config, 8080, lambda: 0, "relay-test", addresses=lambda: ["127.0.0.1"])
    announcer.start()
    try:
        async with asyncio.timeout(10):
            await announcer.registered.wait()
        names = announcer.service_names
    finally:
        await announcer.stop()
    assert names and all(n.startswith("kitchen relay.") for n in names)


# --- [email] --------------------------------------------------------------------------------


def email_toml(port: int, extra: str = "") -> str:
    return f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nstarttls = false\n{extra}'


async def deliver(config: Config, to: str = "me@example.org") -> None:
    await SmtpSender(config.email).deliver(
        ChannelMessage(id=1, org="default", channel="email", to=to, text="hello"))


async def check_email_smtp_host(env: Env) -> None:
    with smtp_server() as mailbox:
        relay = await env.relay(email_toml(mailbox.port))
        status, _ = await send(relay, channel="email", to="me@example.org")
        assert status == 202  # 422 without an smtp_host: no email channel
        await mailbox.wait_for(1)


async def check_email_smtp_port(env: Env) -> None:
    with smtp_server() as mailbox:
        await deliver(env.load(email_toml(mailbox.port)))
        assert len(mailbox.messages) == 1


async def check_email_starttls(env: Env) -> None:
    from relayd.bridges.base import SendFailed

    with smtp_server() as mailbox:
        await deliver(env.load(email_toml(mailbox.port)))  # starttls = false
        default = env.load(email_toml(mailbox.port).replace("starttls = false", ""))
        with pytest.raises(SendFailed) as refused:
            await deliver(default)  # this server offers no STARTTLS
    assert len(mailbox.messages) == 1 and refused.value.code == "smtp_unsupported"


async def check_email_username(env: Env) -> None:
    await _auth_check(env)


async def check_email_password(env: Env) -> None:
    await _auth_check(env)


async def _auth_check(env: Env) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from relayd.bridges.base import SendFailed
    from tests.support.smtp import Mailbox

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login, password = (v.decode() if isinstance(v, bytes) else v
                           for v in (data.login, data.password))
        if (login, password) == ("relay", "s3cret"):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 wrong login")

    mailbox = Mailbox(free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port,
                            authenticator=authenticator, auth_required=True,
                            auth_require_tls=False)
    controller.start()
    try:
        await deliver(env.load(email_toml(mailbox.port, 'username = "relay"\npassword = "s3cret"\n')))
        with pytest.raises(SendFailed) as wrong:
            await deliver(env.load(email_toml(mailbox.port, 'username = "relay"\npassword = "x"\n')))
        with pytest.raises(SendFailed):
            await deliver(env.load(email_toml(mailbox.port)))  # the default: no login
    finally:
        controller.stop()
    assert len(mailbox.messages) == 1 and wrong.value.code == "smtp_auth"


async def check_email_from(env: Env) -> None:
    with smtp_server() as mailbox:
        await deliver(env.load(email_toml(mailbox.port, 'from = "sms@home.example"\n')))
    assert mailbox.envelopes[0][0] == "sms@home.example"


async def check_email_forward_inbound_to(env: Env) -> None:
    with smtp_server() as mailbox:
        sim = ScriptedSim("a")
        relay = await env.relay(
            email_toml(mailbox.port, 'forward_inbound_to = ["me@example.org"]\n'), [sim])
        await relay.relay.sims.on_inbound(
            "modem:a", InboundSms(sender=PEER, text="forward me", received_at=None))
        await mailbox.wait_for(1)
    assert "forward me" in mailbox.messages[0].get_content()


# --- [[webhook]] ----------------------------------------------------------------------------


async def hooked(env: Env, fields: str) -> RelayClient:
    return await env.relay(f'[[webhook]]\nurl = "{env.receiver.url("/in")}"\n{fields}')


async def inbound(relay: RelayClient, org: str = "default") -> None:
    await relay.relay.store.inbound.store(
        org, "modem:test", PEER, "ping", encoding="gsm7", received_at=time.time(),
        external_id=None)


async def check_webhook_url(env: Env) -> None:
    relay = await hooked(env, "")
    await inbound(relay)
    await until(lambda: env.receiver.on("/in"))


async def check_webhook_events(env: Env) -> None:
    relay = await hooked(env, 'events = ["sms.queued"]\n')
    await inbound(relay)  # the default ["sms.received"] would post this one
    await send(relay)
    await until(lambda: env.receiver.hits)
    assert [h.json["type"] for h in env.receiver.hits] == ["sms.queued"]


async def check_webhook_secret(env: Env) -> None:
    secret = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0ISE="
    relay = await hooked(env, f'secret = "{secret}"\n')
    await inbound(relay)
    await until(lambda: env.receiver.hits)
    assert_signed(env.receiver.hits[0], secret)


async def check_webhook_org(env: Env) -> None:
    relay = await hooked(env, 'org = "shop"\n')
    await inbound(relay, "default")  # not the hook's org: not posted
    await inbound(relay, "shop")
    await until(lambda: env.receiver.hits)
    assert [h.json["data"]["org"] for h in env.receiver.hits] == ["shop"]


async def check_webhook_kind(env: Env) -> None:
    relay = await env.relay(
        f'[[webhook]]\nurl = "http://127.0.0.1:{env.receiver.port}"\nkind = "homeassistant"\n')
    await inbound(relay)
    await until(lambda: env.receiver.hits)
    assert env.receiver.hits[0].path == "/api/events/sms.incoming_sms"


async def check_webhook_headers(env: Env) -> None:
    relay = await hooked(env, 'headers = { "X-Source" = "relayd-test" }\n')
    await inbound(relay)
    await until(lambda: env.receiver.hits)
    assert env.receiver.hits[0].headers["X-Source"] == "relayd-test"


# --- the table and the walk -----------------------------------------------------------------

DAEMON_CHECKS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "server.host": ("server_daemon", check_host),
    "server.port": ("server_daemon", check_port),
    "server.tls": ("server_daemon", check_tls),
    "server.tls_names": ("server_daemon", check_tls_names),
    "server.http_port": ("server_daemon", check_http_port),
    "server.http_host": ("server_daemon", check_http_host),
    "server.cors_origins": ("server_daemon", check_cors_origins),
    "server.max_body_bytes": ("server_daemon", check_max_body_bytes),
    "server.tls_cert": ("own_cert_daemon", check_tls_cert),
    "server.tls_key": ("own_cert_daemon", check_tls_key),
    "storage.url": ("pg_cluster", check_storage_url),
}
# --- [limits] -------------------------------------------------------------------------------


async def check_limits_streams_per_key(env: Env) -> None:
    relay = await env.relay("[limits]\nstreams_per_key = 2")
    key = await relay.new_key(["read"])
    async with AsyncExitStack() as stack:
        opened = [
            await stack.enter_async_context(
                relay.http.get("/api/v1/events", headers=relay.headers(key))
            )
            for _ in range(3)
        ]
        assert [r.status for r in opened] == [200, 200, 429]


async def wrong_secrets(relay: RelayClient, n: int) -> list[int]:
    """`n` GETs of seed 004's /messages/shop with a wrong org secret, one after the other."""
    out = []
    for i in range(n):
        headers = {"X-Secret-Key": f"wrong-secret-{i:04}"}
        async with relay.http.get("/messages/shop", headers=headers) as resp:
            out.append(resp.status)
    return out


async def shop(relay: RelayClient) -> None:
    status, _ = await relay.call("POST", "/api/v1/phones", json={"org": "shop", "secret": SHOP})
    assert status in (200, 201)


async def check_limits_failed_auth_max(env: Env) -> None:
    relay = await env.relay("[limits]\nfailed_auth_max = 2")
    await shop(relay)
    assert await wrong_secrets(relay, 3) == [401, 401, 429]


async def check_limits_failed_auth_window(env: Env) -> None:
    relay = await env.relay("[limits]\nfailed_auth_max = 1\nfailed_auth_window = 1.0")
    await shop(relay)
    assert await wrong_secrets(relay, 2) == [401, 429]
    await asyncio.sleep(1.2)  # the window (default 300 s) is over: guesses count from zero
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": SHOP}) as resp:
        assert resp.status == 200


async def check_limits_sockets_per_key(env: Env) -> None:
    relay = await paired(env, "[limits]\nsockets_per_key = 1\n")
    phone = ScriptedPhone(str(relay.http.make_url("/")), "default", PHONE_SECRET)
    await phone.start()  # the default (100) lets the second socket of the secret in
    try:
        async with relay.http.get(
            "/websocket", params={"org_id": "default", "secret_key": PHONE_SECRET}
        ) as resp:
            assert resp.status == 429
            assert (await resp.json())["error"]["code"] == "too_many_sockets"
    finally:
        await phone.stop()


async def check_limits_devices_per_org(env: Env) -> None:
    import aiohttp

    from tests.support.asg_app import ScriptedApp

    relay = await paired(env, "[limits]\ndevices_per_org = 1\n")
    phone = ScriptedPhone(str(relay.http.make_url("/")), "default", PHONE_SECRET, device_id="a")
    await phone.start()  # the one device the org may have
    try:
        async with aiohttp.ClientSession() as http:  # the default (100) would register it
            app = ScriptedApp(http=http, base=str(relay.http.make_url("/api/mobile/v1")),
                              private_token=await relay.new_key(["admin"]))
            refused = await app.register()
        assert refused.status == 429
        assert refused.json_body["error"]["code"] == "too_many_devices"  # type: ignore[attr-defined]
    finally:
        await phone.stop()


async def check_limits_app_stream_queue(env: Env) -> None:
    import aiohttp

    from tests.support.asg_app import ScriptedApp

    relay = await env.relay("[limits]\napp_stream_queue = 2\n")
    async with aiohttp.ClientSession() as http:
        app = ScriptedApp(http=http, base=str(relay.http.make_url("/api/mobile/v1")),
                          private_token=await relay.new_key(["admin"]))
        assert (await app.register()).status == 201
    assert app.device_id is not None
    device = relay.relay.app_hub.devices[app.device_id]
    queue = device.open_stream()
    for i in range(5):  # a phone that stopped reading its stream: the default keeps 100
        device.notify(f"Event{i}")
    assert [queue.get_nowait() for _ in range(queue.qsize())] == [
        ("Event3", "null"), ("Event4", "null")]
    device.close_stream(queue)


# --- [fleet] (issue 13): relays on one database; the PostgreSQL fleet is tests/test_fleet_pg.py


async def check_fleet_mode(env: Env) -> None:
    single = await env.relay("")  # auto: a lone relay unless the store is PostgreSQL
    assert (single.relay.fleet is not None) == bool(single.relay.config.storage.url)
    relay = await env.relay('[fleet]\nmode = "fleet"\nnode_id = "one"\n')
    assert relay.relay.fleet is not None and relay.relay.outbox.intake is relay.relay.claims
    [node] = [n for n in await relay.relay.store.fleet.nodes() if n.id == "one"]
    assert node.state == "up"


async def check_fleet_node_id(env: Env) -> None:
    relay = await env.relay('[fleet]\nmode = "fleet"\nnode_id = "pi-attic"\n')
    assert [n.id for n in await relay.relay.store.fleet.nodes()] == ["pi-attic"]
    _, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": "x"})
    row = await relay.relay.store.messages.get_message("default", body["id"])
    assert row is not None and row.status == "queued"  # no SIM anywhere: waits unclaimed


async def check_fleet_heartbeat_seconds(env: Env) -> None:
    relay = await env.relay('[fleet]\nmode = "fleet"\nnode_id = "fast"\nheartbeat_seconds = 0.05\n')

    async def beats() -> int:
        return next(n.beats for n in await relay.relay.store.fleet.nodes() if n.id == "fast")

    async with asyncio.timeout(5):  # at the default 1 s this would take 5 s and more
        while await beats() < 5:
            await asyncio.sleep(0.02)
# --- [optout] -------------------------------------------------------------------------------


async def sms_in(relay: RelayClient, text: str) -> None:
    """An SMS from PEER stored as every inbound path stores it; wait until it was looked at."""
    await relay.relay.store.inbound.store(
        "default", "modem:test", PEER, text, encoding="gsm7", received_at=time.time(),
        external_id=None)
    await relay.relay.optout.stop()  # the opt-out hook is done with it


async def opted_out(relay: RelayClient) -> bool:
    _, body = await relay.call("GET", "/api/v1/optouts")
    return PEER in [entry["number"] for entry in body["optouts"]]


async def replies(relay: RelayClient) -> list[str]:
    _, body = await relay.call("GET", "/api/v1/messages?direction=out")
    return [m["text"] for m in body["messages"] if m["source"] == "optout"]


async def check_optout_enabled(env: Env) -> None:
    relay = await env.relay("[optout]\nenabled = false\n")
    await sms_in(relay, "STOP")
    assert not await opted_out(relay)  # the default (true) would list the sender
    assert (await send(relay))[0] == 202


async def check_optout_stop_words(env: Env) -> None:
    relay = await env.relay('[optout]\nstop_words = ["HALT"]\n')
    await sms_in(relay, "STOP")
    assert not await opted_out(relay)
    await sms_in(relay, "halt")
    assert await opted_out(relay)
    assert (await send(relay))[1]["error"]["code"] == "opted_out"


async def check_optout_start_words(env: Env) -> None:
    relay = await env.relay('[optout]\nstart_words = ["RESUME"]\n')
    await sms_in(relay, "STOP")
    await sms_in(relay, "START")
    assert await opted_out(relay)  # START is no start word here
    await sms_in(relay, "Resume.")
    assert not await opted_out(relay)


async def check_optout_stop_reply(env: Env) -> None:
    relay = await env.relay('[optout]\nstop_reply = "Bye: no more SMS"\n', [ScriptedSim("a")])
    await sms_in(relay, "STOP")
    assert await replies(relay) == ["Bye: no more SMS"]


async def check_optout_start_reply(env: Env) -> None:
    relay = await env.relay('[optout]\nstart_reply = "Welcome back"\n', [ScriptedSim("a")])
    await sms_in(relay, "STOP")
    assert await replies(relay) == []  # the default stop_reply is none
    await sms_in(relay, "START")
    assert await replies(relay) == ["Welcome back"]


CHECKS: dict[str, Callable[[Env], Awaitable[None]]] = {
    "server.drain_seconds": check_drain_seconds,
    "storage.path": check_storage_path,
    "storage.retention_days": check_retention_days,
    "fleet.mode": check_fleet_mode,
    "fleet.node_id": check_fleet_node_id,
    "fleet.heartbeat_seconds": check_fleet_heartbeat_seconds,
    "modem.name": check_modem_name,
    "modem.port": check_modem_port,
    "modem.baudrate": check_modem_baudrate,
    "modem.pin": check_modem_pin,
    "modem.org": check_modem_org,
    "modem.delivery_reports": check_modem_delivery_reports,
    "modem.priority": check_modem_priority,
    "modem.rate_per_minute": check_modem_rate_per_minute,
    "modem.health_interval": check_modem_health_interval,
    "modem.daily_cap": check_modem_daily_cap,
    "modem.monthly_cap": check_modem_monthly_cap,
    "modem.balance_ussd": check_modem_balance_ussd,
    "modem.balance_every": check_modem_balance_every,
    "modem.balance_regex": check_modem_balance_regex,
    "modem.balance_low": check_modem_balance_low,
    "modem.expires_on": check_modem_expires_on,
    "modem.topup_every": check_modem_topup_every,
    "modem.expiry_warn": check_modem_expiry_warn,
    "modem.keepalive_every": check_modem_keepalive_every,
    "modem.keepalive_kind": check_modem_keepalive_kind,
    "modem.keepalive_to": check_modem_keepalive_to,
    "modem.keepalive_ussd": check_modem_keepalive_ussd,
    "modem.keepalive_text": check_modem_keepalive_text,
    "phones.enabled": check_phones_enabled,
    "phones.allow_new_orgs": check_phones_allow_new_orgs,
    "phones.result_timeout": check_phones_result_timeout,
    "phones.priority": check_phones_priority,
    "phones.daily_cap": check_phones_daily_cap,
    "phones.monthly_cap": check_phones_monthly_cap,
    "routing.policy": check_routing_policy,
    "routing.failover": check_routing_failover,
    "routing.sticky_replies": check_routing_sticky_replies,
    "routing.max_attempts": check_routing_max_attempts,
    "routing.quarantine_after": check_routing_quarantine_after,
    "routing.quarantine_rate": check_routing_quarantine_rate,
    "routing.quarantine_window": check_routing_quarantine_window,
    "routing.quarantine_backoff": check_routing_quarantine_backoff,
    "routing.rule.prefix": check_routing_rule_prefix,
    "routing.rule.sim": check_routing_rule_sim,
    "sms.default_region": check_sms_default_region,
    "sms.delivery_reports": check_sms_delivery_reports,
    "sms.max_parts": check_sms_max_parts,
    "sms.allow_short_codes": check_sms_allow_short_codes,
    "sms.multipart_wait": check_sms_multipart_wait,
    "sms.default_ttl": check_sms_default_ttl,
    "mdns.backend": check_mdns_backend,
    "mdns.interfaces": check_mdns_interfaces,
    "mdns.name": check_mdns_name,
    "email.smtp_host": check_email_smtp_host,
    "email.smtp_port": check_email_smtp_port,
    "email.starttls": check_email_starttls,
    "email.username": check_email_username,
    "email.password": check_email_password,
    "email.from": check_email_from,
    "email.forward_inbound_to": check_email_forward_inbound_to,
    "webhook.url": check_webhook_url,
    "webhook.events": check_webhook_events,
    "webhook.secret": check_webhook_secret,
    "webhook.org": check_webhook_org,
    "webhook.kind": check_webhook_kind,
    "webhook.headers": check_webhook_headers,
    "demo.send_delay": check_demo_send_delay,
    "demo.report_delay": check_demo_report_delay,
    "demo.control_port": check_demo_control_port,
    "demo.rate_per_minute": check_demo_rate_per_minute,
    "demo.ussd_answers": check_demo_ussd_answers,
    "limits.streams_per_key": check_limits_streams_per_key,
    "limits.failed_auth_max": check_limits_failed_auth_max,
    "limits.failed_auth_window": check_limits_failed_auth_window,
    "limits.sockets_per_key": check_limits_sockets_per_key,
    "limits.devices_per_org": check_limits_devices_per_org,
    "limits.app_stream_queue": check_limits_app_stream_queue,
    "optout.enabled": check_optout_enabled,
    "optout.stop_words": check_optout_stop_words,
    "optout.start_words": check_optout_start_words,
    "optout.stop_reply": check_optout_stop_reply,
    "optout.start_reply": check_optout_start_reply,
}
KEYS = example_keys()


def test_every_key_of_the_example_has_a_check_or_a_reason() -> None:
    known = set(CHECKS) | set(DAEMON_CHECKS) | set(INFORMATIONAL)
    assert [k for k in KEYS if k not in known] == [], "add a check (or a reason) for these keys"
    assert sorted(known - set(KEYS)) == [], "checks for keys the example no longer has"


fast_modem = test_modem_e2e.fast_modem  # driver timeouts scaled down, as in the modem e2e tests


@pytest.fixture
async def parts() -> AsyncIterator[tuple[list[ModemSimulator], list[DemoModem]]]:
    """Simulators and demo modems a check made; stopped after its relay (set up first)."""
    simulators: list[ModemSimulator] = []
    demos: list[DemoModem] = []
    yield simulators, demos
    for demo_modem in demos:
        await demo_modem.stop()
    for sim in simulators:
        await sim.stop()


@pytest.fixture
def env(
    parts: tuple[list[ModemSimulator], list[DemoModem]],
    tmp_path: Path,
    make_relay: RelayFactory,
    receiver: Receiver,
) -> Env:
    return Env(tmp_path, make_relay, receiver, *parts)


@pytest.mark.parametrize("key", [k for k in KEYS if k in CHECKS])
async def test_config_key_changes_behaviour(key: str, env: Env) -> None:
    await CHECKS[key](env)


@pytest.mark.parametrize("key", [k for k in KEYS if k in DAEMON_CHECKS])
def test_server_key_changes_what_the_daemon_serves(key: str, request: pytest.FixtureRequest) -> None:
    fixture, check = DAEMON_CHECKS[key]
    check(request.getfixturevalue(fixture))
