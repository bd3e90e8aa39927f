"""Phone bridge benchmark: many scripted phones on one real relayd (issue 4).

* starts a real `relayd run` subprocess on a fresh database, creates the org `bench`;
* connects N scripted phones (default 1,000; one asyncio process, one shared HTTP session),
  each with one SIM, and waits until /health counts N SIMs online;
* measures the relay's RSS and CPU while idle with them all connected;
* push latency: single sends one after the other (request sent -> `send_sms` at the phone);
* then M messages (default 10,000) through POST /api/v1/messages in lists of 100, spread by
  round robin over the phones, which answer `send_result` at once: the time until all M are
  `sent`, and the push latency under that bulk load.

    .venv/bin/python bench/phones.py                       # Markdown table on stdout
    .venv/bin/python bench/phones.py --phones 200 --messages 2000 --json

Targets (issue 4): 1,000 phones under 200 MB RSS, p99 push latency < 50 ms.
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
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from relayd.phone_sim import ScriptedPhone  # noqa: E402
from tests.support.daemon import RelaydProcess, http_get  # noqa: E402

ORG, SECRET = "bench", "bench-secret-0001"
BATCH = 100
TARGET_RSS_MB, TARGET_P99_MS = 200.0, 50.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


async def wait_online(daemon: RelaydProcess, count: int, timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        _, health = await asyncio.to_thread(http_get, f"{daemon.url}/health")
        if health and health.get("sims_online", 0) >= count:
            return time.monotonic() - began
        await asyncio.sleep(0.2)
    raise RuntimeError(f"not all {count} phones online after {timeout:.0f} s")


def get_text(url: str, key: str) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return str(resp.read().decode())


async def sent_count(daemon: RelaydProcess, key: str) -> int:
    text = await asyncio.to_thread(get_text, f"{daemon.url}/metrics", key)
    total = 0
    for line in text.splitlines():
        done = 'status="sent"' in line or 'status="delivered"' in line
        if line.startswith("relayd_messages{") and 'direction="out"' in line and done:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def run(phones: int, messages: int, idle_seconds: float, probes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="relayd-bench-phones-") as tmp:
        limits = f"[limits]\ndevices_per_org = {phones}\nsockets_per_key = {phones}\n"
        daemon = RelaydProcess.create(Path(tmp), "[phones]\nresult_timeout = 120.0\n" + limits)
        daemon.start()
        try:
            return await _measure(daemon, phones, messages, idle_seconds, probes)
        finally:
            daemon.stop()


async def _measure(
    daemon: RelaydProcess, phones: int, messages: int, idle_seconds: float, probes: int
) -> dict[str, Any]:
    admin = daemon.admin_key()
    post(f"{daemon.url}/api/v1/phones", admin, {"org": ORG, "secret": SECRET})
    key = daemon.create_key("bench", "send,read,admin", org=ORG)
    rss_empty = daemon.rss_kib() / 1024
    pushed_at: dict[int, float] = {}

    def on_event(kind: str, frame: dict[str, Any]) -> None:
        if kind == "send_sms":
            pushed_at.setdefault(int(frame["id"]), time.monotonic())

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        fleet = [
            ScriptedPhone(daemon.url, ORG, SECRET, device_id=f"p{i}", on_event=on_event, http=http)
            for i in range(phones)
        ]
        began = time.monotonic()
        await asyncio.gather(*(p.start(wait=False) for p in fleet))
        connect_s = await wait_online(daemon, phones, timeout=120)
        cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
        await asyncio.sleep(idle_seconds)
        idle_cpu = (cpu_seconds(daemon.pid) - cpu0) / (time.monotonic() - t0) * 100
        rss_idle = daemon.rss_kib() / 1024

        # Latency: single sends one after the other (request sent -> send_sms at the phone).
        requested_at: dict[int, float] = {}
        for i in range(probes):
            t = time.monotonic()
            answer = await asyncio.to_thread(
                post, f"{daemon.url}/api/v1/messages", key, {"to": f"+1556{i:07d}", "text": "p"}
            )
            requested_at[int(answer["id"])] = t
            while int(answer["id"]) not in pushed_at:
                await asyncio.sleep(0.001)
        single = sorted((pushed_at[i] - requested_at[i]) * 1000 for i in requested_at)
        while await sent_count(daemon, key) < probes:
            await asyncio.sleep(0.05)

        # Throughput: `messages` in lists of BATCH, as fast as the API takes them.
        requested_at = {}
        began = time.monotonic()
        for start in range(0, messages, BATCH):
            count = min(BATCH, messages - start)
            to = [f"+1555{(start + i) % 10_000_000:07d}" for i in range(count)]
            t = time.monotonic()
            answer = await asyncio.to_thread(
                post, f"{daemon.url}/api/v1/messages", key, {"to": to, "text": "bench"}
            )
            for item in answer["messages"]:
                requested_at[int(item["id"])] = t
        accepted_s = time.monotonic() - began
        while await sent_count(daemon, key) < messages + probes:
            if time.monotonic() - began > 300:
                raise RuntimeError("not every message was sent within 300 s")
            await asyncio.sleep(0.1)
        all_sent_s = time.monotonic() - began
        rss_busy = daemon.rss_kib() / 1024
        await asyncio.gather(*(p.stop() for p in fleet))

    bulk = sorted((pushed_at[i] - requested_at[i]) * 1000 for i in requested_at if i in pushed_at)
    return {
        "phones": phones,
        "messages": messages,
        "connect_all_s": round(connect_s, 2),
        "rss_mb_no_phones": round(rss_empty, 1),
        "rss_mb_idle": round(rss_idle, 1),
        "rss_mb_after_sends": round(rss_busy, 1),
        "idle_cpu_percent": round(idle_cpu, 2),
        "accept_s": round(accepted_s, 2),
        "all_sent_s": round(all_sent_s, 2),
        "sent_per_s": round(messages / all_sent_s, 1),
        "push_latency_ms_p50": round(statistics.median(single), 1),
        "push_latency_ms_p99": round(_p99(single), 1),
        "bulk_push_latency_ms_p50": round(statistics.median(bulk), 1),
        "bulk_push_latency_ms_p99": round(_p99(bulk), 1),
        "pushed": len(bulk) + len(single),
        "targets_met": rss_idle < TARGET_RSS_MB and _p99(single) < TARGET_P99_MS,
    }


def _p99(values: list[float]) -> float:
    return values[max(0, int(len(values) * 0.99) - 1)] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle measurement")
    parser.add_argument("--probes", type=int, default=300, help="single sends timed one by one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.phones, args.messages, args.idle, args.probes))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("| figure | value |\n|---|---|")
    for name, value in result.items():
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
