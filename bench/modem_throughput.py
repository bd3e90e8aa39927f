"""Modem path benchmark: throughput against the physical limit, inbound latency, CPU and RSS.

A real `relayd run` subprocess drives K simulated modems (each on its own pty, owned by
this process) with a fixed air time per SMS part. Figures:

- throughput: messages sent per second from the first POST to the last `sent`, as a
  fraction of the physical limit K / send_delay (target >= 0.95);
- inbound latency: from the simulator writing `+CMTI` to the `sms.received` SSE event
  reaching a client (p50, p99; target p50 < 30 ms);
- relayd's CPU seconds and RSS growth per 1,000 messages (from /proc).

    .venv/bin/python bench/modem_throughput.py [--modems 1 2 4] [--delay 0.2] [--json]
        [--daily-cap N]   # every modem gets a daily_cap above the burst: the cap checks run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modem.simulator import ModemSimulator
from tests.support.daemon import RelaydProcess

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    """VmRSS of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def run_case(
    modems: int, delay: float, per_modem: int, inbound: int, daily_cap: int = 0
) -> dict[str, Any]:
    """One relay with `modems` simulators: outbound burst, then inbound latency."""
    with tempfile.TemporaryDirectory(prefix="relayd-bench-") as tmp:
        root = Path(tmp)
        sims = [
            ModemSimulator(root / f"modem{i}", send_delay=delay, report_delay=0.0)
            for i in range(modems)
        ]
        for sim in sims:
            await sim.start()
        cap = f"daily_cap = {daily_cap}\n" if daily_cap else ""
        blocks = "".join(
            f'[[modem]]\nname = "m{i}"\nport = "{sim.link}"\ndelivery_reports = false\n{cap}\n'
            for i, sim in enumerate(sims)
        )
        daemon = RelaydProcess.create(root, blocks + "[routing]\npolicy = \"least_busy\"\n")
        await asyncio.to_thread(daemon.start)
        try:
            key = daemon.admin_key()
            headers = {"Authorization": f"Bearer {key}"}
            async with aiohttp.ClientSession(daemon.url, headers=headers) as http:
                await wait_online(http, modems)
                cpu0, rss0 = cpu_seconds(daemon.pid), rss_kib(daemon.pid)
                total = per_modem * modems
                began = time.monotonic()
                ids = []
                async with http.get(
                    "/api/v1/events", params={"types": "sms.sent,sms.failed"}
                ) as stream:
                    for i in range(total):
                        async with http.post(
                            "/api/v1/messages", json={"to": "+15551230001", "text": f"bench {i}"}
                        ) as resp:
                            ids.append((await resp.json())["id"])
                    await wait_all_sent(stream, ids)
                took = time.monotonic() - began
                cpu_out = cpu_seconds(daemon.pid) - cpu0
                latencies = await inbound_latencies(http, sims[0], inbound)
                rss1 = rss_kib(daemon.pid)
            sent = sum(len(s.sent_messages()) for s in sims)
        finally:
            await asyncio.to_thread(daemon.stop)
            for sim in sims:
                await sim.stop()
    rate = total / took
    limit = modems / delay
    return {
        "modems": modems,
        "messages": total,
        "on_air": sent,
        "seconds": round(took, 2),
        "msgs_per_s": round(rate, 2),
        "physical_limit": round(limit, 2),
        "fraction_of_limit": round(rate / limit, 3),
        "inbound_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "inbound_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "cpu_s_per_1000": round(cpu_out / total * 1000, 2),
        "rss_kib_start": rss0,
        "rss_growth_kib_per_1000": round((rss1 - rss0) / (total + inbound) * 1000),
    }


async def wait_online(http: aiohttp.ClientSession, modems: int) -> None:
    """Until every modem reports online."""
    async with asyncio.timeout(30):
        while True:
            async with http.get("/api/v1/sims") as resp:
                sims = (await resp.json())["sims"]
            if sum(s["online"] for s in sims) == modems:
                return
            await asyncio.sleep(0.05)


async def wait_all_sent(stream: aiohttp.ClientResponse, ids: list[int]) -> None:
    """Read sms.sent / sms.failed events until every id has one (no polling of the relay)."""
    pending = set(ids)
    async with asyncio.timeout(600):
        while pending:
            line = (await stream.content.readline()).decode()
            if line.startswith("data: "):
                pending.discard(json.loads(line[6:])["data"]["id"])


async def inbound_latencies(
    http: aiohttp.ClientSession, sim: ModemSimulator, count: int
) -> list[float]:
    """Inject one SMS at a time; time from injection to its sms.received event."""
    out = []
    async with http.get("/api/v1/events", params={"types": "sms.received"}) as stream:
        for i in range(count):
            text = f"inbound {i}"
            began = time.perf_counter()
            sim.inject_sms("+15557654321", text)
            async with asyncio.timeout(10):
                while True:
                    line = (await stream.content.readline()).decode()
                    if line.startswith("data: ") and json.loads(line[6:])["data"]["text"] == text:
                        break
            out.append(time.perf_counter() - began)
    return out


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--delay", type=float, default=0.2, help="air time per SMS part (s)")
    parser.add_argument("--per-modem", type=int, default=50, help="messages per modem")
    parser.add_argument("--inbound", type=int, default=100, help="inbound SMS to time")
    parser.add_argument("--daily-cap", type=int, default=0, help="each modem's daily_cap")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [
        await run_case(k, args.delay, args.per_modem, args.inbound, args.daily_cap)
        for k in args.modems
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"send delay {args.delay} s per part; {args.per_modem} messages per modem\n")
    print("| modems | msgs/s | limit | fraction | inbound p50 | inbound p99 | CPU s/1000 | RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['modems']} | {r['msgs_per_s']} | {r['physical_limit']} | "
            f"{r['fraction_of_limit']} | {r['inbound_p50_ms']} ms | {r['inbound_p99_ms']} ms | "
            f"{r['cpu_s_per_1000']} | {r['rss_kib_start'] // 1024} MiB |"
        )


if __name__ == "__main__":
    asyncio.run(main())
