"""Webhook fan-out: N inbound SMS, each delivered to 3 endpoints, from a real relayd.

The inbound SMS enter through the phone gateway's HTTP push (`POST /webhook`, batches of
100), the path a phone uses; three `[[webhook]]` endpoints subscribed to `sms.received`
point at a receiver in this process. Figures: deliveries per second (first push to the
last delivery), latency from the push being sent (its batch's POST) to each delivery (p50, p99), and
relayd's RSS.

    .venv/bin/python bench/webhook_fanout.py [--messages 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.daemon import RelaydProcess

ENDPOINTS = 3
BATCH = 100


async def run(messages: int) -> dict[str, Any]:
    """One relay, one receiver, `messages` inbound SMS."""
    received: list[tuple[float, str, int]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        received.append((time.monotonic(), request.path, body["data"]["id"]))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/{endpoint}", receive)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hooks = "".join(
        f'[[webhook]]\nurl = "http://127.0.0.1:{port}/e{i}"\nevents = ["sms.received"]\n'
        f'secret = "whsec_{"YmVuY2htYXJrLXNlY3JldC1rZXktMDEyMzQ1Njc4OQ=="}"\n\n'
        for i in range(ENDPOINTS)
    )
    with tempfile.TemporaryDirectory(prefix="relayd-bench-") as tmp:
        daemon = RelaydProcess.create(Path(tmp), hooks)
        await asyncio.to_thread(daemon.start)
        try:
            key = daemon.admin_key()
            answered: dict[int, float] = {}
            began = time.monotonic()
            async with aiohttp.ClientSession(daemon.url) as http:
                for start in range(0, messages, BATCH):
                    batch = [
                        {"address": f"+1555{i:07d}", "body": f"fan-out {i}",
                         "date": 1_700_000_000_000 + i, "sim_slot": 0, "id": str(i)}
                        for i in range(start, min(messages, start + BATCH))
                    ]  # fmt: skip
                    pushed = time.monotonic()
                    async with http.post(
                        "/webhook",
                        json={"org_id": "default", "secret_key": key, "messages": batch},
                    ) as resp:
                        assert resp.status == 200, await resp.text()
                    for item in batch:
                        answered[int(item["id"])] = pushed
                async with asyncio.timeout(120):
                    while len(received) < messages * ENDPOINTS:
                        await asyncio.sleep(0.02)
                took = time.monotonic() - began
                async with http.get(
                    "/api/v1/messages",
                    params={"direction": "in", "limit": 1000},
                    headers={"Authorization": f"Bearer {key}"},
                ) as resp:
                    first_id = (await resp.json())["messages"][0]["id"]
            rss = daemon.rss_kib()
        finally:
            await asyncio.to_thread(daemon.stop)
            await runner.cleanup()
    # Message ids are assigned in push order, so id - first_id is the pushed SMS's index.
    latencies = sorted(at - answered[mid - first_id] for at, _path, mid in received)
    per_endpoint = {p: sum(1 for _, q, _ in received if q == p) for _, p, _ in received}
    return {
        "messages": messages,
        "endpoints": ENDPOINTS,
        "deliveries": len(received),
        "duplicates": len(received) - len({(p, m) for _, p, m in received}),
        "per_endpoint": per_endpoint,
        "seconds": round(took, 2),
        "deliveries_per_s": round(len(received) / took),
        "latency_p50_ms": round(statistics.median(latencies) * 1000),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000),
        "relay_rss_mib": round(rss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.messages))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("| figure | value |\n|---|---|")
    for name, value in result.items():
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
