"""`relayd tls init`: make the relay's CA and server certificate (offline, on the state dir)."""

from __future__ import annotations

import argparse

from relayd.cli.common import resolve_config
from relayd.tls import ca_fingerprint, certificate_names, ensure_certificates


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tls init`."""
    tls = sub.add_parser("tls", help="HTTPS with the relay's own CA")
    tls_sub = tls.add_subparsers(dest="tls_command", metavar="ACTION", required=True)
    init = tls_sub.add_parser("init", help="make the CA (once) and a server certificate")
    init.add_argument("--config", help="TOML file")
    init.add_argument(
        "--name", action="append", default=[], help="extra DNS name or address (repeatable)"
    )
    init.add_argument("--new-ca", action="store_true", help="replace the CA (phones re-install)")


def tls_command(args: argparse.Namespace) -> int:
    """Make or refresh the certificates and say where they are and what they cover."""
    from cryptography import x509

    config, _embedded = resolve_config(args.config)
    config.server.tls_names = [*config.server.tls_names, *args.name]
    files = ensure_certificates(config, new_ca=args.new_ca)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names, addresses = certificate_names(cert)
    print(f"CA certificate:     {files.ca_cert}")
    print(f"CA SHA-256:         {ca_fingerprint(files)}")
    print(f"server certificate: {files.cert} (until {cert.not_valid_after_utc:%Y-%m-%d})")
    print(f"  names:     {', '.join(names)}")
    print(f"  addresses: {', '.join(addresses)}")
    if config.server.tls != "auto":
        print('Set [server] tls = "auto" (or RELAYD_SERVER_TLS=\'"auto"\') to serve HTTPS.')
    print("Phones: open <relay>/ca.pem, then Settings > Security > Install a certificate > CA.")
    return 0
