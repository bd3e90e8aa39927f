"""Client commands against a running relay: `send`, `inbox`, `status` (RELAY_URL, RELAY_KEY)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

FINAL = {"sent", "delivered", "failed", "expired", "cancelled"}


def client_command(args: argparse.Namespace) -> int:
    """Run one client command; exit 1 on an API error, 2 without RELAY_KEY."""
    url = os.environ.get("RELAY_URL", "http://127.0.0.1:8080").rstrip("/")
    key = os.environ.get("RELAY_KEY", "")
    if not key:
        print("relayd: set RELAY_KEY (and RELAY_URL) first", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, url, key))
    except aiohttp.ClientError as exc:
        print(f"relayd: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace, url: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(url, headers=headers, timeout=timeout) as http:
        if args.command == "send":
            return await _send(http, args)
        if args.command == "inbox":
            return await _inbox(http, args)
        return await _status(http, args)


async def _call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
    async with http.request(method, path, **kw) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400:
            error = data.get("error", {}) if isinstance(data, dict) else {}
            raise SystemExit(f"relayd: {resp.status} {error.get('message', data)}")
        return data


async def _send(http: aiohttp.ClientSession, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"to": args.to if len(args.to) > 1 else args.to[0], "text": args.text}
    if args.sim:
        body["sim"] = args.sim
    result = await _call(http, "POST", "/api/v1/messages", json=body)
    results = result.get("messages", [result])
    if args.wait:
        for i, item in enumerate(results):
            while item["status"] not in FINAL:
                await asyncio.sleep(0.5)
                item = await _call(http, "GET", f"/api/v1/messages/{item['id']}")
            results[i] = item
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    else:
        for item in results:
            error = f" ({item['error']})" if item.get("error") else ""
            print(f"{item['id']}  {item.get('to') or item.get('peer')}  {item['status']}{error}")
    return 0 if all(i["status"] != "failed" for i in results) else 1


def _print_message(message: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(message), flush=True)
    else:
        print(
            f"{message['id']:>6}  {message['received_at'] or message['created_at']}  "
            f"{message['peer']}  [{message['sim']}]  {message['text']}",
            flush=True,
        )


async def _inbox(http: aiohttp.ClientSession, args: argparse.Namespace) -> int:
    listing = await _call(
        http, "GET", "/api/v1/messages", params={"direction": "in", "limit": 1000}
    )
    for message in listing["messages"][-args.limit :]:
        _print_message(message, args.json)
    if not args.follow:
        return 0
    params = {"types": "sms.received"}
    async with http.get("/api/v1/events", params=params) as resp:
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data:"):
                _print_message(json.loads(line[5:])["data"], args.json)
    return 0


async def _status(http: aiohttp.ClientSession, args: argparse.Namespace) -> int:
    data = await _call(http, "GET", "/api/v1/sims")
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{'SIM':<24} {'STATE':<10} {'SIGNAL':>7} {'OPERATOR':<16} {'NUMBER':<16} QUEUE")
    for sim in data["sims"]:
        signal = f"{sim['signal']}%" if sim["signal"] is not None else "-"
        print(
            f"{sim['id']:<24} {sim['state']:<10} {signal:>7} {sim['operator'] or '-':<16} "
            f"{sim['number'] or '-':<16} {sim['queue_depth']}"
        )
    print(f"queued: {data['queued']}")
    return 0
