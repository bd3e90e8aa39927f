"""Fleet events benchmark (issue 13): SSE fan-out and webhook throughput across 1, 2, 3 relays.

Real `relayd run` processes on one throwaway PostgreSQL server (fsync on), each with its
simulated modem (tests/support/fleet.py), so every send makes its `sms.queued`,
`sms.sending` and `sms.sent` events on the relay that claimed it. For each fleet size:

* SSE fan-out: `--streams` clients spread over the relays; `--sends` messages sent at once,
  spread over the relays' APIs; the time from the first send until every client has the
  `sms.sent` event of every message, and the events each client got (all of them, in seq
  order without a gap, is checked).
* Webhooks: one endpoint (a local aiohttp receiver) subscribed to `sms.queued`; the time
  until each of `--sends` messages was POSTed, and how many were POSTed twice (must be 0).

    .venv/bin/python bench/fleet_events.py              # Markdown table on stdout
    .venv/bin/python bench/fleet_events.py --relays 1,3 --sends 200 --streams 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fleet import Fleet, running_fleet  # noqa: E402
from tests.support.postgres import running_cluster  # noqa: E402

NUMBER = "+15551230001"


async def send_all(http: aiohttp.ClientSession, fleet: Fleet, sends: int, tag: str) -> set[int]:
    """`sends` messages at once (20 in flight), spread over the relays; their ids."""
    gate = asyncio.Semaphore(20)

    async def one(i: int) -> int:
        async with gate:
            base = fleet.nodes[i % len(fleet.nodes)].url
            async with http.post(
                f"{base}/api/v1/messages",
                json={"to": NUMBER, "text": f"{tag} {i}"},
                headers={"Authorization": f"Bearer {fleet.key}"},
            ) as resp:
                assert resp.status == 202, await resp.text()
                message_id: int = (await resp.json())["id"]
                return message_id

    return set(await asyncio.gather(*(one(i) for i in range(sends))))


async def read_stream(resp: aiohttp.ClientResponse, wanted: asyncio.Future[set[int]]) -> int:
    """Read events until `sms.sent` of every wanted message came; the count of events."""
    seqs: list[int] = []
    sent: set[int] = set()
    fields: dict[str, str] = {}
    while not wanted.done() or not wanted.result() <= sent:
        raw = await resp.content.readline()
        if not raw:
            raise RuntimeError(f"the stream ended after {len(seqs)} events")
        line = raw.decode().rstrip("\n")
        if line and not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
        elif not line and "data" in fields:
            event = json.loads(fields["data"])
            seqs.append(event["id"])
            if event["type"] == "sms.sent":
                sent.add(event["data"]["id"])
            fields = {}
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a repeat in the seqs"
    return len(seqs)


async def sse_fanout(fleet: Fleet, streams: int, sends: int) -> dict[str, float]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        headers = {"Authorization": f"Bearer {fleet.key}"}
        bases = [fleet.nodes[i % len(fleet.nodes)].url for i in range(streams)]
        responses = [await http.get(f"{base}/api/v1/events", headers=headers) for base in bases]
        wanted: asyncio.Future[set[int]] = asyncio.get_running_loop().create_future()
        readers = [asyncio.create_task(read_stream(r, wanted)) for r in responses]
        started = time.monotonic()
        wanted.set_result(await send_all(http, fleet, sends, "fanout"))
        counts = await asyncio.wait_for(asyncio.gather(*readers), 300)
        took = time.monotonic() - started
        for resp in responses:
            resp.close()
    events = sum(counts)
    return {
        "seconds": took,
        "events_per_client": events / streams,
        "deliveries_per_s": events / took,
    }


async def webhook_throughput(fleet: Fleet, sends: int) -> dict[str, float]:
    hits: Counter[str] = Counter()
    done = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        hits[request.headers["webhook-id"]] += 1
        if len(hits) >= sends:
            done.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{fleet.nodes[0].url}/api/v1/webhooks",
                headers={"Authorization": f"Bearer {fleet.key}"},
                json={"url": f"http://127.0.0.1:{port}/hook", "events": ["sms.queued"]},
            ) as resp:
                assert resp.status == 201, await resp.text()
            started = time.monotonic()
            await send_all(http, fleet, sends, "hook")
            await asyncio.wait_for(done.wait(), 300)
            took = time.monotonic() - started
    finally:
        await runner.cleanup()
    twice = sum(n - 1 for n in hits.values())
    return {"seconds": took, "per_s": sends / took, "posted_twice": twice}


async def run(relays: list[int], streams: int, sends: int) -> list[dict[str, Any]]:
    rows = []
    with running_cluster(durable=True) as cluster:
        for count in relays:
            url = cluster.fresh_url()
            with tempfile.TemporaryDirectory(prefix="relayd-fleet-events-") as tmp:
                async with running_fleet(Path(tmp), url, count) as fleet:
                    fanout = await sse_fanout(fleet, streams, sends)
                    hooks = await webhook_throughput(fleet, sends)
            cluster.drop(url)
            rows.append({"relays": count, "sse": fanout, "webhooks": hooks})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--relays", default="1,2,3", help="comma list of fleet sizes")
    parser.add_argument(
        "--streams", type=int, default=20, help="SSE clients (one key: [limits] streams_per_key)"
    )
    parser.add_argument("--sends", type=int, default=300, help="messages per measurement")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args()
    rows = asyncio.run(run([int(n) for n in args.relays.split(",")], args.streams, args.sends))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{args.sends} sends, {args.streams} SSE clients spread over the relays\n")
    print("| relays | SSE: all events at all clients | events/client | SSE deliveries/s "
          "| webhooks: all POSTed | webhooks/s | POSTed twice |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        sse, hooks = row["sse"], row["webhooks"]
        print(
            f"| {row['relays']} | {sse['seconds']:.2f} s | {sse['events_per_client']:.0f} "
            f"| {sse['deliveries_per_s']:,.0f} | {hooks['seconds']:.2f} s | {hooks['per_s']:,.0f} "
            f"| {hooks['posted_twice']:.0f} |"
        )


if __name__ == "__main__":
    main()
