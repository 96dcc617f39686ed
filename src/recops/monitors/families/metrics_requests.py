"""Per-request facts of the metrics family, summed per window and combination of slice values.

One pass over the planned requests' slates gives, per request, the shown slots, the
top-10 category counts, the scores of shown items and what was clicked among them (NDCG,
recall, calibration terms); a user-day table gives the cold-start flag. A second query
counts the outcome events attributed to the planned requests. Both are summed per window
and slice-value combination (:func:`.metrics_cube.rollup`), so every measure here is a
count or a sum and every ratio is computed from those sums in Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from recops.monitors.context import MonitorContext
from recops.monitors.families.metrics_cube import TREE_MAX, TS, key_columns, rollup, steps, with_keys
from recops.monitors.families.metrics_labels import (
    DelayCdf,
    attribution_bounds,
    label_window_seconds,
    outcome_range_filter,
)
from recops.monitors.windowing import DAY, Granularity

K = 10
ITEM_GROUP = "item_stats"
CATEGORY = "genre"
COLD_DAYS = 28
# Genres counted in packed sums (12 per sum); with more, slots are grouped by category.
MAX_GENRES = 48

# Position p (0-based) of a slate is discounted by 1 / log2(p + 2).
GAINS = [1.0 / math.log2(p + 2) for p in range(K)]
IDEAL = [math.fsum(GAINS[:r]) for r in range(K + 1)]

# Measure → how it rolls up across slice values.
SERVING_MEASURES = {"requests": "sum", "errors": "sum", "fallbacks": "sum"}
SLATE_MEASURES = {
    **SERVING_MEASURES,
    "non_error": "sum",
    "empty": "sum",
    "ndcg_sum": "sum",
    "ndcg_n": "sum",
    "recall_sum": "sum",
    "recall_n": "sum",
    "diversity_sum": "sum",
    "diversity_n": "sum",
    "calib_clicks": "sum",
    "calib_score": "sum",
    "calib_n": "sum",
    "score_min": "min",
    "score_max": "max",
    "cold": "sum",
    "completeness_sum": "sum",
}
OUTCOME_MEASURES = {
    "impressions": "sum",
    "clicks": "sum",
    "plays": "sum",
    "completes": "sum",
    "watch_seconds": "sum",
}


def serving_aggregates(ctx: MonitorContext) -> pa.Table:
    """Requests, errors and fallbacks per window and slice (request columns only)."""
    rows = with_keys(ctx, ctx.table("requests"))
    cube = rows.group_by(["_bucket", *key_columns(ctx)]).aggregate(**_status_sums(rows))
    return rollup(ctx, ctx.engine.execute(cube), SERVING_MEASURES)


def _status_sums(t: ir.Table) -> dict[str, ir.Value]:
    return {
        "requests": t.count(),
        "errors": (t.status == "error").cast("int64").sum(),
        "fallbacks": (t.status == "fallback").cast("int64").sum(),
    }


def slate_aggregates(ctx: MonitorContext, cdf: DelayCdf | None, outcome_clock: datetime | None) -> pa.Table:
    """Every measure of :data:`SLATE_MEASURES` per window and slice."""
    label = label_window_seconds(ctx)
    req = with_keys(ctx, ctx.table("requests")).drop("candidates")
    if cdf is not None and outcome_clock is not None:
        req = req.mutate(_lc=cdf.expr(req.ts, outcome_clock))
    else:
        req = req.mutate(_lc=ibis.literal(1.0))
    req = req.mutate(**attribution_bounds(req.ts, label))
    pairs = _click_pairs(ctx, req)
    clicks = pairs.group_by("_q").aggregate(k_all=pairs.count())
    slates = _slates(ctx, pairs).rename(_rs="request_id")
    cold = _cold_start(ctx, req)
    rows = req.left_join(slates, req.request_id == slates._rs)
    rows = rows.left_join(clicks, rows.request_id == clicks._q)
    if cold is not None:
        cold = cold.rename(_rc="request_id")
        rows = rows.left_join(cold, rows.request_id == cold._rc)
    else:
        rows = rows.mutate(_cold=ibis.literal(None, type="int64"))
    cube = rows.group_by(["_bucket", *key_columns(ctx)]).aggregate(**_slate_sums(rows))
    return rollup(ctx, ctx.engine.execute(cube), SLATE_MEASURES)


def _slate_sums(t: ir.Table) -> dict[str, ir.Value]:
    zero = ibis.literal(0, type="int64")
    non_error = t.status != "error"
    relevant = t.k_shown.fill_null(zero)
    capped = ibis.cases(
        *[(relevant == r, ibis.literal(IDEAL[r])) for r in range(1, K)], else_=ibis.literal(IDEAL[K])
    )
    clicked = t.k_all.fill_null(zero)
    n10 = t.n10.fill_null(zero)
    diversity = (n10 * n10 - t.sq10).cast("float64") / (n10 * (n10 - 1)).cast("float64")
    return {
        **_status_sums(t),
        "non_error": non_error.cast("int64").sum(),
        "empty": (non_error & (t.n_shown.fill_null(zero) == 0)).cast("int64").sum(),
        "ndcg_sum": (t.dcg / capped).sum(where=relevant > 0),
        "ndcg_n": (relevant > 0).cast("int64").sum(),
        "recall_sum": (t.k_hits.cast("float64") / clicked.cast("float64")).sum(where=clicked > 0),
        "recall_n": (clicked > 0).cast("int64").sum(),
        "diversity_sum": diversity.sum(where=n10 >= 2),
        "diversity_n": (n10 >= 2).cast("int64").sum(),
        "calib_clicks": t.k_scored.fill_null(zero).sum(),
        "calib_score": t.s_sum.sum(),
        "calib_n": t.s_n.fill_null(zero).sum(),
        "score_min": t.s_min.min(),
        "score_max": t.s_max.max(),
        "cold": t._cold.sum(),
        "completeness_sum": t._lc.sum(),
    }


def outcome_aggregates(ctx: MonitorContext) -> pa.Table:
    """Attributed outcome events of the planned requests per window and slice."""
    label = label_window_seconds(ctx)
    req = with_keys(ctx, ctx.table("requests"))
    req = req.select("request_id", "_bucket", *key_columns(ctx), **attribution_bounds(req.ts, label))
    outcomes = outcome_range_filter(ctx, ctx.table("outcomes"))
    outcomes = outcomes.select(_ro="request_id", ots=outcomes.ts, event=outcomes.event, value=outcomes.value)
    joined = outcomes.join(req, outcomes._ro == req.request_id)
    joined = joined.filter((joined.ots >= joined._lo) & (joined.ots <= joined._hi))
    event = joined.event

    def count(name: str) -> ir.IntegerScalar:
        return (event == name).cast("int64").sum()

    cube = joined.group_by(["_bucket", *key_columns(ctx)]).aggregate(
        impressions=count("impression"),
        clicks=count("click"),
        plays=count("play"),
        completes=count("complete"),
        # a group of outcomes without a play watched 0 seconds (the sum alone would be null)
        watch_seconds=joined.value.sum(where=event == "play").fill_null(0.0),
    )
    return rollup(ctx, ctx.engine.execute(cube), OUTCOME_MEASURES)


def _click_pairs(ctx: MonitorContext, req: ir.Table) -> ir.Table:
    """Distinct (request ``_q``, item ``_i``) pairs with an attributed click."""
    outcomes = outcome_range_filter(ctx, ctx.table("outcomes"))
    clicks = outcomes.filter(outcomes.event == "click").select(_q="request_id", _i="item_id", ots=outcomes.ts)
    bounds = req.select("request_id", "_lo", "_hi")
    joined = clicks.join(bounds, clicks._q == bounds.request_id)
    joined = joined.filter((joined.ots >= joined._lo) & (joined.ots <= joined._hi))
    return joined.select("_q", "_i").distinct()


def _slates(ctx: MonitorContext, pairs: ir.Table) -> ir.Table:
    """Per request: shown slots, top-K category counts, scores, clicked shown items.

    Genre counts are packed: an item of genre number ``g`` adds ``2**(5 * (g % 12))`` to
    packed sum ``g // 12`` for each of its top-K slots (a count below 32 fits 5 bits), so
    one integer sum per 12 genres gives every genre's count (read back with shifts).
    Without genres (sources as categories) or with more than :data:`MAX_GENRES`, the slots
    are grouped per request and category first.
    """
    requests = ctx.in_windows(ctx.table("requests"), "ts").select("request_id", "candidates")
    flat = requests.select("request_id", c=requests.candidates.unnest())
    shown = flat.filter(flat.c.position.notnull()).select(
        "request_id",
        item_id=flat.c.item_id,
        source=flat.c.source,
        score=flat.c.score,
        position=flat.c.position,
    )
    shown = shown.left_join(pairs, [shown.request_id == pairs._q, shown.item_id == pairs._i])
    shown = shown.mutate(hit=shown._q.notnull()).drop("_q", "_i")
    genres, categories = _categories(ctx)
    packed = categories is not None and len(genres) <= MAX_GENRES
    if categories is not None:
        if packed:
            categories = categories.select("entity_id", "category", **_genre_weights(categories, genres))
        shown = shown.left_join(categories, shown.item_id == categories.entity_id).drop("entity_id")
    top = shown.position < K
    gain = ibis.cases(*[(shown.position == p, ibis.literal(g)) for p, g in enumerate(GAINS)], else_=0.0)
    both = shown.mutate(
        _top=top.cast("int64"),
        _hit=shown.hit.cast("int64"),
        _dcg=ibis.ifelse(shown.hit & top, gain, ibis.literal(0.0)),
    )
    sums: dict[str, Callable[[ir.Table], ir.Value]] = {
        "n_shown": lambda t: t.count(),
        "n10": lambda t: t._top.sum(),
        "s_n": lambda t: t.score.count(),
        "s_sum": lambda t: t.score.sum(),
        "s_min": lambda t: t.score.min(),
        "s_max": lambda t: t.score.max(),
        "k_shown": lambda t: t._hit.sum(),
        "k_scored": lambda t: (t._hit * t.score.notnull().cast("int64")).sum(),
        "k_hits": lambda t: (t._hit * t._top).sum(),
        "dcg": lambda t: t._dcg.sum(),
    }
    if packed:
        columns = [f"_w{j}" for j in range((len(genres) + 11) // 12)]
        per_request = both.group_by("request_id").aggregate(
            **{name: f(both) for name, f in sums.items()},
            _ungenred=(both.category.isnull().cast("int64") * both._top).sum(),
            **{c: (both[c].fill_null(0) * both._top).sum() for c in columns},
        )
        # Σ_c m_c² over top-K slots: squared count per genre, 1 per item without a genre.
        squares = per_request._ungenred
        for j, c in enumerate(columns):
            for g in range(min(12, len(genres) - 12 * j)):
                count = (per_request[c] >> (5 * g)) & 31
                squares = squares + count * count
        per_request = per_request.select("request_id", *sums, sq10=squares)
    else:
        if categories is None:
            cat = both.source
        else:
            cat = both.category.fill_null(ibis.literal("item:") + both.item_id)
        both = both.mutate(cat=cat)
        per_cat = both.group_by(["request_id", "cat"]).aggregate(
            _m10=both._top.sum(), **{name: f(both) for name, f in sums.items()}
        )
        rollup_ops = {name: "sum" for name in sums} | {"s_min": "min", "s_max": "max"}
        per_request = per_cat.group_by("request_id").aggregate(
            sq10=(per_cat._m10 * per_cat._m10).sum(),
            **{name: getattr(per_cat[name], how)() for name, how in rollup_ops.items()},
        )
    return per_request


def _genre_weights(categories: ir.Table, genres: list[str]) -> dict[str, ir.Value]:
    """Per item, its genre's weight in each packed sum (0 in the others)."""
    columns: dict[str, ir.Value] = {}
    for j in range((len(genres) + 11) // 12):
        branches = [
            (categories.category == g, ibis.literal(1 << (5 * (i % 12)), type="int64"))
            for i, g in enumerate(genres)
            if i // 12 == j
        ]
        columns[f"_w{j}"] = ibis.cases(*branches, else_=ibis.literal(0, type="int64"))
    return columns


def _categories(ctx: MonitorContext) -> tuple[list[str], ir.Table | None]:
    """The genres and item → genre (its latest row in the item feature group), if any."""
    rows = ctx.table("feature_rows")
    genre = rows.value_strings[CATEGORY]
    rows = rows.filter((rows.feature_group == ITEM_GROUP) & genre.notnull())
    table = rows.group_by("entity_id").aggregate(category=rows.value_strings[CATEGORY].argmax(rows.event_ts))
    genres = sorted(
        str(g) for g in ctx.engine.execute(table.select("category").distinct())["category"].to_pylist()
    )
    if not genres:
        return [], None
    return genres, table


def _cold_start(ctx: MonitorContext, req: ir.Table) -> ir.Table | None:
    """Per request, 1 when its user made no request in the 28 days before its window.

    A user-day table (first and last request of each user and local day, with the
    previous active day's last request) answers it: for a day window, the previous
    active day is more than 28 days back; for an hour window, the user's first request
    that day is not before the hour and the previous active day's last request is more
    than 28 days before the hour.
    """
    g = ctx.granularity
    if g.name not in ("hour", "day"):
        return None
    day = Granularity("day", g.zone)
    lo = ctx.plan.start - timedelta(days=COLD_DAYS + 1)
    hi = ctx.plan.end
    days = [day.window(b) for b in day.buckets_between(lo, hi)]
    requests = ctx.table("requests")
    history = requests.filter(
        (requests.ts >= ibis.literal(days[0].start, type=TS)) & (requests.ts < ibis.literal(hi, type=TS))
    )

    def day_of(ts: ir.TimestampValue) -> ir.IntegerValue:
        if len(days) > TREE_MAX:
            return day.bucket(ts, days[0].start, hi)
        result: ir.IntegerValue = steps(ts, [(w.start, w.end, day.bucket_of(w.start)) for w in days], "int64")
        return result

    history = history.select("user_id", "ts", d=day_of(history.ts))
    per_day = history.group_by(["user_id", "d"]).aggregate(first=history.ts.min(), last=history.ts.max())
    w = ibis.window(group_by="user_id", order_by="d")
    per_day = per_day.mutate(prev_d=per_day.d.lag().over(w), prev_last=per_day.last.lag().over(w))
    mine = req.select("request_id", "_bucket", _u="user_id", _d=day_of(req.ts))
    joined = mine.join(per_day, [mine._u == per_day.user_id, mine._d == per_day.d])
    if g.name == "day":
        cold = joined.prev_d.isnull() | (joined.prev_d < joined.d - COLD_DAYS)
    else:
        # An hour bucket is its window's start in epoch seconds.
        start = joined._bucket.as_timestamp("s")
        limit = (joined._bucket - COLD_DAYS * DAY).as_timestamp("s")
        cold = (joined.first >= start) & (joined.prev_last.isnull() | (joined.prev_last < limit))
    return joined.select("request_id", _cold=cold.cast("int64"))
