"""Finding modems: which serial ports answer AT, what they are, and how to configure them."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import re
from dataclasses import dataclass, field

from .engine import ATEngine
from .errors import ATTimeoutError, ModemError, ModemGone, NoSimError, PortBusyError
from .info import ModemInfo
from .startup import optional, read_identity, refresh_status, sim_state, synchronise

_LOGGER = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0
"""A port that has not told us what it is within this time is skipped."""


@dataclass(frozen=True)
class UsbIds:
    """Where a tty sits on the USB bus, for a udev rule."""

    vendor: str
    product: str
    serial: str | None = None
    interface: str | None = None


@dataclass
class ProbeResult:
    """What one port turned out to be."""

    port: str
    info: ModemInfo = field(default_factory=ModemInfo)
    sim_state: str | None = None  # READY, SIM PIN, SIM PUK, no SIM, ...
    by_id: str | None = None  # the stable /dev/serial/by-id link to the same device
    usb: UsbIds | None = None
    error: str | None = None  # set when the port could not be used (busy, permissions)

    @property
    def stable_port(self) -> str:
        """The path to put in the config: the by-id link when there is one."""
        return self.by_id or self.port


async def probe_port(port: str, timeout: float = PROBE_TIMEOUT) -> ProbeResult | None:  # noqa: ASYNC109 - budget per port
    """Ask ``port`` what it is; None when nothing there speaks AT. Never enters a PIN."""
    result = ProbeResult(port, by_id=_by_id_link(port), usb=usb_ids(port))
    engine = ATEngine(name=f"probe {os.path.basename(port)}")
    answered = False
    try:
        async with asyncio.timeout(timeout):
            await engine.open(port)
            await synchronise(engine)
            answered = True
            await optional(engine, "ATE0")
            await optional(engine, "AT+CMEE=1")
            await read_identity(engine, result.info)
            try:
                result.sim_state = await sim_state(engine) or None
            except NoSimError:
                result.sim_state = "no SIM"
            except ModemError as err:
                result.sim_state = f"unknown ({err})"
            await optional(engine, "AT+COPS=3,0")
            await refresh_status(engine, result.info, has_cereg=False)
    except PortBusyError as err:
        result.error = str(err)
        return result
    except (TimeoutError, ATTimeoutError):
        if not answered:
            return None
        result.error = "the modem stopped answering during the probe"
    except ModemGone:
        return None
    except ModemError as err:
        if not answered:
            result.error = str(err)
            return result if "permission" in str(err).lower() else None
        result.error = str(err)
    finally:
        await engine.close()
    return result


async def probe_ports(
    ports: list[str] | None = None,
    timeout: float = PROBE_TIMEOUT,  # noqa: ASYNC109 - budget per port
) -> list[ProbeResult]:
    """Probe several ports at once (all candidates by default); modems only."""
    candidates = list_candidate_ports() if ports is None else ports
    results = await asyncio.gather(*(probe_port(p, timeout) for p in candidates))
    return [r for r in results if r is not None]


async def find_modem(
    imei: str | None = None,
    *,
    exclude: frozenset[str] = frozenset(),
    timeout: float = PROBE_TIMEOUT,  # noqa: ASYNC109 - budget per port
) -> ProbeResult | None:
    """The first usable modem on any candidate port (the one with ``imei`` when given)."""
    ports = [p for p in list_candidate_ports() if p not in exclude]
    for result in await probe_ports(ports, timeout):
        if result.error is None and (imei is None or result.info.imei == imei):
            return result
    return None


def list_candidate_ports(dev: str = "/dev") -> list[str]:
    """Serial ports that may be modems: by-id links first, then bare ttyUSB/ttyACM."""
    by_id = sorted(glob.glob(os.path.join(dev, "serial", "by-id", "*")))
    seen = {os.path.realpath(p) for p in by_id}
    bare = sorted(
        glob.glob(os.path.join(dev, "ttyUSB*")) + glob.glob(os.path.join(dev, "ttyACM*")),
        key=_natural,
    )
    return by_id + [p for p in bare if os.path.realpath(p) not in seen]


def usb_ids(port: str, sys_root: str = "/sys") -> UsbIds | None:
    """Vendor/product ids of the USB device behind a tty, from sysfs."""
    name = os.path.basename(os.path.realpath(port))
    device = os.path.join(sys_root, "class", "tty", name, "device")
    if not os.path.exists(device):
        return None
    path = os.path.realpath(device)
    interface = _read(os.path.join(path, "bInterfaceNumber"))
    while path not in ("/", sys_root) and len(path) > len(sys_root):
        vendor = _read(os.path.join(path, "idVendor"))
        if vendor:
            product = _read(os.path.join(path, "idProduct")) or ""
            serial = _read(os.path.join(path, "serial"))
            return UsbIds(vendor, product, serial, interface)
        if interface is None:
            interface = _read(os.path.join(path, "bInterfaceNumber"))
        path = os.path.dirname(path)
    return None


def describe(result: ProbeResult) -> str:
    """Human-readable summary of one probe result."""
    info = result.info
    lines = [result.stable_port]
    if result.by_id and result.by_id != result.port:
        lines[0] += f" ({result.port})"
    if result.error:
        lines.append(f"  error:    {result.error}")
    if info.maker or info.model:
        lines.append(f"  modem:    {info.maker or '?'} {info.model or ''}".rstrip())
    if info.revision:
        lines.append(f"  firmware: {info.revision}")
    if info.imei:
        lines.append(f"  IMEI:     {info.imei}")
    if result.sim_state:
        lines.append(f"  SIM:      {result.sim_state}")
    if info.operator or info.registration:
        lines.append(f"  network:  {info.operator or '-'} ({info.registration or 'unknown'})")
    if info.signal_percent is not None:
        lines.append(f"  signal:   {info.signal_percent}% ({info.signal_dbm} dBm)")
    return "\n".join(lines)


UDEV_RULES_PATH = "/etc/udev/rules.d/90-relayd-modem.rules"


def format_modem_block(result: ProbeResult, name: str | None = None) -> str:
    """A ready `[[modem]]` block for relayd.toml, followed by the udev rule that keeps
    ModemManager off the modem (as comments, so the whole text stays valid TOML)."""
    name = name or _slug(result.info.model or result.info.maker or "modem")
    pin_comment = (
        "# SIM PIN: this SIM asks for one"
        if result.sim_state == "SIM PIN"
        else "# SIM PIN, if the SIM asks"
    )
    block = "\n".join(
        [
            "[[modem]]",
            f'name = "{name}"',
            f'port = "{result.stable_port}"',
            "baudrate = 115200",
            f'pin = ""                         {pin_comment}',
            'org = "default"',
            "delivery_reports = true",
        ]
    )
    rules = "\n".join(f"# {line.lstrip('# ')}" for line in _rules_for(result, "/sys"))
    return f"{block}\n\n# udev, in {UDEV_RULES_PATH}:\n{rules}\n"


def udev_rules(results: list[ProbeResult], sys_root: str = "/sys") -> str:
    """Rules for 90-relayd-modem.rules: `/dev/relayd/modem-<serial>`, ModemManager kept off."""
    lines = [
        f"# {UDEV_RULES_PATH}: rules for the modems found by probing",
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


def _by_id_link(port: str, dev: str = "/dev") -> str | None:
    if "://" in port:
        return None
    if os.path.dirname(port) == os.path.join(dev, "serial", "by-id"):
        return port
    target = os.path.realpath(port)
    for link in sorted(glob.glob(os.path.join(dev, "serial", "by-id", "*"))):
        if os.path.realpath(link) == target:
            return link
    return None


def _read(path: str) -> str | None:
    with contextlib.suppress(OSError), open(path, encoding="ascii", errors="replace") as handle:
        return handle.read().strip() or None
    return None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    for prefix in ("simcom-", "quectel-", "huawei-"):
        if slug.startswith(prefix) and len(slug) > len(prefix):
            slug = slug[len(prefix) :]
    return slug or "modem"


def _natural(path: str) -> tuple[str, int]:
    match = re.search(r"(\d+)$", path)
    return (path[: match.start()] if match else path, int(match.group(1)) if match else -1)
