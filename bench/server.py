"""Server benchmark: dashboard pages and API reads under concurrent clients, and HTTP ingest.

Run by hand (not in CI):

    .venv/bin/python bench/server.py [--days 42] [--requests-per-day 50000] [--keep DIR]
                                     [--clients 4] [--rounds 20] [--json]

1. Builds a workspace of --days simulated days at --requests-per-day with
   ``recops.sim.demo.build_demo`` (the demo's own path: ingest, registry, monitors,
   detection), or reuses the one in --keep DIR when it was built before (the build is
   slow at full size; a kept folder is reused as is).
2. Creates a viewer and an ingest token and starts the REAL server in a subprocess
   (``create_app`` + ``Scheduler`` under uvicorn on 127.0.0.1, exactly what
   ``recops serve`` runs) with the scheduler on a short period, so monitor runs happen
   during the measurements.
3. HTTP ingest (below, 4.), then, once the scheduler's pass over the newly ingested data
   is running (monitors, detection and diagnoses of a new day: the busiest the server
   gets), --clients threads (httpx) fetch every page linked from the navigation, an alert
   group page and key API reads (alias lookup, alerts list, series read) --rounds times
   each in random order: p50/p95 per target. The floor is ``GET /healthz`` measured the
   same way. A page that answers 404 (not built yet) is reported missing.
4. HTTP ingest: --ingest-batches bodies of --batch-requests new requests (20 candidates
   each, from the simulator) posted as Parquet to ``POST /api/ingest/requests`` by
   --ingest-clients clients at once (the server commits concurrent bodies together); each
   answer comes after its body is committed to the lake. The floor is the same number of
   equal batches through ``ingest_files`` in this process, one at a time, alternating with
   the HTTP rounds so both meet the same background load (ratio HTTP / direct).
5. Sizing: lake bytes per simulated day, store size, server memory (peak RSS), the
   scheduler's runs, and (unless --no-monitor-timing) a full ``recops monitor run
   --from --to --no-detect`` over the simulated range, timed with peak memory.

Targets (issue 9): p95 < 300 ms for every page; >= 20,000 requests/s ingested over HTTP.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import timed

from recops.ingest.pipeline import ingest_files
from recops.registry.aliases import current_aliases
from recops.server.tokens import create_token
from recops.sim import SimConfig, simulate
from recops.sim.demo import build_demo
from recops.store.tables import AlertGroupRow, LakeFileRow, MetricPointRow
from recops.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
RECOPS = str(Path(sys.executable).with_name("recops"))
PAGES = ["/", "/family/arrival", "/family/quality", "/family/features", "/family/model", "/family/serving",
         "/models", "/alerts", "/incidents", "/trace", "/sql"]  # fmt: skip
PAGE_TARGET_MS = 300.0
INGEST_TARGET_RPS = 20_000.0
START = date(2026, 10, 1)
INFO = "bench-info.json"

# The real server, as `recops serve` builds it, but with the bench's scheduler period.
SERVER = r"""
import sys
import uvicorn
from recops.server.app import create_app
from recops.server.scheduler import Scheduler
from recops.workspace import Workspace
root, port, period = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ws = Workspace.open(root)
scheduler = Scheduler(ws, period_seconds=period) if period > 0 else None
uvicorn.run(create_app(ws, scheduler=scheduler), host="127.0.0.1", port=port, log_level="warning",
            access_log=False)
"""


def log(quiet: bool, *parts: object) -> None:
    if not quiet:
        print(*parts, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------- workspace


def workspace(args: argparse.Namespace, quiet: bool) -> tuple[Path, dict[str, Any]]:
    """Build the simulated weeks (or reuse --keep DIR); returns the root and build facts."""
    root = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="recops-bench-")) / "ws"
    info_file = root / INFO
    if info_file.exists():
        info = json.loads(info_file.read_text())
        log(quiet, f"reusing {root} ({info['days']} days x {info['requests_per_day']:,} requests/day)")
        return root, info | {"reused": True}
    log(quiet, f"building {args.days} days x {args.requests_per_day:,} requests/day in {root} ...")
    config = SimConfig(start=START, days=args.days, requests_per_day=args.requests_per_day)
    built = build_demo(root, config, progress=lambda step, done, total: None)
    shutil.rmtree(root / "raw", ignore_errors=True)
    info = {
        "days": args.days,
        "requests_per_day": args.requests_per_day,
        "build_seconds": built.seconds,
        "stored": built.stored,
        "end": built.world.truth.end,
    }
    info_file.write_text(json.dumps(info))
    log(quiet, f"built in {built.seconds:.0f} s: {built.stored}")
    return root, info | {"reused": False}


def sizing(root: Path, days: int) -> dict[str, Any]:
    """Lake bytes (live files of the simulated dates) per kind and per day, and the store's size.

    Only partitions dated inside the simulated range count, so the requests this bench
    ingests (dated the day after) never inflate the per-day figure of a reused workspace.
    """
    end = (START + timedelta(days=days)).isoformat()
    with Workspace.open(root) as ws:
        with ws.store.session() as s:
            rows = s.execute(
                select(
                    LakeFileRow.kind, func.count(), func.sum(LakeFileRow.bytes), func.sum(LakeFileRow.rows)
                )
                .where(LakeFileRow.removed_at.is_(None), LakeFileRow.date < end)
                .group_by(LakeFileRow.kind)
            ).all()
        url = ws.config.store_url
    by_kind = {k: {"files": int(n), "bytes": int(b or 0), "rows": int(r or 0)} for k, n, b, r in rows}
    lake_bytes = sum(v["bytes"] for v in by_kind.values())
    store_bytes = None
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        store_bytes = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    return {
        "lake_bytes": lake_bytes,
        "lake_bytes_per_day": lake_bytes / days,
        "lake_by_kind": by_kind,
        "store_bytes": store_bytes,
        "store_url_kind": url.split(":", 1)[0],
    }


@dataclass
class Targets:
    """What to fetch: name → URL, discovered from the workspace."""

    pages: dict[str, str] = field(default_factory=dict)
    api: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def discover(root: Path) -> Targets:
    t = Targets(pages={p: p for p in PAGES})
    with Workspace.open(root) as ws:
        with ws.store.session() as s:
            group = s.scalar(select(AlertGroupRow.id).order_by(AlertGroupRow.id.desc()).limit(1))
            point = s.execute(
                select(MetricPointRow.metric, MetricPointRow.subject)
                .where(MetricPointRow.slice == "", MetricPointRow.granularity == "hour")
                .limit(1)
            ).first()
        aliases = current_aliases(ws.store, "ranker")
    if group is not None:
        t.pages["alert group"] = f"/alerts/groups/{group}"
    else:
        t.notes.append("no alert group in the workspace: group page not measured")
    if aliases:
        t.api["alias lookup"] = f"/api/models/ranker/aliases/{aliases[0].alias}"
    t.api["alerts list"] = "/api/alerts?limit=100"
    if point is not None:
        metric, subject = point
        t.api["series read"] = f"/api/series?metric={metric}&granularity=hour&last=168" + (
            f"&subject={subject}" if subject else ""
        )
    return t


# ---------------------------------------------------------------- server


class Server:
    """The server subprocess: started on a free loopback port, stopped at the end."""

    def __init__(self, root: Path, period: float) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(root), str(self.port), str(period)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise SystemExit(f"the server did not start:\n{err[-3000:]}")
            time.sleep(0.2)

    def memory_mib(self) -> dict[str, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM") if k in fields}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- reads


def _get(client: httpx.Client, path: str) -> int:
    """The status of a GET; 0 when the connection failed twice (an error, not fatal).

    uvicorn closes a keep-alive connection after a request whose handler raised (a 500),
    and a client may already have sent the next request on it: that one is retried once
    on a fresh connection.
    """
    for _attempt in range(2):
        try:
            return client.get(path).status_code
        except httpx.TransportError:
            continue
    return 0


def measure_reads(url: str, token: str, targets: dict[str, str], clients: int, rounds: int) -> dict[str, Any]:
    """p50/p95 of each target with ``clients`` threads pulling from one shuffled queue."""
    headers = {"Authorization": f"Bearer {token}"}
    results: dict[str, Any] = {}
    live: dict[str, str] = {}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as warm:
        for name, path in targets.items():
            status = _get(warm, path)  # warm-up, also tells what exists
            if status == 200:
                live[name] = path
            else:
                results[name] = {"path": path, "status": status, "missing": status == 404}
    work: queue.Queue[tuple[str, str]] = queue.Queue()
    jobs = [(n, p) for n, p in live.items() for _ in range(rounds)]
    random.Random(1).shuffle(jobs)
    for job in jobs:
        work.put(job)
    times: dict[str, list[float]] = {n: [] for n in live}
    errors: dict[str, int] = {n: 0 for n in live}
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=300) as c:
            while True:
                try:
                    name, path = work.get_nowait()
                except queue.Empty:
                    return
                t0 = time.perf_counter()
                status = _get(c, path)
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    times[name].append(elapsed)
                    errors[name] += status != 200

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - started
    for name, path in live.items():
        ms = times[name]
        results[name] = {
            "path": path,
            "status": 200,
            "n": len(ms),
            "errors": errors[name],
            "p50_ms": statistics.median(ms),
            "p95_ms": percentile(ms, 0.95),
            "max_ms": max(ms),
        }
    return {"targets": results, "wall_seconds": wall, "requests": len(jobs)}


def scheduler_status(url: str, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(
        f"{url}/api/scheduler", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()
    return answer


def wait_for_pass(url: str, token: str, timeout: float) -> dict[str, Any]:
    """Wait until a scheduler pass that started after now is running; its status (or the last seen)."""
    since = time.time()
    deadline = time.monotonic() + timeout
    status = scheduler_status(url, token)
    while time.monotonic() < deadline:
        started = status.get("last_started_at")
        if status.get("running") and started and _epoch(started) >= since:
            break
        time.sleep(0.5)
        status = scheduler_status(url, token)
    return status


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------- ingest


def ingest_batches(start: date, n_batches: int, size: int, tag: str) -> list[pa.Table]:
    """``n_batches`` tables of ``size`` new requests (the simulator's, 20 candidates each).

    Request ids get a run-specific prefix so no batch repeats a stored key (a repeat would
    be a duplicate, and dropping duplicates is cheaper than storing).
    """
    need = n_batches * size
    world = simulate(
        SimConfig(seed=4242, start=start, days=1, requests_per_day=int(need * 1.3), incidents=[])
    )
    requests = world.tables["requests"]
    if requests.num_rows < need:
        raise SystemExit(f"the simulator made {requests.num_rows} requests, {need} needed")
    ids = pc.binary_join_element_wise(pa.scalar(f"{tag}-"), requests.column("request_id"), "")
    index = requests.schema.get_field_index("request_id")
    requests = requests.set_column(index, "request_id", ids)
    return [requests.slice(i * size, size) for i in range(n_batches)]


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def measure_ingest(
    url: str,
    token: str,
    root: Path,
    http_bodies: list[bytes],
    direct_bodies: list[bytes],
    size: int,
    clients: int,
) -> dict[str, Any]:
    """HTTP rounds and direct rounds alternately, so both meet the same background load.

    An HTTP round posts ``clients`` bodies at once, one per client thread (serving replicas
    post concurrently; the server commits concurrent bodies together); its time runs from
    the first post to the last answer, each answer coming after its body is committed. The
    floor is a direct round: the same number of equal bodies through ``ingest_files`` in
    this process, one after another. The server's scheduler wakes up on the new data and
    competes for the CPU; alternating gives both the same share of that.
    """
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.apache.parquet"}
    seconds: dict[str, list[float]] = {"http": [], "direct": []}
    calls: list[float] = []
    stored = {"http": 0, "direct": 0}

    def post(client: httpx.Client, i: int, body: bytes) -> int:
        t0 = time.perf_counter()
        response = client.post("/api/ingest/requests", params={"label": f"bench-{i}"}, content=body)
        calls.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise SystemExit(f"HTTP ingest failed ({response.status_code}): {response.text[:2000]}")
        return int(response.json()["rows_stored"])

    with (
        tempfile.TemporaryDirectory(prefix="recops-bench-direct-") as tmp,
        Workspace.open(root) as ws,
        ThreadPoolExecutor(clients) as pool,
    ):
        sessions = [httpx.Client(base_url=url, headers=headers, timeout=600) for _ in range(clients)]
        paths = []
        for i, body in enumerate(direct_bodies):
            path = Path(tmp) / f"batch-{i}.parquet"
            path.write_bytes(body)
            paths.append(path)
        for start in range(0, len(http_bodies), clients):
            chunk = list(enumerate(http_bodies))[start : start + clients]
            t0 = time.perf_counter()
            done = pool.map(lambda item: post(sessions[item[0] % clients], *item), chunk)
            stored["http"] += sum(done)
            seconds["http"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for path in paths[start : start + clients]:
                stored["direct"] += ingest_files(ws.lake, "requests", [path]).rows_stored
            seconds["direct"].append(time.perf_counter() - t0)
        for session in sessions:
            session.close()
    for way, n in stored.items():
        if n != size * len(http_bodies):
            print(f"warning: {way} stored {n} of {size * len(http_bodies)} requests", file=sys.stderr)
    http = _ingest_stats(stored["http"], seconds["http"], calls, sum(len(b) for b in http_bodies))
    direct = _ingest_stats(stored["direct"], seconds["direct"], None, sum(len(b) for b in direct_bodies))
    return {
        "clients": clients,
        "http": http,
        "direct": direct,
        "ratio": http["requests_per_s"] / direct["requests_per_s"],
    }


def _ingest_stats(
    stored: int, rounds: list[float], calls: list[float] | None, body_bytes: int
) -> dict[str, Any]:
    """Throughput counts only time spent in the rounds (each ends when its bodies are committed)."""
    wall = sum(rounds)
    latencies = calls if calls is not None else rounds
    return {
        "rounds": len(rounds),
        "requests_stored": stored,
        "seconds": wall,
        "requests_per_s": stored / wall if wall else 0.0,
        "call_p50_ms": statistics.median(latencies) * 1000,
        "call_p95_ms": percentile(latencies, 0.95) * 1000,
        "body_mib": body_bytes / 2**20,
    }


# ---------------------------------------------------------------- report


def print_report(r: dict[str, Any]) -> None:
    w = r["workspace"]
    built = "reused" if w["reused"] else f"built in {w['build_seconds']:.0f} s"
    print(
        f"\nworkspace: {w['days']} days x {w['requests_per_day']:,} requests/day ({built}); "
        f"{r['clients']} clients, {r['rounds']} rounds per target, "
        f"scheduler every {r['schedule_seconds']:g} s"
    )
    reads = r["reads"]["targets"]
    floor = reads.get("healthz (floor)", {}).get("p50_ms")
    print(f"\n{'target':22}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'x floor':>9}  verdict")
    for name, s in reads.items():
        if s.get("status") != 200:
            state = "MISSING (404)" if s.get("missing") else f"ERROR {s.get('status') or 'connection'}"
            print(f"{name:22}{'':>36}  {state}")
            continue
        ratio = s["p50_ms"] / floor if floor else float("nan")
        page = name in r["page_names"]
        verdict = ("ok" if s["p95_ms"] < PAGE_TARGET_MS else "SLOW") if page else ""
        errs = f" ({s['errors']} errors)" if s["errors"] else ""
        print(f"{name:22}{s['p50_ms']:9.1f}{s['p95_ms']:9.1f}{s['max_ms']:9.1f}{ratio:9.1f}  {verdict}{errs}")
    http, direct = r["ingest"]["http"], r["ingest"]["direct"]
    clients = r["ingest"]["clients"]
    print(f"\n{'ingest':30}{'req/s':>10}{'call p50 ms':>13}{'call p95 ms':>13}{'stored':>10}")
    for name, s in ((f"HTTP (Parquet, {clients} clients)", http), ("direct ingest_files, serial", direct)):
        print(
            f"{name:30}{s['requests_per_s']:10,.0f}{s['call_p50_ms']:13.0f}{s['call_p95_ms']:13.0f}"
            f"{s['requests_stored']:10,}"
        )
    print(f"HTTP / direct: {r['ingest']['ratio']:.2f}")
    size = r["sizing"]
    print(
        f"\nlake {size['lake_bytes'] / 2**20:,.1f} MiB ({size['lake_bytes_per_day'] / 2**20:,.2f} MiB per "
        f"simulated day); store ({size['store_url_kind']}) "
        f"{(size['store_bytes'] or 0) / 2**20:,.1f} MiB; server RSS {r['server_memory_mib']}"
    )
    before = r.get("scheduler_before_reads") or {}
    print(
        f"reads measured while a scheduler pass over the new data ran: {bool(before.get('running'))} "
        f"(started {before.get('last_started_at')}); running when the reads ended: "
        f"{(r.get('scheduler') or {}).get('running')}"
    )
    sched = r.get("scheduler") or {}
    print(
        f"scheduler during the bench: {sched.get('runs')} passes done, one running at the end: "
        f"{sched.get('running')}, last pass {sched.get('last_seconds')} s, "
        f"failures {sched.get('failures')}, last error {sched.get('last_error')}"
    )
    if "monitor_run" in r:
        m = r["monitor_run"]
        print(f"full monitor run over the range: {m['seconds']:.1f} s, peak {m['peak_mib']:.0f} MiB")
    for note in r["notes"]:
        print(f"note: {note}")
    pages = [reads[n] for n in r["page_names"] if reads.get(n, {}).get("status") == 200]
    missing = [n for n in r["page_names"] if reads.get(n, {}).get("status") != 200]
    worst = max((p["p95_ms"] for p in pages), default=float("nan"))
    pages_met = "met" if worst < PAGE_TARGET_MS and not missing else "NOT met"
    rps = http["requests_per_s"]
    absent = f", missing: {', '.join(missing)}" if missing else ""
    print(
        f"\ntargets: page p95 < {PAGE_TARGET_MS:.0f} ms: {pages_met} "
        f"(worst {worst:.0f} ms over {len(pages)} pages{absent}); "
        f"HTTP ingest >= {INGEST_TARGET_RPS:,.0f} req/s: {'met' if rps >= INGEST_TARGET_RPS else 'NOT met'} "
        f"({rps:,.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=42)
    parser.add_argument("--requests-per-day", type=int, default=50_000)
    parser.add_argument("--keep", help="build the workspace here and keep it; reuse it when built before")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20, help="fetches per page or API target")
    parser.add_argument("--schedule-seconds", type=float, default=15.0, help="the server's scheduler period")
    parser.add_argument("--ingest-batches", type=int, default=20)
    parser.add_argument("--ingest-clients", type=int, default=4, help="clients posting bodies at once")
    parser.add_argument("--batch-requests", type=int, default=5_000)
    parser.add_argument("--no-monitor-timing", action="store_true", help="skip the full monitor run timing")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    quiet = args.json
    root, info = workspace(args, quiet)
    days = int(info["days"])
    stamp = time.strftime("%Y%m%d%H%M%S")
    with Workspace.open(root) as ws:
        viewer = create_token(ws.store, f"bench-viewer-{stamp}", "viewer", created_by="bench")
        ingester = create_token(ws.store, f"bench-ingest-{stamp}", "ingest", created_by="bench")
    targets = discover(root)
    end = START + timedelta(days=days)
    log(quiet, "simulating the ingest batches ...")
    tables = ingest_batches(end, 2 * args.ingest_batches, args.batch_requests, f"b{stamp}")
    bodies = [parquet_bytes(t) for t in tables]
    http_bodies, direct_bodies = bodies[: args.ingest_batches], bodies[args.ingest_batches :]
    results: dict[str, Any] = {
        "workspace": info,
        "clients": args.clients,
        "rounds": args.rounds,
        "schedule_seconds": args.schedule_seconds,
        "page_names": list(targets.pages),
        "notes": targets.notes,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    results["sizing"] = sizing(root, days)  # before this bench adds anything
    log(quiet, "starting the server (scheduler on) ...")
    server = Server(root, args.schedule_seconds)
    try:
        all_targets = {"healthz (floor)": "/healthz", **targets.pages, **targets.api}
        log(quiet, f"ingest: {args.ingest_batches} x {args.batch_requests:,} requests, HTTP and direct ...")
        results["ingest"] = measure_ingest(
            server.url, ingester, root, http_bodies, direct_bodies, args.batch_requests, args.ingest_clients
        )
        # The pages are read while the scheduler's pass over the data just ingested runs (the
        # monitors, detection and diagnoses of a new day): the busiest the server gets.
        log(quiet, "waiting for the scheduler's pass over the new data ...")
        results["scheduler_before_reads"] = wait_for_pass(server.url, viewer, args.schedule_seconds + 60)
        log(quiet, f"reads: {len(all_targets)} targets x {args.rounds} rounds, {args.clients} clients ...")
        results["reads"] = measure_reads(server.url, viewer, all_targets, args.clients, args.rounds)
        results["scheduler"] = scheduler_status(server.url, viewer)
        results["server_memory_mib"] = server.memory_mib()
    finally:
        server.stop()
    if not args.no_monitor_timing:
        log(quiet, "timing a full monitor run over the simulated range ...")
        command = [RECOPS, "monitor", "run", "--from", START.isoformat(), "--to", end.isoformat(),
                   "--no-detect", "--json", "-w", str(root)]  # fmt: skip
        run = timed(command)
        results["monitor_run"] = {
            "command": " ".join(command[1:]),
            "seconds": run["seconds"],
            "peak_mib": run["peak_mib"],
        }
    if not args.keep:
        shutil.rmtree(root.parent, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print_report(results)


if __name__ == "__main__":
    main()
