"""Drift detection, fast and right: recops beside Evidently, whylogs, NannyML and the read floor.

Run by hand (not in CI):

    .venv/bin/python bench/drift.py                       # recops + floor, 3 seeds, 1M rows
    .venv/bin/python bench/drift.py --peers evidently,whylogs,nannyml
    .venv/bin/python bench/drift.py --rows 10000000 --seeds 1   # recops + floor only
    .venv/bin/python bench/drift.py --json > results.json

For each seed it writes a reference and a current window (Parquet, row groups of 128Ki
rows) with 40 numeric and 10 categorical features, and injects drift of modest size
into a known 10 of them (``DRIFTED``; the sizes are written below, chosen from the
issue's examples before any tool was run). Then, each in its own process and on the
same files:

- the floor: DuckDB reading every column of both files (``sum`` of every numeric
  column, ``sum(length(...))`` of every string column), timed inside a warm process;
- ``recops drift REF CUR --json`` (whole process: interpreter start, imports, reading,
  counting, statistics, JSON out), with the compute time the report gives;
- ``recops drift REF.profile.json CUR``: against a stored profile, whose compute is
  compared with the floor for reading the current window alone;
- with ``--peers``: Evidently's DataDriftPreset, whylogs' drift scores and NannyML's
  univariate drift, each installed in its own venv (pip, from the registry) under
  ``--venvs`` and run with its defaults by ``bench/drift_peers/<tool>.py``.

Wall time and peak memory come from ``/usr/bin/time``. A wrong verdict is a drifted
column not flagged or an undrifted one flagged. Times are medians over ``--repeat``
runs (peers: one run) and then over seeds; the machine is shared, so ratios measured in
the same run matter more than absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(Path(__file__).parent))
from _measure import timed  # noqa: E402

PYTHON = Path(sys.executable)
RECOPS = [str(PYTHON), "-m", "recops.cli"]
ROW_GROUP = 131_072
CHUNK = 1_000_000

NUMERIC_FAMILIES = ("normal", "heavy", "counts", "ratio")
CARDINALITIES = (5, 20, 100, 500, 1000, 5000, 10_000, 20_000, 50_000, 50_000)
WITH_NULLS = ("normal_03", "heavy_04", "counts_05", "ratio_06", "cat_07")

# The injected drift, fixed before any tool ran (issue 4's examples, modest sizes).
DRIFTED: dict[str, str] = {
    "normal_00": "mean shift +0.3 sd",
    "normal_01": "spread x1.3",
    "heavy_00": "mean shift +0.5 sd (Student t, 3 dof)",
    "heavy_05": "spread x1.6 about the median (lognormal)",
    "counts_00": "zero share cut by a quarter (e.g. 50% -> 38%)",
    "counts_01": "rate x1.25",
    "ratio_00": "beta(2, 5) -> beta(2.6, 5)",
    "cat_01": "30% of traffic moved from the 3 most popular values to the other 17 (20 values)",
    "cat_04": "20% of traffic moved from the top values to the tail (1,000 values)",
    "cat_08": "turnover: the 10 most popular item ids replaced by new ids (50,000 values)",
}
PEERS = ("evidently", "whylogs", "nannyml")
PEER_PACKAGES = {
    "evidently": ["evidently>=0.7,<0.8", "pandas<3", "pyarrow"],
    "whylogs": ["whylogs[viz]>=1.6,<1.7", "pandas<3", "pyarrow"],
    "nannyml": ["nannyml>=0.13,<0.14", "statsmodels", "pyarrow"],
}


# --- data ------------------------------------------------------------------------------------------


def zipf_ranks(g: np.random.Generator, n: int, values: int, exponent: float) -> np.ndarray:
    """Ranks 0..values-1 drawn with P(rank k) proportional to 1 / (k + 1) ** exponent."""
    weights = 1.0 / np.arange(1, values + 1) ** exponent
    cdf = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cdf, g.random(n), side="right"), values - 1)


def make_window(seed: int, rows: int, drifted: bool, chunk: int = 0) -> pa.Table:
    """One window (or one chunk of it): column parameters depend only on ``seed``."""
    params = np.random.default_rng(seed)
    g = np.random.default_rng([seed, 1 if drifted else 0] + ([chunk] if chunk else []))
    columns: dict[str, Any] = {}
    for family in NUMERIC_FAMILIES:
        for i in range(10):
            name = f"{family}_{i:02d}"
            columns[name] = _numeric(family, name, params, g, rows, drifted and name in DRIFTED)
    for i, values in enumerate(CARDINALITIES):
        name = f"cat_{i:02d}"
        columns[name] = _categorical(name, values, params, g, rows, drifted and name in DRIFTED)
    for name in WITH_NULLS:
        mask = g.random(rows) < 0.02
        column = columns[name]
        columns[name] = (
            pa.array(column, mask=mask)
            if isinstance(column, np.ndarray)
            else pa.array(np.where(mask, None, np.asarray(column.to_pylist(), dtype=object)), pa.string())
        )
    return pa.table(columns)


def _numeric(
    family: str, name: str, params: np.random.Generator, g: np.random.Generator, rows: int, drift: bool
) -> np.ndarray:
    if family == "normal":
        mu, sd = params.uniform(-5, 5), params.uniform(0.5, 3)
        shift, scale = (0.3, 1.0) if name == "normal_00" else (0.0, 1.3) if name == "normal_01" else (0, 1)
        if not drift:
            shift, scale = 0.0, 1.0
        return mu + sd * (shift + scale * g.standard_normal(rows))
    if family == "heavy":
        if int(name[-2:]) < 5:  # Student t with 3 dof, scaled; sd = scale * sqrt(3)
            scale = params.uniform(0.5, 2)
            x = scale * g.standard_t(3, rows)
            return x + (0.5 * scale * np.sqrt(3) if drift else 0.0)
        sigma, median = params.uniform(0.6, 1.2), params.uniform(1, 100)
        x = median * g.lognormal(0.0, sigma, rows)
        return median + 1.6 * (x - median) if drift else x
    if family == "counts":
        zero, rate = params.uniform(0.3, 0.7), params.uniform(1, 8)
        if drift and name == "counts_00":
            zero *= 0.76
        if drift and name == "counts_01":
            rate *= 1.25
        return np.where(g.random(rows) < zero, 0, g.poisson(rate, rows) + 1).astype(np.int64)
    a, b = params.uniform(1, 4), params.uniform(2, 8)
    if drift:
        a *= 1.3
    return g.beta(a, b, rows)


def _categorical(
    name: str, values: int, params: np.random.Generator, g: np.random.Generator, rows: int, drift: bool
) -> pa.Array:
    exponent = params.uniform(1.05, 1.4)
    ids = params.permutation(values * 3)[:values]  # item ids are not their popularity ranks
    ranks = zipf_ranks(g, rows, values, exponent)
    labels = ids[ranks].astype(np.int64)
    if drift and name == "cat_01":  # 30% of rows move from the 3 most popular values to the other 17
        top = ranks < 3
        moved = top & (g.random(rows) < 0.30 / max(float(top.mean()), 1e-9))
        labels[moved] = ids[g.integers(3, values, int(moved.sum()))]
    elif drift and name == "cat_04":  # 20% of rows move from the top 10 values to the tail
        top = ranks < 10
        moved = top & (g.random(rows) < 0.20 / max(float(top.mean()), 1e-9))
        labels[moved] = ids[g.integers(100, values, int(moved.sum()))]
    elif drift and name == "cat_08":  # the 10 most popular ids are replaced by new ones
        top = ranks < 10
        labels[top] = values * 3 + ranks[top]
    prefix = "item_" if values >= 5000 else "v"
    return pa.array(np.char.add(prefix, labels.astype(str)))


def write_windows(folder: Path, seed: int, rows: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / f"ref-{seed}.parquet", folder / f"cur-{seed}.parquet"
    for path, drifted in zip(paths, (False, True), strict=True):
        if path.exists():
            continue
        tmp = path.with_suffix(".tmp")
        writer = None
        for chunk, start in enumerate(range(0, rows, CHUNK)):  # 10M-row windows: a million at a time
            table = make_window(seed, min(CHUNK, rows - start), drifted, chunk)
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
        assert writer is not None
        writer.close()
        tmp.rename(path)
    return paths


# --- running tools -----------------------------------------------------------------------------------


FLOOR_CODE = """
import duckdb, json, sys, time
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
def read(path):
    cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    aggs = [f'sum(length("{n}"))' if t == 'VARCHAR' else f'sum("{n}")' for n, t, *_ in cols]
    started = time.perf_counter()
    con.execute(f"SELECT {', '.join(aggs)} FROM read_parquet('{path}')").fetchall()
    return time.perf_counter() - started
paths = sys.argv[1:]
read(paths[0])  # warm: parse metadata, page cache
both = [sum(read(p) for p in paths) for _ in range(3)]
current = [read(paths[-1]) for _ in range(3)]
print(json.dumps({"both": sorted(both)[1], "current": sorted(current)[1]}))
"""


def floor(ref: Path, cur: Path) -> dict[str, float]:
    out = timed([str(PYTHON), "-c", FLOOR_CODE, str(ref), str(cur)])
    data = json.loads(out["stdout"])
    data["process_seconds"] = out["seconds"]
    return data  # type: ignore[no-any-return]


def import_seconds() -> float:
    """Interpreter start plus importing the CLI (what every recops command pays)."""
    runs = [timed([str(PYTHON), "-c", "import recops.cli.main"])["seconds"] for _ in range(3)]
    return statistics.median(runs)


def run_recops(ref: Path, cur: Path, profile: Path | None = None) -> dict[str, Any]:
    args = [*RECOPS, "drift", str(profile or ref), str(cur), "--json"]
    out = timed(args)
    report = json.loads(out["stdout"])
    flagged = {c["column"] for c in report["columns"] if c["verdict"] in ("drift", "missing")}
    insufficient = [c["column"] for c in report["columns"] if c["verdict"] == "insufficient data"]
    return {
        "seconds": out["seconds"],
        "peak_mib": out["peak_mib"],
        "compute_seconds": report["timings"]["total"],
        "flagged": sorted(flagged),
        "insufficient": insufficient,
        "statistics": {c["column"]: c["statistic"] for c in report["columns"]},
    }


def peer_python(tool: str, venvs: Path) -> Path:
    """The tool's own venv (created and filled by pip from the registry on first use)."""
    venv = venvs / tool
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-U", "pip"], check=True, capture_output=True)
        subprocess.run([*pip, *PEER_PACKAGES[tool]], check=True)
        marker.write_text(" ".join(PEER_PACKAGES[tool]))
    return python


def run_peer(tool: str, python: Path, ref: Path, cur: Path) -> dict[str, Any]:
    categorical = [f"cat_{i:02d}" for i in range(len(CARDINALITIES))]
    args = [
        str(python),
        str(HERE / "drift_peers" / f"{tool}_run.py"),
        str(ref),
        str(cur),
        ",".join(categorical),
    ]
    # No usage analytics from the tools (there is no network here anyway).
    quiet = {"NML_DISABLE_USAGE_LOGGING": "1", "WHYLOGS_NO_ANALYTICS": "True", "DO_NOT_TRACK": "1"}
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **quiet}
    out = timed(args, env=env, timeout=7200)
    result = json.loads(out["stdout"].strip().splitlines()[-1])
    return {
        "seconds": out["seconds"],
        "peak_mib": out["peak_mib"],
        "flagged": sorted(result["flagged"]),
        "version": result.get("version"),
    }


def wrong(flagged: list[str], columns: list[str]) -> dict[str, Any]:
    truth = set(DRIFTED)
    found = set(flagged)
    missed = sorted(truth - found)
    false_alarms = sorted(found - truth)
    return {"wrong": len(missed) + len(false_alarms), "missed": missed, "false_alarms": false_alarms}


#: The issue's budget for the 50-column HTML report: file size and Chromium load time.
HTML_BUDGET = {"bytes": 5_000_000, "chromium_load_seconds": 2.0}


def chromium_load(html: Path, repeat: int = 3) -> float | None:
    """Median seconds for Debian's Chromium (driven by Playwright) to load the report, a new page each time.

    None when Chromium or Playwright is not installed (``scripts/ensure-chromium.sh``).
    """
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    loads = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for _ in range(repeat):
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(html.as_uri(), wait_until="load")
            loads.append(time.perf_counter() - started)
            sections = page.locator("details").count()
            page.close()
        browser.close()
    if sections != 50:
        raise RuntimeError(f"{html}: Chromium shows {sections} column sections, not 50")
    return statistics.median(loads)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per window")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="runs of recops per seed (median)")
    parser.add_argument("--peers", default="", help=f"comma-separated, from {', '.join(PEERS)}")
    parser.add_argument("--data", type=Path, default=None, help="keep the generated files here")
    parser.add_argument("--venvs", type=Path, default=Path.home() / ".cache" / "recops-bench" / "venvs")
    parser.add_argument("--peers-only", action="store_true", help="skip recops and the floor")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    for peer in peers:
        if peer not in PEERS:
            parser.error(f"unknown peer {peer}")
    log = (lambda *_: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    results: dict[str, Any] = {"rows": args.rows, "drifted": DRIFTED, "seeds": [], "cpus": os.cpu_count()}
    # The machine may be shared: the 1-minute load average before and after says how much.
    results["load_average"] = [round(os.getloadavg()[0], 2)]
    with tempfile.TemporaryDirectory(prefix="recops-drift-bench-") as tmp:
        data = args.data or Path(tmp)
        results["import_seconds"] = 0.0 if args.peers_only else import_seconds()
        for seed in range(1, args.seeds + 1):
            log(f"seed {seed}: writing {args.rows:,}-row windows ...")
            ref, cur = write_windows(data, seed, args.rows)
            columns = pq.read_schema(ref).names
            row: dict[str, Any] = {"seed": seed}
            if not args.peers_only:
                _recops_rows(row, ref, cur, data, seed, columns, args.repeat, results, log)
            for peer in peers:
                log(f"  {peer} ...")
                try:
                    outcome = run_peer(peer, peer_python(peer, args.venvs), ref, cur)
                    outcome.update(wrong(outcome["flagged"], columns))
                except (RuntimeError, subprocess.SubprocessError, json.JSONDecodeError, IndexError) as exc:
                    outcome = {"error": str(exc)[-2000:]}
                row[peer] = outcome
                if "error" not in outcome:
                    log(f"  {peer}: {outcome['seconds']:.1f} s, {outcome['peak_mib']:.0f} MiB, "
                        f"{outcome['wrong']} wrong")  # fmt: skip
                else:
                    log(f"  {peer} failed: {outcome['error'][-300:]}")
            results["seeds"].append(row)
    results["load_average"].append(round(os.getloadavg()[0], 2))
    results["summary"] = summarize(results, peers)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print(json.dumps(results["summary"], indent=2))


def _recops_rows(
    row: dict[str, Any], ref: Path, cur: Path, data: Path, seed: int, columns: list[str], repeat: int,
    results: dict[str, Any], log: Any,
) -> None:  # fmt: skip
    runs = []
    for _ in range(repeat):
        row_floor = floor(ref, cur)
        runs.append((row_floor, run_recops(ref, cur)))
    row["floor"] = {k: median([r[0][k] for r in runs]) for k in runs[0][0]}
    recops = runs[len(runs) // 2][1]
    recops["seconds"] = median([r[1]["seconds"] for r in runs])
    recops["compute_seconds"] = median([r[1]["compute_seconds"] for r in runs])
    recops["peak_mib"] = max(r[1]["peak_mib"] for r in runs)
    recops.update(wrong(recops["flagged"], columns))
    row["recops"] = recops
    log(f"  floor {row['floor']['both']:.2f} s; recops {recops['seconds']:.2f} s "
        f"(compute {recops['compute_seconds']:.2f} s), {recops['peak_mib']:.0f} MiB, "
        f"{recops['wrong']} wrong {recops['missed'] + recops['false_alarms']}")  # fmt: skip
    profile = data / f"ref-{seed}.profile.json"
    timed([*RECOPS, "drift", str(ref), "--save-profile", str(profile), "--json"])
    stored = [run_recops(ref, cur, profile) for _ in range(repeat)]
    row["recops_profile"] = {
        "seconds": median([s["seconds"] for s in stored]),
        "compute_seconds": median([s["compute_seconds"] for s in stored]),
        "peak_mib": max(s["peak_mib"] for s in stored),
        **wrong(stored[0]["flagged"], columns),
    }
    log(f"  against a stored profile: compute {row['recops_profile']['compute_seconds']:.2f} s vs "
        f"reading the current window {row['floor']['current']:.2f} s")  # fmt: skip
    if seed == 1:
        html = data / "report.html"
        timed([*RECOPS, "drift", str(ref), str(cur), "--html", str(html), "--json"])
        size, load = html.stat().st_size, chromium_load(html)
        results["html"] = {"bytes": size, "chromium_load_seconds": load, "budget": HTML_BUDGET}
        loads = f"{load:.2f} s" if load is not None else "? s (no chromium or playwright here)"
        budget = f"{HTML_BUDGET['bytes'] / 1e6:.0f} MB, {HTML_BUDGET['chromium_load_seconds']:.0f} s"
        log(f"  HTML report of {len(columns)} columns: {size / 1e6:.2f} MB, Chromium loads it in {loads} "
            f"(budget {budget})")  # fmt: skip


def summarize(results: dict[str, Any], peers: list[str]) -> dict[str, Any]:
    seeds = results["seeds"]
    summary: dict[str, Any] = {"rows_per_window": results["rows"], "load_average": results["load_average"]}
    if all("recops" in s for s in seeds):
        summary.update(_recops_summary(results, seeds))
    for peer in peers:
        done = [s[peer] for s in seeds if "error" not in s.get(peer, {"error": 1})]
        if not done:
            summary[peer] = {"error": seeds[-1].get(peer, {}).get("error", "not run")[-500:]}
            continue
        summary[peer] = {
            "version": done[0].get("version"),
            "seconds": round(median([d["seconds"] for d in done]), 1),
            "peak_mib": round(max(d["peak_mib"] for d in done)),
            "wrong_per_seed": [d["wrong"] for d in done],
            "false_alarms_per_seed": [len(d["false_alarms"]) for d in done],
            "missed_per_seed": [len(d["missed"]) for d in done],
        }
    return summary


def _recops_summary(results: dict[str, Any], seeds: list[dict[str, Any]]) -> dict[str, Any]:
    floor_both = median([s["floor"]["both"] for s in seeds])
    floor_current = median([s["floor"]["current"] for s in seeds])
    recops_seconds = median([s["recops"]["seconds"] for s in seeds])
    return {
        "floor_read_both_seconds": round(floor_both, 3),
        # The 50-column HTML report of seed 1: its size and Chromium's load time.
        "html": results.get("html"),
        "recops": {
            "seconds": round(recops_seconds, 3),
            "ratio_to_floor": round(recops_seconds / floor_both, 2),
            "compute_seconds": round(median([s["recops"]["compute_seconds"] for s in seeds]), 3),
            "import_seconds": round(results["import_seconds"], 3),
            "peak_mib": round(max(s["recops"]["peak_mib"] for s in seeds)),
            "wrong_per_seed": [s["recops"]["wrong"] for s in seeds],
        },
        "recops_stored_profile": {
            "compute_seconds": round(median([s["recops_profile"]["compute_seconds"] for s in seeds]), 3),
            "floor_read_current_seconds": round(floor_current, 3),
            "ratio_to_floor": round(
                median([s["recops_profile"]["compute_seconds"] for s in seeds]) / floor_current, 2
            ),
            "wrong_per_seed": [s["recops_profile"]["wrong"] for s in seeds],
        },
    }


if __name__ == "__main__":
    main()
