"""`relayd run`: serve until SIGTERM/SIGINT, then drain."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from relayd.app import create_app
from relayd.bridges.base import SimBackend
from relayd.cli.common import resolve_config
from relayd.config import Config
from relayd.log import setup_logging
from relayd.mdns import Announcer, start_announcer
from relayd.relay import Relay, under_systemd
from relayd.sdnotify import ServiceNotifier
from relayd.store import StoreUnavailable
from relayd.tls import CertificateRenewer, ensure_certificates, server_context, tls_enabled

_LOGGER = logging.getLogger(__name__)


def run_command(args: argparse.Namespace) -> int:
    """Start the daemon in the foreground."""
    config, embedded = resolve_config(args.config)
    if args.host:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    setup_logging(args.log_level)
    demo = args.demo or embedded
    try:
        return asyncio.run(serve(config, demo=demo, embedded=embedded))
    except KeyboardInterrupt:
        return 130


async def serve(config: Config, *, demo: bool, embedded: bool) -> int:
    """Run the relay until a stop signal; return the exit status."""
    started = time.monotonic()
    ssl_context, renewer = _tls(config)  # first: a bad certificate setup starts nothing
    extras = await _start_extras(config, demo)
    backends: list[SimBackend] = [b for extra in extras for b in extra.backends]
    backends += _configured_modems(config)
    app = create_app(config, backends)
    # The access log costs ~15% of a send's CPU; journald gets it at DEBUG only.
    access = logging.getLogger("aiohttp.access")
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=config.server.drain_seconds,
        access_log=access if access.isEnabledFor(logging.DEBUG) else None,
        access_log_format='%a "%r" %s %b %Tfs',
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    announcer: Announcer | None = None
    service: ServiceNotifier | None = None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.setup()
        site = web.TCPSite(
            runner,
            config.server.host,
            config.server.port,
            ssl_context=ssl_context,
            reuse_address=True,
        )
        await site.start()
        if ssl_context is not None and config.server.http_port:
            # Plain HTTP beside HTTPS, for loopback clients such as Home Assistant on the box.
            plain = web.TCPSite(
                runner, config.server.http_host, config.server.http_port, reuse_address=True
            )
            await plain.start()
        if renewer is not None:
            renewer.start()
        relay = app[_relay_key()]
        # --- appliance: mDNS and systemd (READY only now: store open, port bound, SIMs started)
        announcer = await start_announcer(config, _bound_port(runner, config), _online(relay))
        service = ServiceNotifier(relay)
        service.ready()
        # ---
        _banner(config, relay, extras, embedded, time.monotonic() - started)
        await stop.wait()
        service.stopping()
        _LOGGER.info(
            "Stopping: draining in-flight sends (up to %.0f s)", config.server.drain_seconds
        )
    except StoreUnavailable as exc:
        _LOGGER.error("%s", exc)
        return 1
    except OSError as exc:
        _LOGGER.error("Cannot listen on %s:%s: %s", config.server.host, config.server.port, exc)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if service is not None:
            await service.close()
        if renewer is not None:
            await renewer.stop()
        if announcer is not None:
            await announcer.stop()  # withdrawn from the LAN before the drain
        await runner.cleanup()
        for extra in extras:
            await extra.stop()
    return 0


def _bound_port(runner: web.AppRunner, config: Config) -> int:
    """The port really listened on (config port 0 picks a free one)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return config.server.port


def _online(relay: Relay) -> Callable[[], int]:
    return lambda: relay.sims.online_count


def _relay_key() -> web.AppKey[Relay]:
    from relayd.api.context import RELAY

    return RELAY


def _tls(config: Config) -> tuple[ssl.SSLContext | None, CertificateRenewer | None]:
    """HTTPS: given files (`tls_cert`), or the relay's own CA (`tls = "auto"`), or none."""
    if config.server.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.server.tls_cert, config.server.tls_key)
        return context, None
    if config.server.tls != "auto":
        return None, None
    files = ensure_certificates(config)
    context = server_context(files)
    return context, CertificateRenewer(config, files, context)


def _banner(config: Config, relay: Relay, extras: list[Extra], embedded: bool, took: float) -> None:
    scheme = "https" if tls_enabled(config) else "http"
    host = config.server.host if config.server.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    url = f"{scheme}://{host}:{config.server.port}"
    key_path = relay.admin_key_path
    lines = [f"relayd {relay.version} ready in {took:.2f} s on {url}  (docs: {url}/docs)"]
    # the key only for a person at a terminal: a journal or a log file keeps what it is given
    show_key = sys.stdout.isatty() and not under_systemd()
    if relay.admin_key and not show_key:
        lines.append(f"  admin key created now: in {key_path} (readable by this user only)")
    elif relay.admin_key:
        lines.append(
            f"  admin key (created now, shown once; also in {key_path}): {relay.admin_key}"
        )
    elif embedded and key_path.exists() and show_key:
        lines.append(f"  admin key: {key_path.read_text().strip()}  (from {key_path})")
    else:
        lines.append(f"  admin key: see {key_path} (or `relayd keys create --name me`)")
    lines.append(f"  export RELAY_URL={url} RELAY_KEY=$(cat {key_path})")
    if config.server.tls == "auto" and not config.server.tls_cert:
        lines.append(f"  TLS by the relay's own CA: install {url}/ca.pem on phones and clients")
    for extra in extras:
        lines.extend(f"  {line}" for line in extra.describe())
    print("\n".join(lines), flush=True)


class Extra(Protocol):
    """Something started beside the relay (the demo modem simulator)."""

    backends: list[SimBackend]

    def describe(self) -> list[str]:
        """Lines for the start-up banner."""

    async def stop(self) -> None:
        """Stop it after the relay stopped."""


async def _start_extras(config: Config, demo: bool) -> list[Extra]:
    if not demo:
        return []
    from relayd.demo import DemoModem

    extra = DemoModem(config)
    await extra.start()
    return [extra]


def _configured_modems(config: Config) -> list[SimBackend]:
    if not config.modem:
        return []
    from relayd.bridges.modem import backends_from_config

    backends: list[SimBackend] = backends_from_config(config)
    return backends
