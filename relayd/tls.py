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
from collections.abc import Iterable
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
CA_DAYS = 3 * 365  # a phone reinstalls /ca.pem this often; a stolen CA key ages out
CA_RENEW_BEFORE = dt.timedelta(days=60)
CERT_DAYS = 397  # what browsers accept for a server certificate
RENEW_BEFORE = dt.timedelta(days=30)
CHECK_SECONDS = 12 * 3600.0
# The CA may only vouch for LAN names and addresses (RFC 5280 name constraints): a copy of
# its key cannot be used to impersonate a public site to a phone that installed it.
LAN_DOMAINS = ("local", "localhost", "home.arpa", "lan", "internal")
LAN_NETWORKS = (
    "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "::1/128", "fc00::/7", "fe80::/10", "2001:db8::/32",
)  # fmt: skip


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
    """Make the CA if missing, near expiry (or when asked), and a current server certificate."""
    files = tls_files(config)
    files.directory.mkdir(parents=True, exist_ok=True)
    _renew(config, files, new_ca=new_ca)
    return files


def _renew(config: Config, files: TlsFiles, *, new_ca: bool = False) -> bool:
    """Bring the CA and the server certificate up to date; True when the latter was reissued."""
    if new_ca or ca_due(files):
        if files.ca_cert.exists():
            _LOGGER.warning(
                "Replacing the local CA (it expires soon): phones must install the new "
                "one from GET /ca.pem"
            )
        _make_ca(files, server_names(config)[0])
        _LOGGER.info("Made a new local CA in %s", files.ca_cert)
        new_ca = True
    names, addresses = names_the_ca_allows(files, *server_names(config))
    if not (new_ca or renewal_due(files, names, addresses)):
        return False
    issue_server_certificate(files, names, addresses)
    _LOGGER.info("Issued the server certificate for %s", ", ".join([*names, *addresses]))
    return True


def ca_due(files: TlsFiles) -> bool:
    """The CA is missing, unreadable or near its end."""
    try:
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except (OSError, ValueError):
        return True
    if not files.ca_key.exists():
        return True
    return ca.not_valid_after_utc - dt.datetime.now(dt.UTC) < CA_RENEW_BEFORE


def names_the_ca_allows(
    files: TlsFiles, names: list[str], addresses: list[str]
) -> tuple[list[str], list[str]]:
    """The names and addresses inside the CA's name constraints (the rest logged, left out)."""
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    try:
        constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return names, addresses  # a CA from before constraints: it vouches for anything
    permitted = constraints.permitted_subtrees or []
    domains = [d.value for d in permitted if isinstance(d, x509.DNSName)]
    networks = [
        n.value
        for n in permitted
        if isinstance(n, x509.IPAddress)
        and isinstance(n.value, ipaddress.IPv4Network | ipaddress.IPv6Network)
    ]
    kept_names = [n for n in names if _under(n, domains)]
    kept_addresses = [
        a for a in addresses if any(ipaddress.ip_address(a) in net for net in networks)
    ]
    left_out = sorted(set(names) - set(kept_names)) + sorted(set(addresses) - set(kept_addresses))
    if left_out:
        _LOGGER.warning(
            "The local CA may not vouch for %s (not a LAN name or address); "
            "`relayd tls init --new-ca` makes one that includes [server] tls_names",
            ", ".join(left_out),
        )
    return kept_names, kept_addresses


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
        if not await asyncio.to_thread(_renew, self.config, self.files):
            return False
        self.context.load_cert_chain(self.files.cert, self.files.key)
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check()
            except (OSError, ValueError, ssl.SSLError):
                _LOGGER.exception("Renewing the server certificate failed")


def _make_ca(files: TlsFiles, names: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    # a name outside the LAN domains (the bare host name, [server] tls_names) gets its own subtree
    domains = {*LAN_DOMAINS, *(n for n in names if not _under(n, LAN_DOMAINS))}
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(d) for d in sorted(domains)]
        + [x509.IPAddress(ipaddress.ip_network(n)) for n in LAN_NETWORKS],
        excluded_subtrees=None,
    )
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
        .add_extension(constraints, critical=True)
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


def _under(name: str, domains: Iterable[str]) -> bool:
    return any(name == d or name.endswith("." + d) for d in domains)


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
