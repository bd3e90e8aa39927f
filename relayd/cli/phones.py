"""`relayd phones pair|list` (offline, on the database) and `relayd phone-sim` (scripted phone)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from relayd.api.presenters import EVENT_PAYLOADS

if TYPE_CHECKING:  # the parser is built on every `relayd` call: heavy imports wait for use
    from relayd.config import Config
    from relayd.store import Store


def add_parsers(sub: Any) -> None:
    """The `phones` and `phone-sim` subcommands."""
    config_opt = argparse.ArgumentParser(add_help=False)
    config_opt.add_argument("--config", default=argparse.SUPPRESS, help="TOML file")
    phones = sub.add_parser("phones", help="pair and list phones offline (on the database)")
    phones.add_argument("--config", help="TOML file")
    actions = phones.add_subparsers(dest="phones_command", metavar="ACTION", required=True)
    pair = actions.add_parser(
        "pair",
        help="make a device token; prints the ws URL to give the phone",
        parents=[config_opt],
    )
    pair.add_argument("--name", required=True, help="a label for the phone")
    pair.add_argument("--org", default="default")
    pair.add_argument("--secret", help="also set the org's phone secret (12-50 characters)")
    pair.add_argument("--url", help="the relay as phones reach it, e.g. ws://192.168.1.20:8080")
    pair.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="known phones and their SIMs", parents=[config_opt])
    listing.add_argument("--org")
    listing.add_argument("--json", action="store_true")

    sim = sub.add_parser("phone-sim", help="run a scripted phone against a relay")
    sim.add_argument("--url", required=True, help="ws://host:port (the /websocket path is added)")
    sim.add_argument("--org", help="org_id")
    sim.add_argument("--secret", help="the org's secret_key")
    sim.add_argument("--token", help="a device token from `relayd phones pair`")
    sim.add_argument("--device-id", help="a stable id for this phone")
    sim.add_argument("--sims", type=int, default=1, help="SIM slots to report")
    sim.add_argument("--number", action="append", help="SIM number per slot (repeatable)")
    sim.add_argument("--delay", type=float, default=0.5, help="seconds before each send_result")
    sim.add_argument("--fail-rate", type=float, default=0.0, help="share of sends that fail, 0-1")
    sim.add_argument(
        "--inject", action="append", default=[], metavar="FROM:TEXT", help="report a received SMS"
    )


def phones_command(args: argparse.Namespace) -> int:
    """`relayd phones pair|list`."""
    from relayd.cli.common import resolve_config

    config, _embedded = resolve_config(args.config)
    return asyncio.run(_phones(config, args))


async def _phones(config: Config, args: argparse.Namespace) -> int:
    from relayd.store import Store

    store = Store(config.storage.path, url=config.storage.url, payloads=EVENT_PAYLOADS)
    await store.open()
    try:
        if args.phones_command == "pair":
            return await _pair(store, config, args)
        devices = await store.phones.devices(args.org)
        if args.json:
            print(json.dumps([_device_json(d) for d in devices], indent=2))
            return 0
        print(f"{'ID':<14} {'ORG':<12} {'PAIRED':<7} NAME / SIMS")
        for d in devices:
            slots = ", ".join(f"{s.slot}:{s.number or '?'}" for s in d.slots) or "-"
            print(
                f"{d.id:<14} {d.org:<12} {'yes' if d.token_prefix else 'no':<7} {d.name} ({slots})"
            )
        return 0
    finally:
        await store.close()


async def _pair(store: Store, config: Config, args: argparse.Namespace) -> int:
    from relayd.api.org_auth import SECRET_MAX, SECRET_MIN
    from relayd.config import ORG_RE

    if not ORG_RE.match(args.org):
        print("relayd: org: use letters, digits, '-' or '_'", file=sys.stderr)
        return 2
    if args.secret is not None and not SECRET_MIN <= len(args.secret) <= SECRET_MAX:
        print(f"relayd: secret: {SECRET_MIN} to {SECRET_MAX} characters", file=sys.stderr)
        return 2
    await store.keys.ensure_org(args.org, args.secret)
    device, token = await store.phones.pair(args.org, args.name, "t" + secrets.token_hex(6))
    base = (args.url or _default_url(config)).rstrip("/")
    url = f"{base}/websocket?{urlencode({'org_id': args.org, 'token': token})}"
    if args.json:
        print(json.dumps({"device": _device_json(device), "token": token, "ws_url": url}, indent=2))
        return 0
    print(f"paired phone {device.id} '{device.name}' (org {device.org}); give the phone this URL:")
    print(url)
    return 0


def _device_json(device: Any) -> dict[str, Any]:
    return {
        "id": device.id,
        "org": device.org,
        "name": device.name,
        "paired": device.token_prefix is not None,
        "sims": [{"slot": s.slot, "number": s.number, "carrier": s.carrier} for s in device.slots],
    }


def _default_url(config: Config) -> str:
    """ws://<address phones can reach>:<port>: the LAN address when listening on all of them."""
    scheme = "wss" if config.server.tls_cert else "ws"
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
            host = s.getsockname()[0]
        if host in ("0.0.0.0", "::", ""):  # noqa: S104
            host = socket.gethostname()
    return f"{scheme}://{host}:{config.server.port}"


def phone_sim_command(args: argparse.Namespace) -> int:
    """`relayd phone-sim`: run until Ctrl-C, printing one JSON line per frame."""
    if not (args.token or (args.org and args.secret)):
        print("relayd: give --org and --secret, or --token", file=sys.stderr)
        return 2
    injects = []
    for item in args.inject:
        sender, sep, text = item.partition(":")
        if not sep or not sender or not text:
            print(f"relayd: --inject {item!r}: use FROM:TEXT", file=sys.stderr)
            return 2
        injects.append((sender, text))
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_phone_sim(args, injects))
    return 130


async def _phone_sim(args: argparse.Namespace, injects: list[tuple[str, str]]) -> int:
    from relayd.phone_sim import ScriptedPhone

    def show(kind: str, frame: dict[str, Any]) -> None:
        print(json.dumps(frame, ensure_ascii=False), flush=True)

    phone = ScriptedPhone(
        args.url,
        args.org,
        args.secret,
        token=args.token,
        device_id=args.device_id,
        sims=args.sims,
        numbers=args.number,
        delay=args.delay,
        fail_rate=args.fail_rate,
        on_event=show,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await phone.start()
        print(f"phone-sim connected with SIMs {', '.join(phone.numbers)}", file=sys.stderr)
        for sender, text in injects:
            await phone.inject(sender, text)
        await stop.wait()
    except TimeoutError:
        print(f"relayd: no `connected` from {args.url}: {phone.close_reason}", file=sys.stderr)
        return 1
    finally:
        await phone.stop()
    return 0
