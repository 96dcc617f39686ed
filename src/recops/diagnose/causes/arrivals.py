"""Upstream data: partitions that landed late or not at all, and schema changes.

Both read the ``arrivals`` records of the lake to name the partitions, since the stored
series only count them.

* **Late or missing partitions** (kind ``arrival``). Certainty: the share of the current
  period's late and missing partitions not expected from the baseline's rate,
  ``1 - expected / observed`` (a late partition is a broken promise; a source that is late
  every day is chronic, not news), or the significance of the rise of its worst delay
  times how far it went towards the source's tolerance. Link: 1 for the source's own
  arrival metrics, 0 for another source's, otherwise the association of its delay with
  the move (hours), or small priors where lineage is unknown.
* **Schema changes** (kind ``schema_change``): a partition whose column → type map differs
  from the previous partition's, in the period by its own window (as the ``schema_changes``
  series counts it, so an alert on that series finds it before it has landed) or by when
  it landed; certain (it is a fact), timed by when it landed. Link:
  1 for the source's own arrival metrics; for a feature's move (drift, null rate), 0.8 when
  a changed column shares a word with the feature's name, else 0.5 (lineage from columns to
  features is not recorded); for a business metric, the best link of a drifted feature
  it may have caused.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from recops.diagnose.causes.base import Context, Hypothesis, make
from recops.diagnose.causes.evidence import alignment, clamp, significance
from recops.registry.lineage import partition_interval

LATE = "late_partitions"
MISSING = "missing_partitions"
DELAY = "arrival_delay_minutes"
SCHEMA = "schema_changes"
READS = (LATE, MISSING, DELAY, SCHEMA, "arrival_rows")
#: Link of upstream data to a move whose lineage to it is not recorded (features, freshness).
UNKNOWN_LINEAGE = 0.25
LINEAGE_BY_NAME = 0.8
LINEAGE_UNKNOWN_FEATURE = 0.5
_TOLERANCE_FLOOR = timedelta(minutes=30)


@dataclass(frozen=True)
class _Landing:
    partition: str
    start: datetime
    end: datetime
    first_landed: datetime
    rows: int
    schema: dict[str, str] | None


def late_arrivals(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per source with late or missing partitions in the current period."""
    move = ctx.move
    sources = sorted(set(ctx.points.subjects(LATE)) | set(ctx.points.subjects(MISSING)))
    out = []
    for source in sources:
        late = ctx.shift_of(LATE, source)
        missing = ctx.shift_of(MISSING, source)
        delay = ctx.shift_of(DELAY, source)
        observed = (late.current if late else 0.0) + (missing.current if missing else 0.0)
        expected = (late.baseline if late else 0.0) + (missing.baseline if missing else 0.0)
        certainty = max(0.0, 1.0 - expected / observed) if observed > 0 else 0.0
        if certainty <= 0 and (delay is None or delay.change <= 0):
            continue
        landings, clock = _landings(ctx, source)
        period = _period_hours(source, landings, ctx)
        tolerance = _tolerance(ctx, source, landings)
        if delay is not None and delay.change > 0:
            # A longer delay matters as far as it goes towards the source's tolerance.
            gap = tolerance / timedelta(minutes=1) - delay.baseline
            reach = clamp(delay.change / gap) if gap > 0 else 1.0
            certainty = max(certainty, significance(delay.p, len(sources), ctx.alpha) * reach)
        if certainty <= 0:
            continue
        late_parts, missing_parts, began = _judge(landings, period, tolerance, clock, ctx)
        link, how = _arrival_link(ctx, source, delay is not None)
        parts = [p for p, _ in late_parts]
        sentence = f"source {source}: " + ", ".join(
            x
            for x in (
                f"{len(parts)} partition(s) late ({_list(parts)}; worst {_worst(late_parts):.1f} h late)"
                if late_parts
                else "",
                f"{len(missing_parts)} missing ({_list(missing_parts)})" if missing_parts else "",
                f"worst delay {delay.baseline:.0f} → {delay.current:.0f} min "
                f"(tolerance {tolerance / timedelta(minutes=1):.0f} min)"
                if delay is not None and not (parts or missing_parts)
                else "",
            )
            if x
        )
        out.append(
            make(
                "arrival",
                {"source": source, "partitions": parts + missing_parts, "missing_partitions": missing_parts},
                certainty=certainty,
                link=link,
                alignment=alignment(began, move.current),
                onset=began,
                sentence=f"{sentence}; {how}",
                evidence={
                    "late_partitions": late.to_json() if late else None,
                    "missing_partitions": missing.to_json() if missing else None,
                    "arrival_delay_minutes": delay.to_json() if delay else None,
                    "late": [{"partition": p, "hours_late": round(h, 2)} for p, h in late_parts],
                    "missing": missing_parts,
                    "tolerance_minutes": tolerance / timedelta(minutes=1),
                    "link": how,
                },
            )
        )
    return out


def schema_changes(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per source whose schema changed in the current period or the context before it."""
    move = ctx.move
    out = []
    for source in _sources_with_schema(ctx):
        landings, _ = _landings(ctx, source)
        changes = _schema_changes(landings, ctx.span.start, move.current.end)
        if not changes:
            continue
        first = changes[0]
        columns = sorted({c for change in changes for c in change["columns"]})
        link, how = _schema_link(ctx, source, columns, found)
        landed = first["landed_at"]
        began = min(landed, first["partition_start"])  # its data belong to the partition's window
        detail = "; ".join(f"{c['column']} {c['from']} → {c['to']}" for c in first["diff"])
        out.append(
            make(
                "schema_change",
                {
                    "source": source,
                    "partition": first["partition"],
                    "partitions": [c["partition"] for c in changes],
                    "columns": columns,
                },
                certainty=1.0,
                link=link,
                alignment=alignment(began, move.current),
                onset=began,
                sentence=(
                    f"source {source} changed its schema at partition {first['partition']} (landed "
                    f"{landed:%Y-%m-%d %H:%M} UTC): {detail}; {len(changes)} partition(s) changed; {how}"
                ),
                evidence={
                    "changes": [
                        {
                            **c,
                            "landed_at": c["landed_at"].isoformat(),
                            "partition_start": c["partition_start"].isoformat(),
                        }
                        for c in changes
                    ],
                    "link": how,
                },
            )
        )
    return out


# -- links ---------------------------------------------------------------------------------------


def _arrival_link(ctx: Context, source: str, has_delay: bool) -> tuple[float, str]:
    move = ctx.move
    if move.family == "arrival":
        return (1.0, "the source's own arrivals") if move.subject == source else (0.0, "another source")
    if move.family in ("freshness", "drift"):
        return UNKNOWN_LINEAGE, "upstream of features; lineage not recorded"
    if move.family == "latency" or not has_delay:
        return 0.0, "no path to this metric"
    found = ctx.association_with(DELAY, source, 1.0)
    if found is None:
        return 0.0, "no association measurable"
    return found.link, f"delay associated with the move (ρ = {found.rho:.2f})"


def _schema_link(
    ctx: Context, source: str, columns: list[str], found: Sequence[Hypothesis]
) -> tuple[float, str]:
    move = ctx.move
    if move.family == "arrival":
        return (1.0, "the source's own arrivals") if move.subject == source else (0.0, "another source")
    if move.subject_kind == "feature":
        shared = [c for c in columns if _shares_word(c, move.subject)]
        if shared:
            return LINEAGE_BY_NAME, f"column {shared[0]} and feature {move.subject} share a name"
        return LINEAGE_UNKNOWN_FEATURE, f"lineage from {source} to {move.subject} not recorded"
    if move.family == "freshness":
        return UNKNOWN_LINEAGE, "upstream of feature groups; lineage not recorded"
    if move.family == "latency":
        return 0.0, "no path to latency"
    best, via = 0.0, ""
    for h in found:
        feature = h.entity.get("feature")
        if h.kind != "feature_drift" or not isinstance(feature, str):
            continue
        lineage = (
            LINEAGE_BY_NAME if any(_shares_word(c, feature) for c in columns) else LINEAGE_UNKNOWN_FEATURE
        )
        if h.score * lineage > best:
            best, via = h.score * lineage, feature
    if best > 0:
        return best, f"through drifted feature {via}"
    return 0.0, "no drifted feature goes with the move"


def _shares_word(column: str, feature: str) -> bool:
    words = {w for w in re.split(r"[^a-z0-9]+|_", column.lower()) if len(w) >= 4}
    return bool(words & {w for w in re.split(r"[^a-z0-9]+|_", feature.lower()) if len(w) >= 4})


# -- the arrivals records ------------------------------------------------------------------------


def _sources_with_schema(ctx: Context) -> list[str]:
    known = set(ctx.points.subjects(SCHEMA))
    cached: list[str] | None = ctx.cache.get("schema_sources")
    if cached is None:
        rows = ctx.query(
            "SELECT DISTINCT source FROM arrivals "
            "WHERE schema IS NOT NULL AND landed_at >= $a AND landed_at < $b",
            {"a": ctx.span.start - timedelta(days=2), "b": ctx.move.current.end + timedelta(days=1)},
        )
        cached = sorted({str(r["source"]) for r in rows} | known)
        ctx.cache["schema_sources"] = cached
    return list(cached)


def _landings(ctx: Context, source: str) -> tuple[list[_Landing], datetime | None]:
    """Each partition of ``source`` landed from 9 days before the span (for tolerances and the
    previous schema) to a day after the move: first landing, rows, first schema; and the
    data clock (the newest landing of any source)."""
    cache: dict[str, tuple[list[_Landing], datetime | None]] = ctx.cache.setdefault("landings", {})
    if source in cache:
        return cache[source]
    rows = ctx.query(
        """
        SELECT partition, min(landed_at) AS first_landed, arg_max(row_count, landed_at) AS row_count,
               arg_min(schema, landed_at) FILTER (WHERE schema IS NOT NULL) AS schema
        FROM arrivals
        WHERE source = $s AND landed_at >= $a AND landed_at < $b
        GROUP BY partition
        """,
        {"s": source, "a": ctx.span.start - timedelta(days=9), "b": ctx.move.current.end + timedelta(days=1)},
    )
    clock = ctx.query("SELECT max(landed_at) AS clock FROM arrivals")[0]["clock"]
    out = []
    for row in rows:
        partition, first, count, schema = (
            row["partition"],
            row["first_landed"],
            row["row_count"],
            row["schema"],
        )
        interval = partition_interval(str(partition))
        if interval is None:
            continue
        out.append(
            _Landing(
                partition=str(partition),
                start=interval[0],
                end=interval[1],
                first_landed=first,
                rows=int(count or 0),
                schema=dict(schema) if schema else None,
            )
        )
    out.sort(key=lambda x: x.start)
    cache[source] = (out, clock)
    return cache[source]


def _period_hours(source: str, landings: list[_Landing], ctx: Context) -> timedelta:
    configured = ctx.config.sources.get(source)
    if configured is not None:
        return timedelta(hours=1) if configured.schedule == "hourly" else timedelta(days=1)
    if landings:
        return landings[-1].end - landings[-1].start
    return timedelta(days=1)


def _tolerance(ctx: Context, source: str, landings: list[_Landing]) -> timedelta:
    """The configured ``max_delay_minutes``, else three times the median delay of the partitions
    before the span (at least 30 minutes)."""
    configured = ctx.config.sources.get(source)
    if configured is not None:
        return timedelta(minutes=configured.max_delay_minutes)
    delays = [(x.first_landed - x.end) / timedelta(minutes=1) for x in landings if x.start < ctx.span.start]
    if not delays:
        return _TOLERANCE_FLOOR
    return max(timedelta(minutes=3 * statistics.median(delays)), _TOLERANCE_FLOOR)


def _judge(
    landings: list[_Landing], period: timedelta, tolerance: timedelta, clock: datetime | None, ctx: Context
) -> tuple[list[tuple[str, float]], list[str], datetime | None]:
    """Late partitions (with hours late) and missing ones whose start lies in the current period
    or the 24 hours before it, and the first one's start (the window the arrival series
    count it in, so it aligns with them)."""
    window_start = ctx.move.current.start - timedelta(hours=24)
    window_end = ctx.move.current.end
    late: list[tuple[str, float]] = []
    starts: list[datetime] = []
    by_start = {x.start: x for x in landings}
    for x in landings:
        if window_start <= x.start < window_end and x.first_landed - x.end > tolerance:
            late.append((x.partition, (x.first_landed - x.end) / timedelta(hours=1)))
            starts.append(x.start)
    missing: list[str] = []
    if landings and clock is not None:
        t = landings[0].start
        while t < window_end:
            if t >= window_start and t not in by_start and t + period + tolerance < clock:
                missing.append(_label(t, period))
                starts.append(t)
            t += period
    return late, missing, (min(starts) if starts else None)


def _label(start: datetime, period: timedelta) -> str:
    return start.strftime("%Y-%m-%dT%H") if period < timedelta(days=1) else start.strftime("%Y-%m-%d")


def _schema_changes(landings: list[_Landing], start: datetime, end: datetime) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    previous: dict[str, str] | None = None
    for x in landings:
        if x.schema is None:
            continue
        # a partition of the period by its own window (as the series count it) or by landing
        inside = start <= x.first_landed < end or start <= x.start < end
        if previous is not None and x.schema != previous and inside:
            diff = [
                {"column": c, "from": previous.get(c), "to": x.schema.get(c)}
                for c in sorted(set(previous) | set(x.schema))
                if previous.get(c) != x.schema.get(c)
            ]
            out.append(
                {
                    "partition": x.partition,
                    "partition_start": x.start,
                    "landed_at": x.first_landed,
                    "columns": [d["column"] for d in diff],
                    "diff": diff,
                }
            )
        previous = x.schema
    return out


def _worst(late: Sequence[tuple[str, float]]) -> float:
    return max(h for _, h in late)


def _list(items: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
