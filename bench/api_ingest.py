"""API ingest benchmark: durable sends per second through a real relayd, beside the bare ceiling.

For each client count (default 50 and 200) it measures, in the same run and with the same
load generator:

* a bare aiohttp server (a subprocess of this script) whose handler reads the body and answers
  202 without storing anything: the framework's own ceiling on this machine;
* a real `relayd run` subprocess on a fresh SQLite file (synchronous=FULL, group commit),
  where every 202 is answered only after its commit;
* the same on a fresh PostgreSQL database (`[storage] url`) of a throwaway local server with
  fsync on (Debian's postgresql package; tests/support/postgres.py), unless `--stores sqlite`.

Relayd is also measured for start-up time to ready (process start -> /health 200, fresh
database and a restart on the loaded one) and idle RSS (VmRSS from /proc). After each relayd
run the rows in the database are counted against the 202s the load generator received.

Load: `wrk` with a Lua script (unique body and idempotency key per request; counts 202s) so the
load does not compete with relayd for the GIL. Without wrk (`apt-get install -y wrk`), a
multi-process aiohttp load generator is used instead.

    .venv/bin/python bench/api_ingest.py                 # Markdown table on stdout
    .venv/bin/python bench/api_ingest.py --json          # the same figures as JSON
    .venv/bin/python bench/api_ingest.py --clients 50 --duration 5 --loadgen python
    .venv/bin/python bench/api_ingest.py --stores sqlite       # without PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.daemon import RelaydProcess, free_port, http_get  # noqa: E402
from tests.support.postgres import Cluster, pg_bin, running_cluster  # noqa: E402

SEND_PATH = "/api/v1/messages"
TARGET_RATIO = 0.5  # of the bare ceiling
TARGET_RATE = 2000.0  # durable sends per second
TARGET_P99_MS = 100.0  # at TARGET_P99_CLIENTS
TARGET_P99_CLIENTS = 200

WRK_SCRIPT = r"""
-- One unique JSON body (and idempotency key) per request; counts 202s per thread.
-- args: run prefix, bearer key
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = (args[1] or "run") .. "-" .. tid
  accepted = 0
  other = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] and args[2] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"to":"+1555%07d","text":"bench %s %d","idempotency_key":"%s-%d"}',
    counter % 10000000, prefix, counter, prefix, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"accepted":%d,"other":%d,' ..
    '"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, a, o,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass
class LoadResult:
    """One measured load run against one server."""

    target: str
    clients: int
    seconds: float
    requests: int
    accepted: int
    other_status: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float = 0.0  # user+system seconds the server process used during the run

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per answered request: steadier than req/s on a busy machine."""
        return self.server_cpu_s * 1e6 / self.requests if self.requests else 0.0

    @property
    def server_cpu_share(self) -> float:
        """Server CPU seconds per wall second (1.0 = one core busy)."""
        return self.server_cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class RelaydRun:
    """What a relayd run adds to the load figures."""

    clients: int
    startup_fresh_s: float
    idle_rss_kib: int
    rss_after_load_kib: int
    rows_stored: int
    rows_acknowledged: int
    rows_duplicated: int
    in_flight_slack: int
    durable_ok: bool
    commits: int
    writes: int
    restart_rows: int
    restart_s: float
    store: str = "sqlite"

    @property
    def writes_per_commit(self) -> float:
        return self.writes / self.commits if self.commits else 0.0


@dataclass
class Report:
    """Everything one invocation measured."""

    meta: dict[str, Any]
    load: list[LoadResult] = field(default_factory=list)
    relayd: list[RelaydRun] = field(default_factory=list)
    startups_fresh_s: list[float] = field(default_factory=list)
    bare_idle_rss_kib: int = 0


# --- the bare ceiling ---------------------------------------------------------------------


def bare_server(port: int) -> None:
    """Serve POST /api/v1/messages -> 202 without storing, and GET /health (no access log)."""
    from aiohttp import web

    counter = 0

    async def send(request: web.Request) -> web.Response:
        nonlocal counter
        await request.read()
        counter += 1
        return web.json_response({"ok": True, "id": counter, "status": "queued"}, status=202)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post(SEND_PATH, send)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@contextlib.contextmanager
def running_bare(directory: Path) -> Any:
    port = free_port()
    log = (directory / "bare.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bare-server", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                if http_get(f"{url}/health", timeout=1.0)[0] == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bare server did not start; see {directory / 'bare.log'}")
            time.sleep(0.02)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# --- load generators ----------------------------------------------------------------------


def run_wrk(
    url: str,
    key: str,
    clients: int,
    seconds: float,
    prefix: str,
    script: Path,
    threads: int,
    target: str,
) -> LoadResult:
    cmd = [
        "wrk",
        f"-t{min(threads, clients)}",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
        "--timeout",
        "10s",
        "-s",
        str(script),
        url + SEND_PATH,
        "--",
        prefix,
        key,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line[len("RESULT ") :])
    return LoadResult(
        target=target,
        clients=clients,
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        accepted=data["accepted"],
        other_status=data["other"],
        socket_errors=data["socket_errors"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


async def _python_load(
    url: str, key: str, clients: int, start_at: float, seconds: float, prefix: str
) -> dict[str, Any]:
    import aiohttp

    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds

    async def client(session: aiohttp.ClientSession, cid: int) -> None:
        nonlocal errors
        n = 0
        while time.time() < deadline:
            n += 1
            body = json.dumps(
                {
                    "to": f"+1555{(cid * 100000 + n) % 10_000_000:07d}",
                    "text": f"bench {prefix}-{cid} {n}",
                    "idempotency_key": f"{prefix}-{cid}-{n}",
                }
            )
            began = time.perf_counter()
            try:
                async with session.post(url + SEND_PATH, data=body) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
            except (aiohttp.ClientError, OSError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:
        await asyncio.gather(*(client(session, i) for i in range(clients)))
    return {
        "latencies": latencies,
        "statuses": dict(statuses),
        "errors": errors,
        "ended": time.time(),
    }


def _python_worker(args: tuple[str, str, int, float, float, str]) -> dict[str, Any]:
    return asyncio.run(_python_load(*args))


def run_python(
    url: str, key: str, clients: int, seconds: float, prefix: str, processes: int, target: str
) -> LoadResult:
    """Several processes of aiohttp clients; every request in flight at the end completes."""
    processes = max(1, min(processes, clients))
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    start_at = time.time() + 1.0  # after every worker has imported aiohttp
    jobs = [(url, key, n, start_at, seconds, f"{prefix}-p{i}") for i, n in enumerate(shares)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_python_worker, jobs)
    latencies = sorted(x for p in parts for x in p["latencies"])
    statuses: Counter[int] = Counter()
    for p in parts:
        statuses.update({int(k): v for k, v in p["statuses"].items()})

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0
        )

    return LoadResult(
        target=target,
        clients=clients,
        seconds=max(p["ended"] for p in parts) - start_at,
        requests=sum(statuses.values()),
        accepted=statuses.get(202, 0),
        other_status=sum(v for k, v in statuses.items() if k != 202),
        socket_errors=sum(p["errors"] for p in parts),
        p50_ms=pct(0.50),
        p90_ms=pct(0.90),
        p99_ms=pct(0.99),
        max_ms=latencies[-1] * 1000 if latencies else 0.0,
    )


# --- relayd helpers -----------------------------------------------------------------------


COUNTS = "SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM messages"


@dataclass
class Database:
    """Where one relayd run stores: its SQLite file, or a PostgreSQL database."""

    path: Path
    url: str = ""
    cluster: Cluster | None = None

    def counts(self) -> tuple[int, int]:
        """(rows, distinct idempotency keys) of the messages table."""
        if self.cluster is not None:
            return self.cluster.run(self._pg_counts())
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            rows, keys = conn.execute(COUNTS).fetchone()
            return int(rows), int(keys)
        finally:
            conn.close()

    async def _pg_counts(self) -> tuple[int, int]:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            rows, keys = await conn.fetchrow(COUNTS)
            return int(rows), int(keys)
        finally:
            await conn.close()


def settled_rows(db: Database, quiet: float = 0.5, limit: float = 15.0) -> int:
    """The row count once it stopped moving (requests in flight when the load ended)."""
    deadline = time.monotonic() + limit
    last = db.counts()[0]
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = db.counts()[0]
        if now == last:
            return now
        last = now
    return last


def db_metrics(url: str, key: str) -> dict[str, float]:
    request = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("relayd_db_commits_total", "relayd_db_writes_total")):
            name, value = line.split()
            out[name] = float(value)
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the run ------------------------------------------------------------------------------


def loadavg() -> str:
    """1/5/15-minute load averages: other work on the machine skews every figure."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def git_describe() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def relayd_source() -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import relayd, sys; sys.stdout.write(relayd.__file__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return str(Path(out.stdout).parent.parent) if out.returncode == 0 else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="50,200", help="comma list of client counts")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2, help="python loadgen")
    parser.add_argument("--startups", type=int, default=3, help="fresh start-ups to time")
    parser.add_argument("--log-level", default="INFO", help="relayd's (INFO is the default)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, dbs)")
    parser.add_argument(
        "--stores", default="sqlite,postgresql", help="relayd's databases: sqlite, postgresql"
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        bare_server(args.bare_server)
        return 0

    loadgen = args.loadgen
    if loadgen in ("auto", "wrk") and shutil.which("wrk") is None:
        if loadgen == "wrk":
            print("wrk not found: install it with `apt-get install -y wrk`", file=sys.stderr)
            return 2
        print(
            "wrk not found (install it with `apt-get install -y wrk`); using the Python "
            f"load generator with {args.processes} processes instead",
            file=sys.stderr,
        )
        loadgen = "python"
    elif loadgen == "auto":
        loadgen = "wrk"
    client_counts = [int(c) for c in args.clients.split(",") if c.strip()]

    work = Path(tempfile.mkdtemp(prefix="relayd-bench-"))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    report = Report(
        meta={
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "commit": git_describe(),
            "relayd_source": relayd_source(),
            "loadgen": loadgen
            + (f" -t{args.wrk_threads}" if loadgen == "wrk" else f" x{args.processes}"),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "relayd_log_level": args.log_level,
            "loadavg_before": loadavg(),
        }
    )

    def load(
        url: str, key: str, clients: int, seconds: float, prefix: str, target: str, pid: int
    ) -> LoadResult:
        cpu_before = cpu_seconds(pid)
        if loadgen == "wrk":
            result = run_wrk(url, key, clients, seconds, prefix, script, args.wrk_threads, target)
        else:
            result = run_python(url, key, clients, seconds, prefix, args.processes, target)
        result.server_cpu_s = cpu_seconds(pid) - cpu_before
        return result

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    servers = contextlib.ExitStack()
    cluster: Cluster | None = None
    if "postgresql" in stores:
        if pg_bin() is None:
            log("PostgreSQL is not installed (apt-get install -y postgresql): SQLite only")
            stores.remove("postgresql")
        else:  # fsync on: a commit is as durable as SQLite's synchronous=FULL
            cluster = servers.enter_context(running_cluster(durable=True))
    report.meta["stores"] = ",".join(stores)

    def measure_relayd(clients: int, store: str) -> None:
        # relayd on a fresh database (the queue grows with every run: no SIMs).
        directory = work / f"relayd-{store}-c{clients}"
        url = cluster.fresh_url() if store == "postgresql" and cluster is not None else ""
        db = Database(directory / "state" / "relayd.db", url, cluster if url else None)
        target = "relayd-pg" if url else "relayd"
        daemon = RelaydProcess.create(directory, log_level=args.log_level, storage_url=url)
        try:
            startup = daemon.start(interval=0.005)
            time.sleep(1.0)
            idle = daemon.rss_kib()
            key = daemon.create_key("bench", "send")
            admin = daemon.admin_key()
            pid = daemon.pid
            if args.warmup > 0:
                load(daemon.url, key, clients, args.warmup, f"rw{store}{clients}", target, pid)
            before_rows = settled_rows(db)
            before = db_metrics(daemon.url, admin)
            result = load(
                daemon.url, key, clients, args.duration, f"r{store}{clients}", target, pid
            )
            after_rows = settled_rows(db)
            after = db_metrics(daemon.url, admin)
            rows, keys = db.counts()
            loaded = daemon.rss_kib()
            daemon.stop()
            restart = daemon.start(interval=0.005)
        finally:
            daemon.stop()
        stored = after_rows - before_rows
        # wrk stops with up to `clients` requests in flight: relayd still commits them,
        # the 202 just never reaches wrk. The Python generator waits for them (slack 0).
        slack = clients if loadgen == "wrk" else 0
        report.load.append(result)
        report.relayd.append(
            RelaydRun(
                clients=clients,
                startup_fresh_s=startup,
                idle_rss_kib=idle,
                rss_after_load_kib=loaded,
                rows_stored=stored,
                rows_acknowledged=result.accepted,
                rows_duplicated=rows - keys,
                in_flight_slack=slack,
                durable_ok=result.accepted <= stored <= result.accepted + slack
                and rows == keys,
                commits=int(
                    after["relayd_db_commits_total"] - before["relayd_db_commits_total"]
                ),
                writes=int(
                    after["relayd_db_writes_total"] - before["relayd_db_writes_total"]
                ),
                restart_rows=rows,
                restart_s=restart,
                store=store,
            )
        )
        log(
            f"relayd ({store}) c={clients}: {result.accepted_per_s:,.0f}/s "
            f"p99 {result.p99_ms:.1f} ms, stored {stored} for {result.accepted} 202s"
        )

    try:
        # Start-up time to ready on a fresh database, a few times.
        for i in range(args.startups):
            daemon = RelaydProcess.create(work / f"startup{i}", log_level=args.log_level)
            try:
                report.startups_fresh_s.append(daemon.start(interval=0.005))
            finally:
                daemon.stop()
        log(f"start-up (fresh db): {[round(s, 3) for s in report.startups_fresh_s]} s")

        with running_bare(work) as (bare_url, bare_pid):
            time.sleep(0.5)
            report.bare_idle_rss_kib = rss_kib(bare_pid)
            for clients in client_counts:
                # The ceiling: same load generator, same body, nothing stored.
                if args.warmup > 0:
                    load(bare_url, "", clients, args.warmup, f"bw{clients}", "bare", bare_pid)
                result = load(bare_url, "", clients, args.duration, f"b{clients}", "bare", bare_pid)
                report.load.append(result)
                rate, p99 = result.accepted_per_s, result.p99_ms
                log(f"bare   c={clients}: {rate:,.0f}/s p99 {p99:.1f} ms")

                for store in stores:
                    measure_relayd(clients, store)
    finally:
        servers.close()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    report.meta["loadavg_after"] = loadavg()
    verdicts = targets(report)
    if args.json:
        print(json.dumps(as_json(report, verdicts), indent=2))
    else:
        print(markdown(report, verdicts))
    failed = not all(ok for _, ok in verdicts) or not all(r.durable_ok for r in report.relayd)
    return 1 if args.check and failed else 0


# --- output -------------------------------------------------------------------------------


def bare_for(report: Report, clients: int) -> LoadResult | None:
    return next((r for r in report.load if r.target == "bare" and r.clients == clients), None)


def targets(report: Report) -> list[tuple[str, bool]]:
    out = []
    for r in report.load:
        if r.target != "relayd":
            continue
        bare = bare_for(report, r.clients)
        if bare is not None and bare.accepted_per_s:
            ratio = r.accepted_per_s / bare.accepted_per_s
            out.append(
                (
                    f"{r.clients} clients: {ratio:.0%} of the bare ceiling "
                    f"(target >= {TARGET_RATIO:.0%})",
                    ratio >= TARGET_RATIO,
                )
            )
        out.append(
            (
                f"{r.clients} clients: {r.accepted_per_s:,.0f} durable sends/s "
                f"(target >= {TARGET_RATE:,.0f})",
                r.accepted_per_s >= TARGET_RATE,
            )
        )
        if r.clients == TARGET_P99_CLIENTS:
            out.append(
                (
                    f"{r.clients} clients: p99 {r.p99_ms:.0f} ms (target < {TARGET_P99_MS:.0f} ms)",
                    r.p99_ms < TARGET_P99_MS,
                )
            )
    return out


def as_json(report: Report, verdicts: list[tuple[str, bool]]) -> dict[str, Any]:
    return {
        "meta": report.meta,
        "load": [
            asdict(r)
            | {
                "accepted_per_s": round(r.accepted_per_s, 1),
                "cpu_us_per_request": round(r.cpu_us_per_request, 1),
                "server_cpu_share": round(r.server_cpu_share, 2),
            }
            for r in report.load
        ],
        "relayd": [asdict(r) | {"writes_per_commit": r.writes_per_commit} for r in report.relayd],
        "startup_fresh_s": report.startups_fresh_s,
        "startup_fresh_median_s": statistics.median(report.startups_fresh_s)
        if report.startups_fresh_s
        else None,
        "bare_idle_rss_kib": report.bare_idle_rss_kib,
        "targets": [{"target": text, "met": ok} for text, ok in verdicts],
    }


def markdown(report: Report, verdicts: list[tuple[str, bool]]) -> str:
    m = report.meta
    lines = [
        f"relayd API ingest, {m['date']}, {m['cpus']} CPUs, Python {m['python']}, "
        f"relayd from {m['relayd_source']} (repo at {m['commit']}), "
        f"load: {m['loadgen']}, {m['duration_s']:g} s per run "
        f"(+{m['warmup_s']:g} s warm-up), relayd log level {m['relayd_log_level']}, "
        f"load average {m['loadavg_before']} before, {m.get('loadavg_after', '?')} after",
        "",
        "| server | clients | 202/s | p50 ms | p90 ms | p99 ms | max ms | non-202 | errors "
        "| vs bare | server CPU | CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.load:
        bare = bare_for(report, r.clients)
        ratio = (
            f"{r.accepted_per_s / bare.accepted_per_s:.0%}"
            if r.target != "bare" and bare and bare.accepted_per_s
            else ""
        )
        name = {
            "bare": "bare aiohttp, 202, no storage",
            "relayd": "relayd, durable, SQLite",
            "relayd-pg": "relayd, durable, PostgreSQL",
        }[r.target]
        lines.append(
            f"| {name} | {r.clients} | {r.accepted_per_s:,.0f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.max_ms:.0f} | {r.other_status} | {r.socket_errors} | {ratio} "
            f"| {r.server_cpu_share:.0%} | {r.cpu_us_per_request:.0f} |"
        )
    lines += [
        "",
        "| relayd run | clients | rows stored / 202s | duplicates | writes per commit "
        "| idle RSS | RSS after load | restart with rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in report.relayd:
        check = "ok" if d.durable_ok else "MISMATCH"
        lines.append(
            f"| fresh {d.store} db | {d.clients} "
            f"| {d.rows_stored:,} / {d.rows_acknowledged:,} ({check}) "
            f"| {d.rows_duplicated} | {d.writes_per_commit:.1f} "
            f"| {d.idle_rss_kib / 1024:.1f} MiB | {d.rss_after_load_kib / 1024:.1f} MiB "
            f"| {d.restart_s * 1000:.0f} ms ({d.restart_rows:,} queued) |"
        )
    starts = report.startups_fresh_s
    if starts:
        lines += [
            "",
            f"Start-up to ready (process start -> /health 200, fresh database): median "
            f"{statistics.median(starts) * 1000:.0f} ms of {len(starts)} "
            f"({', '.join(f'{s * 1000:.0f}' for s in starts)} ms). "
            f"Bare aiohttp server idle RSS: {report.bare_idle_rss_kib / 1024:.1f} MiB.",
        ]
    lines.append(
        "Server CPU: user+system seconds of the server process per wall second (100% = one "
        "core). CPU µs/req is steadier than 202/s when other work shares the machine."
    )
    if report.relayd and any(d.in_flight_slack for d in report.relayd):
        lines.append(
            "Rows stored may exceed the 202s counted by up to one request per client: wrk "
            "stops with requests in flight, which relayd still commits."
        )
    lines += ["", "Targets (issue 2):"]
    lines += [f"- [{'x' if ok else ' '}] {text}" for text, ok in verdicts]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
