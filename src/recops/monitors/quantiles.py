"""Quantiles in bounded memory, the same on every engine: the engine counts values per
log-spaced bin, Python reads each quantile off the cumulative counts.

An exact quantile is a holistic aggregate: DuckDB and Spark hold every value of a group in
memory at once and neither can spill it. A day of 20M requests with 10 shown slots each,
cut into 4 slices, is 800M scores held at once (over 12 GB), so the monitors' peak
memory would grow with the traffic. Counting values per (group, bin) is an ordinary
group-by, which both engines spill, and its result is bounded by the bins in use.

Bins (the DDSketch construction): with ``gamma = (1 + a) / (1 - a)`` and ``a``
:data:`RELATIVE_ACCURACY`, a positive value ``x`` falls in bin ``b = ceil(log_gamma(x))``,
the interval ``(gamma^(b-1), gamma^b]``, whose representative ``2 gamma^b / (gamma + 1)``
lies within a relative ``a`` of every value in it; negative values mirror the positive
bins and 0 has a bin of its own. A quantile ``q`` of ``n`` values is read as numpy's
default does from the sorted values (linear interpolation between the order statistics
``floor(q (n - 1))`` and the next), with each order statistic replaced by its bin's
representative: within a relative ``a`` of the exact quantile whenever the two order
statistics have the same sign (and within ``a`` of the larger magnitude otherwise). The
counts are integers and the bins a pure function of the value, so DuckDB and Spark give
the same quantiles (but for a value on a bin edge, where their logarithms may differ in
the last bit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recops.monitors.context import MonitorContext
from recops.monitors.series import points_from

#: Every quantile lies within this relative distance of the exact one.
RELATIVE_ACCURACY = 0.005
GAMMA = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
_LN_GAMMA = math.log(GAMMA)
#: Keeps every bin key of a finite double away from 0 (|log_gamma| of a double < 71,000).
_OFFSET = 1_000_000
_TINY = 1e-300
BIN = "_bin"
COUNT = "_n"


def bin_key(value: ir.NumericValue) -> ir.IntegerValue:
    """The bin of ``value`` as an order-preserving integer (0 for 0; null stays null)."""
    magnitude = ibis.greatest(value.abs(), _TINY)
    level = (magnitude.ln() / _LN_GAMMA).ceil().cast("int64") + _OFFSET
    key: ir.IntegerValue = ibis.cases(
        (value.isnull(), ibis.null("int64")),
        (value > 0, level),
        (value < 0, -level),
        else_=ibis.literal(0, "int64"),
    )
    return key


def representative(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The value each bin key stands for (within :data:`RELATIVE_ACCURACY` of its values)."""
    levels = np.abs(keys) - _OFFSET
    values = 2.0 * np.power(GAMMA, levels.astype(np.float64)) / (GAMMA + 1.0)
    return np.where(keys == 0, 0.0, np.sign(keys) * values)


def read_quantiles(
    binned: pa.Table,
    keys: Sequence[str],
    quantiles: Mapping[str, float],
    *,
    sums: Sequence[str] = (),
) -> pa.Table:
    """Quantiles per group from counts per (group, bin).

    Args:
        binned: one row per group and non-null bin: the ``keys`` columns, :data:`BIN`
            (from :func:`bin_key`), :data:`COUNT` (values in the bin, at least 1) and any
            ``sums`` columns (per-bin partial sums, added up per group).
        quantiles: output column → q in [0, 1].

    Returns:
        One row per group: the ``keys`` columns, ``n`` (values), one column per quantile
        and per sum.
    """
    if binned.num_rows == 0:
        fields = [binned.schema.field(k) for k in keys]
        fields += [pa.field("n", pa.int64())] + [pa.field(name, pa.float64()) for name in (*quantiles, *sums)]
        return pa.schema(fields).empty_table()
    group = np.zeros(binned.num_rows, dtype=np.int64)
    for column in keys:
        encoded = pc.dictionary_encode(binned[column].combine_chunks())
        codes = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)
        group = group * (len(encoded.dictionary) + 1) + codes.astype(np.int64)
    bins = binned[BIN].to_numpy()
    order = np.lexsort((bins, group))
    group, bins = group[order], bins[order]
    counts = binned[COUNT].to_numpy()[order].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    cumulative = np.cumsum(counts)
    before = cumulative[starts] - counts[starts]
    total = np.add.reduceat(counts, starts)
    out = binned.take(pa.array(order[starts])).select(list(keys))
    out = out.append_column("n", pa.array(total, pa.int64()))
    for name, q in quantiles.items():
        position = q * (total - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, total - 1)
        first = representative(bins[np.searchsorted(cumulative, before + low, side="right")])
        second = representative(bins[np.searchsorted(cumulative, before + high, side="right")])
        out = out.append_column(name, pa.array(first + (position - low) * (second - first), pa.float64()))
    for name in sums:
        partial = binned[name].to_numpy(zero_copy_only=False)[order].astype(np.float64)
        out = out.append_column(name, pa.array(np.add.reduceat(partial, starts), pa.float64()))
    return out


def subject_quantiles(
    ctx: MonitorContext,
    rows: ir.Table,
    values: Mapping[str, ir.NumericValue],
    quantiles: Mapping[str, float],
) -> pa.Table:
    """Quantiles of several values of each row, one subject per value, per window and slice.

    Args:
        rows: the observations with ``_bucket`` (the window) and ``_slice`` columns, a row
            repeated per slice it belongs to.
        values: subject → the value expression over ``rows`` (nulls are left out).

    Returns:
        One row per window, slice and subject with values: the window columns, ``slice``,
        ``subject``, ``n`` and one column per quantile.
    """
    keys = ("_bucket", "_slice")
    pairs = ibis.array(
        [ibis.struct({"s": ibis.literal(k), "v": v.cast("float64")}) for k, v in values.items()]
    )
    long = rows.select(*keys, _p=pairs.unnest())
    long = long.select(*keys, subject=long._p.s, _v=long._p.v)
    return window_quantiles(ctx, long, "_v", quantiles, by=("subject",))


def window_quantiles(
    ctx: MonitorContext,
    rows: ir.Table,
    value: str,
    quantiles: Mapping[str, float],
    *,
    by: Sequence[str] = (),
    with_sum: bool = False,
) -> pa.Table:
    """Quantiles of the column ``value`` per window (``_bucket``), slice (``_slice``) and
    the ``by`` columns of ``rows``, from its counts per bin (nulls are left out).

    Returns:
        The window columns, ``slice``, the ``by`` columns, ``n``, one column per quantile
        and, ``with_sum``, the values' ``sum``.
    """
    keys = ["_bucket", "_slice", *by]
    present = rows.filter(rows[value].notnull())
    present = present.mutate(**{BIN: bin_key(present[value])})
    counts: dict[str, ir.Value] = {COUNT: present.count()}
    if with_sum:
        counts["sum"] = present[value].sum()
    binned = ctx.engine.execute(present.group_by([*keys, BIN]).aggregate(**counts))
    table = read_quantiles(binned, keys, quantiles, sums=["sum"] if with_sum else [])
    return ctx.attach_windows(table, bucket="_bucket", slice_column="_slice")


def quantile_points(table: pa.Table, metric: str, family: str, column: str) -> pa.Table:
    """The points of one quantile column of :func:`subject_quantiles`' table."""
    return points_from(
        table, metric=metric, family=family, value=table[column], n=table["n"], subject=table["subject"]
    )
