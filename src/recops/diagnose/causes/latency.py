"""Stage latency: a serving stage that got slower, on one surface or everywhere.

For every stage stored in the latency quantiles (subject = the stage) one hypothesis per
surface and one for all surfaces. A window's quantile counts only when it rests on at
least ``10 / (1 - q)`` requests (ten above it: 1,000 for a p99, 200 for a p95, 20 for a
median; the catalog judges a p99 the same way), so a thin night hour's "p99", which is
its slowest request, is not evidence. Each stage is judged at the quantile (p50, p95 or
p99) whose rise is the most certain: a regression that shifts every request shows at the
median long before enough traffic makes its p99 readable, a tail-only one only at p99.
Certainty: the significance of the rise against the spread of the baseline windows times
its materiality (a 50 % rise counts in full; a stage is not judged against the
end-to-end SLO).

Where the stage got slower: with ``q_u`` surface u's share of the stage's traffic-weighted
rise and ``w_u`` its share of the traffic, the *concentration*
``c_u = clamp((q_u - w_u) / (1 - w_u))`` is 0 when the rise is spread as the traffic is
and 1 when it is all on u. The surface hypothesis takes ``c_u`` of the link, the
all-surfaces one ``1 - max c``, so a regression on one surface names that surface and a
global one names none (the same trade-off as a slice's surprise, decision 0033).

Link to a latency move: the stage's share of the end-to-end rise at the same quantile
(per surface); 1 for the moved stage itself; 0 for another stage's own series. To another
metric: the association of the stage's latency with it over hours and slices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from recops.diagnose.causes.base import Context, Hypothesis, make
from recops.diagnose.causes.evidence import (
    Shift,
    alignment,
    clamp,
    deviations,
    materiality,
    onset,
    shift,
    significance,
)
from recops.diagnose.causes.points import ALL, Series

QUANTILES = {"latency_p50_ms": 0.5, "latency_p95_ms": 0.95, "latency_p99_ms": 0.99}
P99 = "latency_p99_ms"
SURFACE = "surface="
READS = tuple(QUANTILES)
#: Requests beyond a quantile a window needs for that quantile to count.
TAIL = 10


def stage_latency(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """Stage × surface hypotheses for every stage whose latency rose."""
    move = ctx.move
    if move.family not in ("latency", "metrics"):
        return []
    stages = sorted({s for m in QUANTILES for s in ctx.points.subjects(m) if s})
    if move.family == "latency" and move.subject:
        stages = [s for s in stages if s == move.subject]
    surfaces = [s for s in ctx.points.slices(P99, "") if s.startswith(SURFACE)]
    weights = _traffic_shares(ctx, surfaces)
    tests = max(1, len(stages) * (len(surfaces) + 1) * len(QUANTILES))
    out: list[Hypothesis] = []
    for stage in stages:
        metric, shifts, certainties = _best_quantile(ctx, stage, surfaces, tests)
        if metric is None:
            continue
        rises = {s: max(0.0, m.change) for s, m in shifts.items() if m is not None and s != ALL}
        concentration = _concentration(rises, weights)
        spread = 1.0 - max(concentration.values(), default=0.0)
        label = f"p{round(100 * QUANTILES[metric])}"
        for slice_, moved in shifts.items():
            certainty = certainties.get(slice_, 0.0)
            if moved is None or certainty <= 0:
                continue
            where = concentration.get(slice_, 0.0) if slice_ else spread
            share, how = _share(ctx, metric, stage, slice_, moved)
            series = _readable(ctx.points.series(metric, stage, slice_), QUANTILES[metric])
            began = onset(deviations(series, ctx.span, ctx.pair_shift, move.baseline), move.current, 1.0)
            surface = slice_[len(SURFACE) :] if slice_ else None
            place = f"on {surface}" if surface else "on every surface"
            out.append(
                make(
                    "stage_latency",
                    {"stage": stage, "surface": surface},
                    certainty=certainty,
                    link=share * where,
                    alignment=alignment(began, move.current),
                    onset=began,
                    sentence=(
                        f"stage {stage} got slower {place}: "
                        f"{label} {moved.baseline:.4g} → {moved.current:.4g} ms "
                        f"({_pct(moved.relative)}, z = {moved.z or 0:.1f}); concentration {where:.2f}; {how}"
                    ),
                    evidence={
                        "quantile": label,
                        "shift": moved.to_json(),
                        "concentration": where,
                        "surface_concentration": concentration,
                        "link": how,
                    },
                )
            )
    return out


def _best_quantile(
    ctx: Context, stage: str, surfaces: list[str], tests: int
) -> tuple[str | None, dict[str, Shift | None], dict[str, float]]:
    """The quantile whose rise is the most certain in some slice, with every slice's shift at it."""
    best: tuple[str | None, dict[str, Shift | None], dict[str, float]] = (None, {}, {})
    best_value = 0.0
    for metric, q in QUANTILES.items():
        shifts = {s: _shift(ctx, metric, stage, s, q) for s in [ALL, *surfaces]}
        certainties = {
            s: significance(m.p, tests, ctx.alpha)
            * materiality(ctx.definition(metric), m, ctx.slo, direction="up_is_bad", use_threshold=False)
            for s, m in shifts.items()
            if m is not None
        }
        top = max(certainties.values(), default=0.0)
        if top > best_value:
            best, best_value = (metric, shifts, certainties), top
    return best


def _shift(ctx: Context, metric: str, subject: str, slice_: str, q: float) -> Shift | None:
    series = _readable(ctx.points.series(metric, subject, slice_), q)
    return shift(series, ctx.move.current, ctx.move.baseline)


def _readable(series: Series, q: float) -> Series:
    """The windows with enough requests for quantile ``q`` to mean something."""
    need = math.ceil(TAIL / min(q, 1 - q))
    return Series(series.metric, series.subject, series.slice, [w for w in series.windows if w.n >= need])


def _concentration(rises: dict[str, float], weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.get(s, 0.0) * r for s, r in rises.items())
    out = {}
    for s, r in rises.items():
        w = weights.get(s, 0.0)
        out[s] = clamp((w * r / total - w) / (1 - w)) if total > 0 and w < 1 else 0.0
    return out


def _share(ctx: Context, metric: str, stage: str, slice_: str, moved: Shift) -> tuple[float, str]:
    """The stage's share of the end-to-end rise at its quantile (latency moves), or its
    association with the move (others)."""
    move = ctx.move
    if move.family == "latency":
        if move.subject == stage:
            return 1.0, "the moved stage itself"
        if move.slice.startswith(SURFACE) and slice_ and slice_ != move.slice:
            return 0.0, f"the move is on {move.slice}"
        target_slice = move.slice if move.slice.startswith(SURFACE) and not slice_ else slice_
        end_to_end = _shift(ctx, metric, "", target_slice, QUANTILES[metric])
        label = f"p{round(100 * QUANTILES[metric])}"
        if end_to_end is None or end_to_end.change <= 0:
            return 0.0, f"end-to-end {label} did not rise there"
        share = clamp(moved.change / end_to_end.change)
        return share, f"{100 * share:.0f}% of the end-to-end {label} rise ({end_to_end.change:+.4g} ms)"
    found = ctx.association_with(metric, stage, 1.0)
    if found is None:
        return 0.0, "no association measurable"
    return found.link, f"associated with the {move.metric} move (ρ = {found.rho:.2f})"


def _traffic_shares(ctx: Context, surfaces: list[str]) -> dict[str, float]:
    """Each surface's share of the requests in the current period (from the end-to-end p99's ``n``)."""
    counts = {
        s: float(sum(w.n for w in ctx.points.series(P99, "", s).within(ctx.move.current))) for s in surfaces
    }
    total = sum(counts.values())
    return {s: c / total for s, c in counts.items()} if total > 0 else {}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.0f}%"
