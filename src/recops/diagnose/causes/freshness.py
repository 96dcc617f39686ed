"""Stale feature groups: served feature values older than their group's TTL.

Certainty: the group's ``stale_feature_share`` (and ``feature_age_p95_hours``) rose
significantly and materially (towards the catalog's 5 % line). Link: 1 when the move is the
group's own (a freshness metric of the group, or the null rate or drift of one of its
features: stale values are served null); 0 for another group's freshness or for upstream
arrivals (a group cannot make those move); otherwise the association of the group's stale
share with the moved metric over hours and slices. The evidence names the group, its
TTL, its features and how long ago it was last materialized.
"""

from __future__ import annotations

from collections.abc import Sequence

from recops.diagnose.causes.base import Context, Hypothesis, make
from recops.diagnose.causes.evidence import Shift, alignment, deviations, materiality, onset, significance
from recops.diagnose.causes.points import ALL

STALE = "stale_feature_share"
AGE = "feature_age_p95_hours"
SINCE = "hours_since_materialization"
#: The hour series this module reads.
READS = (STALE, AGE, SINCE)


def stale_feature_groups(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per feature group whose served values went stale in the current period."""
    move = ctx.move
    groups = sorted(set(ctx.points.subjects(STALE)) | set(ctx.points.subjects(AGE)))
    out = []
    for group in groups:
        certainty, shifts = _certainty(ctx, group, len(groups))
        if certainty <= 0:
            continue
        stale = shifts.get(STALE)
        lead = STALE if stale is not None else AGE
        orientation = 1.0
        devs = deviations(ctx.points.series(lead, group, ALL), ctx.span, ctx.pair_shift, move.baseline)
        began = onset(devs, move.current, orientation)
        link, how, association = _link(ctx, group, lead)
        ttl = ctx.config.feature_groups.get(group)
        features = sorted(f for f, g in ctx.feature_groups.items() if g == group)
        since = ctx.points.series(SINCE, group, ALL).within(move.current)
        last_hours = max((w.value for w in since if w.value is not None), default=None)
        evidence: dict[str, object] = {name: s.to_json() for name, s in shifts.items()}
        evidence.update(
            {
                "ttl_hours": ttl.ttl_hours if ttl is not None else None,
                "features": features,
                "hours_since_materialization": last_hours,
                "link": how,
            }
        )
        if association is not None:
            evidence["association"] = association
        out.append(
            make(
                "feature_group",
                {"feature_group": group, "features": features},
                certainty=certainty,
                link=link,
                alignment=alignment(began, move.current),
                onset=began,
                sentence=_sentence(group, shifts, ttl.ttl_hours if ttl else None, last_hours, how),
                evidence=evidence,
            )
        )
    return out


def _certainty(ctx: Context, group: str, tests: int) -> tuple[float, dict[str, Shift]]:
    shifts: dict[str, Shift] = {}
    best = 0.0
    for metric in (STALE, AGE, SINCE):
        moved = ctx.shift_of(metric, group)
        if moved is None:
            continue
        shifts[metric] = moved
        if metric == SINCE:
            continue  # evidence of why, not of staleness served
        c = significance(moved.p, tests, ctx.alpha) * materiality(ctx.definition(metric), moved, ctx.slo)
        best = max(best, c)
    return best, shifts


def _link(ctx: Context, group: str, lead: str) -> tuple[float, str, dict[str, object] | None]:
    move = ctx.move
    kind = move.subject_kind
    if move.family == "freshness":
        return (
            (1.0, "the group's own freshness", None)
            if move.subject == group
            else (0.0, "another group", None)
        )
    if move.family == "arrival":
        return 0.0, "upstream of feature groups", None
    if kind == "feature" and ctx.feature_group_of(move.subject) == group:
        return 1.0, f"{move.subject} is served from {group}", None
    found = ctx.association_with(lead, group, 1.0)
    if found is None:
        return 0.0, "no association measurable", None
    return found.link, "association over hours and slices", found.to_json()


def _sentence(group: str, shifts: dict[str, Shift], ttl: float | None, last: float | None, how: str) -> str:
    parts = [f"feature group {group} went stale"]
    stale = shifts.get(STALE)
    if stale is not None:
        ttl_text = f" (TTL {ttl:g} h)" if ttl is not None else ""
        parts.append(
            f": {100 * stale.baseline:.3g}% → {100 * stale.current:.3g}% of requests served it past its TTL"
            f"{ttl_text}"
        )
    age = shifts.get(AGE)
    if age is not None:
        parts.append(f"; p95 age {age.baseline:.3g} h → {age.current:.3g} h")
    if last is not None:
        parts.append(f"; last materialized {last:.3g} h before a window's end")
    z = stale.z if stale is not None else (age.z if age is not None else None)
    if z is not None:
        parts.append(f" (z = {z:.1f}; {how})")
    return "".join(parts)
