"""Model and business metrics of a recommender, per window and slice, from logged data.

Windows are hours and days; the serving windows (5 minutes by default) get ``requests``,
``fallback_rate`` and ``error_rate`` only, which need no pass over the candidates.
Slices are the total plus surface, model version and the configured context keys, all
taken from the *request*: an outcome counts for the window and slices of the request it
follows, and only when it lies within ``label_window_hours`` after it (10 minutes before
it are accepted as clock skew; :mod:`.metrics_labels`). "Shown" means a candidate with a
position; "top 10" means positions 0-9; an item's clicks are its attributed ``click``
outcomes, and "clicked" means at least one.

Traffic and serving (no labels):

- ``requests``: requests served.
- ``fallback_rate``, ``error_rate``: requests with status ``fallback`` / ``error`` / requests.
- ``empty_slate_rate``: non-error requests with no shown candidate / non-error requests
  (an error is counted by ``error_rate``, not as an empty slate).
- ``cold_start_share``: requests whose user made no request in the 28 days before the
  window / requests (28 x 24 h before an hour window, the 28 local days before a day
  window). While the lake is younger than that, "no request" means none in the lake.
- ``candidate_source_share`` (subject = candidate source): the source's shown slots / all
  shown slots. A source with a positive share in the same slice within the 28 days
  before the window that shows nothing in it gets a point with value 0.

Slate and catalog (no labels):

- ``catalog_coverage``: distinct items shown in the window and slice / distinct items
  scored (every candidate, shown or not) in the window over all traffic: the share of
  what the candidate generators proposed that users got to see.
- ``intra_list_diversity``: mean, over slates with at least 2 items in the top 10, of the
  share of pairs of those items whose categories differ, ``(n^2 - sum_c m_c^2) / (n (n - 1))``.
  The category is the item's ``genre`` string in the ``item_stats`` feature group (its
  latest row there; an item without one is a category of its own); when that group
  carries no genre at all, the candidate source.
- ``popularity_gini``: Gini coefficient of the shown counts of the items shown at least
  once, ``G = 2 sum_i i x_i / (n sum_i x_i) - (n + 1) / n`` with ``x`` ascending: 0 when
  every shown item is shown equally often, towards 1 when a few items take the slots.
- ``novelty``: mean over shown slots of ``-log2(p)``, ``p`` the item's shown slots / the
  window's requests (in the slice): in bits, higher for items few requests showed.
- ``score_mean``, ``score_p50``, ``score_p90``: scores of shown candidates (quantiles
  within 0.5% of the exact ones with linear interpolation, as numpy's default, read off
  log-spaced bins: :mod:`recops.monitors.quantiles`).

Outcomes (recomputed as late outcomes arrive; every point stores ``label_completeness``):

- ``impressions``: attributed ``impression`` outcomes.
- ``ctr``: attributed ``click`` outcomes / impressions.
- ``play_rate``: attributed ``play`` outcomes / impressions.
- ``completion_rate``: attributed ``complete`` outcomes / ``play`` outcomes.
- ``watch_time_per_request``: sum of the ``value`` (seconds) of ``play`` outcomes / requests.
- ``ndcg_at_10``: binary relevance (a shown item is relevant when clicked). Per request
  with at least one clicked shown item, ``DCG = sum over clicked shown p < 10 of
  1 / log2(p + 2)`` (0-based positions ``p``) divided by the ideal DCG of
  ``min(clicked shown items, 10)`` relevant items; the point is the mean over those
  requests (numerator the sum of NDCGs, denominator the number of requests).
- ``recall_at_10``: per request with at least one clicked item, clicked items shown in the
  top 10 / clicked items (shown or not); the mean over those requests.
- ``calibration_ratio``: clicked shown scored items / sum of the scores of shown scored
  items, i.e. observed over expected clicks (1.0 = calibrated, below 1 = the model
  over-predicts), only where every shown score of the window and slice lies in [0, 1]
  (scores that can be click probabilities); otherwise no value.

Ratios store their numerator and denominator. ``n`` is the number of observations behind
the value: requests, or the denominator's unit (impressions, plays, slates, scores, items).
How the work is split between the engine and Python, and what each pass costs, is in
``docs/monitors-metrics.md``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recops.monitors.context import MonitorContext
from recops.monitors.families.metrics_cube import ratio
from recops.monitors.families.metrics_items import score_quantiles, slot_cube, source_mix
from recops.monitors.families.metrics_labels import delay_cdf, label_window_seconds
from recops.monitors.families.metrics_requests import (
    OUTCOME_MEASURES,
    outcome_aggregates,
    serving_aggregates,
    slate_aggregates,
)
from recops.monitors.series import concat_points, points_from

NAME = "metrics"
OUTCOME_METRICS = (
    "impressions",
    "ctr",
    "play_rate",
    "completion_rate",
    "watch_time_per_request",
    "ndcg_at_10",
    "recall_at_10",
    "calibration_ratio",
)


class MetricsFamily:
    name = NAME
    granularities = frozenset({"serving", "others"})

    def compute(self, ctx: MonitorContext) -> pa.Table:
        if ctx.granularity.name.endswith("min"):
            return concat_points(_status_points(serving_aggregates(ctx)))
        outcome_clock: datetime | None = ctx.extras.get("outcome_clock")
        label = timedelta(seconds=label_window_seconds(ctx))
        final_before = outcome_clock - label if outcome_clock is not None else None
        cdf = None
        if outcome_clock is not None and final_before is not None and ctx.plan.end > final_before:
            cdf = delay_cdf(ctx, outcome_clock)
        slates = slate_aggregates(ctx, cdf, outcome_clock)
        lc = _completeness(slates, final_before, outcome_clock)
        outcomes = _align(slates, outcome_aggregates(ctx), OUTCOME_MEASURES)
        parts = _status_points(slates)
        parts += _slate_points(slates, lc)
        parts += _outcome_points(slates.select(["requests"]).append_column("_lc", lc), outcomes)
        exposure, sources = slot_cube(ctx)
        parts += _exposure_points(exposure, slates)
        parts += _score_points(score_quantiles(ctx))
        parts.append(_source_points(source_mix(ctx, sources)))
        return concat_points(parts)


def _align(base: pa.Table, other: pa.Table, measures: Any) -> pa.Table:
    """``other``'s measures in the row order of ``base`` (same windows and slices; 0 when absent)."""
    index = {
        (s, sl): i
        for i, (s, sl) in enumerate(
            zip(other["window_start"].to_pylist(), other["slice"].to_pylist(), strict=True)
        )
    }
    rows = [
        index.get((s, sl))
        for s, sl in zip(base["window_start"].to_pylist(), base["slice"].to_pylist(), strict=True)
    ]
    columns = {c: base[c] for c in ("slice", "granularity", "window_start", "window_end")}
    for name in measures:
        values = other[name].to_pylist() if other.num_rows else []
        columns[name] = pa.array(
            [values[i] if i is not None else 0 for i in rows], other.schema.field(name).type
        )
    return pa.table(columns)


def _completeness(agg: pa.Table, final_before: datetime | None, clock: datetime | None) -> pa.Array:
    if clock is None or final_before is None:
        return pa.nulls(agg.num_rows, pa.float64())
    values: list[float | None] = []
    for end, total, n in zip(
        agg["window_end"].to_pylist(),
        agg["completeness_sum"].to_pylist(),
        agg["requests"].to_pylist(),
        strict=True,
    ):
        if end <= final_before:
            values.append(1.0)
        else:
            values.append(min(1.0, max(0.0, total / n)) if total is not None and n else None)
    return pa.array(values, pa.float64())


def _status_points(agg: pa.Table) -> list[pa.Table]:
    requests = agg["requests"]
    return [
        points_from(agg, metric="requests", family=NAME, value=requests, n=requests),
        _ratio(agg, "fallback_rate", "fallbacks", "requests"),
        _ratio(agg, "error_rate", "errors", "requests"),
    ]


def _ratio(
    agg: pa.Table,
    metric: str,
    numerator: str,
    denominator: str,
    *,
    n: Any = None,
    completeness: pa.Array | None = None,
) -> pa.Table:
    return points_from(
        agg,
        metric=metric,
        family=NAME,
        value=ratio(agg[numerator], agg[denominator]),
        numerator=agg[numerator],
        denominator=agg[denominator],
        n=agg[denominator] if n is None else n,
        label_completeness=completeness,
    )


def _slate_points(agg: pa.Table, lc: pa.Array) -> list[pa.Table]:
    probability_like = pc.and_(
        pc.greater_equal(agg["score_min"], 0.0), pc.less_equal(agg["score_max"], 1.0)
    ).fill_null(False)
    expected = pc.if_else(probability_like, agg["calib_score"], pa.scalar(None, pa.float64()))
    calibration = agg.append_column("_expected", expected)
    return [
        _ratio(agg, "empty_slate_rate", "empty", "non_error"),
        _ratio(agg, "cold_start_share", "cold", "requests"),
        _ratio(agg, "intra_list_diversity", "diversity_sum", "diversity_n"),
        _ratio(agg, "ndcg_at_10", "ndcg_sum", "ndcg_n", completeness=lc),
        _ratio(agg, "recall_at_10", "recall_sum", "recall_n", completeness=lc),
        _ratio(
            calibration, "calibration_ratio", "calib_clicks", "_expected", n=agg["calib_n"], completeness=lc
        ),
    ]


def _outcome_points(base: pa.Table, agg: pa.Table) -> list[pa.Table]:
    lc = base["_lc"]
    agg = agg.append_column("requests", base["requests"])
    return [
        points_from(
            agg,
            metric="impressions",
            family=NAME,
            value=agg["impressions"],
            n=agg["requests"],
            label_completeness=lc,
        ),
        _ratio(agg, "ctr", "clicks", "impressions", completeness=lc),
        _ratio(agg, "play_rate", "plays", "impressions", completeness=lc),
        _ratio(agg, "completion_rate", "completes", "plays", completeness=lc),
        _ratio(agg, "watch_time_per_request", "watch_seconds", "requests", completeness=lc),
    ]


def _exposure_points(items: pa.Table, agg: pa.Table) -> list[pa.Table]:
    requests = {
        (s, sl): n
        for s, sl, n in zip(
            agg["window_start"].to_pylist(),
            agg["slice"].to_pylist(),
            agg["requests"].to_pylist(),
            strict=True,
        )
    }
    novelty = []
    for s, sl, shows, clog in zip(
        items["window_start"].to_pylist(),
        items["slice"].to_pylist(),
        items["shows"].to_pylist(),
        items["clog2c"].to_pylist(),
        strict=True,
    ):
        n = requests.get((s, sl))
        novelty.append((shows * math.log2(n) - clog) / shows if shows and n else None)
    scored = {
        s: n
        for s, sl, n in zip(
            items["window_start"].to_pylist(),
            items["slice"].to_pylist(),
            items["items_scored"].to_pylist(),
            strict=True,
        )
        if sl == ""
    }
    items = items.set_column(
        items.schema.get_field_index("items_scored"),
        "items_scored",
        pa.array([scored.get(s) for s in items["window_start"].to_pylist()], pa.int64()),
    )
    return [
        _ratio_of(items, "catalog_coverage", "items_shown", "items_scored", n=items["items_scored"]),
        points_from(
            items, metric="popularity_gini", family=NAME, value=items["gini"], n=items["items_shown"]
        ),
        points_from(
            items, metric="novelty", family=NAME, value=pa.array(novelty, pa.float64()), n=items["shows"]
        ),
    ]


def _ratio_of(table: pa.Table, metric: str, numerator: str, denominator: str, *, n: Any) -> pa.Table:
    return points_from(
        table,
        metric=metric,
        family=NAME,
        value=ratio(table[numerator], table[denominator]),
        numerator=table[numerator],
        denominator=table[denominator],
        n=n,
    )


def _score_points(scores: pa.Table) -> list[pa.Table]:
    return [
        points_from(
            scores, metric="score_mean", family=NAME, value=ratio(scores["sum"], scores["n"]), n=scores["n"]
        ),
        points_from(scores, metric="score_p50", family=NAME, value=scores["p50"], n=scores["n"]),
        points_from(scores, metric="score_p90", family=NAME, value=scores["p90"], n=scores["n"]),
    ]


def _source_points(mix: pa.Table) -> pa.Table:
    return points_from(
        mix,
        metric="candidate_source_share",
        family=NAME,
        value=ratio(mix["slots"], mix["shown_slots"]),
        numerator=mix["slots"],
        denominator=mix["shown_slots"],
        n=mix["shown_slots"],
        subject=mix["source"],
    )


FAMILY = MetricsFamily()
