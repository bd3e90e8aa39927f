"""`relayd modem probe [PORT ...] [--udev] [--json]`: find modems and say how to use them."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from typing import Any

from modem.probe import (
    ProbeResult,
    describe,
    format_modem_block,
    list_candidate_ports,
    probe_port,
    udev_rules,
)


def probe_command(args: argparse.Namespace) -> int:
    """Probe the ports given (or every candidate); exit 1 when no modem answered."""
    ports = args.ports or list_candidate_ports()
    results = asyncio.run(_probe_all(ports, args.timeout)) if ports else []
    if args.json:
        print(json.dumps([_as_json(r) for r in results], indent=2))
    elif args.udev:
        print(udev_rules(results), end="")
    else:
        _print_human(ports, results)
    return 0 if any(r.error is None for r in results) else 1


async def _probe_all(ports: list[str], timeout: float) -> list[ProbeResult]:  # noqa: ASYNC109
    found = await asyncio.gather(*(probe_port(p, timeout) for p in ports))
    return [r for r in found if r is not None]


def _print_human(ports: list[str], results: list[ProbeResult]) -> None:
    if not ports:
        print("no serial ports found (/dev/ttyUSB*, /dev/ttyACM*, /dev/serial/by-id/*)")
        return
    if not results:
        print(f"no modem answered AT on {', '.join(ports)}")
        return
    for result in results:
        print(describe(result))
        if result.error is None:
            print(f"\n{format_modem_block(result).rstrip()}\n")
    print("udev rules for these modems (stable names, ModemManager off): relayd modem probe --udev")


def _as_json(result: ProbeResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["stable_port"] = result.stable_port
    return data
