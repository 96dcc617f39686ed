"""Registry benchmark: recops vs MLflow's client, side by side, both on local SQLite.

Registers N versions (default 1,000) and resolves an alias M times (default 10,000) with
each registry as in-process library calls. MLflow runs in its own venv (it pins an older
pyarrow) through a subprocess that times its own calls, so neither side pays for the
other's imports. Nothing is cached on either side: every lookup queries the database,
and after the timed loop the alias is moved and the next lookup must see the move.

    .venv/bin/python bench/registry.py [--versions 1000] [--lookups 10000] [--json]

Needs ``.venv-mlflow`` (``make mlflow-venv``); ``--no-mlflow`` runs recops alone.
Targets (issue 3): alias lookups at least 10x faster than MLflow's and under 1 ms p99.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_PYTHON = ROOT / ".venv-mlflow" / "bin" / "python"

MLFLOW_SCRIPT = r"""
import json, sys, time, logging, warnings
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
db, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
from mlflow import MlflowClient
uri = f"sqlite:///{db}"
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.create_registered_model("bench")
setup = time.perf_counter() - t0
reg = []
for i in range(1, n + 1):
    t = time.perf_counter_ns()
    client.create_model_version("bench", source=f"s3://models/bench/{i}", tags={"i": str(i)})
    reg.append(time.perf_counter_ns() - t)
client.set_registered_model_alias("bench", "production", str(n // 2))
look = []
for _ in range(m):
    t = time.perf_counter_ns()
    mv = client.get_model_version_by_alias("bench", "production")
    look.append(time.perf_counter_ns() - t)
    assert str(mv.version) == str(n // 2)
client.set_registered_model_alias("bench", "production", str(n))
fresh = str(client.get_model_version_by_alias("bench", "production").version) == str(n)
print(json.dumps({"setup_s": setup, "register_ns": reg, "lookup_ns": look, "sees_move": fresh}))
"""


def _stats(ns: list[int]) -> dict[str, float]:
    ordered = sorted(ns)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ns),
        "median_ms": statistics.median(ordered) / 1e6,
        "p99_ms": p99 / 1e6,
        "mean_ms": statistics.fmean(ordered) / 1e6,
        "total_s": sum(ordered) / 1e9,
    }


def bench_recops(workdir: Path, n: int, m: int, store_url: str | None) -> dict[str, Any]:
    from recops.registry import register_version, resolve_alias, set_alias
    from recops.store import Store

    store = Store(store_url or f"sqlite:///{workdir / 'recops.db'}")
    reg = []
    for i in range(1, n + 1):
        t = time.perf_counter_ns()
        register_version(
            store,
            model="bench",
            version=str(i),
            artifact_uri=f"s3://models/bench/{i}",
            tags={"i": str(i)},
            created_by="bench",
        )
        reg.append(time.perf_counter_ns() - t)
    set_alias(store, "bench", "production", str(n // 2), actor="bench")
    look = []
    for _ in range(m):
        t = time.perf_counter_ns()
        version, _uri = resolve_alias(store, "bench", "production")
        look.append(time.perf_counter_ns() - t)
        assert version == str(n // 2)
    set_alias(store, "bench", "production", str(n), actor="bench")
    fresh = resolve_alias(store, "bench", "production")[0] == str(n)
    store.close()
    return {"register": _stats(reg), "lookup": _stats(look), "sees_move": fresh}


def bench_mlflow(workdir: Path, n: int, m: int, python: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", MLFLOW_SCRIPT, str(workdir / "mlflow.db"), str(n), str(m)],
        capture_output=True,
        text=True,
        check=False,
        cwd=workdir,
    )
    if done.returncode != 0:
        raise SystemExit(f"mlflow benchmark failed:\n{done.stderr[-3000:]}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "register": _stats(raw["register_ns"]),
        "lookup": _stats(raw["lookup_ns"]),
        "sees_move": raw["sees_move"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--store-url", help="run recops on this store instead of a fresh SQLite file")
    parser.add_argument("--mlflow-python", type=Path, default=MLFLOW_PYTHON)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recops-bench-") as tmp:
        work = Path(tmp)
        results: dict[str, Any] = {"versions": args.versions, "lookups": args.lookups}
        results["recops"] = bench_recops(work, args.versions, args.lookups, args.store_url)
        if not args.no_mlflow:
            if not args.mlflow_python.exists():
                raise SystemExit(
                    f"{args.mlflow_python} not found: run `make mlflow-venv` or pass --no-mlflow"
                )
            results["mlflow"] = bench_mlflow(work, args.versions, args.lookups, args.mlflow_python)
    if "mlflow" in results:
        r, f = results["recops"], results["mlflow"]
        results["speedup"] = {
            "lookup_median": f["lookup"]["median_ms"] / r["lookup"]["median_ms"],
            "lookup_p99": f["lookup"]["p99_ms"] / r["lookup"]["p99_ms"],
            "register_median": f["register"]["median_ms"] / r["register"]["median_ms"],
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{args.versions} registrations, {args.lookups} alias lookups, recops on "
        f"{args.store_url.split(':', 1)[0] if args.store_url else 'local SQLite'}"
        f"{'' if args.no_mlflow else ', MLflow on local SQLite'} (python {sys.version.split()[0]})"
    )
    header = f"{'':26}{'median ms':>11}{'p99 ms':>10}{'mean ms':>10}{'total s':>10}"
    print(header)
    for system in ("recops", "mlflow"):
        if system not in results:
            continue
        for op in ("register", "lookup"):
            s = results[system][op]
            label = f"{system} {op}"
            print(
                f"{label:26}{s['median_ms']:11.3f}{s['p99_ms']:10.3f}{s['mean_ms']:10.3f}{s['total_s']:10.2f}"
            )
        print(f"{'':26}sees an alias move at once: {results[system]['sees_move']}")
    if "speedup" in results:
        sp = results["speedup"]
        print(
            f"recops vs mlflow: lookup {sp['lookup_median']:.1f}x faster (median), "
            f"{sp['lookup_p99']:.1f}x (p99); "
            f"register {sp['register_median']:.1f}x"
        )
    p99 = results["recops"]["lookup"]["p99_ms"]
    ok = p99 < 1.0 and results.get("speedup", {}).get("lookup_median", 10.0) >= 10.0
    print(f"target (>=10x MLflow, p99 < 1 ms): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
