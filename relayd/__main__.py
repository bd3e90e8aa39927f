"""The `relayd` command: argument parsing and dispatch to the subcommands."""

from __future__ import annotations

import argparse
import os
import sys

from relayd import __version__
from relayd.cli import phones as phones_cli
from relayd.cli import tls as tls_cli


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand of SPEC §3."""
    parser = argparse.ArgumentParser(prog="relayd", description="Self-hosted SMS gateway")
    parser.add_argument("--version", action="version", version=f"relayd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="start the daemon")
    run.add_argument(
        "--config", help="TOML file (default /etc/relayd/relayd.toml or ./relayd.toml)"
    )
    run.add_argument("--demo", action="store_true", help="add a simulated modem named 'demo'")
    run.add_argument("--host", help="listen address")
    run.add_argument("--port", type=int, help="listen port")
    run.add_argument("--log-level", default="INFO", help="TRACE, DEBUG, INFO, WARNING")

    init = sub.add_parser("init", help="write a commented config file")
    init.add_argument("--config", default="relayd.toml", help="where to write it")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    # --config is accepted before or after the action: `relayd keys create ... --config F`
    config_opt = argparse.ArgumentParser(add_help=False)
    config_opt.add_argument("--config", default=argparse.SUPPRESS, help="TOML file")
    keys = sub.add_parser("keys", help="manage API keys offline (on the database)")
    keys.add_argument("--config", help="TOML file")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = keys_sub.add_parser(
        "create", help="create a key; prints it alone on the last line", parents=[config_opt]
    )
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="send,read", help="comma list of send,read,phone,admin")
    create.add_argument("--org", default="default")
    create.add_argument("--allow", default="", help="recipient allowlist, comma list (+1555*)")
    create.add_argument("--rate-limit", type=float, help="requests per minute")
    create.add_argument(
        "--ignore-optout", action="store_true", help="may send to numbers that opted out (STOP)"
    )
    keys_list = keys_sub.add_parser("list", help="list keys", parents=[config_opt])
    keys_list.add_argument("--json", action="store_true")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id", parents=[config_opt])
    revoke.add_argument("id", type=int)

    send = sub.add_parser("send", help="send through a running relay (RELAY_URL, RELAY_KEY)")
    send.add_argument("--to", required=True, action="append", help="recipient (repeatable)")
    send.add_argument("--text", required=True)
    send.add_argument("--sim")
    send.add_argument("--wait", action="store_true", help="wait until sent or failed")
    send.add_argument("--json", action="store_true")

    inbox = sub.add_parser("inbox", help="print received messages")
    inbox.add_argument("--follow", action="store_true", help="keep streaming new messages")
    inbox.add_argument("--limit", type=int, default=20)
    inbox.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="SIMs, signal and queue of a running relay")
    status.add_argument("--json", action="store_true")

    sub.add_parser(
        "mcp", help="Model Context Protocol server on stdio for AI agents (RELAY_URL, RELAY_KEY)"
    )

    discover = sub.add_parser("discover", help="browse the LAN by mDNS and list relays")
    discover.add_argument("--timeout", type=float, default=3.0, help="seconds to listen")
    discover.add_argument(
        "--interface", action="append", help="address to browse on (repeatable; default all)"
    )
    discover.add_argument("--json", action="store_true")

    modem = sub.add_parser("modem", help="find and set up modems")
    modem_sub = modem.add_subparsers(dest="modem_command", metavar="ACTION", required=True)
    probe = modem_sub.add_parser("probe", help="find modems: maker, model, IMEI, SIM, signal")
    probe.add_argument("ports", nargs="*", metavar="PORT", help="ports to try (default: all)")
    probe.add_argument("--udev", action="store_true", help="print udev rules for the modems")
    probe.add_argument("--timeout", type=float, default=3.0, help="seconds per port")
    probe.add_argument("--json", action="store_true")

    sim = sub.add_parser("modem-sim", help="run the simulated modem on a pty")
    sim.add_argument("args", nargs=argparse.REMAINDER, help="--link PATH [--profile ...]")
    phones_cli.add_parsers(sub)  # phones pair|list, phone-sim
    tls_cli.add_parsers(sub)  # tls init
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    try:
        return _dispatch(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # `relayd status --json | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["modem-sim"]:
        # The simulator parses its own options (argparse.REMAINDER cannot take `--link`).
        from modem.simulator.cli import main as simulator_main

        return int(simulator_main(argv[1:]))
    args = build_parser().parse_args(argv)
    if args.command in (None, "run"):
        from relayd.cli.run import run_command

        if args.command is None:
            args = build_parser().parse_args(["run", *argv])
        return run_command(args)
    if args.command == "init":
        from relayd.cli.offline import init_command

        return init_command(args)
    if args.command == "keys":
        from relayd.cli.offline import keys_command

        return keys_command(args)
    if args.command == "phones":
        return phones_cli.phones_command(args)
    if args.command == "phone-sim":
        return phones_cli.phone_sim_command(args)
    if args.command == "tls":
        return tls_cli.tls_command(args)
    if args.command in ("send", "inbox", "status"):
        from relayd.cli.client import client_command

        return client_command(args)
    if args.command == "mcp":
        from relayd.cli.mcp import mcp_command

        return mcp_command(args)
    if args.command == "discover":
        from relayd.cli.discover import discover_command

        return discover_command(args)
    if args.command == "modem":
        from relayd.cli.modem import probe_command

        return probe_command(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
