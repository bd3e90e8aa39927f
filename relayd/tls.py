"""TLS on the LAN with the relay's own CA (`relayd tls init`, `[server] tls = "auto"`).

Android apps (the SMS Gateway app among them) refuse cleartext HTTP, and a LAN box has
no public name for a public CA. So the relay makes a small CA of its own, once, and a
server certificate for every name and address it answers on: `<host>.local`, the mDNS
name, `localhost`, the LAN addresses and `[server] tls_names`. The CA certificate is
served at `GET /ca.pem` for the phone to install as a user certificate. The server
certificate is reissued (same CA) when it nears expiry or the names/addresses change;
a running relay checks twice a day and swaps it into the live context.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from relayd.config import Config
from relayd.mdns import _host_label, instance_id, lan_addresses

_LOGGER = logging.getLogger(__name__)

TLS_DIR = "tls"
CA_DAYS = 3650
CERT_DAYS = 397  # what browsers accept for a server certificate
RENEW_BEFORE = dt.timedelta(days=30)
CHECK_SECONDS = 12 * 3600.0


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA and the server certificate live (beside the database)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate: what phones install."""
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The CA's private key (owner-only)."""
        return self.directory / "ca.key"

    @property
    def cert(self) -> Path:
        """The server certificate."""
        return self.directory / "server.pem"

    @property
    def key(self) -> Path:
        """The server's private key (owner-only)."""
        return self.directory / "server.key"


def tls_files(config: Config) -> TlsFiles:
    """The relay's TLS files."""
    return TlsFiles(config.state_dir / TLS_DIR)


def tls_enabled(config: Config) -> bool:
    """The relay serves HTTPS: its own CA (`tls = "auto"`) or given files (`tls_cert`)."""
    return config.server.tls == "auto" or bool(config.server.tls_cert)


def server_names(config: Config) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the server certificate must carry."""
    host = socket.gethostname().split(".")[0].lower()
    names = {"localhost", f"{_host_label(instance_id(config.state_dir))}.local"}
    if host:
        names |= {host, f"{host}.local"}
    addresses = {"127.0.0.1", "::1", *lan_addresses(), *config.mdns.interfaces}
    for extra in [config.server.host, *config.server.tls_names]:
        try:
            address = ipaddress.ip_address(extra)
        except ValueError:
            if extra and extra not in ("0.0.0.0", "::"):  # noqa: S104 - comparing
                names.add(extra.lower())
            continue
        if not address.is_unspecified:
            addresses.add(str(address))
    return sorted(names), sorted(addresses, key=lambda a: (":" in a, a))


def ensure_certificates(config: Config, *, new_ca: bool = False) -> TlsFiles:
    """Make the CA if missing (or when asked), and a current server certificate."""
    files = tls_files(config)
    files.directory.mkdir(parents=True, exist_ok=True)
    if new_ca or not (files.ca_cert.exists() and files.ca_key.exists()):
        _make_ca(files)
        _LOGGER.info("Made a new local CA in %s", files.ca_cert)
    names, addresses = server_names(config)
    if new_ca or renewal_due(files, names, addresses):
        issue_server_certificate(files, names, addresses)
        _LOGGER.info("Issued the server certificate for %s", ", ".join([*names, *addresses]))
    return files


def renewal_due(files: TlsFiles, names: list[str], addresses: list[str]) -> bool:
    """The certificate is missing, unreadable, near expiry, or lacks a name or address."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except (OSError, ValueError):
        return True
    if not files.key.exists() or cert.issuer != ca.subject:
        return True
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
        return True
    have_names, have_addresses = certificate_names(cert)
    return not (set(names) <= set(have_names) and set(addresses) <= set(have_addresses))


def certificate_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of a certificate's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return (
        san.get_values_for_type(x509.DNSName),
        [str(a) for a in san.get_values_for_type(x509.IPAddress)],
    )


def issue_server_certificate(files: TlsFiles, names: list[str], addresses: list[str]) -> None:
    """A server certificate from the relay's CA for these names and addresses."""
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key}: not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    common = next((n for n in names if n.endswith(".local")), names[0] if names else "relayd")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    alt = [x509.DNSName(n) for n in names] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in addresses
    ]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(min(now + dt.timedelta(days=CERT_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.key, key)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The HTTPS context serving the relay's certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


def ca_fingerprint(files: TlsFiles) -> str:
    """SHA-256 of the CA certificate, as phones show it (AA:BB:...)."""
    cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


class CertificateRenewer:
    """Checks twice a day whether the server certificate needs reissuing; swaps it in live."""

    def __init__(self, config: Config, files: TlsFiles, context: ssl.SSLContext) -> None:
        self.config = config
        self.files = files
        self.context = context
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the periodic check."""
        self._task = asyncio.create_task(self._run(), name="relayd-tls-renewal")

    async def stop(self) -> None:
        """End it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def check(self) -> bool:
        """Reissue now if due; True when the live context got a new certificate."""
        names, addresses = server_names(self.config)
        if not renewal_due(self.files, names, addresses):
            return False
        await asyncio.to_thread(issue_server_certificate, self.files, names, addresses)
        self.context.load_cert_chain(self.files.cert, self.files.key)
        _LOGGER.info("Renewed the server certificate (%d names)", len(names) + len(addresses))
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check()
            except (OSError, ValueError, ssl.SSLError):
                _LOGGER.exception("Renewing the server certificate failed")


def _make_ca(files: TlsFiles) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "relayd"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"relayd local CA {socket.gethostname()}"[:64]),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(files.ca_key, key)
    _write(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(path, pem, 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
