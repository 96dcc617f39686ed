"""Benchmark: does ``diagnose`` rank the true cause of each injected incident first, and how fast?

Issue 7's acceptance, over simulated worlds built as ``bench/detection.py`` builds them
(three quiet weeks, then one incident of every kind placed by the simulator's defaults,
at least 20,000 requests a day; monitors and one detection pass as of the world's end).
For every harmful incident it takes the incident's first alert as the detection benchmark
credits it (data time in (start, end + 1 day]; naming the incident's entity, or of its
expected family and of the metric it moves: ``detection.on_target``), runs
``diagnose_alert`` on it and finds the rank of the true cause among the hypotheses
with a positive score. The true cause is read from the ground truth alone:

* ``stale_feature_group``: a hypothesis naming the feature group;
* ``upstream_schema_change``: a schema change of the source (and whether it names the
  changed column);
* ``late_arrivals``: late or missing arrivals of the source naming at least one of the
  affected partitions;
* ``latency_regression``: the stage on the surface (a stage hypothesis, or the service
  deploy naming that stage and surface);
* ``candidate_source_outage``: the candidate source;
* ``bad_deploy_segment``: the model version (the deploy or its slice), and whether the
  segment is named;
* ``slow_metric_decay``: model decay of the model.

An incident with no such alert is reported as such (a detection miss, not a diagnosis
one); the first alert of any kind in its span is then diagnosed as well and shown in
brackets. A long incident (the slow decay spans weeks) has unrelated alerts in its span
too (the detection benchmark measured 0.0–0.7 false alarms a week); they are not its alerts. When the ground
truth names the metric the incident moves and the first alert is on another metric (one
naming the incident's entity), the first alert on that metric is diagnosed too (column
"effect": its rank).

Timing, per diagnosis: the library call, the whole command (``recops diagnose --alert ID
--json`` in a fresh process: interpreter, imports, workspace, diagnosis, JSON) and its
floor, a plain read of every stored point of the periods the diagnosis reads.

    .venv/bin/python bench/diagnose.py                          # 5 worlds × 20,000 requests/day
    .venv/bin/python bench/diagnose.py --worlds 1 --keep /tmp/w # one world, kept for a rerun
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from detection import finish, judge_world, on_target, world_options, worlds

from recops.catalog import load_catalog
from recops.detect.alerts import Alert, list_alerts
from recops.diagnose.causes import Context
from recops.diagnose.contribution import week_before
from recops.diagnose.diagnose import alert_period, diagnose_alert
from recops.monitors.series import read_series
from recops.workspace import Workspace

GRACE = timedelta(days=1)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def matches(incident: dict[str, Any], h: dict[str, Any]) -> bool:
    """Whether hypothesis ``h`` (its JSON) names the incident's true cause."""
    kind, truth, e = incident["kind"], incident["entity"], h["entity"]
    if kind == "stale_feature_group":
        return e.get("feature_group") == truth["feature_group"]
    if kind == "upstream_schema_change":
        return h["kind"] == "schema_change" and e.get("source") == truth["source"]
    if kind == "late_arrivals":
        named = set(e.get("partitions") or [])
        return (
            h["kind"] == "arrival"
            and e.get("source") == truth["source"]
            and bool(named & set(truth["partitions"] + truth["missing_partitions"]))
        )
    if kind == "latency_regression":
        return e.get("stage") == truth["stage"] and e.get("surface") == truth["surface"]
    if kind == "candidate_source_outage":
        return e.get("candidate_source") == truth["candidate_source"]
    if kind == "bad_deploy_segment":
        return e.get("model_version") == truth["model_version"]
    if kind == "slow_metric_decay":
        return h["kind"] == "model_decay" and e.get("model") == truth["model"]
    return False


def fully_named(incident: dict[str, Any], h: dict[str, Any]) -> bool:
    """The matching hypothesis also names the details the ground truth gives (segment, column)."""
    truth, e = incident["entity"], h["entity"]
    if incident["kind"] == "bad_deploy_segment":
        segment = truth["segment"]
        return e.get("segment") == f"{segment['key']}={segment['value']}"
    if incident["kind"] == "upstream_schema_change":
        return truth["column"] in (e.get("columns") or [])
    return True


def first_alert(
    alerts: list[Alert], incident: dict[str, Any], family: dict[str, str]
) -> tuple[Alert | None, bool]:
    """The incident's first alert, by the rule the detection benchmark times it with
    (``on_target``: it names the incident's entity, or it is of the expected family and of
    the metric the incident moves), else the first alert of any kind in its span."""
    start, end = _at(incident["start"]), _at(incident["end"]) + GRACE
    inside = [a for a in alerts if start < a.data_time <= end]
    expected = [a for a in inside if on_target(a, incident, family)]
    if expected:
        return expected[0], True
    return (inside[0] if inside else None), False


def effect_alert(alerts: list[Alert], incident: dict[str, Any], first: Alert) -> Alert | None:
    """The first alert on the metric the incident moves, when the first alert is on another."""
    metric = (incident.get("effect") or {}).get("metric")
    if not metric or first.metric == metric:
        return None
    start, end = _at(incident["start"]), _at(incident["end"]) + GRACE
    return next((a for a in alerts if start < a.data_time <= end and a.metric == metric), None)


def rank_of(ws: Workspace, incident: dict[str, Any], alert: Alert) -> tuple[int | None, dict[str, Any]]:
    """The 1-based rank of the true cause among the hypotheses scored above 0 (None: absent)."""
    diagnosis = diagnose_alert(ws.store, ws.lake, ws.config, alert.id).to_json()
    scored = [h for h in diagnosis["hypotheses"] if h["score"] > 0]
    return next((i for i, h in enumerate(scored, 1) if matches(incident, h)), None), diagnosis


def floor_seconds(ws: Workspace, alert: Alert) -> float:
    """A plain read of every stored point of the periods a diagnosis of ``alert`` reads."""
    current, granularity = alert_period(ws.store, alert)
    t0 = time.perf_counter()
    for period in Context.periods_to_read(current, week_before(current), granularity):
        read_series(ws.store, granularity=granularity, start=period.start, end=period.end)
    return time.perf_counter() - t0


def command_seconds(root: Path, alert_id: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "recops.cli", "diagnose", "--alert", str(alert_id), "--json", "-w", str(root)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def diagnose_world(root: Path, truth: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    with Workspace.open(root) as ws:
        family = {d.name: d.family for d in load_catalog(ws.config.root)}
        alerts = sorted(list_alerts(ws.store), key=lambda a: (a.data_time, a.id))
        for incident in truth["incidents"]:
            if incident["benign"]:
                continue
            alert, expected = first_alert(alerts, incident, family)
            row: dict[str, Any] = {"kind": incident["kind"], "expected_family_alert": expected, "alert": None}
            if alert is not None:
                t0 = time.perf_counter()
                rank, diagnosis = rank_of(ws, incident, alert)
                seconds = time.perf_counter() - t0
                scored = [h for h in diagnosis["hypotheses"] if h["score"] > 0]
                row.update(
                    alert=" ".join(
                        x
                        for x in (
                            f"#{alert.id}",
                            alert.metric,
                            alert.subject,
                            alert.slice,
                            f"({alert.granularity})",
                        )
                        if x
                    ),
                    rank=rank,
                    named=fully_named(incident, scored[rank - 1]) if rank else False,
                    top=(
                        f"{scored[0]['kind']} {_short(scored[0]['entity'])} ({scored[0]['score']:.2f})"
                        if scored
                        else ""
                    ),
                    seconds=seconds,
                    points=diagnosis["points_read"],
                    command_seconds=command_seconds(root, alert.id),
                    floor_seconds=floor_seconds(ws, alert),
                )
                other = effect_alert(alerts, incident, alert)
                if other is not None:
                    row["effect_alert"] = f"#{other.id} {other.metric} {other.slice} ({other.granularity})"
                    row["effect_rank"] = rank_of(ws, incident, other)[0]
            rows.append(row)
    return rows


def _rank_text(row: dict[str, Any]) -> str:
    if row["alert"] is None:
        return "-"
    rank = "miss" if row.get("rank") is None else str(row["rank"])
    return rank if row["expected_family_alert"] else f"({rank})"


def _short(entity: dict[str, Any]) -> str:
    keep = ("feature_group", "source", "stage", "surface", "candidate_source", "model_version", "segment",
            "change_kind", "target", "feature", "slice", "model")  # fmt: skip
    return " ".join(f"{k}={entity[k]}" for k in keep if entity.get(k))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    world_options(parser, days=49, decay_gap_days=0, decay_days=None, requests_per_day=20_000)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="recops-bench-diagnose-") as tmp:
        t0 = time.perf_counter()
        for seed, root, truth, fresh in worlds(args, Path(tmp)):
            if fresh:
                judge_world(root, truth)
            built = time.perf_counter() - t0
            result = {"seed": seed, "build_seconds": built, "incidents": diagnose_world(root, truth)}
            results.append(result)
            if not args.json:
                report(result)
            sys.stdout.flush()
            t0 = time.perf_counter()
    finish(results, args, summarize)


def report(result: dict[str, Any]) -> None:
    print(f"\nworld seed {result['seed']} (built, monitored and judged in {result['build_seconds']:.0f} s)")
    header = f"{'incident':24} {'rank':>4} {'named':>5} {'lib s':>6} {'cmd s':>6} {'floor s':>7}"
    print(f"{header}  alert → top hypothesis")
    for row in result["incidents"]:
        if row["alert"] is None:
            print(f"{row['kind']:24} {'-':>4}  no alert in the incident's span")
            continue
        rank = "miss" if row["rank"] is None else str(row["rank"])
        if not row["expected_family_alert"]:
            rank = f"({rank})"
        times = f"{row['seconds']:6.2f} {row['command_seconds']:6.2f} {row['floor_seconds']:7.2f}"
        print(f"{row['kind']:24} {rank:>4} {row['named']!s:>5} {times}  {row['alert']} → {row['top']}")
        if "effect_alert" in row:
            effect = "miss" if row["effect_rank"] is None else row["effect_rank"]
            print(
                f"{'':24} {'':>4} first alert on the incident's metric: {row['effect_alert']}, rank {effect}"
            )


def summarize(results: list[dict[str, Any]]) -> None:
    kinds = [r["kind"] for r in results[0]["incidents"]]
    print(
        f"\nsummary over {len(results)} world(s): rank of the true cause on the incident's first alert "
        "('-': no alert at all; '(r)': none of the incident's, r on the first alert of another)"
    )
    for kind in kinds:
        rows = [next(x for x in r["incidents"] if x["kind"] == kind) for r in results]
        ranks = [_rank_text(x) for x in rows]
        expected = [x.get("rank") for x in rows if x["alert"] and x["expected_family_alert"]]
        first = sum(1 for r in expected if r == 1)
        top3 = sum(1 for r in expected if r is not None and r <= 3)
        effect = [x["effect_rank"] for x in rows if "effect_alert" in x]
        extra = f"  (first alert on its metric: ranks {effect})" if effect else ""
        print(f"{kind:24} ranks {ranks}  first {first}/{len(rows)}  top-3 {top3}/{len(rows)}{extra}")
    timed = [x for r in results for x in r["incidents"] if x["alert"]]
    if timed:
        print(
            "seconds per diagnosis: library max {:.2f}, whole command max {:.2f}, floor max {:.2f}".format(
                max(x["seconds"] for x in timed),
                max(x["command_seconds"] for x in timed),
                max(x["floor_seconds"] for x in timed),
            )
        )


if __name__ == "__main__":
    main()
