"""Late labels for the metrics family: which outcomes count, and how complete a window's are.

An outcome is attributed to its request when its ``ts`` lies in
``[request.ts - 10 min, request.ts + label_window_hours]`` (outcomes stamped a little
before their request are accepted as clock skew between services).

Label completeness is the expected share of a window's labels already visible: the mean
over the window's requests of ``F(outcome_clock - request.ts)``, where ``F`` is the
empirical CDF of label delays (``outcome.ts - request.ts`` of attributed ``click``,
``play`` and ``complete`` outcomes, negative delays counted as 0) measured on the
requests of the day that ended one label window before the outcome clock, whose labels
are complete. ``F`` is counted in fixed delay bins and interpolated linearly between
their edges; each request's ``F`` is taken at the middle of the quarter-bin its age falls
in. A window that ended a whole label window before the outcome clock is complete (1.0)
by definition. While no
request is a label window old yet, ``F`` is measured on the newest day of requests as it
is, which overstates completeness until the lake has matured.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from recops.monitors.context import MonitorContext
from recops.monitors.families.metrics_cube import TS, steps

SKEW_SECONDS = 600
LABEL_EVENTS = ("click", "play", "complete")
# Delay bin edges in seconds (those below the label window are used, then the window itself).
BASE_EDGES = (0, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1_200, 1_800, 3_600, 7_200, 14_400, 21_600, 43_200)
SAMPLE = timedelta(days=1)
SUB_BINS = 4


def label_window_seconds(ctx: MonitorContext) -> int:
    return round(ctx.config.monitors.label_window_hours * 3600)


def outcome_range_filter(ctx: MonitorContext, outcomes: ir.Table) -> ir.Table:
    """Outcomes that may belong to a request of the planned windows (by outcome time)."""
    label = timedelta(seconds=label_window_seconds(ctx))
    skew = timedelta(seconds=SKEW_SECONDS)
    ts = outcomes.ts
    condition = None
    for start, end in ctx.plan.ranges():
        part = (ts >= ibis.literal(start - skew, type=TS)) & (ts <= ibis.literal(end + label, type=TS))
        condition = part if condition is None else condition | part
    assert condition is not None
    return outcomes.filter(condition)


def attribution_bounds(request_ts: ir.TimestampValue, label: int) -> dict[str, ir.Value]:
    """Columns ``_lo`` and ``_hi`` to add to requests; an outcome counts when lo <= ts <= hi."""
    return {
        "_lo": request_ts - ibis.interval(seconds=SKEW_SECONDS),
        "_hi": request_ts + ibis.interval(seconds=label),
    }


def edges(label: int) -> list[int]:
    return sorted({e for e in BASE_EDGES if e < label} | {label // 4, label // 2, 3 * label // 4, label})


@dataclass(frozen=True)
class DelayCdf:
    """``F`` at bin edges (seconds); ``F(edges[-1]) == 1``."""

    edges: tuple[int, ...]
    shares: tuple[float, ...]

    def at(self, age: float) -> float:
        """``F(age)``: linear between edges, 0 before 0, 1 from the label window on."""
        if age < 0:
            return 0.0
        if age >= self.edges[-1]:
            return 1.0
        if age <= self.edges[0]:
            return self.shares[0]
        for i in range(1, len(self.edges)):
            lo, hi = self.edges[i - 1], self.edges[i]
            if age < hi:
                f0, f1 = self.shares[i - 1], self.shares[i]
                return f0 + (f1 - f0) * (age - lo) / (hi - lo)
        return 1.0

    def grid(self) -> list[float]:
        """Ages splitting every delay bin into :data:`SUB_BINS` equal parts, 0 to the window."""
        points = {0.0}
        for lo, hi in itertools.pairwise(self.edges):
            points |= {lo + (hi - lo) * k / SUB_BINS for k in range(SUB_BINS + 1)}
        return sorted(points)

    def expr(self, ts: ir.TimestampValue, clock: datetime) -> ir.FloatingValue:
        """Per request, ``F(clock - ts)``, with the age taken at the middle of its sub-bin.

        Compiled to comparisons of ``ts`` with literal times (no epoch arithmetic, which
        DuckDB pays dearly for on ``TIMESTAMPTZ``).
        """
        ages = self.grid()
        spans = [
            (clock - timedelta(seconds=old), clock - timedelta(seconds=young), self.at((young + old) / 2))
            for young, old in itertools.pairwise(ages)
        ]
        spans.reverse()
        value: ir.FloatingValue = ibis.cases(
            (ts <= ibis.literal(clock - timedelta(seconds=ages[-1]), type=TS), ibis.literal(1.0)),
            (ts > ibis.literal(clock, type=TS), ibis.literal(0.0)),
            (ts == ibis.literal(clock, type=TS), ibis.literal(self.at(0.0))),
            else_=steps(ts, spans, "float64"),
        )
        return value


def delay_cdf(ctx: MonitorContext, outcome_clock: datetime) -> DelayCdf:
    """``F`` measured on the requests of the day ending a label window before the clock."""
    label = label_window_seconds(ctx)
    bins = edges(label)
    matured_end = outcome_clock - timedelta(seconds=label)
    counts = _delay_counts(ctx, matured_end - SAMPLE, matured_end, bins, label)
    if not sum(counts):
        counts = _delay_counts(ctx, matured_end - SAMPLE, outcome_clock, bins, label)
    total = sum(counts)
    if not total:
        # No label delays seen at all: count every label as visible at once.
        return DelayCdf(tuple(bins), tuple(1.0 for _ in bins))
    shares, running = [], 0
    for c in counts:
        running += c
        shares.append(running / total)
    shares[-1] = 1.0
    return DelayCdf(tuple(bins), tuple(shares))


def _delay_counts(
    ctx: MonitorContext, start: datetime, end: datetime, bins: list[int], label: int
) -> list[int]:
    requests = ctx.table("requests")
    outcomes = ctx.table("outcomes")
    reqs = requests.filter(
        (requests.ts >= ibis.literal(start, type=TS)) & (requests.ts < ibis.literal(end, type=TS))
    )
    reqs = reqs.select("request_id", rts=reqs.ts, **attribution_bounds(reqs.ts, label))
    lo = ibis.literal(start - timedelta(seconds=SKEW_SECONDS), type=TS)
    hi = ibis.literal(end + timedelta(seconds=label), type=TS)
    outs = outcomes.filter(
        (outcomes.ts >= lo) & (outcomes.ts <= hi) & outcomes.event.isin(list(LABEL_EVENTS))
    )
    joined = outs.select("request_id", ots=outs.ts).join(reqs, "request_id")
    joined = joined.filter((joined.ots >= joined._lo) & (joined.ots <= joined._hi))

    def node(i: int, j: int) -> ir.IntegerValue:
        # Bin k holds delays in (edge[k-1], edge[k]]; a balanced tree of comparisons.
        if i == j:
            return ibis.literal(i, type="int64")
        mid = (i + j) // 2
        at_most = joined.ots <= joined.rts + ibis.interval(seconds=bins[mid])
        result: ir.IntegerValue = ibis.cases((at_most, node(i, mid)), else_=node(mid + 1, j))
        return result

    binned = joined.select(b=node(0, len(bins) - 1))
    table = ctx.engine.execute(binned.group_by("b").aggregate(n=binned.count()))
    counts = [0] * len(bins)
    for b, n in zip(table["b"].to_pylist(), table["n"].to_pylist(), strict=True):
        counts[int(b)] += int(n)
    return counts
