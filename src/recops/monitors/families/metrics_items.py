"""Item-level facts of the metrics family: exposure per item, source mix, score quantiles.

Exposure statistics need per-item counts per window and slice, which do not add up
across slices. One pass over the candidates builds a cube of slots per window,
slice-value combination, item and source (unshown candidates per window and item only);
the engine keeps it for the query and derives, per slice, the *histogram of counts* (for
each count ``c``, how many items were shown exactly ``c`` times, and for the total how
many scored items were never shown) and the shown slots per source. Coverage, the Gini
coefficient and novelty are exact functions of that histogram, evaluated in Python with
integers where possible, so both engines give the same values.

Score quantiles take a second pass that repeats each shown slot once per slice it
belongs to, so one grouping (per score bin) gives every slice its quantiles.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select

from recops.monitors.context import ALL, MonitorContext
from recops.monitors.families.metrics_cube import key_columns, rollup, slice_label, with_keys
from recops.monitors.quantiles import window_quantiles

SOURCE_LOOKBACK = timedelta(days=28)


def slot_cube(ctx: MonitorContext) -> tuple[pa.Table, pa.Table]:
    """Exposure histograms and the shown slots per source, from one pass over the candidates.

    The pass counts slots per window, slice-value combination, item and source (unshown
    candidates only per window and item); the engine keeps that cube for the query and
    derives from it, per slice, the histogram of per-item shown counts and the shown slots
    per source.

    Returns:
        (exposure, source cube): exposure per window and slice as :func:`_exposure_stats`
        gives it; the source cube with ``_bucket``, key columns, ``source`` and ``slots``.
    """
    keys = key_columns(ctx)
    rows = with_keys(ctx, ctx.table("requests"))
    flat = rows.select("_bucket", *keys, c=rows.candidates.unnest())
    shown = flat.c.position.notnull()
    blank = ibis.literal(None, type="string")
    flat = flat.select(
        "_bucket",
        _shown=shown,
        item_id=flat.c.item_id,
        source=ibis.ifelse(shown, flat.c.source, blank),
        **{k: ibis.ifelse(shown, flat[k], blank) for k in keys},
    )
    cube = flat.group_by(["_bucket", "_shown", *keys, "item_id", "source"]).aggregate(slots=flat.count())
    shown_cube = cube.filter(cube._shown)
    none_str = ibis.literal(None, type="string")
    none_int = ibis.literal(None, type="int64")
    parts = []
    for index, column in [(None, None), *enumerate(keys)]:
        if column is None:
            per_item = cube.group_by("_bucket", "item_id", _slice=ibis.literal(ALL)).aggregate(
                c=cube.slots.sum(where=cube._shown).fill_null(0)
            )
        else:
            per_item = shown_cube.group_by(
                "_bucket", "item_id", _slice=slice_label(ctx, index, shown_cube[column])
            )
            per_item = per_item.aggregate(c=shown_cube.slots.sum())
        hist = per_item.group_by(["_bucket", "_slice", "c"]).aggregate(m=per_item.count())
        parts.append(
            hist.select("_bucket", "_slice", "c", "m", source=none_str, **{k: none_str for k in keys})
        )
    sources = shown_cube.group_by(["_bucket", *keys, "source"]).aggregate(m=shown_cube.slots.sum())
    parts.append(
        sources.select(
            "_bucket",
            _slice=none_str,
            c=none_int,
            m=sources.m,
            source=sources.source,
            **{k: sources[k] for k in keys},
        )
    )
    table = ctx.engine.execute(ibis.union(*parts))
    table = table.filter(pc.is_valid(table["_bucket"])) if table.num_rows else table
    is_hist = pc.is_valid(table["_slice"])
    hist = table.filter(is_hist).select(["_bucket", "_slice", "c", "m"])
    source_cube = (
        table.filter(pc.invert(is_hist))
        .select(["_bucket", *keys, "source", "m"])
        .rename_columns(["_bucket", *keys, "source", "slots"])
    )
    exposure = ctx.attach_windows(_exposure_stats(hist), bucket="_bucket", slice_column="_slice")
    return exposure, source_cube


def _exposure_stats(hist: pa.Table) -> pa.Table:
    """Reduce a count histogram (``_bucket``, ``_slice``, ``c``, ``m``) to one row per group."""
    groups: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for b, s, c, m in zip(
        hist["_bucket"].to_pylist(),
        hist["_slice"].to_pylist(),
        hist["c"].to_pylist(),
        hist["m"].to_pylist(),
        strict=True,
    ):
        groups.setdefault((int(b), str(s)), []).append((int(c), int(m)))
    out: dict[str, list[Any]] = {k: [] for k in ("_bucket", "_slice", "items_shown", "items_scored", "shows")}
    out |= {"gini": [], "clog2c": []}
    for (b, s), counts in sorted(groups.items()):
        counts.sort()
        shown = [(c, m) for c, m in counts if c > 0]
        n = sum(m for _, m in shown)
        total = sum(c * m for c, m in shown)
        out["_bucket"].append(b)
        out["_slice"].append(s)
        out["items_shown"].append(n)
        out["items_scored"].append(sum(m for _, m in counts))
        out["shows"].append(total)
        out["gini"].append(gini(shown))
        out["clog2c"].append(math.fsum(c * m * math.log2(c) for c, m in shown))
    return pa.table(
        {
            "_bucket": pa.array(out["_bucket"], pa.int64()),
            "_slice": pa.array(out["_slice"], pa.string()),
            "items_shown": pa.array(out["items_shown"], pa.int64()),
            "items_scored": pa.array(out["items_scored"], pa.int64()),
            "shows": pa.array(out["shows"], pa.int64()),
            "gini": pa.array(out["gini"], pa.float64()),
            "clog2c": pa.array(out["clog2c"], pa.float64()),
        }
    )


def gini(counts: Iterable[tuple[int, int]]) -> float | None:
    """Gini of positive values given as ascending (value, multiplicity) pairs.

    With the values sorted ascending, ``x_1 <= ... <= x_n``:
    ``G = 2 Σ i·x_i / (n Σ x_i) - (n + 1) / n``; a run of ``m`` equal values ``c`` taking
    ranks ``p+1 .. p+m`` contributes ``c·(m·p + m(m+1)/2)`` to ``Σ i·x_i``.
    """
    n = total = weighted = 0
    for c, m in counts:
        weighted += c * (m * n + m * (m + 1) // 2)
        n += m
        total += c * m
    if n == 0 or total == 0:
        return None
    return (2 * weighted - (n + 1) * total) / (n * total)


def score_quantiles(ctx: MonitorContext) -> pa.Table:
    """Count, sum, p50 and p90 of the scores of shown candidates.

    One pass: every shown scored slot is repeated once per slice it belongs to (the total
    and one value per slicing key), then counted per window, slice and score bin; the
    quantiles are read off the bins (:mod:`recops.monitors.quantiles`: within 0.5% of the
    exact ones, in memory bounded by the bins rather than the slots).
    """
    keys = key_columns(ctx)
    rows = with_keys(ctx, ctx.table("requests"))
    labels = ibis.array([ibis.literal(ALL), *(slice_label(ctx, i, rows[k]) for i, k in enumerate(keys))])
    rows = rows.select("_bucket", _labels=labels, c=rows.candidates.unnest())
    scored = rows.filter(rows.c.position.notnull() & rows.c.score.notnull())
    scored = scored.select("_bucket", score=scored.c.score, _slice=scored._labels.unnest())
    return window_quantiles(ctx, scored, "score", {"p50": 0.5, "p90": 0.9}, with_sum=True)


def source_mix(ctx: MonitorContext, cube: pa.Table) -> pa.Table:
    """Shown slots per window, slice and candidate source, with zeros for silent sources.

    A source that had a positive share in a slice during the 28 days before a window
    and shows nothing in it gets a point with value 0 (numerator 0).
    """
    mix = rollup(ctx, cube, {"slots": "sum"}, by=("source",))
    return _zero_fill(ctx, mix)


def _zero_fill(ctx: MonitorContext, mix: pa.Table) -> pa.Table:
    seen = _stored_sources(ctx)
    fresh: dict[tuple[str, str], list[datetime]] = {}
    windows: dict[tuple[datetime, str], tuple[datetime, int]] = {}
    present: set[tuple[datetime, str, str]] = set()
    for start, end, sl, source, slots in zip(
        mix["window_start"].to_pylist(),
        mix["window_end"].to_pylist(),
        mix["slice"].to_pylist(),
        mix["source"].to_pylist(),
        mix["slots"].to_pylist(),
        strict=True,
    ):
        total = windows.get((start, sl), (end, 0))[1]
        windows[(start, sl)] = (end, total + int(slots))
        present.add((start, sl, source))
        fresh.setdefault((sl, source), []).append(start)
    known: dict[str, set[str]] = {}
    for sl, source in [*seen, *fresh]:
        known.setdefault(sl, set()).add(source)
    starts = {key: sorted(v) for key, v in fresh.items()}
    rows: dict[str, list[Any]] = {k: [] for k in ("window_start", "window_end", "slice", "source", "slots")}
    for (start, sl), (end, _) in sorted(windows.items()):
        lo = start - SOURCE_LOOKBACK
        for source in sorted(known.get(sl, ())):
            if (start, sl, source) in present:
                continue
            last = seen.get((sl, source))
            recent = last is not None and last >= lo
            if not recent and (sl, source) in starts:
                earlier = starts[(sl, source)]
                i = bisect_left(earlier, start)
                recent = i > 0 and earlier[i - 1] >= lo
            if recent:
                for name, value in zip(rows, (start, end, sl, source, 0), strict=True):
                    rows[name].append(value)
    totals = {key: total for key, (_, total) in windows.items()}
    zeros = pa.table(
        {
            "window_start": pa.array(rows["window_start"], mix.schema.field("window_start").type),
            "window_end": pa.array(rows["window_end"], mix.schema.field("window_end").type),
            "slice": pa.array(rows["slice"], pa.string()),
            "source": pa.array(rows["source"], pa.string()),
            "slots": pa.array(rows["slots"], pa.int64()),
        }
    )
    both = pa.concat_tables([mix.select(zeros.column_names).cast(zeros.schema), zeros])
    denominators = [
        totals[(s, sl)]
        for s, sl in zip(both["window_start"].to_pylist(), both["slice"].to_pylist(), strict=True)
    ]
    return both.append_column("shown_slots", pa.array(denominators, pa.int64())).append_column(
        "granularity", pa.array([ctx.granularity.name] * both.num_rows, pa.string())
    )


def _stored_sources(ctx: MonitorContext) -> dict[tuple[str, str], datetime]:
    """(slice, source) → the latest stored window before the plan where it had a share."""
    store = ctx.extras.get("store")
    if store is None:
        return {}
    from recops.store.tables import MetricPointRow

    table = MetricPointRow.__table__
    start = ctx.plan.start
    query = (
        select(table.c.slice, table.c.subject, func.max(table.c.window_start))
        .where(
            table.c.family == "metrics",
            table.c.metric == "candidate_source_share",
            table.c.granularity == ctx.granularity.name,
            table.c.window_start >= start - SOURCE_LOOKBACK,
            table.c.window_start < start,
            table.c.value > 0,
        )
        .group_by(table.c.slice, table.c.subject)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    out: dict[tuple[str, str], datetime] = {}
    for sl, subject, last in rows:
        if isinstance(last, str):
            last = datetime.fromisoformat(last)
        out[(str(sl), str(subject))] = last if last.tzinfo else last.replace(tzinfo=start.tzinfo)
    return out
