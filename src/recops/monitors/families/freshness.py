"""Feature freshness: how old the features served were, and how far materialization lags.

Subject of every point: a feature group. Request-side metrics are computed for the
groups configured in ``[feature_groups]`` plus every key seen in ``requests.feature_ts``
in the windows; materialization metrics for those plus every ``feature_rows.feature_group``.
Times are compared as exact integer microseconds since the epoch (the same on DuckDB and
Spark, :func:`recops.monitors.windowing.epoch_us`).

Per window (hour and day) and slice, from requests (a request counts for group ``g``
when its ``feature_ts`` map has the key ``g``: it looked the group up):

- ``feature_age_p95_hours``: the 95th percentile, over those requests with a non-null
  ``feature_ts[g]``, of ``ts - feature_ts[g]`` in hours (read off log-spaced bins within
  0.5% of the exact quantile, :mod:`recops.monitors.quantiles`; exact is linear
  interpolation). ``n`` is the number of ages.
- ``stale_feature_share``: the share of those requests whose ``feature_ts[g]`` is null
  (the lookup found nothing) or older than the group's TTL (``ts - feature_ts[g] > ttl``);
  numerator = stale requests, denominator = requests that looked the group up. The TTL
  is ``[feature_groups.<g>] ttl_hours``; a group without one gets a TTL learned from its
  materializations: 3 × the median interval between its distinct run times (``event_ts``
  truncated to the minute, over the trailing week of ``feature_rows``). A group with no
  TTL and fewer than two runs gets no stale series.

Per window, all traffic only (feature rows carry no request slices):

- ``materialization_lag_p95_minutes``: the 95th percentile of ``materialized_at -
  event_ts`` in minutes over the group's feature rows materialized in the window (exact
  quantile); ``n`` rows.
- ``hours_since_materialization``: the window's end minus the latest ``event_ts`` among
  the group's rows materialized before the window's end, in hours: how old the newest
  servable data was when the window closed. A group that stopped materializing keeps
  growing here for as long as it is stopped (the latest run is looked up in the week
  before the first window and, when none is there, in the whole history; rows are assumed
  to be materialized no earlier than their ``event_ts``). ``n`` is the number of rows
  materialized in the window.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from recops.monitors.context import MonitorContext
from recops.monitors.families.drift import slice_columns, slice_labels, slice_values
from recops.monitors.quantiles import quantile_points, subject_quantiles
from recops.monitors.series import concat_points, empty_points, points_from
from recops.monitors.windowing import epoch_us

NAME = "freshness"
#: How far before the first window the latest materialization (and a group's cadence) is looked for.
LOOKBACK = timedelta(days=7)
#: A group without a configured TTL is stale once older than this many median run intervals.
CADENCE_MULTIPLE = 3.0
#: Bucket given to rows before the first planned window (no real bucket is this small).
_BEFORE = -(2**62)
_US_PER_HOUR = 3_600_000_000


class FreshnessFamily:
    name = NAME
    granularities = frozenset({"others"})

    def compute(self, ctx: MonitorContext) -> pa.Table:
        requests = ctx.table("requests")
        rows = ctx.table("feature_rows")
        configured = {name: group.ttl_hours for name, group in ctx.config.feature_groups.items()}
        request_groups = sorted(set(configured) | _request_groups(ctx, requests))
        ttls: dict[str, float] = {g: configured[g] for g in request_groups if g in configured}
        unknown = [g for g in request_groups if g not in ttls]
        if unknown:
            ttls.update(learned_ttls(ctx, rows, unknown))
        parts = [
            _request_points(ctx, requests, request_groups, ttls),
            _lag_points(ctx, rows),
            _since_points(ctx, rows, request_groups),
        ]
        return concat_points(parts)


def _request_groups(ctx: MonitorContext, requests: ir.Table) -> set[str]:
    """Feature groups named in ``feature_ts`` of the windows' requests."""
    rows = ctx.in_windows(requests, "ts")
    keys = rows.select(group=rows.feature_ts.keys().unnest()).distinct()
    return {str(g) for g in ctx.engine.execute(keys)["group"].to_pylist() if g is not None}


def learned_ttls(ctx: MonitorContext, rows: ir.Table, groups: Iterable[str]) -> dict[str, float]:
    """TTL hours for groups without a configured one: 3 × the median interval between runs."""
    wanted = sorted(groups)
    lo = ibis.literal(ctx.plan.start - LOOKBACK, type="timestamp('UTC', 6)")
    hi = ibis.literal(ctx.plan.end, type="timestamp('UTC', 6)")
    recent = rows.filter(
        rows.materialized_at >= lo, rows.materialized_at < hi, rows.feature_group.isin(wanted)
    )
    runs = recent.select(group=recent.feature_group, run=recent.event_ts.truncate("m")).distinct()
    table = ctx.engine.execute(runs)
    by_group: dict[str, list[datetime]] = {}
    for group, run in zip(table["group"].to_pylist(), table["run"].to_pylist(), strict=True):
        by_group.setdefault(str(group), []).append(run)
    ttls: dict[str, float] = {}
    for group, times in by_group.items():
        times.sort()
        gaps = [(b - a).total_seconds() / 3600 for a, b in itertools.pairwise(times)]
        if gaps:
            ttls[group] = CADENCE_MULTIPLE * statistics.median(gaps)
    return ttls


def _request_points(
    ctx: MonitorContext, requests: ir.Table, groups: list[str], ttls: dict[str, float]
) -> pa.Table:
    if not groups:
        return empty_points()
    # One scan, each row repeated per slice label (drift.slice_labels): MonitorContext.aggregate
    # would read the requests' feature_ts map once per slicing key.
    rows = ctx.in_windows(requests, "ts")
    ts_us = epoch_us(rows.ts)
    columns: dict[str, ir.Value] = {"_bucket": ctx.bucket(rows.ts), **slice_values(ctx, rows)}
    for i, group in enumerate(groups):
        served = rows.feature_ts[group]
        looked_up = rows.feature_ts.contains(group)
        age_us = ts_us - epoch_us(served)
        columns[f"a{i}"] = age_us / _US_PER_HOUR
        columns[f"k{i}"] = looked_up.cast("int64")
        if group in ttls:
            ttl_us = round(ttls[group] * _US_PER_HOUR)
            columns[f"s{i}"] = (looked_up & (served.isnull() | (age_us > ttl_us))).cast("int64")
    wide = rows.select(**columns)
    kept = [c for c in wide.columns if c not in slice_columns(ctx)]
    long = wide.select(*kept, _slice=slice_labels(ctx, wide).unnest())
    aggs: dict[str, ir.Value] = {}
    for i, group in enumerate(groups):
        aggs[f"g{i}_n"] = long[f"k{i}"].sum()
        if group in ttls:
            aggs[f"g{i}_stale"] = long[f"s{i}"].sum()
    grouped = long.group_by(["_bucket", "_slice"]).aggregate(**aggs)
    agg = ctx.attach_windows(ctx.engine.execute(grouped), bucket="_bucket", slice_column="_slice")
    ages = subject_quantiles(ctx, long, {g: long[f"a{i}"] for i, g in enumerate(groups)}, {"p95": 0.95})
    parts = [quantile_points(ages, "feature_age_p95_hours", NAME, "p95")]
    for i, group in enumerate(groups):
        if group in ttls:
            looked = _as_float(agg[f"g{i}_n"])
            stale = _as_float(agg[f"g{i}_stale"])
            share = pa.array(
                [s / n if n else None for s, n in zip(stale.to_pylist(), looked.to_pylist(), strict=True)],
                pa.float64(),
            )
            parts.append(
                _nonempty(
                    points_from(
                        agg,
                        metric="stale_feature_share",
                        family=NAME,
                        value=share,
                        numerator=stale,
                        denominator=looked,
                        n=agg[f"g{i}_n"],
                        subject=group,
                    ),
                    agg[f"g{i}_n"],
                )
            )
    return concat_points(parts)


def _lag_points(ctx: MonitorContext, rows: ir.Table) -> pa.Table:
    prepared = rows.mutate(_lag_min=(epoch_us(rows.materialized_at) - epoch_us(rows.event_ts)) / 60_000_000)
    agg = ctx.aggregate(
        prepared,
        "materialized_at",
        lambda t: {"p95": t._lag_min.quantile(0.95), "n": t.count()},
        by=("feature_group",),
        sliced=False,
    )
    return points_from(
        agg,
        metric="materialization_lag_p95_minutes",
        family=NAME,
        value=agg["p95"],
        n=agg["n"],
        subject=agg["feature_group"],
    )


def _since_points(ctx: MonitorContext, rows: ir.Table, known: Iterable[str]) -> pa.Table:
    """Hours from each window's end back to the latest event materialized before it."""
    plan = ctx.plan
    start = plan.start
    lo = ibis.literal(start - LOOKBACK, type="timestamp('UTC', 6)")
    first = ibis.literal(start, type="timestamp('UTC', 6)")
    hi = ibis.literal(plan.end, type="timestamp('UTC', 6)")
    recent = rows.filter(rows.materialized_at >= lo, rows.materialized_at < hi)
    bucket = ibis.ifelse(
        recent.materialized_at < first,
        ibis.literal(_BEFORE, type="int64"),
        ctx.granularity.bucket(recent.materialized_at, start, plan.end),
    )
    grouped = recent.group_by(_bucket=bucket, group=recent.feature_group).aggregate(
        latest=recent.event_ts.max(), n=recent.count()
    )
    table = ctx.engine.execute(grouped)
    latest: dict[str, dict[int, datetime]] = {}
    counts: dict[tuple[str, int], int] = {}
    for b, group, ts, n in zip(
        table["_bucket"].to_pylist(),
        table["group"].to_pylist(),
        table["latest"].to_pylist(),
        table["n"].to_pylist(),
        strict=True,
    ):
        latest.setdefault(str(group), {})[int(b)] = ts
        counts[(str(group), int(b))] = int(n)
    groups = sorted(set(known) | set(latest))
    # Groups whose newest run before the first window may be older than the look-back.
    edge = start - LOOKBACK
    older = [g for g in groups if latest.get(g, {}).get(_BEFORE) is None or latest[g][_BEFORE] < edge]
    if older:
        for group, ts in _latest_before(ctx, rows, older, start - LOOKBACK).items():
            previous = latest.setdefault(group, {}).get(_BEFORE)
            latest[group][_BEFORE] = ts if previous is None else max(previous, ts)
    out: dict[str, list[Any]] = {"_bucket": [], "subject": [], "value": [], "n": []}
    for group in groups:
        by_bucket = latest.get(group, {})
        ordered = sorted(by_bucket.items())
        for b in plan.buckets:
            seen = [ts for key, ts in ordered if key <= b]
            if not seen:
                continue
            end = ctx.granularity.window(b).end
            out["_bucket"].append(b)
            out["subject"].append(group)
            out["value"].append((end - max(seen)).total_seconds() / 3600)
            out["n"].append(counts.get((group, b), 0))
    if not out["_bucket"]:
        return empty_points()
    table = ctx.attach_windows(pa.table(out, schema=_SINCE_SCHEMA))
    return points_from(
        table,
        metric="hours_since_materialization",
        family=NAME,
        value=table["value"],
        n=table["n"],
        subject=table["subject"],
    )


_SINCE_SCHEMA = pa.schema(
    [("_bucket", pa.int64()), ("subject", pa.string()), ("value", pa.float64()), ("n", pa.int64())]
)


def _latest_before(
    ctx: MonitorContext, rows: ir.Table, groups: list[str], before: datetime
) -> dict[str, datetime]:
    """The latest ``event_ts`` per group among rows materialized before ``before`` (whole history)."""
    cutoff = ibis.literal(before, type="timestamp('UTC', 6)")
    old = rows.filter(rows.materialized_at < cutoff, rows.feature_group.isin(groups))
    table = ctx.engine.execute(old.group_by(group=old.feature_group).aggregate(latest=old.event_ts.max()))
    return {
        str(g): ts
        for g, ts in zip(table["group"].to_pylist(), table["latest"].to_pylist(), strict=True)
        if ts is not None
    }


def _as_float(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.cast(pa.float64())


def _nonempty(points: pa.Table, counts: pa.ChunkedArray | pa.Array) -> pa.Table:
    """Drop points of windows and slices where the group was not seen at all."""
    keep = pa.array([bool(c) for c in counts.to_pylist()], pa.bool_())
    return points.filter(keep)


FAMILY = FreshnessFamily()
