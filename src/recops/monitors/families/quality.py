"""Data quality: the declarative checks of the checks file, run in the engine per window.

One metric, ``check_violation_rate``, with subject = the check's name, per window of the
checked table's time column (``ts``; ``materialized_at`` for feature rows; ``landed_at``
for arrivals). Checks on ``requests`` and ``candidates`` are cut by the request slices
(surface, model version, context keys) like every request metric; checks on the other
tables, and ``unique`` checks, give the all-traffic value (slice ``""``) only.

Row checks: ``value = numerator / denominator``, ``n = denominator``:

* ``not_null``: numerator = rows whose value is null; denominator = rows.
* ``range`` (inclusive ``min``/``max``): rows whose value lies outside; denominator =
  rows with a value (a null is not out of range: pair it with ``not_null``).
* ``accepted_values``: rows whose value is not in ``values``; denominator = rows with a value.
* ``unique``: rows whose value occurs more than once in the window (every copy counts);
  denominator = rows with a value. Judged over all traffic of the window, not per slice.
* ``references``: rows whose value appears nowhere in the referenced column (``to``,
  optionally restricted by ``where`` equalities), anywhere in the lake at any time;
  denominator = rows with a value. So an outcome in window W counts as joined whatever
  the window of its request. To tolerate requests that land after their outcomes, a
  window is judged only once the referenced table's newest time is 15 minutes past the
  window's end, or the data clock 12 hours past it (whichever comes first); until then no
  point is stored (the runner recomputes recent windows as time passes, so the point
  appears on a later run).

Set-level checks judge a window against a limit, so the default alert (any value above
0) means "the limit is broken": ``value`` is 1 when the window breaks it (every row of the
window counts as violating) and 0 when it does not; ``numerator`` and ``denominator``
keep what was observed:

* ``null_rate`` (``max``): numerator = null rows, denominator = rows, so
  ``numerator / denominator`` is the observed null rate; broken when it is shown to
  exceed ``max`` (its one-sided 99% Wilson lower bound does: a thin slice's few rows are
  no evidence; on thick windows the bound is the observed rate).
* ``cardinality`` (``min``/``max``): numerator = distinct non-null values in the window
  (the observed cardinality), denominator = rows; broken below ``min`` or above ``max``.
* ``references`` with ``max_rate``: numerator = unmatched rows, denominator = rows with a
  value; broken when their share is shown to exceed ``max_rate`` (as for ``null_rate``).

All row counts of one table come from one grouped query per window granularity (the
finest slice cube, summed up in Python); ``unique`` and ``cardinality`` need one query
each. Checks are read by :func:`recops.monitors.checks.load_checks`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from recops.monitors.checks import (
    CANDIDATE_FIELDS,
    SLICED_TABLES,
    TIME_COLUMNS,
    Check,
    group_by_table,
    load_checks,
)
from recops.monitors.context import ALL, MonitorContext
from recops.monitors.series import concat_points, empty_points, points_from

NAME = "quality"
METRIC = "check_violation_rate"
ADDITIVE = frozenset({"not_null", "range", "accepted_values", "null_rate", "references"})
REFERENCE_GRACE = timedelta(minutes=15)
REFERENCE_MAX_WAIT = timedelta(hours=12)
NONE = "(none)"


class QualityFamily:
    name = NAME
    granularities = frozenset({"others"})

    def compute(self, ctx: MonitorContext) -> pa.Table:
        checks = load_checks(ctx.config)
        if not checks:
            return empty_points()
        parts: list[pa.Table] = []
        for table, group in group_by_table(checks).items():
            additive = [c for c in group if c.type in ADDITIVE]
            if additive:
                parts.append(_additive(ctx, table, additive))
            for check in group:
                if check.type == "unique":
                    parts.append(_unique(ctx, check))
                elif check.type == "cardinality":
                    parts.append(_cardinality(ctx, check))
        return concat_points(parts)


def _additive(ctx: MonitorContext, table: str, checks: list[Check]) -> pa.Table:
    """Row counts of every additive check on one table in one query, then per slice."""
    keys = ctx.slices if table in SLICED_TABLES else ()
    cube = _cached_cube(ctx, (table, len(keys), tuple(checks)))
    if cube is None:
        cube = (
            _candidate_cube(ctx, checks, len(keys))
            if table == "candidates"
            else _cube(ctx, table, checks, len(keys))
        )
        _remember(ctx, (table, len(keys), tuple(checks)), cube)
    sums = [(c, "sum") for c in cube.column_names if c[0] in "vd" and c[1:].isdigit()]
    levels = [_level(cube.group_by(["_bucket"]).aggregate(sums), None, ALL)]
    for j, key in enumerate(keys):
        levels.append(_level(cube.group_by(["_bucket", f"_s{j}"]).aggregate(sums), f"_s{j}", f"{key.name}="))
    rolled = ctx.attach_windows(pa.concat_tables(levels), bucket="_bucket", slice_column="slice")
    parts = []
    for i, check in enumerate(checks):
        violating = rolled[f"v{i}_sum"]
        checked = rolled[f"d{i}_sum"]
        if check.type == "null_rate":
            points = _set_level(
                rolled, check, violating, checked, broken=_above(violating, checked, check.maximum)
            )
        elif check.type == "references" and check.max_rate is not None:
            points = _set_level(
                rolled, check, violating, checked, broken=_above(violating, checked, check.max_rate)
            )
        else:
            points = _row_points(rolled, check, violating, checked)
        if check.type == "references":
            points = _judged(ctx, check, points)
        parts.append(points)
    return concat_points(parts)


def _cube(ctx: MonitorContext, table: str, checks: list[Check], n_keys: int) -> pa.Table:
    """Violating/checked counts per bucket and combination of slice values (``_s{j}``)."""
    rows = _prepared(ctx, table, checks, n_keys)
    rows = _with_targets(ctx, rows, checks)
    group = ["_bucket", *(f"_s{j}" for j in range(n_keys))]
    return ctx.engine.execute(rows.group_by(group).aggregate(**_aggregates(rows, checks)))


def _candidate_cube(ctx: MonitorContext, checks: list[Check], n_keys: int) -> pa.Table:
    """The cube of candidate checks, grouped on one integer per (bucket, slice values).

    A request's bucket and slice values are looked up once per request (a join with the
    few distinct combinations, numbered in Python); the tens of candidates per request
    then carry that integer instead of a handful of strings into the join and group-by.
    """
    rows = ctx.in_windows(ctx.table("requests"), "ts")
    keyed = rows.mutate(**_keys(ctx, rows, "ts", n_keys))
    names = ["_bucket", *(f"_s{j}" for j in range(n_keys))]
    combos = ctx.engine.execute(keyed.select(*names).distinct())
    if combos.num_rows == 0:
        empty = {f"{kind}{i}": pa.array([], pa.int64()) for i in range(len(checks)) for kind in "vd"}
        return pa.table({**{n: combos[n] for n in names}, **empty})
    combos = combos.append_column("_cube", pa.array(range(combos.num_rows), pa.int64()))
    lookup = ibis.memtable(combos)
    numbered = keyed.join(lookup, names).select(*rows.columns, "_cube")
    columns: dict[str, Any] = {"_cube": numbered["_cube"]}
    fields: dict[str, str] = {}
    for i, check in enumerate(checks):
        if check.column.column in CANDIDATE_FIELDS:
            fields[f"_x{i}"] = check.column.column
        else:
            columns[f"_x{i}"] = check.column.expr(numbered)
    flat = numbered.select(**columns, _c=numbered.candidates.unnest())
    prepared = flat.select(*columns, **{name: flat._c[f] for name, f in fields.items()})
    prepared = _with_targets(ctx, prepared, checks)
    counts = ctx.engine.execute(prepared.group_by("_cube").aggregate(**_aggregates(prepared, checks)))
    return combos.join(counts, "_cube", join_type="inner").drop_columns(["_cube"])


def _prepared(ctx: MonitorContext, table: str, checks: list[Check], n_keys: int) -> ir.Table:
    """The window's rows as ``_bucket``, slice values ``_s{j}`` and checked values ``_x{i}``."""
    time_column = TIME_COLUMNS[table]
    rows = ctx.in_windows(ctx.table(table), time_column)
    columns = _keys(ctx, rows, time_column, n_keys)
    for i, check in enumerate(checks):
        columns[f"_x{i}"] = check.column.expr(rows)
    return rows.select(**columns)


def _keys(ctx: MonitorContext, rows: ir.Table, time_column: str, n_keys: int) -> dict[str, ir.Value]:
    """The window bucket and the first ``n_keys`` slice values (``(none)`` for null), as in
    :meth:`MonitorContext.aggregate`."""
    keys: dict[str, ir.Value] = {"_bucket": ctx.bucket(rows[time_column])}
    for j, key in enumerate(ctx.slices[:n_keys]):
        keys[f"_s{j}"] = key.expr(rows).fill_null(NONE)
    return keys


def _with_targets(ctx: MonitorContext, rows: ir.Table, checks: list[Check]) -> ir.Table:
    for i, check in enumerate(checks):
        if check.type == "references":
            rows = _join_target(ctx, rows, check, i)
    return rows


def _aggregates(rows: ir.Table, checks: list[Check]) -> dict[str, ir.Value]:
    aggs: dict[str, ir.Value] = {}
    for i, check in enumerate(checks):
        aggs[f"v{i}"], aggs[f"d{i}"] = _counts(rows, check, i)
    return aggs


# Cubes of the current run's hour windows, reused for its day windows: a day's counts are
# the sums of its hours', so a run that computed every hour of a day does not scan it again.
_RUN_CACHE: dict[Any, Any] = {}


def _remember(ctx: MonitorContext, signature: tuple[Any, ...], cube: pa.Table) -> None:
    if ctx.granularity.name != "hour" or not ctx.extras:
        return
    if _RUN_CACHE.get("run") is not ctx.extras:
        _RUN_CACHE.clear()
        _RUN_CACHE["run"] = ctx.extras  # held, so no later run's extras can take its identity
    _RUN_CACHE[signature] = (ctx.clock, ctx.granularity, set(ctx.plan.buckets), cube)


def _cached_cube(ctx: MonitorContext, signature: tuple[Any, ...]) -> pa.Table | None:
    """The day cube summed from this run's hour cube, when it holds every hour of the days."""
    if ctx.granularity.name != "day" or not ctx.extras or _RUN_CACHE.get("run") is not ctx.extras:
        return None
    entry = _RUN_CACHE.get(signature)
    if entry is None:
        return None
    clock, hour, hours, cube = entry
    if clock != ctx.clock:
        return None
    day_of: dict[int, int] = {}
    for day in ctx.plan.buckets:
        window = ctx.granularity.window(day)
        inside = hour.buckets_between(window.start, window.end)
        if not set(inside) <= hours:
            return None
        day_of.update({h: day for h in inside})
    buckets = cube["_bucket"].to_pylist()
    keep = pa.array([b in day_of for b in buckets], pa.bool_())
    cube = cube.filter(keep)
    days = pa.array([day_of[b] for b in cube["_bucket"].to_pylist()], pa.int64())
    cube = cube.set_column(cube.column_names.index("_bucket"), "_bucket", days)
    group = [c for c in cube.column_names if c == "_bucket" or c.startswith("_s")]
    values = [c for c in cube.column_names if c not in group]
    summed = cube.group_by(group).aggregate([(c, "sum") for c in values])
    return summed.rename_columns([c.removesuffix("_sum") for c in summed.column_names])


def _join_target(ctx: MonitorContext, rows: ir.Table, check: Check, i: int) -> ir.Table:
    """Left-join the distinct referenced values, marked ``_h{i}`` = 1 where they exist."""
    assert check.to is not None
    target = ctx.table(check.to.table)
    for column, wanted in check.to.where:
        target = target.filter(target[column] == wanted)
    found = (
        target.select(**{f"_k{i}": check.to.column.expr(target)})
        .distinct()
        .mutate(**{f"_h{i}": ibis.literal(1, type="int32")})
    )
    joined = rows.left_join(found, rows[f"_x{i}"] == found[f"_k{i}"])
    return joined.drop(f"_k{i}")


def _counts(rows: ir.Table, check: Check, i: int) -> tuple[ir.Value, ir.Value]:
    """(violating rows, rows checked) of a row check as aggregate expressions."""
    value = rows[f"_x{i}"]
    one, zero = ibis.literal(1, type="int64"), ibis.literal(0, type="int64")
    if check.type in ("not_null", "null_rate"):
        return ibis.ifelse(value.isnull(), one, zero).sum(), rows.count()
    if check.type == "range":
        outside = ibis.literal(False)
        if check.minimum is not None:
            outside = outside | (value < check.minimum)
        if check.maximum is not None:
            outside = outside | (value > check.maximum)
        return ibis.ifelse(value.notnull() & outside, one, zero).sum(), value.count()
    if check.type == "accepted_values":
        unknown = ~value.isin(list(check.values))
        return ibis.ifelse(value.notnull() & unknown, one, zero).sum(), value.count()
    # references
    missing = rows[f"_h{i}"].isnull()
    return ibis.ifelse(value.notnull() & missing, one, zero).sum(), value.count()


def _level(table: pa.Table, slice_column: str | None, prefix: str) -> pa.Table:
    """One roll-up of the slice cube with a ``slice`` label column (``key=value`` or ``""``)."""
    if slice_column is None:
        labels = pa.array([prefix] * table.num_rows, pa.string())
    else:
        labels = pc.binary_join_element_wise(prefix, table[slice_column].cast(pa.string()), "")
        table = table.drop_columns([slice_column])
    return table.append_column("slice", labels)


def _above(numerator: Any, denominator: Any, limit: float | None) -> pa.Array:
    """Whether the share numerator / denominator is shown to exceed ``limit``: its
    one-sided 99% Wilson lower bound is above it (false for an empty window).

    A thin slice-hour of 40 rows with 3 unmatched (7.5%) is no evidence against a 5%
    limit; 400 of 4,000 is. On thick windows the bound is the observed share.
    """
    num = pc.cast(numerator, pa.float64()).to_pylist()
    den = pc.cast(denominator, pa.float64()).to_pylist()
    assert limit is not None
    return pa.array(
        [bool(d) and wilson_lower(n, d) > limit for n, d in zip(num, den, strict=True)], pa.bool_()
    )


WILSON_Z = 2.3263  # one-sided 99%


def wilson_lower(successes: float, trials: float, z: float = WILSON_Z) -> float:
    """The Wilson score interval's lower bound for a share of ``successes`` in ``trials``."""
    if trials <= 0:
        return 0.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - spread) / (1 + z * z / trials))


def _row_points(rolled: pa.Table, check: Check, violating: Any, checked: Any) -> pa.Table:
    den = pc.cast(checked, pa.float64())
    value = pc.if_else(pc.greater(den, 0), pc.divide(pc.cast(violating, pa.float64()), den), None)
    return points_from(
        rolled,
        metric=METRIC,
        family=NAME,
        subject=check.name,
        value=value,
        numerator=violating,
        denominator=checked,
        n=checked,
    )


def _set_level(rolled: pa.Table, check: Check, observed: Any, checked: Any, *, broken: pa.Array) -> pa.Table:
    value = pc.if_else(broken, 1.0, 0.0)
    return points_from(
        rolled,
        metric=METRIC,
        family=NAME,
        subject=check.name,
        value=value,
        numerator=observed,
        denominator=checked,
        n=checked,
    )


def _judged(ctx: MonitorContext, check: Check, points: pa.Table) -> pa.Table:
    """Keep the windows a references check may judge (its target has caught up, or waited long)."""
    assert check.to is not None
    target = ctx.table(check.to.table)
    column = target[TIME_COLUMNS[check.to.table]]
    newest: datetime | None = ctx.engine.execute(target.aggregate(hi=column.max()))["hi"][0].as_py()
    ends = points["window_end"].to_pylist()
    keep = [
        (newest is not None and end + REFERENCE_GRACE <= newest) or end + REFERENCE_MAX_WAIT <= ctx.clock
        for end in ends
    ]
    return points.filter(pa.array(keep, pa.bool_()))


def _unique(ctx: MonitorContext, check: Check) -> pa.Table:
    """Rows whose value occurs more than once in the window, over all traffic."""
    rows = ctx.in_windows(ctx.table(check.table), check.time_column)
    rows = rows.select(_bucket=ctx.bucket(rows[check.time_column]), _v=check.column.expr(rows))
    rows = rows.filter(rows._v.notnull())
    per_value = rows.group_by(["_bucket", "_v"]).aggregate(_c=rows.count())
    agg = per_value.group_by("_bucket").aggregate(
        d=per_value._c.sum(), v=ibis.ifelse(per_value._c > 1, per_value._c, 0).sum()
    )
    table = ctx.attach_windows(ctx.engine.execute(agg), bucket="_bucket")
    return _row_points(table, check, table["v"], table["d"])


def _cardinality(ctx: MonitorContext, check: Check) -> pa.Table:
    """Distinct non-null values per window (and slice for request tables) against the limits."""

    def metrics(t: ir.Table) -> dict[str, ir.Value]:
        return {"distinct": check.column.expr(t).nunique(), "rows": t.count()}

    agg = ctx.aggregate(ctx.table(check.table), check.time_column, metrics, sliced=check.sliced)
    distinct = agg["distinct"].to_pylist()
    broken = pa.array([_outside(d, check.minimum, check.maximum) for d in distinct], pa.bool_())
    return _set_level(agg, check, agg["distinct"], agg["rows"], broken=broken)


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


FAMILY = QualityFamily()
