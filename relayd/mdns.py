"""The relay on the LAN: `_smsrelay._tcp` and `_http._tcp` announced with python-zeroconf.

What goes in TXT is public (anyone on the LAN can read it): ids, version, paths and the
SIM count — never a key, secret or phone number.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import ifaddr
from zeroconf import Error as ZeroconfError
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from relayd import __version__
from relayd.config import Config, MdnsConfig

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPES = ("_smsrelay._tcp.local.", "_http._tcp.local.")
AVAHI_SERVICE_FILE = Path("/etc/avahi/services/relayd.service")
INSTANCE_ID_FILE = "instance-id"
SIMS_CHECK_SECONDS = 2.0
"""How often the SIM count is compared with the announced one."""
ADDRESS_CHECK_SECONDS = 30.0
"""How often the host's addresses are compared with the announced ones (DHCP, Wi-Fi)."""
REGISTER_TIMEOUT = 10.0
"""Probing and announcing take about 1.5 s; a stuck network gets this long."""

Backend = Literal["zeroconf", "avahi", "off"]


def choose_backend(config: MdnsConfig, avahi_file: Path = AVAHI_SERVICE_FILE) -> Backend:
    """`auto` means avahi when install.sh gave avahi-daemon our service file, else zeroconf."""
    if config.backend != "auto":
        return config.backend
    return "avahi" if avahi_file.exists() else "zeroconf"


def instance_id(state_dir: Path) -> str:
    """A random id kept beside the database, so clients tell relays apart across renames."""
    path = state_dir / INSTANCE_ID_FILE
    with contextlib.suppress(OSError):
        value = path.read_text(encoding="ascii").strip()
        if re.fullmatch(r"[0-9a-f]{12}", value):
            return value
    value = secrets.token_hex(6)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n", encoding="ascii")
    except OSError as exc:
        _LOGGER.warning("Cannot keep the instance id in %s: %s", path, exc)
    return value


def txt_record(
    relay_id: str, sims: int, *, tls: bool, version: str = __version__
) -> dict[str, str]:
    """The TXT keys of SPEC §10 (all public)."""
    return {
        "txtvers": "1",
        "id": relay_id,
        "version": version,
        "path": "/api/v1",
        "ws": "/websocket",
        "docs": "/docs",
        "auth": "token",
        "tls": "1" if tls else "0",
        "sims": str(sims),
    }


def lan_addresses() -> list[str]:
    """Every IPv4 address of this host but loopback, sorted."""
    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                found.add(ip.ip)
    return sorted(found)


def announce_addresses(config: Config) -> list[str]:
    """Where clients can reach the relay: the configured addresses, else the LAN ones."""
    if config.mdns.interfaces:
        return list(config.mdns.interfaces)
    host = config.server.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        return lan_addresses()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return lan_addresses()  # a host name: it resolves to one of ours
    return [] if address.is_loopback else [host]


def default_name() -> str:
    """The instance name shown in browsers: "relayd on <hostname>"."""
    return f"relayd on {socket.gethostname().split('.')[0] or 'localhost'}"


class Announcer:
    """Registers both services, keeps them current, and withdraws them on stop."""

    def __init__(
        self,
        config: Config,
        port: int,
        sims: Callable[[], int],
        relay_id: str,
        *,
        addresses: Callable[[], list[str]] | None = None,
    ) -> None:
        self.config = config
        self.port = port
        self._sims = sims
        self.relay_id = relay_id
        self._addresses = addresses or (lambda: announce_addresses(config))
        self.name = config.mdns.name or default_name()
        self._zc: AsyncZeroconf | None = None
        self._infos: list[AsyncServiceInfo] = []
        self._announced: tuple[list[str], int] | None = None
        self._task: asyncio.Task[None] | None = None
        self.registered = asyncio.Event()
        self._broadcasts: set[asyncio.Future[Any]] = set()

    @property
    def service_names(self) -> list[str]:
        """Full names as registered (after any renaming on collision)."""
        return [info.name for info in self._infos]

    def start(self) -> None:
        """Announce in the background: probing takes a second, the relay need not wait."""
        self._task = asyncio.create_task(self._run(), name="relayd-mdns")

    async def stop(self) -> None:
        """Withdraw the services (goodbye packets) and close the sockets."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._withdraw()

    # --- the loop -------------------------------------------------------------------

    async def _run(self) -> None:
        addresses: list[str] | None = None
        checked = 0.0
        while True:
            pause = SIMS_CHECK_SECONDS
            try:
                if addresses is None or time.monotonic() - checked >= ADDRESS_CHECK_SECONDS:
                    addresses, checked = self._addresses(), time.monotonic()
                await self._reconcile(addresses, self._sims())
            except Exception as exc:  # mDNS is a convenience: it never takes the relay down
                expected = isinstance(exc, OSError | TimeoutError | ZeroconfError)
                _LOGGER.warning(
                    "mDNS announcement failed (retrying in %.0f s): %s",
                    ADDRESS_CHECK_SECONDS,
                    exc,
                    exc_info=not expected,
                )
                await self._withdraw()
                pause = ADDRESS_CHECK_SECONDS
            await asyncio.sleep(pause)

    async def _reconcile(self, addresses: list[str], sims: int) -> None:
        """Bring what is announced in line with the current addresses and SIM count."""
        if self._announced is not None and self._announced == (addresses, sims):
            return
        if not addresses:
            if self._announced is None or self._announced[0]:
                _LOGGER.info("mDNS: no LAN address to announce (listening on loopback only?)")
            await self._withdraw()
            self._announced = (addresses, sims)
            return
        if self._zc is not None and self._announced is not None and self._announced[0] == addresses:
            updated = [self._service_info(i.type, i.name, addresses, sims) for i in self._infos]
            for info in updated:
                self._track(await self._zc.async_update_service(info))
            await self._broadcasts_sent()
            self._infos = updated
            self._announced = (addresses, sims)
            _LOGGER.debug("mDNS: TXT updated, sims=%d", sims)
            return
        await self._withdraw()
        await self._register(addresses, sims)

    async def _register(self, addresses: list[str], sims: int) -> None:
        self._zc = await self._open_zeroconf(addresses)
        infos = [
            self._service_info(type_, f"{self.name}.{type_}", addresses, sims)
            for type_ in SERVICE_TYPES
        ]
        async with asyncio.timeout(REGISTER_TIMEOUT):
            # Probing takes about a second per service: probe both at once.
            await asyncio.gather(*(self._register_one(i) for i in infos))
            await self._broadcasts_sent()
        self._infos = infos
        self._announced = (addresses, sims)
        self.registered.set()
        _LOGGER.info(
            "mDNS: announced %r on %s port %d",
            self._infos[0].name.split(".")[0],
            ", ".join(addresses),
            self.port,
        )

    async def _open_zeroconf(self, addresses: list[str]) -> AsyncZeroconf:
        """Sockets on exactly the announced addresses."""
        versions = {ipaddress.ip_address(a).version for a in addresses}
        ip_version = {4: IPVersion.V4Only, 6: IPVersion.V6Only}.get(
            versions.pop() if len(versions) == 1 else 0, IPVersion.All
        )
        return AsyncZeroconf(interfaces=addresses, ip_version=ip_version)

    async def _register_one(self, info: AsyncServiceInfo) -> None:
        assert self._zc is not None
        self._track(await self._zc.async_register_service(info, allow_name_change=True))

    def _track(self, broadcast: Awaitable[Any]) -> None:
        """Keep zeroconf's announcement task, so a stop never leaves it behind."""
        future = asyncio.ensure_future(broadcast)
        self._broadcasts.add(future)
        future.add_done_callback(self._broadcasts.discard)

    async def _broadcasts_sent(self) -> None:
        if self._broadcasts:
            await asyncio.gather(*self._broadcasts)

    async def _withdraw(self) -> None:
        for future in list(self._broadcasts):
            future.cancel()
        if self._broadcasts:
            await asyncio.wait(list(self._broadcasts))
        zc, self._zc = self._zc, None
        self._infos = []
        self._announced = None
        self.registered.clear()
        if zc is not None:
            try:
                await zc.async_unregister_all_services()
            except (OSError, RuntimeError) as exc:
                _LOGGER.debug("mDNS goodbye failed: %s", exc)
            await zc.async_close()

    def _service_info(
        self, type_: str, name: str, addresses: list[str], sims: int
    ) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            type_,
            name,
            port=self.port,
            properties=txt_record(
                self.relay_id,
                sims,
                tls=self.config.server.tls == "auto" or bool(self.config.server.tls_cert),
            ),
            parsed_addresses=addresses,
            server=f"{_host_label(self.relay_id)}.local.",
        )


def _host_label(relay_id: str) -> str:
    # Our own host name, not the machine's: avahi may already own <hostname>.local
    # with other addresses, and a conflict there would rename the machine.
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return f"relayd-{host or relay_id}"


async def start_announcer(config: Config, port: int, sims: Callable[[], int]) -> Announcer | None:
    """The announcer the config asks for, started; None when mDNS is off or left to avahi."""
    backend = choose_backend(config.mdns)
    if backend == "off":
        return None
    if backend == "avahi":
        _LOGGER.info("mDNS: announced by avahi-daemon (%s)", AVAHI_SERVICE_FILE)
        return None
    announcer = Announcer(config, port, sims, instance_id(config.state_dir))
    announcer.start()
    return announcer
