"""`relayd modem probe [PORT ...] [--udev] [--json]`: find modems and say how to use them."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
from typing import Any

from modem.probe import (
    ProbeResult,
    describe,
    format_modem_block,
    list_candidate_ports,
    probe_port,
)

UDEV_RULES_PATH = "/etc/udev/rules.d/90-relayd-modem.rules"


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
            # Our udev advice is `--udev` (90-relayd-modem.rules), not the driver's one-liner.
            block = format_modem_block(result).split("\n\n# udev", 1)[0].rstrip()
            print(f"\n{block}\n")
    print("udev rules for these modems (stable names, ModemManager off): relayd modem probe --udev")


def _as_json(result: ProbeResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["stable_port"] = result.stable_port
    return data


def udev_rules(results: list[ProbeResult], sys_root: str = "/sys") -> str:
    """Rules for 90-relayd-modem.rules: `/dev/relayd/modem-<serial>`, ModemManager kept off."""
    lines = [
        f"# {UDEV_RULES_PATH}: written by `relayd modem probe --udev`",
        "# then: sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=tty",
    ]
    for result in results:
        lines.append("")
        lines.extend(_rules_for(result, sys_root))
    if not results:
        lines.append("# no modem answered AT: nothing to add")
    return "\n".join(lines) + "\n"


def _rules_for(result: ProbeResult, sys_root: str) -> list[str]:
    info = result.info
    title = " ".join(x for x in (info.maker, info.model) if x) or "modem"
    header = f"# {title} on {result.port}" + (f", IMEI {info.imei}" if info.imei else "")
    usb = result.usb
    if usb is None:
        return [header, "# not a USB device (pty, ser2net, on-board UART): no rule needed"]
    # The USB device as a whole (every port of the modem, QMI/MBIM too) is hidden from MM.
    device = [f'ATTRS{{idVendor}}=="{usb.vendor}"', f'ATTRS{{idProduct}}=="{usb.product}"']
    if usb.serial:
        device.append(f'ATTRS{{serial}}=="{_escape(usb.serial)}"')
        name = _name_part(usb.serial)
    else:
        # No USB serial number: pin the rule to the USB socket the modem is plugged into.
        socket_path = usb_socket(result.port, sys_root)
        if socket_path:
            device.append(f'KERNELS=="{socket_path}"')
        name = _name_part(info.imei or f"{usb.vendor}-{usb.product}")
    lines = [header, ", ".join(['SUBSYSTEMS=="usb"', *device, 'ENV{ID_MM_DEVICE_IGNORE}="1"'])]
    tty = ['SUBSYSTEM=="tty"', *device]
    if usb.interface:
        tty.append(f'ENV{{ID_USB_INTERFACE_NUM}}=="{usb.interface}"')
    tty += ['GROUP="dialout"', 'MODE="0660"', f'SYMLINK+="relayd/modem-{name}"']
    lines.append(", ".join(tty))
    return lines


def usb_socket(port: str, sys_root: str = "/sys") -> str | None:
    """The USB device's kernel name ("1-1.2"): where the modem is plugged in."""
    name = os.path.basename(os.path.realpath(port))
    device = os.path.realpath(os.path.join(sys_root, "class", "tty", name, "device"))
    while device.startswith(sys_root) and len(device) > len(sys_root):
        if os.path.exists(os.path.join(device, "idVendor")):
            return os.path.basename(device)
        device = os.path.dirname(device)
    return None


def _name_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "unknown"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
