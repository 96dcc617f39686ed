"""Feature drift over time and training/serving skew, judged by the drift engine's rules.

Features are the keys of ``requests.features`` (numeric) and ``requests.feature_strings``
(categorical) seen in the windows or their reference days; the subject of every point is
the feature name. A value is *missing* when the key is absent or null (and, for numbers,
NaN or infinite), as the drift engine counts it.

Per window and slice (hour and day):

- ``feature_null_rate``: requests where the feature is missing / requests (numerator and
  denominator stored; ``n`` = requests).

Per day window (hourly windows against a week of reference would read the daily cycle,
session features at night versus the evening peak, as drift, and hold too few values to
judge at modest traffic), against the reference = the ``[monitors] drift_reference_days``
local days before the window without the days that drifted themselves (see
:func:`reference_days`; a window with no reference rows gets no drift points):

- ``feature_drift``: the statistic of the drift engine's deciding distribution test for
  the feature's kind (``recops.drift.rules``): Wasserstein-1 in reference standard
  deviations for numeric features, Jensen–Shannon distance over the reference's top 20
  values + other + null for categorical ones. All traffic only. The value is given even
  when the windows are too small for a verdict.
- ``feature_drift_ratio``: the largest of the deciding tests' statistic ÷ threshold (the
  distribution test and the null-rate test, Cohen's h ÷ 0.2) among those that reached a
  verdict; 1.0 is the drift line, so the value is ≥ 1 exactly when ``recops.drift.compare``
  says "drift". Null when the engine's small-window guard says "insufficient data". All
  traffic and every slice: within a slice both windows are that slice's rows, counted
  against the overall reference binning, as ``compare(..., segment=KEY)`` does.
- ``training_serving_skew``: for each model version serving in the window whose registry
  entry has training datasets (role ``train``) readable locally: the same ratio with the
  training data's column as reference and the window's requests served by that version
  as current, for every request feature the training data has as a column of the same
  kind. Slice ``model_version=<v>``. Versions or datasets that are not registered or not
  readable are skipped.

How it is computed (decisions 0020–0024 hold: binnings come from the reference, the
statistics are the drift engine's own functions of counts; decision 0034 for the
reference). Numeric features take two engine queries per round (:func:`numeric_pairs`):
the reference's exact percentile edges per (window, feature), from its values routed to
the windows whose reference holds their day and numbered in order; and exact per-day
profiles, each day's values counted once against the union of the edges of the windows
it serves, whose cells add up to each window's bins. Python recovers the edges, merges
bins whose edges coincide, turns the sums into the engine's tail sums and moments, and
applies ``recops.drift.rules.run_tests``. Categorical features are counted per day and
value by a group-by; the top 20 are taken from the reference's exact counts. Which days
are a window's reference depends on whether earlier days drifted: :func:`drift_pairs`
settles that in rounds (usually one, two after an incident). Training data is profiled by
the drift engine itself (``recops.drift.counting.profile_column``, cached per dataset
digest) and the serving values are counted against its edges by a window function
(edges put beside the values, counting edges ``<= x``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recops.drift.counting import ValueCounts, column_kind, profile_column
from recops.drift.counts import (
    CATEGORICAL,
    NUMERIC,
    CategoricalBinning,
    CategoricalCounts,
    ColumnCounts,
    NumericBinning,
    NumericCounts,
)
from recops.drift.rules import DRIFT, INSUFFICIENT, NO_DRIFT, Rules, run_tests
from recops.drift.stats.base import ColumnPair
from recops.monitors.context import ALL, MonitorContext
from recops.monitors.series import concat_points, empty_points, points_from, read_series

NAME = "drift"
#: Raw percentile edges of a reference (the drift engine's FINE_LEVELS - 1).
EDGES = 99
#: Training profiles kept in memory (per dataset digest and column) between runs of a process.
_TRAINING_CACHE: dict[tuple[str, str, str, str], ColumnCounts | None] = {}
_CACHE_LIMIT = 512

Key = tuple[int, str, str]  # (day bucket, feature, slice)


@dataclass(frozen=True)
class Features:
    """The features to monitor: numeric (``features``) and categorical (``feature_strings``)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def kind(self, name: str) -> str:
        return NUMERIC if name in self.numeric else CATEGORICAL

    def __bool__(self) -> bool:
        return bool(self.numeric or self.categorical)


def finite(x: ir.FloatingValue) -> ir.BooleanValue:
    """Not null, NaN or infinite: ``x - x = 0`` (NaN and ±inf give NaN; Ibis's ``isinf`` is
    a constant false on PySpark)."""
    return (x - x) == 0


def present(table: ir.Table, features: Features, name: str) -> ir.BooleanValue:
    """The feature has a value on this request (what the drift engine does not count as missing)."""
    if name in features.numeric:
        return finite(table.features[name]).fill_null(False)
    return table.feature_strings[name].notnull()


class DriftFamily:
    name = NAME
    granularities = frozenset({"others"})

    def compute(self, ctx: MonitorContext) -> pa.Table:
        requests = ctx.table("requests")
        rules = DecidingRules()
        if ctx.granularity.name != "day":
            features = discover(ctx, ctx.in_windows(requests, "ts"))
            return _hourly_null_rates(ctx, requests, features) if features else empty_points()
        days = ctx.config.monitors.drift_reference_days
        first = ctx.plan.buckets[0]
        lo = ctx.granularity.window(first - days).start
        # The reference days before each window (a local day may be 25 hours long).
        scope = ctx.in_windows(requests, "ts", margin_before=days * 86_400 + 7_200)
        features = discover(ctx, scope)
        if not features:
            return empty_points()
        base = scope.mutate(
            _day=ctx.granularity.bucket(scope.ts, lo, ctx.plan.end), **slice_values(ctx, scope)
        )
        counts = RowCounts.query(ctx, base, features)
        parts = [counts.null_rate_points(ctx, features)]
        active = [
            b
            for b in ctx.plan.buckets
            if counts.rows(b, ALL) and any(counts.rows(d, ALL) for d in range(b - days, b))
        ]
        if active:
            pairs = drift_pairs(ctx, base, features, active, days, counts, rules)
            parts.append(_drift_points(ctx, pairs, rules))
        parts.append(_skew_points(ctx, requests, features, rules))
        return concat_points(parts)


# --- which features, and how many rows have them ----------------------------------------------------


def discover(ctx: MonitorContext, rows: ir.Table) -> Features:
    """Feature names seen in ``rows``: keys of ``features`` and of ``feature_strings``."""
    numeric = rows.select(kind=ibis.literal(NUMERIC), name=rows.features.keys().unnest())
    strings = rows.select(kind=ibis.literal(CATEGORICAL), name=rows.feature_strings.keys().unnest())
    table = ctx.engine.execute(ibis.union(numeric, strings).distinct())
    found: dict[str, set[str]] = {NUMERIC: set(), CATEGORICAL: set()}
    for kind, name in zip(table["kind"].to_pylist(), table["name"].to_pylist(), strict=True):
        if name is not None:
            found[str(kind)].add(str(name))
    # A name used both ways is monitored as a number (one subject per name).
    return Features(tuple(sorted(found[NUMERIC])), tuple(sorted(found[CATEGORICAL] - found[NUMERIC])))


def slice_values(ctx: MonitorContext, table: ir.Table) -> dict[str, ir.StringValue]:
    """Each slicing key's value of a request as a column ``_s<i>`` (nulls as ``(none)``).

    With :func:`slice_labels` this is ``MonitorContext.aggregate`` in one scan: a row is
    read once and repeated per slice label by an unnest, where ``aggregate`` unions one
    group-by per slicing key (each reading the rows again). Same groups, same values; for
    aggregates over map columns (features, feature times) half the time on DuckDB.
    """
    return {f"_s{i}": key.expr(table).fill_null("(none)") for i, key in enumerate(ctx.slices)}


def slice_labels(ctx: MonitorContext, table: ir.Table) -> ir.ArrayValue:
    """Every slice label of a row carrying ``_slice_values``: the total (``""``) first, then
    ``key=value`` as ``MonitorContext.aggregate`` names them."""
    labels: list[ir.StringValue] = [ibis.literal(ALL)]
    for i, key in enumerate(ctx.slices):
        labels.append(ibis.literal(f"{key.name}=") + table[f"_s{i}"])
    return ibis.array(labels)


def slice_columns(ctx: MonitorContext) -> tuple[str, ...]:
    return tuple(f"_s{i}" for i in range(len(ctx.slices)))


def _hourly_null_rates(ctx: MonitorContext, requests: ir.Table, features: Features) -> pa.Table:
    rows = ctx.in_windows(requests, "ts")
    base = rows.mutate(_day=ctx.bucket(rows.ts), **slice_values(ctx, rows))
    return RowCounts.query(ctx, base, features).null_rate_points(ctx, features)


@dataclass
class RowCounts:
    """Requests, and requests with each feature present, per day bucket and slice."""

    names: tuple[str, ...]
    table: dict[tuple[int, str], tuple[int, npt.NDArray[np.int64]]] = field(default_factory=dict)

    @classmethod
    def query(cls, ctx: MonitorContext, base: ir.Table, features: Features) -> RowCounts:
        flags = {f"p{i}": present(base, features, n).cast("int64") for i, n in enumerate(features.names)}
        rows = base.select("_day", _slice=slice_labels(ctx, base).unnest(), **flags)
        grouped = rows.group_by(["_day", "_slice"]).aggregate(
            n=rows.count(), **{name: rows[name].sum() for name in flags}
        )
        table = ctx.engine.execute(grouped)
        out = cls(features.names)
        have = np.column_stack([table[name].to_numpy() for name in flags]).astype(np.int64)
        for i, (day, label, n) in enumerate(
            zip(table["_day"].to_pylist(), table["_slice"].to_pylist(), table["n"].to_pylist(), strict=True)
        ):
            out.table[(int(day), str(label))] = (int(n), have[i])
        return out

    def rows(self, day: int, label: str) -> int:
        return self.table.get((day, label), (0, None))[0]

    def present(self, day: int, label: str, name: str) -> int:
        found = self.table.get((day, label))
        return 0 if found is None else int(found[1][self.names.index(name)])

    def labels(self, day: int) -> list[str]:
        return sorted(label for d, label in self.table if d == day)

    def null_rate_points(self, ctx: MonitorContext, features: Features) -> pa.Table:
        planned = set(ctx.plan.buckets)
        out: dict[str, list[Any]] = {"_bucket": [], "slice": [], "subject": [], "missing": [], "n": []}
        for (day, label), (n, have) in sorted(self.table.items()):
            if day not in planned or not n:
                continue
            for i, name in enumerate(features.names):
                out["_bucket"].append(day)
                out["slice"].append(label)
                out["subject"].append(name)
                out["missing"].append(float(n - have[i]))
                out["n"].append(n)
        if not out["_bucket"]:
            return empty_points()
        table = ctx.attach_windows(pa.table(out), slice_column="slice")
        missing = np.asarray(table["missing"].to_numpy(), dtype=np.float64)
        requests = np.asarray(table["n"].to_numpy(), dtype=np.float64)
        return points_from(
            table,
            metric="feature_null_rate",
            family=NAME,
            value=pa.array(missing / requests),
            numerator=table["missing"],
            denominator=table["n"],
            n=table["n"],
            subject=table["subject"],
        )


# --- the reference: the trailing days that did not drift themselves ------------------------------------


def reference_days(
    window: int, days: int, has_rows: Callable[[int], bool], drifted: Callable[[int], bool]
) -> tuple[int, ...]:
    """The reference days of ``window`` for one feature: the trailing days that did not drift.

    ``drifted(d)``: day ``d``'s own all-traffic ``feature_drift_ratio`` for the feature was
    at or above 1. Of the ``days`` days with rows before the window, those that drifted are
    left out, unless the drift *persisted*: a run of at least :func:`persistence` drifted
    days in a row is a change of level, not an incident, and from its first day on it is
    the new normal (its days are kept, the days before it dropped). When nothing is left,
    every day with rows is used.
    """
    persist = persistence(days)
    first = window - days
    flags = {d: drifted(d) for d in range(first - persist, window)}
    change: int | None = None
    kept: set[int] = set()
    day = first - persist
    while day < window:
        end = day
        while end < window and flags[end]:
            end += 1
        if end - day >= persist:
            change = day
            kept = set(range(day, end))
        day = max(end, day + 1)
    start = first if change is None else max(first, change)
    candidates = [d for d in range(start, window) if has_rows(d)]
    chosen = tuple(d for d in candidates if not flags[d] or d in kept)
    return chosen or tuple(d for d in range(first, window) if has_rows(d))


def persistence(days: int) -> int:
    """Drifted days in a row that make a change of level: more than half the reference."""
    return days // 2 + 1


def drift_pairs(
    ctx: MonitorContext,
    base: ir.Table,
    features: Features,
    active: Sequence[int],
    days: int,
    counts: RowCounts,
    rules: Rules,
) -> dict[Key, ColumnPair]:
    """Reference and current counts per (active window, feature, slice), each window against
    its :func:`reference_days`.

    Whether a day drifted is known for days before the plan (their stored points) and is
    decided in window order for the planned ones, each against its own reference: a chain
    the engine should not walk one day at a time. So the counting runs in rounds, each
    counting many (window, feature) pairs in one pass:

    1. Every pair is counted against its reference with no planned day drifted, and every
       day is also profiled against the binning of each window whose reference it may
       join (:class:`DayCells`).
    2. In window order, a pair whose reference days are those the settled flags give is
       settled (its flag is its own result). The others are judged again, in order, in
       Python: against the reference the flags so far give, each window's first-round
       binning is reused with the day profiles, which is exact except for the binning
       (Wasserstein from bins differs only where the CDFs cross inside a bin, decision
       0024; the null-rate test does not use bins). That gives each day's likely flag.
    3. The pairs whose reference changed are counted again, exactly, against the
       reference the likely flags give; step 2 repeats until every pair is settled.

    The first pending window of each feature depends only on settled flags, so each round
    settles at least one; with no drift there is one round, and after a drifted stretch
    usually two, the second counting only the windows whose reference lost days.
    """
    planned = set(ctx.plan.buckets)
    stored = _stored_flags(ctx, features.names, active, days)
    tallies = categorical_tallies(ctx, base, features, {d for b in active for d in range(b - days, b + 1)})
    settled: dict[tuple[int, str], bool] = {}
    guessed: dict[tuple[int, str], bool] = {}
    used: dict[tuple[int, str], tuple[int, ...]] = {}
    exact: dict[tuple[int, str], bool] = {}
    pairs: dict[Key, ColumnPair] = {}

    def has_rows(day: int) -> bool:
        return counts.rows(day, ALL) > 0

    def flag(name: str, guesses: bool) -> Callable[[int], bool]:
        """Whether a day drifted for ``name``: settled, stored, or (``guesses``) likely."""

        def day_drifted(day: int) -> bool:
            if (day, name) in settled:
                return settled[(day, name)]
            if day in planned:
                return guesses and guessed.get((day, name), False)
            return stored.get((day, name), False)

        return day_drifted

    def count(plan: Plan, cover: Plan | None) -> NumericRound:
        numeric = {k: v for k, v in plan.items() if k[1] in features.numeric}
        categorical = {k: v for k, v in plan.items() if k[1] in features.categorical}
        wider = None if cover is None else {k: v for k, v in cover.items() if k in numeric}
        counted = numeric_pairs(ctx, base, features, numeric, counts, wider)
        pairs.update(counted.pairs)
        pairs.update(categorical_pairs(features, categorical, counts, tallies, rules))
        for key, reference in plan.items():
            used[key] = reference
            exact[key] = crossed(judge(pairs[(*key, ALL)], rules)[1])
        return counted

    def estimate(key: tuple[int, str], reference: tuple[int, ...]) -> bool:
        if key[1] in features.categorical:
            pair = categorical_pairs(features, {key: reference}, counts, tallies, rules, labels=(ALL,))
            return crossed(judge(pair[(*key, ALL)], rules)[1])
        return crossed(judge(first.pair(key, reference, counts), rules)[1])

    pending = [(w, name) for name in features.names for w in sorted(active)]
    plan = {key: reference_days(key[0], days, has_rows, flag(key[1], True)) for key in pending}
    cover = {key: reference_days(key[0], days, has_rows, lambda _: False) for key in pending}
    first = count(plan, cover)
    while True:
        left: list[tuple[int, str]] = []
        for key in pending:  # ordered by feature, then window
            blocked = bool(left) and left[-1][1] == key[1]
            if not blocked and used[key] == reference_days(key[0], days, has_rows, flag(key[1], False)):
                settled[key] = exact[key]
            else:
                left.append(key)
        if not left:
            return pairs
        plan = {}
        for key in left:  # in order, so each guess sees the guesses of the days before it
            reference = reference_days(key[0], days, has_rows, flag(key[1], True))
            guessed[key] = exact[key] if reference == used[key] else estimate(key, reference)
            plan[key] = reference
        pending = left
        count({k: v for k, v in plan.items() if v != used[k]}, None)


def crossed(ratio: float | None) -> bool:
    """A day drifted when its all-traffic ``feature_drift_ratio`` is at or above 1."""
    return ratio is not None and ratio >= 1.0


def _stored_flags(
    ctx: MonitorContext, names: Sequence[str], active: Sequence[int], days: int
) -> dict[tuple[int, str], bool]:
    """(day, feature) → drifted, for the days outside the plan that references look back on,
    from the stored all-traffic ``feature_drift_ratio``; a day with no stored value counts
    as not drifted."""
    store = ctx.extras.get("store")
    back = days + persistence(days)
    wanted = sorted({d for b in active for d in range(b - back, b)} - set(ctx.plan.buckets))
    if store is None or not wanted:
        return {}
    starts = {ctx.granularity.window(d).start.astimezone(UTC): d for d in wanted}
    table = read_series(
        store,
        "feature_drift_ratio",
        slice=ALL,
        granularity=ctx.granularity.name,
        start=min(starts),
        end=max(starts) + timedelta(seconds=1),
        family=NAME,
    )
    out: dict[tuple[int, str], bool] = {}
    for row in table.to_pylist():
        day = starts.get(row["window_start"].astimezone(UTC))
        if day is not None and row["subject"] in names:
            out[(day, str(row["subject"]))] = crossed(row["value"])
    return out


# --- numeric features: bins of the reference, counted by the engine ---------------------------------


@dataclass
class BinSums:
    """Per group of values (one bin, or one raw-edge group): count, sums around a centre, extremes."""

    bins: npt.NDArray[np.int64]
    count: npt.NDArray[np.float64]
    s1: npt.NDArray[np.float64]  # sum of (x - centre)
    s2: npt.NDArray[np.float64]  # sum of (x - centre) ** 2
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    centre: npt.NDArray[np.float64]

    def take(self, index: npt.NDArray[np.intp]) -> BinSums:
        return BinSums(*(getattr(self, f)[index] for f in BinSums.__dataclass_fields__))


def binning_from_groups(
    m: npt.NDArray[np.int64], low: npt.NDArray[np.float64]
) -> tuple[NumericBinning, npt.NDArray[np.int64]]:
    """The reference's exact binning from its raw-edge groups, and each group's bin.

    ``m`` is each reference group's raw edge count (edges ``<= x``), ``low`` its smallest
    value. Raw edge k (1..99) is the smallest reference value whose group has ``m >= k``;
    bins of equal edges are merged (``np.unique``, as ``exact_binning`` does).

    Returns:
        the binning and ``merged``: for raw count m (0..99), the bin index.
    """
    if not len(m):
        return NumericBinning(np.empty(0), np.empty(0), 0.0, "exact"), np.zeros(EDGES + 1, dtype=np.int64)
    smallest = np.full(EDGES + 1, math.inf)
    np.minimum.at(smallest, m, low)
    raw = np.minimum.accumulate(smallest[::-1])[::-1][1:]  # raw[k-1] = edge k
    coarse = raw[9::10]  # edges 10, 20, ..., 90: the deciles
    distinct = np.concatenate([[0], np.cumsum(np.concatenate([[1], raw[1:] != raw[:-1]]))])
    binning = NumericBinning(np.unique(raw), np.unique(coarse), float(raw[49]), "exact")
    return binning, distinct.astype(np.int64)


def numeric_counts(binning: NumericBinning, sums: BinSums, rows: int) -> NumericCounts:
    """The drift engine's ``NumericCounts`` from per-bin sums (what ``counting.numeric_counts`` keeps)."""
    size = binning.bins
    shift = binning.shift
    counts = np.bincount(sums.bins, weights=sums.count, minlength=size).round().astype(np.int64)
    moved = sums.centre - shift
    around = sums.s1 + sums.count * moved  # sum of (x - shift)
    squares = sums.s2 + 2.0 * moved * sums.s1 + sums.count * moved * moved
    totals = np.bincount(sums.bins, weights=around, minlength=size)
    tails = np.zeros(size, dtype=np.float64)
    values = int(counts.sum())
    if values and len(binning.edges):
        upper = binning.edges - shift
        tails[:-1] = counts[:-1] * upper - totals[:-1]
        tails[-1] = totals[-1] - counts[-1] * upper[-1]
        np.maximum(tails, 0.0, out=tails)
    if not values:
        return NumericCounts(rows=rows, missing=rows, counts=counts, tails=tails)
    return NumericCounts(
        rows=rows,
        missing=rows - values,
        counts=counts,
        tails=tails,
        sum_d=float(totals.sum()),
        sum_d2=float(squares.sum()),
        minimum=float(sums.low.min()),
        maximum=float(sums.high.max()),
    )


def at_or_below(rows: ir.Table, keys: Sequence[str], side: str) -> tuple[ir.IntegerValue, ir.IntegerValue]:
    """For each row, the rows of its partition (``keys``) with ``_x <= `` its ``_x``: all of
    them, and those of its own ``side``.

    From descending ranks (``ibis.rank()`` is the number of rows with a larger value): a
    running sum over a RANGE frame says the same directly but costs DuckDB about three
    times as much. Ties count as ``<=``, as a value equal to an edge falls in the bin above.
    """
    partition = [rows[k] for k in keys]
    own = [*partition, rows[side]]
    everything = rows._x.count().over(ibis.window(group_by=partition)) - ibis.rank().over(
        ibis.window(group_by=partition, order_by=ibis.desc(rows._x))
    )
    mine = rows._x.count().over(ibis.window(group_by=own)) - ibis.rank().over(
        ibis.window(group_by=own, order_by=ibis.desc(rows._x))
    )
    return everything, mine


def _group_sums(rows: ir.Table, keys: Sequence[str], value: str, centre: str) -> ir.Table:
    deviation = rows[value] - rows[centre]
    return rows.group_by(list(keys)).aggregate(
        _cnt=rows.count(),
        _s1=deviation.sum(),
        _s2=(deviation * deviation).sum(),
        _lo=rows[value].min(),
        _hi=rows[value].max(),
        _c=rows[centre].max(),
    )


def _long_numeric(base: ir.Table, names: Sequence[str], keep: Sequence[str]) -> ir.Table:
    """One row per (request, numeric feature) with a finite value: ``_f`` (index), ``_x``."""
    pairs = ibis.array(
        [
            ibis.struct({"f": ibis.literal(i, type="int64"), "x": base.features[name]})
            for i, name in enumerate(names)
        ]
    )
    long = base.select(*keep, _fx=pairs.unnest())
    long = long.select(*keep, _f=long._fx.f, _x=long._fx.x)
    return long.filter(finite(long._x))


Plan = Mapping[tuple[int, str], tuple[int, ...]]  # (window, feature) -> its reference days


@dataclass
class NumericRound:
    """What one counting pass over numeric features gives: the pairs, each (window, feature)'s
    binning, and the day profiles (for judging a window against other reference days)."""

    pairs: dict[Key, ColumnPair]
    binnings: dict[tuple[int, str], NumericBinning]
    cells: DayCells | None
    index: dict[str, int]

    def pair(self, key: tuple[int, str], reference: Sequence[int], counts: RowCounts) -> ColumnPair:
        """All traffic of ``key``'s window against ``reference`` (days covered by this pass),
        in this pass's binning of the window."""
        window, name = key
        binning = self.binnings[key]
        assert self.cells is not None
        sides = [
            numeric_counts(
                binning,
                self.cells.sums(span, self.index[name], ALL, binning),
                sum(counts.rows(d, ALL) for d in span),
            )
            for span in (reference, (window,))
        ]
        return ColumnPair(name, NUMERIC, binning, sides[0], sides[1])


def numeric_pairs(
    ctx: MonitorContext,
    base: ir.Table,
    features: Features,
    plan: Plan,
    counts: RowCounts,
    cover: Plan | None = None,
) -> NumericRound:
    """Reference and current counts of numeric features, per (window, feature) of ``plan`` and slice.

    Two queries. The first replicates each reference day's values to the windows that use
    it and reads the reference's exact percentile edges off one sort per (window, feature).
    The second counts every day once, without replication, against the union of the
    edges of the windows it serves (its own, as current, and those it is a reference
    for, or may be: ``cover`` widens a window's days beyond its reference): exact per-day
    profiles against a common fine binning, which add up to each window's bins (each
    window's edges are among its days' fine edges).
    """
    index = {name: i for i, name in enumerate(features.numeric)}
    if not plan:
        return NumericRound({}, {}, None, index)
    needed = sorted({d for key, reference in (cover or plan).items() for d in (*reference, key[0])})
    scope = base.filter(base._day.isin(needed))  # later rounds need a few days only
    long = _long_numeric(scope, features.numeric, ("_day", *slice_columns(ctx)))
    binnings = _reference_binnings(ctx, long, plan, index, counts)
    cells = DayCells.query(ctx, long, cover or plan, index, binnings)
    pairs: dict[Key, ColumnPair] = {}
    for (window, name), reference in sorted(plan.items()):
        binning = binnings[(window, name)]
        for label in counts.labels(window):
            sides = []
            for span in (reference, (window,)):
                rows = sum(counts.rows(d, label) for d in span)
                sides.append(numeric_counts(binning, cells.sums(span, index[name], label, binning), rows))
            pairs[(window, name, label)] = ColumnPair(name, NUMERIC, binning, sides[0], sides[1])
    return NumericRound(pairs, binnings, cells, index)


def _reference_binnings(
    ctx: MonitorContext, long: ir.Table, plan: Plan, index: Mapping[str, int], counts: RowCounts
) -> dict[tuple[int, str], NumericBinning]:
    """Each (window, feature)'s exact reference binning (the drift engine's ``exact_binning``).

    Each reference value is routed to the windows that use its day (a join with a small
    table of routes) and numbered within (window, feature) in value order: at 0-based
    position ``p`` of ``n``, ``m = min(99, floor(100 (p + 1) / n))`` raw edges are at or
    before it (edge k sits at position ``ceil(k n / 100) - 1``), so the smallest value
    of each ``m`` gives the edges (:func:`binning_from_groups`). ``n`` is known from the
    row counts (values present), so the engine returns only about 100 rows per pair.
    """
    routes: dict[str, list[int]] = {"_day": [], "_f": [], "_w": [], "_n": []}
    for (window, name), reference in plan.items():
        n = sum(counts.present(d, ALL, name) for d in reference)
        for day in reference if n else ():
            routes["_day"].append(day)
            routes["_f"].append(index[name])
            routes["_w"].append(window)
            routes["_n"].append(n)
    groups: dict[tuple[int, int], list[int]] = {}
    m = low = np.zeros(0)
    if routes["_day"]:
        table = ibis.memtable(pa.table({k: pa.array(v, pa.int64()) for k, v in routes.items()}))
        values = long.select(_day=long._day.cast("int64"), _f=long._f, _x=long._x.cast("float64"))
        rows = values.join(table, ["_day", "_f"])
        position = ibis.row_number().over(ibis.window(group_by=[rows._w, rows._f], order_by=rows._x))
        rows = rows.mutate(
            _m=ibis.least(ibis.literal(EDGES, type="int64"), ((position + 1) * 100) // rows._n)
        )
        found = ctx.engine.execute(rows.group_by(["_w", "_f", "_m"]).aggregate(_lo=rows._x.min()))
        m = found["_m"].to_numpy().astype(np.int64)
        low = np.asarray(found["_lo"].to_numpy(), dtype=np.float64)
        for i, key in enumerate(zip(found["_w"].to_pylist(), found["_f"].to_pylist(), strict=True)):
            groups.setdefault((int(key[0]), int(key[1])), []).append(i)
    out: dict[tuple[int, str], NumericBinning] = {}
    for window, name in plan:
        chosen = np.asarray(groups.get((window, index[name]), []), dtype=np.intp)
        out[(window, name)] = binning_from_groups(m[chosen].astype(np.int64), low[chosen])[0]
    return out


@dataclass
class DayCells:
    """Per (day, feature, slice): values counted once against the day's fine edges.

    A day's fine edges are the union of the edges of every window it serves, so a cell
    (the values between two neighbouring fine edges) lies inside one bin of each of those
    windows, and a window's bin sums are sums of cells of its days.
    """

    sums_: BinSums
    lower: npt.NDArray[np.float64]  # each row's cell's lower fine edge (-inf for the first cell)
    groups: dict[tuple[int, int, str], npt.NDArray[np.intp]]

    @classmethod
    def query(
        cls,
        ctx: MonitorContext,
        long: ir.Table,
        cover: Plan,
        index: Mapping[str, int],
        binnings: Mapping[tuple[int, str], NumericBinning],
    ) -> DayCells:
        fine: dict[tuple[int, int], list[npt.NDArray[np.float64]]] = {}
        for (window, name), reference in cover.items():
            for day in (*reference, window):
                fine.setdefault((day, index[name]), []).append(binnings[(window, name)].edges)
        grids = {key: np.unique(np.concatenate(parts)) for key, parts in fine.items()}
        carried = slice_columns(ctx)
        marks: dict[str, list[Any]] = {"_day": [], "_f": [], "_x": []}
        for (day, f), edges in grids.items():
            marks["_day"].extend([day] * len(edges))
            marks["_f"].extend([f] * len(edges))
            marks["_x"].extend(edges.tolist())
        columns = {
            "_day": pa.array(marks["_day"], pa.int64()),
            "_f": pa.array(marks["_f"], pa.int64()),
            "_x": pa.array(marks["_x"], pa.float64()),
            "_edge": pa.array([1] * len(marks["_x"]), pa.int64()),
            **{c: pa.array([None] * len(marks["_x"]), pa.string()) for c in carried},
        }
        keys = sorted(day * len(index) + f for day, f in grids)
        values = long.select(
            _day=long._day.cast("int64"),
            _f=long._f,
            _x=long._x.cast("float64"),
            _edge=ibis.literal(0, type="int64"),
            **{c: long[c].cast("string") for c in carried},
        )
        values = values.filter((values._day * len(index) + values._f).isin(keys))
        both = ibis.union(values, ibis.memtable(pa.table(columns)))
        everything, own_side = at_or_below(both, ("_day", "_f"), "_edge")
        whole = ibis.window(group_by=[both._day, both._f])
        # For a value, the fine edges <= x: its cell (edges are distinct per day and feature).
        both = both.mutate(_cell=everything - own_side, _mid=both._x.mean().over(whole))
        rows = both.filter(both._edge == 0)
        rows = rows.select("_day", "_f", "_cell", "_x", "_mid", _slice=slice_labels(ctx, rows).unnest())
        table = ctx.engine.execute(_group_sums(rows, ("_day", "_f", "_cell", "_slice"), "_x", "_mid"))
        day = table["_day"].to_numpy().astype(np.int64)
        f = table["_f"].to_numpy().astype(np.int64)
        cell = table["_cell"].to_numpy().astype(np.int64)
        encoded = table["_slice"].combine_chunks().dictionary_encode()
        labels = encoded.dictionary.to_pylist()
        label_index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        lower = np.full(len(cell), -math.inf)
        for (d, i), edges in grids.items():
            at = np.flatnonzero((day == d) & (f == i) & (cell > 0))
            lower[at] = edges[cell[at] - 1]
        order = np.lexsort((label_index, f, day))
        keyed = np.column_stack([day, f, label_index])[order]
        starts = np.flatnonzero(np.concatenate([[True], np.any(keyed[1:] != keyed[:-1], axis=1)]))
        ends = np.concatenate([starts[1:], [len(order)]])
        groups = {
            (int(keyed[s][0]), int(keyed[s][1]), str(labels[keyed[s][2]])): order[s:e]
            for s, e in zip(starts, ends, strict=True)
        }
        sums = BinSums(
            bins=cell,
            count=table["_cnt"].to_numpy().astype(np.float64),
            s1=np.asarray(table["_s1"].to_numpy(), dtype=np.float64),
            s2=np.asarray(table["_s2"].to_numpy(), dtype=np.float64),
            low=np.asarray(table["_lo"].to_numpy(), dtype=np.float64),
            high=np.asarray(table["_hi"].to_numpy(), dtype=np.float64),
            centre=np.asarray(table["_c"].to_numpy(), dtype=np.float64),
        )
        return cls(sums, lower, groups)

    def sums(self, days: Iterable[int], feature: int, label: str, binning: NumericBinning) -> BinSums:
        """The cells of ``days`` in one slice, each assigned to its bin of ``binning``."""
        found = [self.groups[k] for k in ((d, feature, label) for d in days) if k in self.groups]
        index = np.concatenate(found) if found else np.zeros(0, np.intp)
        part = self.sums_.take(index)
        part.bins = np.searchsorted(binning.edges, self.lower[index], side="right").astype(np.int64)
        return part


# --- categorical features ------------------------------------------------------------------------------

Tallies = dict[tuple[int, str, int], dict[str, int]]  # (day, slice, feature index) -> value -> count


def categorical_tallies(
    ctx: MonitorContext, base: ir.Table, features: Features, days: Iterable[int]
) -> Tallies:
    """Exact value counts of every categorical feature per day and slice (one group-by)."""
    if not features.categorical:
        return {}
    pairs_expr = ibis.array(
        [
            ibis.struct({"f": ibis.literal(i, type="int64"), "v": base.feature_strings[name]})
            for i, name in enumerate(features.categorical)
        ]
    )
    carried = slice_columns(ctx)
    long = base.filter(base._day.isin(sorted(days))).select("_day", *carried, _fv=pairs_expr.unnest())
    long = long.select("_day", *carried, _f=long._fv.f, _v=long._fv.v)
    long = long.filter(long._v.notnull())
    long = long.select("_day", "_f", "_v", _slice=slice_labels(ctx, long).unnest())
    table = ctx.engine.execute(long.group_by(["_day", "_slice", "_f", "_v"]).aggregate(_cnt=long.count()))
    tallies: Tallies = {}
    for day, label, index, value, n in zip(
        table["_day"].to_pylist(),
        table["_slice"].to_pylist(),
        table["_f"].to_pylist(),
        table["_v"].to_pylist(),
        table["_cnt"].to_pylist(),
        strict=True,
    ):
        tallies.setdefault((int(day), str(label), int(index)), {})[str(value)] = int(n)
    return tallies


def categorical_pairs(
    features: Features,
    plan: Plan,
    counts: RowCounts,
    tallies: Tallies,
    rules: Rules,
    labels: Sequence[str] | None = None,
) -> dict[Key, ColumnPair]:
    """Reference and current counts of categorical features, per (window, feature) of ``plan``
    and slice (every slice of the window, or ``labels``)."""
    pairs: dict[Key, ColumnPair] = {}
    for (window, name), reference in sorted(plan.items()):
        index = features.categorical.index(name)
        binning = CategoricalBinning(_top(_summed(tallies, reference, ALL, index), rules.top_k))
        for label in counts.labels(window) if labels is None else labels:
            sides = []
            for span in (reference, (window,)):
                rows = sum(counts.rows(d, label) for d in span)
                sides.append(categorical_counts(binning, _summed(tallies, span, label, index), rows))
            pairs[(window, name, label)] = ColumnPair(name, CATEGORICAL, binning, sides[0], sides[1])
    return pairs


def _summed(
    tallies: Mapping[tuple[int, str, int], Mapping[str, int]], span: Iterable[int], label: str, index: int
) -> dict[str, int]:
    total: dict[str, int] = {}
    for day in span:
        for value, n in tallies.get((day, label, index), {}).items():
            total[value] = total.get(value, 0) + n
    return total


def _top(values: Mapping[str, int], k: int) -> tuple[str, ...]:
    """The k most frequent values, ties by value: ``ValueCounts.top``, as the drift engine picks them."""
    if not values:
        return ()
    names = sorted(values)
    tally = ValueCounts(pa.array(names, pa.string()), np.asarray([values[v] for v in names], np.int64), 0, 0)
    return tally.top(k)


def categorical_counts(
    binning: CategoricalBinning, values: Mapping[str, int], rows: int
) -> CategoricalCounts:
    """The drift engine's ``CategoricalCounts`` from exact value counts (no sketches)."""
    tracked = np.asarray([values.get(c, 0) for c in binning.categories], dtype=np.int64)
    total = sum(values.values())
    return CategoricalCounts(
        rows=rows, missing=rows - total, counts=tracked, other=total - int(tracked.sum())
    )


# --- verdicts into points --------------------------------------------------------------------------------


class DecidingRules(Rules):
    """The drift engine's rules, running only the tests that decide the verdict.

    ``run_tests`` decides from the deciding tests alone (the others are shown, never
    decide), so skipping the rest leaves every verdict and statistic unchanged.
    """

    def order(self, kind: str) -> list[str]:
        return list(dict.fromkeys(self.deciding(kind)))


def judge(pair: ColumnPair, rules: Rules) -> tuple[float | None, float | None]:
    """The deciding distribution test's statistic, and the drift ratio (None when insufficient)."""
    verdict, results = run_tests(pair, rules)
    primary = next(r for r in results if r.name == rules.test(pair.kind))
    statistic = primary.value
    if verdict == INSUFFICIENT:
        return statistic, None
    ratios = [
        r.value / r.threshold
        for r in results
        if r.deciding and r.status in (DRIFT, NO_DRIFT) and r.value is not None
    ]
    return statistic, (max(ratios) if ratios else None)


def _drift_points(ctx: MonitorContext, pairs: Mapping[Key, ColumnPair], rules: Rules) -> pa.Table:
    out: dict[str, list[Any]] = {
        "_bucket": [],
        "slice": [],
        "subject": [],
        "metric": [],
        "value": [],
        "n": [],
    }
    for (window, name, label), pair in sorted(pairs.items()):
        if not pair.current.rows:
            continue
        statistic, ratio = judge(pair, rules)
        measured = [("feature_drift_ratio", ratio)] + ([("feature_drift", statistic)] if label == ALL else [])
        for metric, value in measured:
            out["_bucket"].append(window)
            out["slice"].append(label)
            out["subject"].append(name)
            out["metric"].append(metric)
            out["value"].append(value)
            out["n"].append(pair.current.rows)
    return _points(ctx, out)


def _points(ctx: MonitorContext, out: dict[str, list[Any]]) -> pa.Table:
    if not out["_bucket"]:
        return empty_points()
    types = {"_bucket": pa.int64(), "value": pa.float64(), "n": pa.int64()}
    table = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in out.items()})
    table = ctx.attach_windows(table, slice_column="slice")
    parts = []
    for metric in sorted(set(out["metric"])):
        chosen = table.filter(pc.equal(table["metric"], metric))
        parts.append(
            points_from(
                chosen,
                metric=metric,
                family=NAME,
                value=chosen["value"],
                n=chosen["n"],
                subject=chosen["subject"],
            )
        )
    return concat_points(parts)


# --- training/serving skew -----------------------------------------------------------------------------


@dataclass
class Served:
    """A registered version serving in the planned windows, with its training profiles."""

    index: int
    model: str
    version: str
    training: dict[str, ColumnCounts]  # feature name -> training data counted by the drift engine


def _skew_points(ctx: MonitorContext, requests: ir.Table, features: Features, rules: Rules) -> pa.Table:
    store = ctx.extras.get("store")
    if store is None:
        return empty_points()
    candidates = _trained_versions(store)
    if not candidates:
        return empty_points()
    scope = ctx.in_windows(requests, "ts")
    scope = scope.mutate(_day=ctx.bucket(scope.ts))
    flags = {f"p{i}": present(scope, features, n).cast("int64") for i, n in enumerate(features.names)}
    served_expr = scope.group_by(["_day", "model", "model_version"]).aggregate(
        n=scope.count(), **{k: v.sum() for k, v in flags.items()}
    )
    table = ctx.engine.execute(served_expr)
    planned = set(ctx.plan.buckets)
    served_rows: dict[tuple[int, str, str], tuple[int, list[int]]] = {}
    versions: dict[str, str] = {}  # version -> model (one model per slice label)
    by_version_rows: dict[tuple[str, str], int] = {}
    for row in table.to_pylist():
        key = (str(row["model"]), str(row["model_version"]))
        if int(row["_day"]) not in planned or key not in candidates:
            continue
        served_rows[(int(row["_day"]), *key)] = (int(row["n"]), [int(row[k]) for k in flags])
        by_version_rows[key] = by_version_rows.get(key, 0) + int(row["n"])
    for model, version in sorted(by_version_rows, key=lambda k: (-by_version_rows[k], k)):
        versions.setdefault(version, model)
    served: list[Served] = []
    for version, model in sorted(versions.items()):
        training = _training_profiles(candidates[(model, version)], features)
        if training:
            served.append(Served(len(served), model, version, training))
    if not served:
        return empty_points()
    days_of = {
        s.index: sorted(d for d, m, v in served_rows if (m, v) == (s.model, s.version)) for s in served
    }
    index = ibis.cases(
        *(((scope.model == s.model) & (scope.model_version == s.version), s.index) for s in served), else_=-1
    )
    rows = scope.filter(scope._day.isin(sorted(planned))).mutate(_mv=index.cast("int64"))
    rows = rows.filter(rows._mv >= 0)
    pairs: dict[tuple[int, str, int], ColumnPair] = {}
    numeric = [n for n in features.numeric if any(n in s.training for s in served)]
    if numeric:
        pairs.update(_skew_numeric(ctx, rows, numeric, served, days_of, served_rows, features))
    categorical = [n for n in features.categorical if any(n in s.training for s in served)]
    if categorical:
        pairs.update(_skew_categorical(ctx, rows, categorical, served, days_of, served_rows, features))
    out: dict[str, list[Any]] = {
        "_bucket": [],
        "slice": [],
        "subject": [],
        "metric": [],
        "value": [],
        "n": [],
    }
    for (day, name, which), pair in sorted(pairs.items()):
        if not pair.current.rows:
            continue
        _, ratio = judge(pair, rules)
        out["_bucket"].append(day)
        out["slice"].append(f"model_version={served[which].version}")
        out["subject"].append(name)
        out["metric"].append("training_serving_skew")
        out["value"].append(ratio)
        out["n"].append(pair.current.rows)
    return _points(ctx, out)


def _current_rows(
    served_rows: Mapping[tuple[int, str, str], tuple[int, list[int]]],
    day: int,
    s: Served,
    features: Features,
    name: str,
) -> tuple[int, int]:
    n, have = served_rows.get((day, s.model, s.version), (0, [0] * len(features.names)))
    return n, have[features.names.index(name)]


def _skew_numeric(
    ctx: MonitorContext,
    rows: ir.Table,
    names: Sequence[str],
    served: Sequence[Served],
    days_of: Mapping[int, list[int]],
    served_rows: Mapping[tuple[int, str, str], tuple[int, list[int]]],
    features: Features,
) -> dict[tuple[int, str, int], ColumnPair]:
    long = _long_numeric(rows, names, ("_day", "_mv")).mutate(_edge=ibis.literal(0, type="int64"))
    edges: dict[str, list[Any]] = {"_day": [], "_mv": [], "_f": [], "_x": [], "_edge": []}
    for s in served:
        for i, name in enumerate(names):
            counted = s.training.get(name)
            if counted is None or not isinstance(counted.binning, NumericBinning):
                continue
            for day in days_of[s.index]:
                for edge in counted.binning.edges.tolist():
                    edges["_day"].append(day)
                    edges["_mv"].append(s.index)
                    edges["_f"].append(i)
                    edges["_x"].append(edge)
                    edges["_edge"].append(1)
    types = {"_x": pa.float64()}
    marks = ibis.memtable(pa.table({k: pa.array(v, types.get(k, pa.int64())) for k, v in edges.items()}))
    long = long.select(
        _day=long._day.cast("int64"),
        _mv=long._mv.cast("int64"),
        _f=long._f,
        _x=long._x.cast("float64"),
        _edge=long._edge,
    )
    both = ibis.union(long, marks)
    whole = ibis.window(group_by=[both._day, both._mv, both._f])
    everything, own_side = at_or_below(both, ("_day", "_mv", "_f"), "_edge")
    # For a serving value, the edges <= x: its bin (edges are distinct).
    both = both.mutate(_bin=everything - own_side, _mid=both._x.mean().over(whole))
    values = both.filter(both._edge == 0)
    table = ctx.engine.execute(_group_sums(values, ("_day", "_mv", "_f", "_bin"), "_x", "_mid"))
    grouped: dict[tuple[int, int, int], list[int]] = {}
    for i, key in enumerate(
        zip(table["_day"].to_pylist(), table["_mv"].to_pylist(), table["_f"].to_pylist(), strict=True)
    ):
        grouped.setdefault((int(key[0]), int(key[1]), int(key[2])), []).append(i)
    sums = BinSums(
        bins=table["_bin"].to_numpy().astype(np.int64),
        count=table["_cnt"].to_numpy().astype(np.float64),
        s1=np.asarray(table["_s1"].to_numpy(), dtype=np.float64),
        s2=np.asarray(table["_s2"].to_numpy(), dtype=np.float64),
        low=np.asarray(table["_lo"].to_numpy(), dtype=np.float64),
        high=np.asarray(table["_hi"].to_numpy(), dtype=np.float64),
        centre=np.asarray(table["_c"].to_numpy(), dtype=np.float64),
    )
    pairs: dict[tuple[int, str, int], ColumnPair] = {}
    for s in served:
        for i, name in enumerate(names):
            counted = s.training.get(name)
            if counted is None or not isinstance(counted.binning, NumericBinning):
                continue
            for day in days_of[s.index]:
                n, _ = _current_rows(served_rows, day, s, features, name)
                found = np.asarray(grouped.get((day, s.index, i), []), dtype=np.intp)
                current = numeric_counts(counted.binning, sums.take(found), n)
                pairs[(day, name, s.index)] = ColumnPair(
                    name, NUMERIC, counted.binning, counted.counts, current
                )
    return pairs


def _skew_categorical(
    ctx: MonitorContext,
    rows: ir.Table,
    names: Sequence[str],
    served: Sequence[Served],
    days_of: Mapping[int, list[int]],
    served_rows: Mapping[tuple[int, str, str], tuple[int, list[int]]],
    features: Features,
) -> dict[tuple[int, str, int], ColumnPair]:
    pairs_expr = ibis.array(
        [
            ibis.struct({"f": ibis.literal(i, type="int64"), "v": rows.feature_strings[n]})
            for i, n in enumerate(names)
        ]
    )
    long = rows.select("_day", "_mv", _fv=pairs_expr.unnest())
    long = long.select("_day", "_mv", _f=long._fv.f, _v=long._fv.v).filter(ibis._._v.notnull())
    table = ctx.engine.execute(long.group_by(["_day", "_mv", "_f", "_v"]).aggregate(_cnt=long.count()))
    tallies: dict[tuple[int, int, int], dict[str, int]] = {}
    for day, mv, index, value, n in zip(
        table["_day"].to_pylist(),
        table["_mv"].to_pylist(),
        table["_f"].to_pylist(),
        table["_v"].to_pylist(),
        table["_cnt"].to_pylist(),
        strict=True,
    ):
        tallies.setdefault((int(day), int(mv), int(index)), {})[str(value)] = int(n)
    pairs: dict[tuple[int, str, int], ColumnPair] = {}
    for s in served:
        for i, name in enumerate(names):
            counted = s.training.get(name)
            if counted is None or not isinstance(counted.binning, CategoricalBinning):
                continue
            for day in days_of[s.index]:
                n, _ = _current_rows(served_rows, day, s, features, name)
                values = tallies.get((day, s.index, i), {})
                current = categorical_counts(counted.binning, values, n)
                pairs[(day, name, s.index)] = ColumnPair(
                    name, CATEGORICAL, counted.binning, counted.counts, current
                )
    return pairs


def _trained_versions(store: Any) -> dict[tuple[str, str], list[Any]]:
    """Registered versions with training datasets, by (model, version); empty when the registry is."""
    from recops.registry import list_versions

    try:
        versions = list_versions(store)
    except Exception:  # a store without the registry tables, or unreadable: no skew
        return {}
    out: dict[tuple[str, str], list[Any]] = {}
    for v in versions:
        train = [d for d in v.datasets if d.role == "train"]
        if train:
            out[(v.model, v.version)] = train
    return out


def _training_profiles(datasets: Sequence[Any], features: Features) -> dict[str, ColumnCounts]:
    """Each request feature found as a column of the same kind in the training data, profiled."""
    from recops.drift.profile import Profile
    from recops.drift.sources import open_input
    from recops.registry.datasets import local_path

    columns: dict[str, list[pa.ChunkedArray]] = {}
    keys: dict[str, list[str]] = {}
    for dataset in datasets:
        path = local_path(dataset.uri)
        if path is None or not path.exists():
            continue
        try:
            source = open_input(str(path))
            if isinstance(source, Profile):  # a stored drift profile is not training data
                continue
            schema = source.schema
        except Exception:  # unreadable or not a data file: skipped quietly
            continue
        wanted = [
            name
            for name in features.names
            if name in schema.names and column_kind(schema.field(name).type) == features.kind(name)
        ]
        if not wanted:
            continue
        try:
            table = source.read(wanted)
        except Exception:
            continue
        for name in wanted:
            columns.setdefault(name, []).append(table.column(name))
            keys.setdefault(name, []).append(f"{dataset.uri}#{dataset.digest or ''}")
    out: dict[str, ColumnCounts] = {}
    for name, parts in columns.items():
        cache_key = ("|".join(keys[name]), name, features.kind(name), "")
        if cache_key not in _TRAINING_CACHE:
            if len(_TRAINING_CACHE) >= _CACHE_LIMIT:
                _TRAINING_CACHE.clear()
            column = parts[0] if len(parts) == 1 else _concat(parts, features.kind(name))
            _TRAINING_CACHE[cache_key] = profile_column(name, features.kind(name), column)
        profiled = _TRAINING_CACHE[cache_key]
        if profiled is not None:
            out[name] = profiled
    return out


def _concat(parts: Sequence[pa.ChunkedArray], kind: str) -> pa.ChunkedArray:
    """One column from several datasets' columns (numbers as float64, categories as text)."""
    target = pa.float64() if kind == NUMERIC else pa.string()
    chunks = []
    for part in parts:
        if pa.types.is_dictionary(part.type):
            part = part.cast(part.type.value_type)
        chunks.extend(part.cast(target).chunks)
    return pa.chunked_array(chunks, type=target)


FAMILY = DriftFamily()
