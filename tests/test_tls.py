"""TLS with the relay's own CA: a client that trusts only GET /ca.pem reaches it by name and IP.

`<name>.local` is resolved to 127.0.0.1 by the client's own resolver (no mDNS needed);
the LAN address is a documentation address put into the address list, checked in the
certificate (only loopback is ever connected to).
"""

from __future__ import annotations

import socket
import ssl
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509

from relayd import tls
from relayd.__main__ import main
from relayd.app import create_app
from relayd.config import Config
from tests.support.daemon import RelaydProcess, free_port
from tests.support.postgres import storage_toml

LAN = "192.0.2.10"  # TEST-NET-1: never connected to
HOST = "relaybox"


class LocalNames(AbstractResolver):
    """Resolves every name to 127.0.0.1, as mDNS would resolve <host>.local to the relay."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


@pytest.fixture(autouse=True)
def fixed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls.socket, "gethostname", lambda: HOST)
    monkeypatch.setattr(tls, "lan_addresses", lambda: [LAN])


@pytest.fixture
def tls_config(config: Config) -> Config:
    config.server.tls = "auto"
    config.server.tls_names = ["sms.home.arpa"]
    return config


@pytest.fixture
async def https_relay(tls_config: Config) -> AsyncIterator[tuple[int, tls.TlsFiles]]:
    files = tls.ensure_certificates(tls_config)
    runner = web.AppRunner(create_app(tls_config))
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls.server_context(files))
    await site.start()
    try:
        yield port, files
    finally:
        await runner.cleanup()


async def fetch(url: str, ssl_arg: Any) -> tuple[int, bytes]:
    connector = aiohttp.TCPConnector(resolver=LocalNames(), ssl=ssl_arg)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url) as resp:
        return resp.status, await resp.read()


async def test_a_client_trusting_only_the_ca_reaches_the_relay_by_name_and_by_ip(
    https_relay: tuple[int, tls.TlsFiles],
) -> None:
    port, _files = https_relay
    # The phone downloads the CA once (a browser warning accepted, or over plain HTTP).
    status, pem = await fetch(f"https://127.0.0.1:{port}/ca.pem", False)
    assert status == 200 and pem.startswith(b"-----BEGIN CERTIFICATE-----")
    trust = ssl.create_default_context(cadata=pem.decode())
    for host in (f"{HOST}.local", "127.0.0.1", "localhost", "sms.home.arpa"):
        status, body = await fetch(f"https://{host}:{port}/health", trust)
        assert status == 200 and b'"ok":true' in body, host

    with pytest.raises(aiohttp.ClientConnectorCertificateError):  # a name it was not made for
        await fetch(f"https://elsewhere.local:{port}/health", trust)
    with pytest.raises(aiohttp.ClientConnectorCertificateError):  # the system CAs: unknown issuer
        await fetch(f"https://{HOST}.local:{port}/health", ssl.create_default_context())


async def test_certificate_names_ca_constraints_and_renewal(
    https_relay: tuple[int, tls.TlsFiles], tls_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    _port, files = https_relay
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names, addresses = tls.certificate_names(cert)
    assert {f"{HOST}.local", HOST, "localhost", "sms.home.arpa"} <= set(names)
    assert any(n.startswith("relayd-") and n.endswith(".local") for n in names)  # the mDNS name
    assert {"127.0.0.1", "::1", LAN} <= set(addresses)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value.endswith(".local")
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.issuer == ca.subject
    assert oct(files.ca_key.stat().st_mode & 0o777) == "0o600"
    assert oct(files.key.stat().st_mode & 0o777) == "0o600"

    # nothing changed: no new certificate; a new LAN address: reissued and served at once
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    renewer = tls.CertificateRenewer(tls_config, files, context)
    assert await renewer.check() is False
    monkeypatch.setattr(tls, "lan_addresses", lambda: [LAN, "198.51.100.7"])
    assert await renewer.check() is True
    assert "198.51.100.7" in tls.certificate_names(x509.load_pem_x509_certificate(files.cert.read_bytes()))[1]
    # near expiry: due again (same CA, so phones keep trusting it)
    monkeypatch.setattr(tls, "RENEW_BEFORE", tls.dt.timedelta(days=10_000))
    assert tls.renewal_due(files, *tls.server_names(tls_config))
    before = files.ca_cert.read_bytes()
    tls.ensure_certificates(tls_config)
    assert files.ca_cert.read_bytes() == before


async def test_ca_pem_is_404_without_tls(config: Config) -> None:
    runner = web.AppRunner(create_app(config))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        status, body = await fetch(f"http://127.0.0.1:{port}/ca.pem", None)
        assert status == 404 and b"relayd tls init" in body
    finally:
        await runner.cleanup()


def test_tls_init_command_makes_the_ca_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "relayd.toml"
    path.write_text(storage_toml(tmp_path / "state" / "relayd.db"))
    assert main(["tls", "init", "--config", str(path), "--name", "gw.example.lan"]) == 0
    out = capsys.readouterr().out
    assert "gw.example.lan" in out and "CA SHA-256" in out
    ca = (tmp_path / "state" / "tls" / "ca.pem").read_bytes()
    assert main(["tls", "init", "--config", str(path)]) == 0
    assert (tmp_path / "state" / "tls" / "ca.pem").read_bytes() == ca  # kept: phones trust it


def test_relayd_run_serves_https_and_plain_http_for_loopback(tmp_path: Path) -> None:
    port, plain = free_port(), free_port()
    config = tmp_path / "relayd.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ntls = "auto"\nhttp_port = {plain}\n'
        f'drain_seconds = 1.0\n\n{storage_toml(tmp_path / "state" / "relayd.db")}\n'
        '[mdns]\nbackend = "off"\n'
    )
    daemon = RelaydProcess(tmp_path, config, plain)  # polls /health on the plain port
    daemon.start()
    try:
        ca = tmp_path / "state" / "tls" / "ca.pem"
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"https://localhost:{port}/health", context=context, timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{plain}/ca.pem", timeout=5) as resp:
            assert resp.read() == ca.read_bytes()
        assert "https://" in daemon.log_tail() and "/ca.pem" in daemon.log_tail()
    finally:
        daemon.stop()


async def test_the_ca_vouches_only_for_lan_names_and_addresses(
    https_relay: tuple[int, tls.TlsFiles], tmp_path: Path
) -> None:
    port, files = https_relay
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = {str(getattr(s, "value", s)) for s in constraints.value.permitted_subtrees or []}
    assert {"local", "home.arpa", HOST, "192.168.0.0/16", "10.0.0.0/8"} <= permitted
    assert ca.not_valid_after_utc - ca.not_valid_before_utc <= tls.dt.timedelta(days=3 * 365 + 1)
    # a leaf for a public name made with the CA's own key (as a thief of ca.key would):
    # a client that installed the CA refuses it
    rogue = tls.TlsFiles(tmp_path / "rogue")
    rogue.directory.mkdir()
    rogue.ca_cert.write_bytes(files.ca_cert.read_bytes())
    rogue.ca_key.write_bytes(files.ca_key.read_bytes())
    tls.issue_server_certificate(rogue, ["bank.example.com"], ["8.8.8.8"])
    runner = web.AppRunner(create_app_for_rogue())
    await runner.setup()
    rogue_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", rogue_port, ssl_context=tls.server_context(rogue)).start()
    trust = ssl.create_default_context(cadata=files.ca_cert.read_text())
    try:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(f"https://bank.example.com:{rogue_port}/", trust)
    finally:
        await runner.cleanup()
    status, _ = await fetch(f"https://{HOST}.local:{port}/health", trust)  # the real one still works
    assert status == 200


def create_app_for_rogue() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="pay here")

    app = web.Application()
    app.router.add_get("/", hello)
    return app


def test_a_public_name_added_later_is_left_out_of_the_certificate_with_a_warning(
    tls_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    files = tls.ensure_certificates(tls_config)
    tls_config.server.tls_names = ["sms.home.arpa", "relay.example.com"]
    tls.ensure_certificates(tls_config)
    names, _ = tls.certificate_names(x509.load_pem_x509_certificate(files.cert.read_bytes()))
    assert "sms.home.arpa" in names and "relay.example.com" not in names
    assert "relay.example.com" in caplog.text and "--new-ca" in caplog.text
    tls.ensure_certificates(tls_config, new_ca=True)  # what the warning says to do
    names, _ = tls.certificate_names(x509.load_pem_x509_certificate(files.cert.read_bytes()))
    assert "relay.example.com" in names


def test_a_ca_near_its_end_is_replaced(
    tls_config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    files = tls.ensure_certificates(tls_config)
    before = files.ca_cert.read_bytes()
    monkeypatch.setattr(tls, "CA_RENEW_BEFORE", tls.dt.timedelta(days=10_000))
    tls.ensure_certificates(tls_config)
    assert files.ca_cert.read_bytes() != before
    assert "install the new one" in caplog.text
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert cert.issuer == x509.load_pem_x509_certificate(files.ca_cert.read_bytes()).subject
