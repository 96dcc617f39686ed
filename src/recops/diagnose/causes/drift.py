"""Drift that matters: drifted features ranked by their association with the move.

A feature counts as drifted when its ``feature_drift_ratio`` (the drift engine's deciding
statistic over its threshold, daily against the trailing week) is at least 1 on a day
that overlaps the move or the day before it, in all traffic or in a slice. Forty features
can drift at once; what matters is which of them go with the metric's move, so the link is
the correlation, over the last 28 days and every slice stored for both, of the feature's
drift ratio with the metric's deviation from the same day a week earlier (oriented by
the move). A feature whose drift comes and goes without the metric moving, or drifts
in slices where the metric did not move, gets a low link and ranks low.

The module is not run for moves of drift, freshness, arrival or latency metrics: a
feature's distribution does not make a feature group stale or a partition late, and a
drift alert's causes are upstream (schema changes, stale groups, pipeline changes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from recops.diagnose.causes.base import Context, Hypothesis, make
from recops.diagnose.causes.evidence import Association, alignment, association, deviations
from recops.diagnose.causes.points import ALL, Window
from recops.diagnose.contribution import Period

RATIO = "feature_drift_ratio"
#: Day series this module reads (besides the moved metric's).
DAY_READS = (RATIO,)
#: With too little history to correlate, a drifted feature keeps this link: listed, ranked low.
UNMEASURED_LINK = 0.1
_SKIP_FAMILIES = ("drift", "freshness", "arrival", "latency")


def drifted_features(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per feature drifted around the move, linked by association with it."""
    move = ctx.move
    if move.family in _SKIP_FAMILIES:
        return []
    days = ctx.days
    near = Period(move.current.start - timedelta(days=1), move.current.end)
    drifted: list[tuple[str, float, str, list[Window]]] = []
    for feature in days.subjects(RATIO):
        worst, where = 0.0, ALL
        for slice_ in days.slices(RATIO, feature):
            for w in days.series(RATIO, feature, slice_).windows:
                if w.end > near.start and w.start < near.end and w.value is not None and w.value > worst:
                    worst, where = w.value, slice_
        if worst >= 1.0:
            drifted.append((feature, worst, where, days.series(RATIO, feature, ALL).windows))
    out = []
    for feature, worst, where, windows in drifted:
        began = _drift_onset(windows, near)
        found_assoc = _association(ctx, feature, len(drifted))
        link = found_assoc.link if found_assoc is not None else UNMEASURED_LINK
        group = ctx.feature_group_of(feature)
        days_drifted = sum(1 for w in windows if w.value is not None and w.value >= 1.0)
        how = (
            f"ρ = {found_assoc.rho:.2f} with the {move.metric} move over {found_assoc.windows} days × slices"
            if found_assoc is not None
            else "too little history to correlate"
        )
        where_text = f" (worst in {where})" if where else ""
        out.append(
            make(
                "feature_drift",
                {"feature": feature, "feature_group": group},
                certainty=min(1.0, worst),
                link=link,
                alignment=alignment(began, move.current, grace=timedelta(days=1)),
                onset=began,
                sentence=(
                    f"feature {feature}{f' ({group})' if group else ''} drifted: drift ratio {worst:.3g}"
                    f"{where_text}, drifted on {days_drifted} of the last {len(windows)} days; {how}"
                ),
                evidence={
                    "drift_ratio": worst,
                    "worst_slice": where,
                    "days_drifted": days_drifted,
                    "days_stored": len(windows),
                    "association": found_assoc.to_json() if found_assoc is not None else None,
                },
            )
        )
    return out


def _drift_onset(windows: list[Window], near: Period) -> datetime | None:
    """The start of the run of drifted days that reaches the move."""
    start: datetime | None = None
    for w in sorted(windows, key=lambda w: w.start):
        if w.start >= near.end:
            break
        if w.value is not None and w.value >= 1.0:
            start = start or w.start
        else:
            start = None
    return start


def _association(ctx: Context, feature: str, tests: int) -> Association | None:
    """Drift ratio (a level: already relative to its reference) against the metric's deviation
    from a week earlier, per day and slice over the last 28 days."""
    move = ctx.move
    days = ctx.days
    span = Period(move.current.end - ctx.CONTEXT_DAYS, move.current.end + timedelta(days=1))
    baseline = Period(span.start - timedelta(days=7), span.start)
    target_slices = set(days.slices(move.metric, move.subject))
    cells: list[tuple[datetime, float, float, float]] = []
    for slice_ in days.slices(RATIO, feature):
        if slice_ not in target_slices:
            continue
        target = days.series(move.metric, move.subject, slice_)
        y = deviations(target, span, timedelta(days=7), baseline)
        for w in days.series(RATIO, feature, slice_).within(span):
            if w.value is None or w.start not in y:
                continue
            tw = target.at(w.start)
            cells.append((w.start, w.value, move.sign * y[w.start], math.sqrt(max(tw.n if tw else 1, 1))))
    return association(cells, alpha=ctx.alpha, tests=tests)
