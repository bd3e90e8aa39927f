"""`relayd discover`: browse the LAN by mDNS for a few seconds and list the relays found."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
from typing import Any

from zeroconf import DNSQuestionType, InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_smsrelay._tcp.local."
RESOLVE_TIMEOUT_MS = 1500


def discover_command(args: argparse.Namespace) -> int:
    """Print each relay (name, URL, version, SIMs), or a JSON list with --json."""
    try:
        relays = asyncio.run(browse(args.timeout, args.interface or None))
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(relays, indent=2))
        return 0
    if not relays:
        print(f"no relay answered within {args.timeout:g} s")
        return 1
    width = max(len(r["name"]) for r in relays)
    for relay in relays:
        sims = relay["sims"]
        print(
            f"{relay['name']:<{width}}  {relay['url']:<28} v{relay['version'] or '?'}  "
            f"{'?' if sims is None else sims} SIM{'' if sims == 1 else 's'}  id {relay['id']}"
        )
    return 0


async def browse(seconds: float, interfaces: list[str] | None = None) -> list[dict[str, Any]]:
    """Relays that answered within `seconds`, sorted by name."""
    azc = AsyncZeroconf(interfaces=interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)
    seen: set[str] = set()
    resolving: list[asyncio.Task[dict[str, Any] | None]] = []

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed or name in seen:
            return
        seen.add(name)
        resolving.append(asyncio.create_task(_resolve(zeroconf, service_type, name)))

    # Multicast (QM) questions: a unicast answer to port 5353 reaches only one of the host's
    # mDNS sockets (avahi-daemon's, maybe), so this browser might never hear it.
    browser = AsyncServiceBrowser(
        azc.zeroconf, [SERVICE_TYPE], handlers=[on_change], question_type=DNSQuestionType.QM
    )
    try:
        await asyncio.sleep(seconds)
        results = await asyncio.gather(*resolving)
    finally:
        await browser.async_cancel()
        await azc.async_close()
    return sorted((r for r in results if r is not None), key=lambda r: str(r["name"]))


async def _resolve(zeroconf: Zeroconf, service_type: str, name: str) -> dict[str, Any] | None:
    info = AsyncServiceInfo(service_type, name)
    if not await info.async_request(zeroconf, RESOLVE_TIMEOUT_MS, question_type=DNSQuestionType.QM):
        return None
    return describe_service(info)


def describe_service(info: AsyncServiceInfo) -> dict[str, Any]:
    """One relay as `discover --json` prints it."""
    txt = {
        key.decode(errors="replace"): (value or b"").decode(errors="replace")
        for key, value in info.properties.items()
    }
    addresses = sorted(info.parsed_addresses(), key=lambda a: ipaddress.ip_address(a).version)
    scheme = "https" if txt.get("tls") == "1" else "http"
    host = addresses[0] if addresses else (info.server or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    sims = txt.get("sims", "")
    return {
        "name": info.name.removesuffix("." + info.type),
        "url": f"{scheme}://{host}:{info.port}",
        "host": (info.server or "").rstrip("."),
        "addresses": addresses,
        "port": info.port,
        "id": txt.get("id", ""),
        "version": txt.get("version", ""),
        "sims": int(sims) if sims.isdigit() else None,
        "api": txt.get("path", "/api/v1"),
        "txt": txt,
    }
