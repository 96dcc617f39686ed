"""Serving latency and SLOs: percentiles end to end and per stage, burn rates, error budget.

Per window and slice: p50/p95/p99 of ``latency_ms`` (subject ``""``) and of every stage
in ``stage_latency_ms`` (subject = stage name), read off log-spaced bins within 0.5% of
the exact quantiles with linear interpolation (:mod:`recops.monitors.quantiles`: memory
bounded whatever the traffic, the same on DuckDB and Spark); the share of requests
slower than the ``slo.latency_p99_ms`` target (end to end, and per stage: the share of requests whose
stage alone took longer, the evidence a stage's p99 crossing needs) and the end-to-end
burn rate (that share over the 1 % a p99 target allows); the error share's burn rate
against ``slo.error_rate``; and for day windows the share of the trailing 28-day error
budget left at the window's end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from recops.monitors.context import MonitorContext
from recops.monitors.families.drift import slice_labels, slice_values
from recops.monitors.quantiles import quantile_points, subject_quantiles
from recops.monitors.series import concat_points, points_from

NAME = "latency"
QUANTILES = {"latency_p50_ms": 0.5, "latency_p95_ms": 0.95, "latency_p99_ms": 0.99}
BUDGET_DAYS = 28
DEFAULT_LATENCY_TARGET_MS = 250.0
DEFAULT_ERROR_RATE = 0.01


class LatencyFamily:
    name = NAME
    granularities = frozenset({"serving", "others"})

    def compute(self, ctx: MonitorContext) -> pa.Table:
        requests = ctx.table("requests")
        target = ctx.config.slo.get("latency_p99_ms", DEFAULT_LATENCY_TARGET_MS)
        error_rate = ctx.config.slo.get("error_rate", DEFAULT_ERROR_RATE)
        # Per-stage percentiles on hour and day windows; short windows keep end to end only.
        stages = [] if ctx.granularity.name.endswith("min") else _stages(ctx, requests)

        def metrics(t: ir.Table) -> dict[str, ir.Value]:
            aggs: dict[str, ir.Value] = {
                "n": t.count(),
                "slow": (t.latency_ms > target).cast("int64").sum(),
                "errors": (t.status == "error").cast("int64").sum(),
            }
            for i, stage in enumerate(stages):
                aggs[f"s{i}_n"] = t.stage_latency_ms[stage].count()
                aggs[f"s{i}_slow"] = (t.stage_latency_ms[stage] > target).cast("int64").sum()
            return aggs

        agg = ctx.aggregate(requests, "ts", metrics)
        quantiles = _quantiles(ctx, requests, stages)
        parts = [quantile_points(quantiles, name, NAME, name) for name in QUANTILES]
        n = pc.cast(agg["n"], pa.float64())
        slow_share = pc.divide(pc.cast(agg["slow"], pa.float64()), n)
        error_share = pc.divide(pc.cast(agg["errors"], pa.float64()), n)
        parts.append(_bad_share(agg, "slow", "n"))
        parts += [_bad_share(agg, f"s{i}_slow", f"s{i}_n", subject=stage) for i, stage in enumerate(stages)]
        parts.append(
            points_from(
                agg,
                metric="latency_burn_rate",
                family=NAME,
                value=pc.divide(slow_share, 0.01),
                numerator=agg["slow"],
                denominator=agg["n"],
                n=agg["n"],
            )
        )
        parts.append(
            points_from(
                agg,
                metric="error_burn_rate",
                family=NAME,
                value=pc.divide(error_share, error_rate),
                numerator=agg["errors"],
                denominator=agg["n"],
                n=agg["n"],
            )
        )
        if ctx.granularity.name == "day":
            parts.append(_error_budget(ctx, requests, error_rate))
        return concat_points(parts)


def _quantiles(ctx: MonitorContext, requests: ir.Table, stages: list[str]) -> pa.Table:
    """p50/p95/p99 end to end (subject ``""``) and per stage, per window and slice: one scan,
    each request repeated per slice label, the quantiles read off log-spaced bins
    (:mod:`recops.monitors.quantiles`: within 0.5% of the exact ones, bounded memory)."""
    rows = ctx.in_windows(requests, "ts")
    values = {"_v": rows.latency_ms, **{f"_v{i}": rows.stage_latency_ms[s] for i, s in enumerate(stages)}}
    wide = rows.select(_bucket=ctx.bucket(rows.ts), **slice_values(ctx, rows), **values)
    long = wide.select("_bucket", *values, _slice=slice_labels(ctx, wide).unnest())
    subjects = {"": long._v, **{s: long[f"_v{i}"] for i, s in enumerate(stages)}}
    return subject_quantiles(ctx, long, subjects, QUANTILES)


def _bad_share(agg: pa.Table, slow: str, n: str, *, subject: str = "") -> pa.Table:
    """``latency_slo_bad_share``: the share of requests (or of a stage's timings) past the target."""
    share = pc.divide(pc.cast(agg[slow], pa.float64()), pc.cast(agg[n], pa.float64()))
    return points_from(
        agg,
        metric="latency_slo_bad_share",
        family=NAME,
        value=pc.if_else(pc.greater(agg[n], 0), share, pa.scalar(None, pa.float64())),
        numerator=agg[slow],
        denominator=agg[n],
        n=agg[n],
        subject=subject,
    )


def _stages(ctx: MonitorContext, requests: ir.Table) -> list[str]:
    rows = ctx.in_windows(requests, "ts")
    keys = rows.select(stage=rows.stage_latency_ms.keys().unnest()).distinct()
    return sorted(str(s) for s in ctx.engine.execute(keys)["stage"].to_pylist() if s is not None)


def _error_budget(ctx: MonitorContext, requests: ir.Table, error_rate: float) -> pa.Table:
    """Share of the trailing 28-day error budget left at the end of each day window."""
    rows = ctx.in_windows(requests, "ts", margin_before=BUDGET_DAYS * 86_400)
    g = ctx.granularity
    lo = ctx.plan.start - timedelta(days=BUDGET_DAYS + 1)
    daily = rows.group_by(day=g.bucket(rows.ts, lo, ctx.plan.end)).aggregate(
        n=rows.count(), errors=(rows.status == "error").cast("int64").sum()
    )
    table = ctx.engine.execute(daily)
    by_day: dict[int, tuple[int, int]] = {
        int(d): (int(n), int(e))
        for d, n, e in zip(
            table["day"].to_pylist(), table["n"].to_pylist(), table["errors"].to_pylist(), strict=True
        )
    }
    out: dict[str, list[Any]] = {"_bucket": [], "value": [], "numerator": [], "denominator": []}
    for bucket in ctx.plan.buckets:
        n = sum(by_day.get(d, (0, 0))[0] for d in range(bucket - BUDGET_DAYS + 1, bucket + 1))
        errors = sum(by_day.get(d, (0, 0))[1] for d in range(bucket - BUDGET_DAYS + 1, bucket + 1))
        allowed = error_rate * n
        out["_bucket"].append(bucket)
        out["value"].append(1.0 - errors / allowed if allowed > 0 else None)
        out["numerator"].append(float(errors))
        out["denominator"].append(allowed)
    budget = ctx.attach_windows(pa.table(out))
    return points_from(
        budget,
        metric="error_budget_remaining",
        family=NAME,
        value=budget["value"],
        numerator=budget["numerator"],
        denominator=budget["denominator"],
    )


FAMILY = LatencyFamily()
