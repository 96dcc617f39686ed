"""``recops diff``: compare two windows, or two model versions over one window.

Four sections, side A (the reference) against side B:

* **the metric by slice**: two windows are compared on their stored points (the monitors'
  own numbers) with the contribution analysis of decision 0033 where the metric is a
  ratio or a count; two versions cannot be (a stored slice is one key, so "surface=search
  of v13" is not stored), so a few request-level metrics are recomputed from the lake per
  slice of each version (:data:`LAKE_METRICS`), and any other metric is shown from the
  stored ``model_version=`` slices only;
* **the candidate-source mix**: each source's share of the shown slots (two-proportion z);
* **feature distributions**: the drift engine (:func:`recops.drift.compare`) on the
  request features of both sides, A as reference; each side is a uniform sample of at
  most :data:`FEATURE_SAMPLE` requests, enough for the engine's effect-size thresholds;
* **latency**: end-to-end and per-stage p50/p95/p99, from the lake.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import duckdb

from recops.catalog import load_catalog
from recops.config import Config
from recops.diagnose.causes.evidence import shift
from recops.diagnose.causes.points import read_points
from recops.diagnose.contribution import Period, contributions_from_points, z_two_proportions
from recops.drift import compare
from recops.errors import InvalidInput, NotFound
from recops.lake import Lake
from recops.lake.sqltext import literal, quote
from recops.store import Store

FEATURE_SAMPLE = 200_000
#: Metrics recomputed from the lake per slice when comparing versions: numerator and
#: denominator over the side's requests (outcome events joined by request id).
LAKE_METRICS: dict[str, tuple[str, str]] = {
    "requests": ("count(*)", "NULL"),
    "error_rate": ("count(*) FILTER (WHERE r.status = 'error')", "count(*)"),
    "fallback_rate": ("count(*) FILTER (WHERE r.status = 'fallback')", "count(*)"),
    "ctr": ("sum(o.clicks)", "sum(o.impressions)"),
    "play_rate": ("sum(o.plays)", "sum(o.impressions)"),
}


@dataclass(frozen=True)
class Side:
    """One side of a diff: a window, optionally restricted to one model version."""

    label: str
    period: Period
    version: str | None = None

    def where(self, alias: str = "") -> tuple[str, dict[str, Any]]:
        p = f"{alias}." if alias else ""
        sql = f"{p}ts >= $start AND {p}ts < $end"
        params: dict[str, Any] = {"start": self.period.start, "end": self.period.end}
        if self.version is not None:
            sql += f" AND {p}model_version = $version"
            params["version"] = self.version
        return sql, params

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, **self.period.to_json(), "model_version": self.version}


@dataclass
class DiffReport:
    """What differs between side A and side B (each section a list of JSON-ready rows)."""

    metric: str
    subject: str
    a: Side
    b: Side
    metric_source: str = ""
    metric_by_slice: list[dict[str, Any]] = field(default_factory=list)
    candidate_mix: list[dict[str, Any]] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _jsonable(
            {
                "metric": self.metric,
                "subject": self.subject,
                "a": self.a.to_json(),
                "b": self.b.to_json(),
                "metric_source": self.metric_source,
                "metric_by_slice": self.metric_by_slice,
                "candidate_mix": self.candidate_mix,
                "features": self.features,
                "latency": self.latency,
                "notes": self.notes,
            }
        )
        return out


def diff_windows(
    store: Store,
    lake: Lake,
    config: Config,
    metric: str,
    a: Period,
    b: Period,
    *,
    subject: str = "",
    granularity: str | None = None,
) -> DiffReport:
    """Compare window ``b`` with window ``a``: the metric by slice from the stored points, the
    rest from the lake.

    Raises:
        NotFound: the metric has no all-traffic point in one of the windows.
    """
    report = DiffReport(
        metric, subject, Side(_label(a), a), Side(_label(b), b), metric_source="stored points"
    )
    catalog = load_catalog(config.root)
    definition = catalog.get(metric) if metric in catalog else None
    shortest = min(a.duration, b.duration)
    size = granularity or ("hour" if shortest <= timedelta(days=2) else "day")
    points = read_points(store, size, [a, b], metrics=[metric])
    if not points.series(metric, subject).within(a) or not points.series(metric, subject).within(b):
        if definition is None:
            catalog.get(metric)  # an unknown name: say so, with close matches
        raise NotFound(f"no {size} point of {metric!r} in both windows (a {_label(a)}, b {_label(b)})")
    unit = definition.unit if definition is not None else ""
    explained: dict[str, float | None] = {}
    try:
        contributions = contributions_from_points(
            points.table(metric, subject, b), points.table(metric, subject, a),
            metric=metric, current=b, baseline=a, subject=subject, granularity=size,
        )  # fmt: skip
        explained = {h.slice: h.explained_share for h in contributions.hypotheses}
    except (InvalidInput, NotFound):
        report.notes.append(f"{metric} is neither a ratio nor a count: no contribution analysis")
    for slice_ in points.slices(metric, subject):
        moved = shift(points.series(metric, subject, slice_), b, a, unit=unit)
        if moved is None:
            continue
        report.metric_by_slice.append(
            {
                "slice": slice_ or "(all)",
                "a": moved.baseline,
                "b": moved.current,
                "change": moved.change,
                "relative_change": moved.relative,
                "z": moved.z,
                "explained_share": explained.get(slice_),
            }
        )
    _lake_sections(report, lake, config)
    return report


def diff_versions(
    store: Store,
    lake: Lake,
    config: Config,
    metric: str,
    version_a: str,
    version_b: str,
    period: Period,
    *,
    subject: str = "",
) -> DiffReport:
    """Compare model version ``version_b`` with ``version_a`` over the same ``period``.

    Raises:
        NotFound: neither version served a request in the period.
    """
    a = Side(f"model_version={version_a}", period, version_a)
    b = Side(f"model_version={version_b}", period, version_b)
    report = DiffReport(metric, subject, a, b)
    con = lake.connect()
    try:
        served = {
            str(v): int(n)
            for v, n in con.execute(
                "SELECT model_version, count(*) FROM requests WHERE ts >= $start AND ts < $end "
                "AND model_version IN ($a, $b) GROUP BY ALL",
                {"start": period.start, "end": period.end, "a": version_a, "b": version_b},
            ).fetchall()
        }
        for v in (version_a, version_b):
            if v not in served:
                raise NotFound(f"model version {v!r} served no request in {_label(period)}")
        if metric in LAKE_METRICS and not subject:
            report.metric_source = "lake"
            report.metric_by_slice = _lake_metric(con, config, metric, a, b)
        else:
            report.metric_source = "stored points (model_version slices)"
            report.notes.append(
                f"{metric} is not recomputed from the lake per slice ({', '.join(LAKE_METRICS)} are): "
                "only the versions' own stored series are compared"
            )
            report.metric_by_slice = _stored_versions(store, metric, subject, a, b)
    finally:
        con.close()
    _lake_sections(report, lake, config)
    return report


# -- the metric ----------------------------------------------------------------------------------


def _lake_metric(
    con: duckdb.DuckDBPyConnection, config: Config, metric: str, a: Side, b: Side
) -> list[dict[str, Any]]:
    num, den = LAKE_METRICS[metric]
    keys = list(config.monitors.context_keys)
    dims = ["r.surface", *[f"r.context[{literal(k)}]" for k in keys]]
    names = ["surface", *keys]
    sets = ", ".join(["()", *[f"({d})" for d in dims]])
    grouping = ", ".join(f"GROUPING({d}) AS g{i}" for i, d in enumerate(dims))
    rows: dict[str, dict[str, float | None]] = {}
    for side_name, side in (("a", a), ("b", b)):
        where, params = side.where("r")
        outcomes = (
            "LEFT JOIN (SELECT request_id, count(*) FILTER (WHERE event = 'click') AS clicks, "
            "count(*) FILTER (WHERE event = 'impression') AS impressions, "
            "count(*) FILTER (WHERE event = 'play') AS plays FROM outcomes "
            "WHERE ts >= $start AND ts < $end + INTERVAL 1 DAY GROUP BY request_id) o USING (request_id)"
            if "o." in num
            else ""
        )
        sql = (
            f"SELECT {', '.join(dims)}, {grouping}, {num} AS num, {den} AS den "
            f"FROM requests r {outcomes} WHERE {where} GROUP BY GROUPING SETS ({sets})"
        )
        for row in con.execute(sql, params).fetchall():
            values, flags, n, d = row[: len(dims)], row[len(dims) : 2 * len(dims)], row[-2], row[-1]
            label = "(all)"
            for i, flag in enumerate(flags):
                if flag == 0:
                    label = f"{names[i]}={values[i] if values[i] is not None else '(none)'}"
            cell = rows.setdefault(label, {})
            cell[f"{side_name}_num"] = float(n) if n is not None else None
            cell[f"{side_name}_den"] = float(d) if d is not None else None
    out = []
    for label, cell in sorted(rows.items(), key=lambda kv: (kv[0] != "(all)", kv[0])):
        n0, d0, n1, d1 = (cell.get(k) for k in ("a_num", "a_den", "b_num", "b_den"))
        if den == "NULL":
            va, vb, z = n0, n1, None
        else:
            va = n0 / d0 if n0 is not None and d0 else None
            vb = n1 / d1 if n1 is not None and d1 else None
            z = z_two_proportions(n1 or 0.0, d1 or 0.0, n0 or 0.0, d0 or 0.0) if d0 and d1 else None
        out.append(
            {
                "slice": label,
                "a": va,
                "b": vb,
                "change": (vb - va) if va is not None and vb is not None else None,
                "relative_change": (vb / va - 1) if va and vb is not None else None,
                "z": z,
                "a_n": d0 if den != "NULL" else n0,
                "b_n": d1 if den != "NULL" else n1,
            }
        )
    return out


def _stored_versions(store: Store, metric: str, subject: str, a: Side, b: Side) -> list[dict[str, Any]]:
    """Each version's own stored series pooled over the period (ratios: pooled rate and z)."""
    size = "hour" if a.period.duration <= timedelta(days=2) else "day"
    points = read_points(store, size, [a.period], metrics=[metric])
    pooled: dict[str, tuple[float | None, float, float, int]] = {}
    for name, side in (("a", a), ("b", b)):
        stored = points.series(metric, subject, f"model_version={side.version}").within(side.period)
        # Windows without observations (a zero denominator) say nothing either way.
        windows = [w for w in stored if w.denominator != 0 or w.value is not None]
        n = sum(w.n for w in windows)
        if windows and all(w.numerator is not None and w.denominator for w in windows):
            num = sum(w.numerator or 0.0 for w in windows)
            den = sum(w.denominator or 0.0 for w in windows)
            pooled[name] = (num / den, num, den, n)
        else:
            values = [w.value for w in windows if w.value is not None]
            pooled[name] = (sum(values) / len(values) if values else None, 0.0, 0.0, n)
    (va, n0, d0, c0), (vb, n1, d1, c1) = pooled["a"], pooled["b"]
    return [
        {
            "slice": "(all)",
            "a": va,
            "b": vb,
            "change": (vb - va) if va is not None and vb is not None else None,
            "relative_change": (vb / va - 1) if va and vb is not None else None,
            "z": z_two_proportions(n1, d1, n0, d0) if d0 and d1 else None,
            "a_n": c0,
            "b_n": c1,
        }
    ]


# -- lake sections -------------------------------------------------------------------------------


def _lake_sections(report: DiffReport, lake: Lake, config: Config) -> None:
    con = lake.connect()
    try:
        report.candidate_mix = _candidate_mix(con, report.a, report.b)
        report.features = _features(con, report.a, report.b, report.notes)
        report.latency = _latency(con, report.a, report.b)
    finally:
        con.close()


def _candidate_mix(con: duckdb.DuckDBPyConnection, a: Side, b: Side) -> list[dict[str, Any]]:
    counts: dict[str, dict[str, float]] = {}
    totals = {}
    for name, side in (("a", a), ("b", b)):
        where, params = side.where()
        rows = con.execute(
            f"SELECT source, count(*) FROM candidates WHERE position IS NOT NULL AND {where} GROUP BY source",
            params,
        ).fetchall()
        totals[name] = float(sum(int(n) for _, n in rows))
        for source, n in rows:
            counts.setdefault(str(source), {})[name] = float(n)
    out: list[dict[str, Any]] = []
    for source, c in sorted(counts.items()):
        na, nb = c.get("a", 0.0), c.get("b", 0.0)
        sa = na / totals["a"] if totals["a"] else None
        sb = nb / totals["b"] if totals["b"] else None
        out.append(
            {
                "source": source,
                "a_share": sa,
                "b_share": sb,
                "change": (sb - sa) if sa is not None and sb is not None else None,
                "z": z_two_proportions(nb, totals["b"], na, totals["a"])
                if totals["a"] and totals["b"]
                else None,
                "a_slots": na,
                "b_slots": nb,
            }
        )
    out.sort(key=lambda r: -abs(r["change"] or 0.0))
    return out


def _features(con: duckdb.DuckDBPyConnection, a: Side, b: Side, notes: list[str]) -> list[dict[str, Any]]:
    numeric, strings = set(), set()
    for side in (a, b):
        where, params = side.where()
        for (key,) in con.execute(
            "SELECT DISTINCT unnest(map_keys(features)) FROM "
            f"(SELECT features FROM requests WHERE {where} LIMIT 20000)",
            params,
        ).fetchall():
            numeric.add(str(key))
        for (key,) in con.execute(
            "SELECT DISTINCT unnest(map_keys(feature_strings)) FROM "
            f"(SELECT feature_strings FROM requests WHERE {where} LIMIT 20000)",
            params,
        ).fetchall():
            strings.add(str(key))
    if not numeric and not strings:
        notes.append("the requests carry no features")
        return []
    columns = [f"features[{literal(k)}] AS {quote(k)}" for k in sorted(numeric)]
    columns += [f"feature_strings[{literal(k)}] AS {quote(k)}" for k in sorted(strings - numeric)]
    tables = []
    for side in (a, b):
        where, params = side.where()
        sql = (
            f"SELECT * FROM (SELECT {', '.join(columns)} FROM requests WHERE {where}) "
            f"USING SAMPLE reservoir({FEATURE_SAMPLE} ROWS) REPEATABLE (7)"
        )
        tables.append(con.execute(sql, params).to_arrow_table())
    if tables[0].num_rows == 0 or tables[1].num_rows == 0:
        notes.append("a side has no requests: no feature comparison")
        return []
    report = compare(tables[0], tables[1])
    out: list[dict[str, Any]] = []
    for col in report.columns:
        ratio = col.statistic / col.threshold if col.statistic is not None and col.threshold else None
        out.append(
            {
                "feature": col.column,
                "kind": col.kind,
                "verdict": col.verdict,
                "test": col.test,
                "statistic": col.statistic,
                "threshold": col.threshold,
                "drift_ratio": ratio,
                "a_rows": col.reference_rows,
                "b_rows": col.current_rows,
                "a_missing": col.reference_missing,
                "b_missing": col.current_missing,
            }
        )
    out.sort(key=lambda r: (r["verdict"] != "drift", -(r["drift_ratio"] or 0.0)))
    return out


def _latency(con: duckdb.DuckDBPyConnection, a: Side, b: Side) -> list[dict[str, Any]]:
    values: dict[str, dict[str, Sequence[float] | None]] = {}
    for name, side in (("a", a), ("b", b)):
        where, params = side.where()
        rows = con.execute(
            "SELECT '' AS stage, quantile_cont(latency_ms, [0.5, 0.95, 0.99]), count(*) "
            f"FROM requests WHERE {where} "
            "UNION ALL "
            "SELECT e.key, quantile_cont(e.value, [0.5, 0.95, 0.99]), count(*) FROM "
            f"(SELECT unnest(map_entries(stage_latency_ms)) AS e FROM requests WHERE {where}) GROUP BY e.key",
            params,
        ).fetchall()
        for stage, qs, _n in rows:
            values.setdefault(str(stage), {})[name] = list(qs) if qs is not None else None
    out = []
    for stage, sides in sorted(values.items()):
        qa, qb = sides.get("a"), sides.get("b")
        row: dict[str, Any] = {"stage": stage or "(end to end)"}
        for i, q in enumerate(("p50", "p95", "p99")):
            row[f"a_{q}_ms"] = qa[i] if qa else None
            row[f"b_{q}_ms"] = qb[i] if qb else None
        row["p99_change_ms"] = (qb[2] - qa[2]) if qa and qb else None
        out.append(row)
    return out


def _label(p: Period) -> str:
    return f"{p.start.isoformat()}..{p.end.isoformat()}"


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x
