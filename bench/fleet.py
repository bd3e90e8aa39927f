"""Fleet benchmark (issue 13): send throughput with 1, 2, 3 relays on one PostgreSQL, failover.

Real `relayd run` processes, each driving one simulated modem (on a pty owned by this
process) with a fixed air time per SMS part, all on one throwaway PostgreSQL server
(fsync on). Figures:

- throughput: messages on air per second, from the first POST (spread over every relay's
  API) to the last part on air at the simulators, as a fraction of K / send_delay
  (target >= 0.95);
- failover: three relays, a burst, `kill -9` of one; the queued messages it had claimed
  are counted at the kill, and the time from the kill until the first and the last of them
  went out on another relay is read from their `sent_at` (detection is bounded by
  3 x heartbeat_seconds).

    .venv/bin/python bench/fleet.py [--relays 1 2 3] [--delay 0.2] [--per-relay 50] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fleet import Fleet, running_fleet
from tests.test_fleet_pg import post_all

PEER = "+15551230001"


async def on_air(fleet: Fleet, total: int, timeout: float = 600) -> dt.datetime:
    """Until `total` whole messages went out on the fleet's modems; when the last one did.

    Polled slowly (the simulators share this process: a busy poll would slow the modems
    down); the time comes from the simulators' own record of each message.
    """
    async with asyncio.timeout(timeout):
        while sum(len(s.sent_messages()) for s in fleet.sims) < total:
            await asyncio.sleep(0.1)
    return max(m.at for s in fleet.sims for m in s.sent_messages())


async def throughput(url: str, relays: int, delay: float, per_relay: int) -> dict[str, Any]:
    """K relays, K * per_relay sends across their APIs: on-air rate against K / delay.

    An empty `url` is one relay on its own SQLite file (no fleet), for comparison.
    """
    with tempfile.TemporaryDirectory(prefix="relayd-fleet-bench-") as tmp:
        async with running_fleet(Path(tmp), url, relays, send_delay=delay) as fleet:
            total = relays * per_relay
            texts = [f"bench {relays} #{i}" for i in range(total)]
            began = dt.datetime.now(dt.UTC)
            await post_all(fleet, texts, clients_per_relay=4)
            took = (await on_air(fleet, total) - began).total_seconds()
            counts = [len(s.sent_messages()) for s in fleet.sims]
            gaps = sorted(
                (b.at - a.at).total_seconds() - delay
                for sim in fleet.sims
                for a, b in zip(sim.sent_messages(), sim.sent_messages()[1:], strict=False)
            )
    rate = total / took
    limit = relays / delay
    return {
        "relays": relays,
        "messages": total,
        "per_modem": counts,
        "seconds": round(took, 2),
        "msgs_per_s": round(rate, 2),
        "physical_limit": round(limit, 2),
        "fraction_of_limit": round(rate / limit, 3),
        "idle_between_sends_ms_p50": round(gaps[len(gaps) // 2] * 1000, 1) if gaps else None,
        "idle_between_sends_ms_p90": round(gaps[len(gaps) * 9 // 10] * 1000, 1) if gaps else None,
    }


async def failover(url: str, delay: float, per_relay: int, heartbeat: float) -> dict[str, Any]:
    """Three relays, a burst, kill -9 of relay 2: how soon its claimed work goes out elsewhere."""
    with tempfile.TemporaryDirectory(prefix="relayd-fleet-bench-") as tmp:
        async with running_fleet(
            Path(tmp), url, 3, send_delay=delay, heartbeat=heartbeat
        ) as fleet:
            texts = [f"failover #{i}" for i in range(3 * per_relay)]
            await post_all(fleet, texts, clients_per_relay=4)
            while len(fleet.sims[2].sent_messages()) < 5:
                await asyncio.sleep(0.05)
            fleet.nodes[2].kill()
            killed_at = time.time()
            db = await asyncpg.connect(url)
            try:
                rows = await db.fetch(
                    "SELECT id FROM messages WHERE node = 'relay-2' AND status = 'queued'"
                )
                stranded = [r["id"] for r in rows]
                await on_air_or_final(db, len(texts))
                sent = await db.fetch(
                    "SELECT sent_at, sim FROM messages WHERE id = ANY($1::bigint[])", stranded
                )
                torn = await db.fetchval(
                    "SELECT COUNT(*) FROM messages WHERE error = 'interrupted'"
                )
            finally:
                await db.close()
    times = sorted(r["sent_at"] - killed_at for r in sent if r["sent_at"] is not None)
    return {
        "heartbeat_seconds": heartbeat,
        "detection_bound_s": 3 * heartbeat,
        "claimed_by_the_dead_relay": len(stranded),
        "first_out_elsewhere_s": round(times[0], 2) if times else None,
        "all_out_elsewhere_s": round(times[-1], 2) if times else None,
        "carried_by": sorted({r["sim"] for r in sent if r["sim"]}),
        "interrupted": int(torn),
    }


async def on_air_or_final(db: Any, total: int, timeout: float = 600) -> None:
    """Until every message is final (sent, or failed as interrupted)."""
    async with asyncio.timeout(timeout):
        while True:
            left = await db.fetchval(
                "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')"
            )
            done = await db.fetchval("SELECT COUNT(*) FROM messages")
            if left == 0 and done >= total:
                return
            await asyncio.sleep(0.05)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relays", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--delay", type=float, default=0.2, help="air time per SMS part (s)")
    parser.add_argument("--per-relay", type=int, default=50)
    parser.add_argument("--heartbeat", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from tests.support.postgres import running_cluster

    results: list[dict[str, Any]] = []
    # The same single relay on its SQLite file (url ""), in the same sitting, to compare.
    baseline = await throughput("", 1, args.delay, args.per_relay)
    baseline["relays"] = "1 (SQLite, no fleet)"
    results.append(baseline)
    with running_cluster(durable=True) as cluster:
        for relays in args.relays:
            results.append(
                await throughput(cluster.fresh_url(), relays, args.delay, args.per_relay)
            )
        fail = await failover(cluster.fresh_url(), args.delay, args.per_relay, args.heartbeat)
    if args.json:
        print(json.dumps({"throughput": results, "failover": fail}, indent=2))
        return
    print(f"send delay {args.delay} s per part; {args.per_relay} messages per relay\n")
    print("| relays | msgs/s | limit | fraction | per modem | idle between sends p50/p90 |")
    print("|---:|---:|---:|---:|---|---|")
    for r in results:
        print(
            f"| {r['relays']} | {r['msgs_per_s']} | {r['physical_limit']} | "
            f"{r['fraction_of_limit']} | {r['per_modem']} | "
            f"{r['idle_between_sends_ms_p50']} / {r['idle_between_sends_ms_p90']} ms |"
        )
    print(
        f"\nfailover (heartbeat {fail['heartbeat_seconds']} s, dead after "
        f"{fail['detection_bound_s']} s): {fail['claimed_by_the_dead_relay']} queued sends "
        f"claimed by the killed relay; first out elsewhere after "
        f"{fail['first_out_elsewhere_s']} s, all after {fail['all_out_elsewhere_s']} s, "
        f"on {fail['carried_by']}; "
        f"{fail['interrupted']} torn send(s) failed as interrupted"
    )


if __name__ == "__main__":
    asyncio.run(main())
