"""Candidate sources: a generator that stopped proposing (outage) or whose share moved (mix shift).

``candidate_source_share`` (subject = the source) is the source's share of the shown
slots. Certainty: its change is significant (two proportions, Bonferroni over the
sources) and material against the catalog's line (a 50 % drop). A share below a tenth of
its baseline is an *outage*, otherwise a *mix shift*; the evidence lists the surfaces
where it moved. Link: 1 for the source's own share; for another source's share, the part of
that move it accounts for (shares are zero-sum: what one source loses the others gain);
for other metrics, the association with the move over hours and slices.
"""

from __future__ import annotations

from collections.abc import Sequence

from recops.diagnose.causes.base import Context, Hypothesis, make
from recops.diagnose.causes.evidence import alignment, clamp, deviations, materiality, onset, significance
from recops.diagnose.causes.points import ALL

SHARE = "candidate_source_share"
OUTAGE = 0.1
READS = (SHARE,)


def candidate_sources(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per candidate source whose share moved in the current period."""
    move = ctx.move
    if move.family in ("latency", "freshness", "arrival", "drift"):
        return []
    sources = ctx.points.subjects(SHARE)
    out = []
    for source in sources:
        moved = ctx.shift_of(SHARE, source)
        if moved is None:
            continue
        certainty = significance(moved.p, len(sources), ctx.alpha) * materiality(
            ctx.definition(SHARE), moved, ctx.slo
        )
        if certainty <= 0:
            continue
        outage = moved.baseline > 0 and moved.current < OUTAGE * moved.baseline
        surfaces = _surfaces(ctx, source)
        link, how = _link(ctx, source, moved.change)
        devs = deviations(ctx.points.series(SHARE, source, ALL), ctx.span, ctx.pair_shift, move.baseline)
        began = onset(devs, move.current, 1.0 if moved.change > 0 else -1.0)
        what = "outage" if outage else "mix shift"
        where = ", ".join(f"{s} {100 * b:.3g}% → {100 * c:.3g}%" for s, b, c in surfaces) or "all traffic"
        out.append(
            make(
                "candidate_source",
                {"candidate_source": source, "change": what, "surfaces": [s for s, _, _ in surfaces]},
                certainty=certainty,
                link=link,
                alignment=alignment(began, move.current),
                onset=began,
                sentence=(
                    f"candidate source {source} {what}: share of shown slots {100 * moved.baseline:.3g}% → "
                    f"{100 * moved.current:.3g}% (z = {moved.z or 0:.1f}); {where}; {how}"
                ),
                evidence={"shift": moved.to_json(), "surfaces": surfaces, "outage": outage, "link": how},
            )
        )
    return out


def _surfaces(ctx: Context, source: str) -> list[tuple[str, float, float]]:
    """Surfaces where the source's share moved by more than a quarter of its baseline."""
    out = []
    for slice_ in ctx.points.slices(SHARE, source):
        if not slice_.startswith("surface="):
            continue
        moved = ctx.shift_of(SHARE, source, slice_)
        if moved is not None and moved.baseline > 0 and abs(moved.change) > 0.25 * moved.baseline:
            out.append((slice_.split("=", 1)[1], moved.baseline, moved.current))
    return out


def _link(ctx: Context, source: str, change: float) -> tuple[float, str]:
    move = ctx.move
    if move.metric == SHARE:
        if move.subject == source:
            return 1.0, "the source's own share"
        if move.moved is None or move.moved.change == 0 or change * move.moved.change >= 0:
            return 0.0, "moved the same way as the moved source"
        part = clamp(abs(change) / abs(move.moved.change))
        return part, f"its {100 * change:+.3g} pts account for {100 * part:.0f}% of {move.subject}'s move"
    found = ctx.association_with(SHARE, source, 1.0 if change > 0 else -1.0)
    if found is None:
        return 0.0, "no association measurable"
    return found.link, f"associated with the {move.metric} move (ρ = {found.rho:.2f})"
