"""Commands that work on files, not on a running relay: `init` and `keys`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.resources
import json
import sys
from pathlib import Path

from relayd.api.presenters import EVENT_PAYLOADS, key_json
from relayd.cli.common import resolve_config
from relayd.config import ORG_RE, StorageConfig
from relayd.store import Store
from relayd.store.keys import SCOPES


def config_template() -> str:
    """The commented config file (also shipped as config.example.toml)."""
    return importlib.resources.files("relayd").joinpath("config_template.toml").read_text("utf-8")


def init_command(args: argparse.Namespace) -> int:
    """Write a commented config file; refuse to overwrite without --force."""
    path = Path(args.config)
    if path.exists() and not args.force:
        print(f"relayd: {path} exists; use --force to overwrite", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_template(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


def keys_command(args: argparse.Namespace) -> int:
    """`relayd keys create|list|revoke` on the database (the daemon may be running)."""
    config, _embedded = resolve_config(args.config)
    return asyncio.run(_keys(config.storage, args))


async def _keys(storage: StorageConfig, args: argparse.Namespace) -> int:
    store = Store(storage.path, url=storage.url, payloads=EVENT_PAYLOADS)
    await store.open()
    try:
        if args.keys_command == "create":
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
            bad = [s for s in scopes if s not in SCOPES]
            if bad or not scopes:
                print(f"relayd: unknown scope {bad}; use {', '.join(SCOPES)}", file=sys.stderr)
                return 2
            if not ORG_RE.match(args.org):
                print("relayd: org: use letters, digits, '-' or '_'", file=sys.stderr)
                return 2
            allow = [p.strip() for p in args.allow.split(",") if p.strip()]
            key, secret = await store.keys.create_key(
                args.org, args.name, scopes, allowlist=allow, rate_limit=args.rate_limit,
                ignore_optout=args.ignore_optout,
            )
            print(f"created key {key.id} '{key.name}' (org {key.org}, scopes {','.join(scopes)})")
            print(secret)
            return 0
        if args.keys_command == "list":
            keys = await store.keys.list_keys()
            if args.json:
                print(json.dumps([key_json(k) for k in keys], indent=2))
                return 0
            print(f"{'ID':>4}  {'PREFIX':<11} {'ORG':<12} {'SCOPES':<16} {'STATE':<8} NAME")
            for k in keys:
                state = "revoked" if k.revoked_at else "active"
                created = dt.datetime.fromtimestamp(k.created_at, dt.UTC).date()
                print(
                    f"{k.id:>4}  {k.prefix:<11} {k.org:<12} {','.join(sorted(k.scopes)):<16} "
                    f"{state:<8} {k.name} ({created})"
                )
            return 0
        if await store.keys.revoke_key(args.id):
            print(f"revoked key {args.id}")
            return 0
        print(f"relayd: no active key {args.id}", file=sys.stderr)
        return 1
    finally:
        await store.close()
