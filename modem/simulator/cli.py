"""Command line: run a simulated modem on a pty until SIGINT/SIGTERM.

``python -m modem.simulator --link /tmp/modem0 --profile huawei --control-port 8765``
(``relayd modem-sim`` calls ``main``). It prints the link path and the control API URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from .control import ControlServer
from .profiles import PROFILES
from .simulator import ModemSimulator

__all__ = ["build_parser", "main", "serve"]


def build_parser(prog: str = "modem-sim") -> argparse.ArgumentParser:
    """Arguments of the simulator command."""
    parser = argparse.ArgumentParser(prog=prog, description="Simulated GSM modem on a pty.")
    parser.add_argument("--link", required=True, type=Path, help="path of the port symlink")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="sim800")
    parser.add_argument("--send-delay", type=float, default=0.5, metavar="S")
    parser.add_argument("--report-delay", type=float, default=2.0, metavar="S")
    parser.add_argument("--pin", default=None, help="SIM PIN (the SIM boots locked)")
    parser.add_argument("--own-number", default="+15550001111")
    parser.add_argument("--control-host", default="127.0.0.1")
    parser.add_argument(
        "--control-port", type=int, default=0, metavar="P", help="0 picks a free port"
    )
    parser.add_argument("--no-control", action="store_true", help="no HTTP control API")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


async def serve(args: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    """Run the simulator (and its control API) until ``stop`` is set or a signal arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    sim = ModemSimulator(
        args.link,
        profile=args.profile,
        send_delay=args.send_delay,
        report_delay=args.report_delay,
        pin=args.pin,
        own_number=args.own_number or None,
    )
    control = (
        None
        if args.no_control
        else ControlServer(sim, host=args.control_host, port=args.control_port)
    )
    await sim.start()
    try:
        sys.stdout.write(f"modem simulator ({sim.profile.name}) on {sim.link}\n")
        if control is not None:
            await control.start()
            sys.stdout.write(f"control API: {control.url}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        if control is not None:
            await control.stop()
        await sim.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except OSError as err:
        sys.stderr.write(f"modem-sim: {err}\n")
        return 1
    return 0
