"""Engine helpers of the metrics family: time steps, slice keys, cubes rolled up in Python.

Windows are found by comparing timestamps with the planned windows' boundaries (a
balanced CASE tree of literals) rather than by epoch arithmetic when there are few of
them (an incremental run): comparisons are exact and cheap on every engine, while
DuckDB's epoch functions on ``TIMESTAMPTZ`` go through calendar code that costs about a
microsecond a row.

Counts and sums are aggregated once per window and combination of slice values (the
"cube", a few hundred rows per window), then added up per slice and for the total in
Arrow: the same numbers as one group-by per slice, for one scan instead of one per slice.
Only additive measures (``sum``, ``min``, ``max``) go through it; quantiles and distinct
counts are grouped per slice in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from recops.monitors.context import ALL, MonitorContext

NONE = "(none)"
TS = "timestamp('UTC', 6)"
TREE_MAX = 48


def steps(ts: ir.TimestampValue, spans: Sequence[tuple[datetime, datetime, Any]], dtype: str) -> ir.Value:
    """The value of the span ``[start, end)`` holding ``ts`` (null outside every span).

    ``spans`` must be sorted and non-overlapping; compiled as a balanced tree of
    timestamp comparisons, so a row costs ``log2(len(spans))`` comparisons.
    """
    null = ibis.literal(None, type=dtype)
    if not spans:
        return null

    def node(lo: int, hi: int) -> ir.Value:
        if hi - lo == 1:
            start, end, value = spans[lo]
            inside = (ts >= ibis.literal(start, type=TS)) & (ts < ibis.literal(end, type=TS))
            return ibis.cases((inside, ibis.literal(value, type=dtype)), else_=null)
        mid = (lo + hi) // 2
        return ibis.cases((ts < ibis.literal(spans[mid][0], type=TS), node(lo, mid)), else_=node(mid, hi))

    return node(0, len(spans))


def plan_bucket(ctx: MonitorContext, ts: ir.TimestampValue) -> ir.IntegerValue:
    """The planned window's bucket of ``ts`` (outside the planned windows: null or unplanned).

    Up to :data:`TREE_MAX` windows this is a tree of comparisons; beyond, the tree would
    cost more to compile than the arithmetic of :meth:`MonitorContext.bucket` costs to run.
    """
    if len(ctx.plan.buckets) > TREE_MAX:
        return ctx.bucket(ts)
    spans = [(w.start, w.end, b) for b, w in zip(ctx.plan.buckets, ctx.plan.windows, strict=True)]
    result: ir.IntegerValue = steps(ts, spans, "int64")
    return result


def key_columns(ctx: MonitorContext) -> list[str]:
    return [f"_k{i}" for i in range(len(ctx.slices))]


def with_keys(ctx: MonitorContext, requests: ir.Table) -> ir.Table:
    """``requests`` in the planned windows with ``_bucket`` and one string column per slicing key."""
    rows = ctx.in_windows(requests, "ts")
    keys = {
        name: key.expr(rows).fill_null(NONE) for name, key in zip(key_columns(ctx), ctx.slices, strict=True)
    }
    return rows.mutate(_bucket=plan_bucket(ctx, rows.ts), **keys)


def slice_label(ctx: MonitorContext, index: int | None, value: ir.StringValue) -> ir.StringValue:
    if index is None:
        return ibis.literal(ALL)
    return ibis.literal(f"{ctx.slices[index].name}=") + value


def rollup(
    ctx: MonitorContext,
    cube: pa.Table,
    measures: Mapping[str, str],
    *,
    by: tuple[str, ...] = (),
) -> pa.Table:
    """Total and per-slice aggregates from a cube with ``_bucket``, key columns and ``by``.

    Args:
        measures: column → ``sum``, ``min`` or ``max``.

    Returns:
        One row per window, slice and ``by`` value with the measures, through
        :meth:`MonitorContext.attach_windows` (``granularity``, ``window_start``, ...).
    """
    keys = key_columns(ctx)
    cube = cube.filter(pc.is_valid(cube["_bucket"])) if cube.num_rows else cube
    order = [("_bucket", "ascending"), *((k, "ascending") for k in (*keys, *by))]
    cube = cube.sort_by(order) if cube.num_rows else cube
    aggs = [(name, how) for name, how in measures.items()]
    parts = []
    for key, column in ((None, None), *zip(ctx.slices, keys, strict=True)):
        group = ["_bucket", *by] if column is None else ["_bucket", column, *by]
        grouped = cube.group_by(group, use_threads=False).aggregate(aggs)
        grouped = grouped.rename_columns([_plain(c, measures) for c in grouped.column_names])
        if key is None:
            label = pa.array([ALL] * grouped.num_rows, pa.string())
        else:
            label = pc.binary_join_element_wise(f"{key.name}=", grouped[column], "")
            grouped = grouped.drop_columns([column])
        parts.append(grouped.append_column("_slice", label))
    table = pa.concat_tables([p.select(parts[0].column_names) for p in parts])
    return ctx.attach_windows(table, bucket="_bucket", slice_column="_slice")


def _plain(column: str, measures: Mapping[str, str]) -> str:
    for name, how in measures.items():
        if column == f"{name}_{how}":
            return name
    return column


def ratio(numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator`` as float64, null where the denominator is 0 or null."""
    num = pc.cast(numerator, pa.float64())
    den = pc.cast(denominator, pa.float64())
    safe = pc.if_else(pc.equal(den, 0.0), pa.scalar(None, pa.float64()), den)
    return pc.divide(num, safe)
