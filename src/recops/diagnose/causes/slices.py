"""Slices that explain the move: the contribution analysis of decision 0033, as hypotheses.

Each stored slice of the moved series (surface, model version, context keys) is scored by
:mod:`recops.diagnose.contribution`: its explained share of the move times its surprise
(its share of the move beyond the common trend) is the *link*; the significance of its
effect is the *certainty*; alignment is 1 (the slice moved in the move's own windows).
The alerted slice itself is the symptom, not a cause, and is left out.

A slice that is all of the current traffic (a version after a full rollout) has no rest
to be compared with at the same time, so decision 0033 counts all of the move as its
own; here its link takes :data:`~recops.diagnose.causes.changes.COVERAGE_WEIGHT` (half),
as a change suspected only because it served the moved traffic does: the move could as
well be the time's.
"""

from __future__ import annotations

from collections.abc import Sequence

from recops.diagnose.causes.base import Context, Hypothesis, make
from recops.diagnose.causes.changes import COVERAGE_WEIGHT
from recops.diagnose.contribution import ContributionReport, contributions_from_points
from recops.errors import InvalidInput, NotFound

#: A slice with at least this share of the current traffic is all of it.
ALL_TRAFFIC = 0.99


def contribution_report(ctx: Context) -> ContributionReport | None:
    """The contribution analysis of the move's metric over all traffic (``None`` when the metric
    is neither a ratio nor a count, or a period has no all-traffic point)."""
    move = ctx.move
    current = ctx.points.table(move.metric, move.subject, move.current)
    baseline = ctx.points.table(move.metric, move.subject, move.baseline)
    if not current.num_rows or not baseline.num_rows:
        return None
    try:
        return contributions_from_points(
            current,
            baseline,
            metric=move.metric,
            current=move.current,
            baseline=move.baseline,
            subject=move.subject,
            granularity=move.granularity,
            alpha=ctx.alpha,
        )
    except (InvalidInput, NotFound):
        return None


def slices(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per stored slice of the moved metric, scored as in decision 0033."""
    report = contribution_report(ctx)
    if report is None:
        return []
    out = []
    for h in report.hypotheses:
        if h.slice == ctx.move.slice or h.explained_share is None:
            continue
        entity: dict[str, str] = {"slice": h.slice}
        if h.dimension == "model_version":
            entity["model_version"] = h.value
        else:
            entity["segment"] = h.slice
        certainty = h.score / h.strength if h.strength > 0 else max(0.0, 1 - h.p_value / ctx.alpha)
        alone = h.current_share >= ALL_TRAFFIC
        link = h.strength * (COVERAGE_WEIGHT if alone else 1.0)
        out.append(
            make(
                "slice",
                entity,
                certainty=certainty,
                link=link,
                alignment=1.0,
                sentence=h.sentence(),
                evidence={
                    "explained_share": h.explained_share,
                    "specific_share": h.specific_share,
                    "surprise": h.surprise,
                    "effect": h.effect,
                    "baseline_value": h.baseline_value,
                    "current_value": h.current_value,
                    "baseline_share": h.baseline_share,
                    "current_share": h.current_share,
                    "relative_change": h.relative_change,
                    "rest_relative_change": h.rest_relative_change,
                    "z": h.z,
                    "z_vs_rest": h.z_vs_rest,
                    "p_value": h.p_value,
                    "all_traffic_now": alone,
                },
            )
        )
    return out
