"""Serving failures: error, fallback and empty-slate rates, and where they rose.

Certainty: the rate's rise is significant (two proportions, Bonferroni over the three) and
material against its catalog line (fallback and empty slates: doubling; errors: the SLO).
Where: the rate's own contribution analysis names the slice that explains its rise
(``surface=search explains 90% of the error-rate rise``). Link: the association of the
rate with the moved metric over hours and slices (an error serves nothing, a fallback a
popularity list, so a business metric follows them where they rise). A rate is not a
hypothesis for its own move, nor for latency, freshness or arrival moves.
"""

from __future__ import annotations

from collections.abc import Sequence

from recops.diagnose.causes.base import Context, Hypothesis, make
from recops.diagnose.causes.evidence import alignment, deviations, materiality, onset, significance
from recops.diagnose.causes.points import ALL
from recops.diagnose.contribution import contributions_from_points
from recops.errors import InvalidInput, NotFound

RATES = ("error_rate", "fallback_rate", "empty_slate_rate")
READS = RATES


def serving_rates(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per serving failure rate that rose in the current period."""
    move = ctx.move
    if move.family in ("latency", "freshness", "arrival", "drift"):
        return []
    out = []
    for metric in RATES:
        if metric == move.metric:
            continue
        moved = ctx.shift_of(metric)
        if moved is None:
            continue
        certainty = significance(moved.p, len(RATES), ctx.alpha) * materiality(
            ctx.definition(metric), moved, ctx.slo
        )
        if certainty <= 0:
            continue
        where, where_text = _where(ctx, metric)
        found_assoc = ctx.association_with(metric, "", 1.0, tests=len(RATES))
        link = found_assoc.link if found_assoc is not None else 0.0
        how = (
            f"associated with the {move.metric} move (ρ = {found_assoc.rho:.2f})"
            if found_assoc is not None
            else "no association measurable"
        )
        devs = deviations(ctx.points.series(metric, "", ALL), ctx.span, ctx.pair_shift, move.baseline)
        began = onset(devs, move.current, 1.0)
        out.append(
            make(
                "serving_rate",
                {"metric": metric, "segment": where},
                certainty=certainty,
                link=link,
                alignment=alignment(began, move.current),
                onset=began,
                sentence=(
                    f"{metric} rose: {100 * moved.baseline:.3g}% → {100 * moved.current:.3g}% "
                    f"(z = {moved.z or 0:.1f}){where_text}; {how}"
                ),
                evidence={
                    "shift": moved.to_json(),
                    "where": where,
                    "association": found_assoc.to_json() if found_assoc is not None else None,
                },
            )
        )
    return out


def _where(ctx: Context, metric: str) -> tuple[str | None, str]:
    """The slice that explains the rate's own rise best, if a significant one does."""
    move = ctx.move
    try:
        report = contributions_from_points(
            ctx.points.table(metric, "", move.current),
            ctx.points.table(metric, "", move.baseline),
            metric=metric,
            current=move.current,
            baseline=move.baseline,
            granularity=move.granularity,
            alpha=ctx.alpha,
        )
    except (InvalidInput, NotFound):
        return None, ""
    best = report.findings[0] if report.findings else None
    if best is None or best.explained_share is None:
        return None, ""
    return best.slice, f"; {best.slice} explains {100 * best.explained_share:.0f}% of the rise"
