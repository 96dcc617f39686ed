"""Changes aligned in time and scope with the move: deploys, rollbacks, canaries, config,
feature pipeline releases, backfills, experiments (the lake's ``changes`` records).

A change record is a fact (certainty 1). Its **alignment** is its lead on the move's first
window (full within 6 hours, halving every 12 hours before that, 0 after the move). Its
**link** is measured on its *scope*, what the change touched, found from its target and
version:

1. a model version (``version`` stored as a ``model_version=`` slice): the score of that
   slice's hypothesis (its explained share, surprise and significance), or the move's own
   certainty when the moved series is that slice; for a model or latency metric, at least
   half the move's certainty times the share of the traffic the version took between the
   periods (after a full rollout the version serves the moved slice whatever it is, and
   stored slices are single keys, so "android_tv on v13" cannot be read; half, because
   serving the traffic is opportunity, not a measured effect). The entity also
   names the segment the move concentrates in (the moved slice, or the best other
   significant slice), so "deploy ranker@v13" comes with "device=android_tv";
2. a feature group (``target`` is a configured or observed group): the best hypothesis
   about the group (stale, drifted features), or the move's own certainty when the move is
   about the group or one of its features;
3. an upstream source: the best arrival or schema hypothesis of the source, or the move's
   when it is the source's;
4. a serving stage or candidate source whose name is part of the target
   (``ranking-service`` → stage ``ranking``): 0.8 × the best hypothesis about it, or × the
   move's own certainty when the move is that stage's latency or that source's share;
5. nothing measurable (a config change of a service, an experiment): a prior of 0.25 when
   the kind of change can move the metric's family, 0.05 otherwise.

So an aligned change never outranks the evidence of its scope, but ties with it and, at
equal score, ranks first: it is the deeper, actionable cause ("roll back v13").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from recops.diagnose.causes.base import Context, Hypothesis, Move, make
from recops.diagnose.causes.evidence import alignment, materiality, significance

LOOKBACK = timedelta(days=7)
#: Series read to find what a change touched (versions, stages, sources, groups).
READS = ("requests", "latency_p99_ms", "candidate_source_share", "stale_feature_share", "arrival_rows")
NAME_MATCH = 0.8
PRIOR = 0.25
#: Families whose moves a model version can cause on any traffic it serves.
SERVED_FAMILIES = ("metrics", "latency")
#: A version suspected only because it took the moved traffic (no measured effect of its
#: own) counts half as much as a cause whose effect was measured.
COVERAGE_WEIGHT = 0.5
IMPLAUSIBLE = 0.05
#: Which change kinds can move which metric families (for changes whose scope is not measurable).
PLAUSIBLE: dict[str, tuple[str, ...]] = {
    "deploy": ("metrics", "latency", "quality", "drift", "freshness"),
    "rollback": ("metrics", "latency", "quality", "drift", "freshness"),
    "canary": ("metrics", "latency", "quality", "drift"),
    "config": ("metrics", "latency", "quality", "freshness"),
    "feature_pipeline": ("freshness", "drift", "metrics", "quality"),
    "backfill": ("arrival", "drift", "freshness", "quality"),
    "experiment": ("metrics", "latency"),
}


def changes(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per change in the week before the move's end, linked through its scope."""
    move = ctx.move
    rows = ctx.query(
        "SELECT ts, kind, target, version, actor, description FROM changes "
        "WHERE ts >= $a AND ts < $b ORDER BY ts",
        {"a": move.current.start - LOOKBACK, "b": move.current.end},
    )
    own = _move_certainty(ctx)
    versions = _versions(ctx)
    out = []
    for row in rows:
        ts = row["ts"].astimezone(UTC)
        kind, target, version = row["kind"], row["target"], row["version"]
        actor, description = row["actor"], row["description"]
        aligned = alignment(ts, move.current)
        if aligned < 0.01:
            continue
        kind, target = str(kind), str(target)
        version = str(version) if version is not None else None
        entity: dict[str, Any] = {
            "change_kind": kind,
            "target": target,
            "version": version,
            "ts": ts.isoformat(),
        }
        link, how, scope = _scope(ctx, kind, target, version, versions, found, own)
        entity.update(scope)
        lead = _lead(ts, move.current.start)
        out.append(
            make(
                "change",
                entity,
                certainty=1.0,
                link=link,
                alignment=aligned,
                onset=ts,
                sentence=(
                    f"{kind} {target}{f'@{version}' if version else ''} at {ts:%Y-%m-%d %H:%M} UTC, {lead}"
                    f"{f' ({description})' if description else ''}; {how}"
                ),
                evidence={
                    "actor": actor,
                    "description": description,
                    "scope": how,
                    "lead_hours": _hours(ts, move),
                },
            )
        )
    return out


def _scope(
    ctx: Context,
    kind: str,
    target: str,
    version: str | None,
    versions: set[str],
    found: Sequence[Hypothesis],
    own: float,
) -> tuple[float, str, dict[str, Any]]:
    move = ctx.move
    if version is not None and version in versions:
        scope: dict[str, Any] = {"model_version": version}
        segment = _segment(ctx, found)
        if segment:
            scope["segment"] = segment
        if move.slice == f"model_version={version}":
            return own, f"the moved series is model_version={version}", scope
        best = _best(found, "slice", model_version=version)
        by_slice = best.score if best is not None else 0.0
        switched = _switched(ctx, version) if move.family in SERVED_FAMILIES else 0.0
        if COVERAGE_WEIGHT * switched * own > by_slice:
            return (
                COVERAGE_WEIGHT * switched * own,
                f"model_version={version} took {100 * switched:.0f}% of the traffic between the periods",
                scope,
            )
        if best is not None:
            return by_slice, f"model_version={version} {_explains(best)}", scope
        return 0.0, f"model_version={version} does not explain the move", scope
    groups = (
        set(ctx.config.feature_groups)
        | set(ctx.feature_groups.values())
        | set(ctx.points.subjects("stale_feature_share"))
    )
    if target in groups:
        scope = {"feature_group": target}
        if move.subject == target or (
            move.subject_kind == "feature" and ctx.feature_group_of(move.subject) == target
        ):
            return own, f"the move is about feature group {target}", scope
        best = _best_any(found, feature_group=target)
        if best is not None:
            return best.score, f"{best.kind} of {target}: score {best.score:.2f}", scope
        return 0.0, f"feature group {target} shows nothing", scope
    sources = (
        set(ctx.config.sources)
        | set(ctx.points.subjects("arrival_rows"))
        | set(ctx.points.subjects("late_partitions"))
    )
    if target in sources:
        scope = {"source": target}
        if move.subject == target:
            return own, f"the move is about source {target}", scope
        best = _best_any(found, source=target)
        if best is not None:
            return best.score, f"{best.kind} of {target}: score {best.score:.2f}", scope
        return 0.0, f"source {target} shows nothing", scope
    for key, names in (
        ("stage", [s for s in ctx.points.subjects("latency_p99_ms") if s]),
        ("candidate_source", ctx.points.subjects("candidate_source_share")),
    ):
        name = _named_in(target, names)
        if name is None:
            continue
        scope = {key: name}
        if move.subject == name:
            if move.slice.startswith("surface="):
                scope["surface"] = move.slice.split("=", 1)[1]
            return NAME_MATCH * own, f"{target} serves {key} {name}, the moved series", scope
        best = _best_any(found, **{key: name})
        if best is not None:
            if best.entity.get("surface"):
                scope["surface"] = best.entity["surface"]
            return (
                NAME_MATCH * best.score,
                f"{target} serves {key} {name}: {best.kind} score {best.score:.2f}",
                scope,
            )
        return 0.0, f"{target} serves {key} {name}, which shows nothing", scope
    plausible = move.family in PLAUSIBLE.get(kind, ("metrics",))
    prior = PRIOR if plausible else IMPLAUSIBLE
    likely = "a plausible" if plausible else "an unlikely"
    return prior, f"scope not measurable ({likely} cause of a {move.family or 'metric'} move)", {}


def _switched(ctx: Context, version: str) -> float:
    """The share of the traffic the version gained from the baseline to the current period
    (requests served): a version that took all traffic can be behind a move in any slice."""
    move = ctx.move
    shares = []
    for period in (move.baseline, move.current):
        total = sum(w.value or 0.0 for w in ctx.points.series("requests").within(period))
        mine = sum(
            w.value or 0.0
            for w in ctx.points.series("requests", "", f"model_version={version}").within(period)
        )
        shares.append(mine / total if total > 0 else 0.0)
    return max(0.0, shares[1] - shares[0])


def _move_certainty(ctx: Context) -> float:
    moved = ctx.move.moved
    if moved is None:
        return 0.0
    return significance(moved.p, 1, ctx.alpha) * materiality(ctx.move.definition, moved, ctx.slo)


def _versions(ctx: Context) -> set[str]:
    out = set()
    for metric in ("requests", ctx.move.metric):
        for slice_ in ctx.points.slices(metric, "" if metric == "requests" else ctx.move.subject):
            if slice_.startswith("model_version="):
                out.add(slice_.split("=", 1)[1])
    return out


def _segment(ctx: Context, found: Sequence[Hypothesis]) -> str | None:
    """Where the move concentrates besides the version: the moved slice, or the best significant slice."""
    move = ctx.move
    if move.slice and not move.slice.startswith("model_version="):
        return move.slice
    for h in sorted(found, key=lambda h: -h.score):
        if h.kind == "slice" and "segment" in h.entity and h.certainty > 0 and h.score > 0:
            return str(h.entity["segment"])
    return None


def _best(found: Sequence[Hypothesis], kind: str, **entity: str) -> Hypothesis | None:
    return max(
        (h for h in found if h.kind == kind and all(h.entity.get(k) == v for k, v in entity.items())),
        key=lambda h: h.score,
        default=None,
    )


def _best_any(found: Sequence[Hypothesis], **entity: str) -> Hypothesis | None:
    return max(
        (h for h in found if h.kind != "change" and all(h.entity.get(k) == v for k, v in entity.items())),
        key=lambda h: h.score,
        default=None,
    )


def _explains(h: Hypothesis) -> str:
    share = h.evidence.get("explained_share")
    if isinstance(share, float):
        return f"explains {100 * share:.0f}% of the move (score {h.score:.2f})"
    return f"score {h.score:.2f}"


def _named_in(target: str, names: Sequence[str]) -> str | None:
    """The longest of ``names`` that is a word sequence of ``target`` (``ranking-service`` → ``ranking``)."""
    words = "-" + "-".join(w for w in re.split(r"[^a-z0-9]+", target.lower()) if w) + "-"
    hits = [
        n for n in names if "-" + "-".join(w for w in re.split(r"[^a-z0-9]+", n.lower()) if w) + "-" in words
    ]
    return max(hits, key=len) if hits else None


def _lead(ts: datetime, start: datetime) -> str:
    delta = start - ts
    if delta < timedelta(0):
        return f"{-delta / timedelta(hours=1):.1f} h into the move"
    return f"{delta / timedelta(hours=1):.1f} h before the move"


def _hours(ts: datetime, move: Move) -> float:
    return round((move.current.start - ts) / timedelta(hours=1), 2)
