"""Data arrival: upstream partitions landing on schedule, complete and with a stable schema.

Every metric has subject = the source and slice ``""`` (arrivals carry no request
slices); windows are hour and day. A partition belongs to the window holding its
*partition start*, the instant its name denotes, read as UTC (``2026-11-24T13`` →
13:00 UTC, ``2026-11-24`` → 00:00 UTC; the contract's examples and the simulator use UTC
partitions, and :func:`recops.monitors.runner.partition_time` reads them so). Its
*period* is one hour or one day (the schedule); it *closes* at start + period. A
partition that lands more than once (a re-delivery) counts once: its first landing
decides its delay, its latest landing its row count, and its first landing that carries a
schema its schema. Names that do not parse as a date or an hour are ignored.

Metrics, per source and window:

* ``arrival_rows``: the sum of ``row_count`` over the window's landed partitions
  (``n`` = partitions). Stored only once every partition the schedule expects in the
  window has landed or been judged missing (0 rows then), so a window never shows a
  partial sum that would look like a drop; left to the seasonal detector.
* ``arrival_delay_minutes``: the largest delay among the window's landed partitions,
  delay = first landing − close, in minutes (``n`` = partitions).
* ``late_partitions``: landed partitions whose delay exceeds the source's tolerance
  (numerator = late, denominator = landed partitions with a known tolerance).
* ``missing_partitions``: partitions the schedule expects in the window that have not
  landed although their deadline (close + tolerance) is before the data clock
  (numerator = missing, denominator = expected partitions past their deadline; no point
  while none is). A window is recomputed when a partition of it lands, which turns a
  missing partition into a late one.
* ``schema_changes``: landed partitions whose schema map (column → type) differs from
  the one of the source's previous landed partition with a schema, by partition start
  (numerator = changed, denominator = partitions compared). A change and the change back
  count one each.

The schedule of a source is its ``[sources.NAME]`` entry: ``schedule`` (``hourly`` or
``daily``) and ``max_delay_minutes`` (the tolerance: a partition is late once it lands
more than that after it closes). A source seen in the lake but not configured has its
schedule *learned*: the period from the partition names (an hour in the name → hourly,
else daily), and the tolerance of each partition from the delays of the source's
partitions that first landed in the 28 days before it closed (at least 5 of them, else
the partition's lateness is not judged): with m the median delay and s = 1.4826 · MAD of
the log delays (a robust standard deviation of the multiplicative jitter; delays under a
minute count as one minute), tolerance = max(m · exp(4 s), m + 30 minutes). Expected
partitions run from the source's first partition in the lake on; a configured source
with no arrival at all is not judged.

The engine reads the arrivals (one grouped query for each source's first partition, one
filtered pull of the planned range and its 30-day history); arrivals are a few rows per
source and hour, so the schedule logic then runs in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import ibis
import numpy as np
import pyarrow as pa

from recops.config import SourceConfig
from recops.monitors.context import MonitorContext
from recops.monitors.runner import partition_time
from recops.monitors.series import POINT_SCHEMA, conform, empty_points

NAME = "arrival"
HISTORY = timedelta(days=28)
MIN_HISTORY = 5
MAD_SCALE = 1.4826
SPREAD = 4.0
TOLERANCE_FLOOR = timedelta(minutes=30)
_US = 1_000_000
_MINUTE = 60 * _US
PERIODS = {"hourly": 3600 * _US, "daily": 86_400 * _US}


_Schema = tuple[tuple[str, str], ...]
_Landing = tuple[int, int, _Schema | None]  # landed_at (µs), row_count, schema


@dataclass
class _Partition:
    start: int  # µs since the epoch, UTC
    end: int
    first_landed: int
    rows: int  # of the latest landing
    schema: _Schema | None  # of the first landing that carries one
    tolerance: int | None = None  # µs after close
    changed: bool | None = None  # schema differs from the previous partition's

    @property
    def delay(self) -> int:
        return self.first_landed - self.end


@dataclass
class _Source:
    name: str
    configured: SourceConfig | None
    first_start: int | None = None
    cadence: str = "daily"
    partitions: dict[int, _Partition] = field(default_factory=dict)
    # First landing times (sorted) and the delays of those partitions: the learning history.
    landed: np.ndarray[Any, np.dtype[np.int64]] = field(default_factory=lambda: np.zeros(0, np.int64))
    delays: np.ndarray[Any, np.dtype[np.int64]] = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def period(self) -> int:
        return PERIODS[self.configured.schedule if self.configured else self.cadence]


class ArrivalFamily:
    name = NAME
    granularities = frozenset({"others"})

    def compute(self, ctx: MonitorContext) -> pa.Table:
        sources = _load(ctx)
        rows: list[dict[str, Any]] = []
        for source in sources.values():
            if source.first_start is None:
                continue
            _judge(source)
            rows.extend(_points(ctx, source))
        if not rows:
            return empty_points()
        return conform(pa.Table.from_pylist(rows, schema=POINT_SCHEMA))


def _load(ctx: MonitorContext) -> dict[str, _Source]:
    """Each source with its partitions from the history before the plan to now."""
    arrivals = ctx.table("arrivals")
    sources = {name: _Source(name, cfg) for name, cfg in ctx.config.sources.items()}
    firsts = ctx.engine.execute(arrivals.group_by("source").aggregate(first=arrivals.partition.min()))
    for name, first in zip(firsts["source"].to_pylist(), firsts["first"].to_pylist(), strict=True):
        source = sources.setdefault(name, _Source(name, None))
        at = partition_time(first) if first is not None else None
        source.first_start = _us(at) if at is not None else None
    lower = ctx.plan.start - HISTORY - timedelta(days=2)
    pulled = ctx.engine.execute(
        arrivals.filter(arrivals.landed_at >= ibis.literal(lower, type="timestamp('UTC', 6)")).select(
            "source",
            "partition",
            "landed_at",
            "row_count",
            keys=arrivals["schema"].keys(),
            types=arrivals["schema"].values(),
        )
    )
    landings: dict[tuple[str, str], list[_Landing]] = defaultdict(list)
    columns = [pulled[c].to_pylist() for c in ("source", "partition", "row_count", "keys", "types")]
    times = _micros(pulled["landed_at"])
    for (src, name, count, keys, types), landed_us in zip(zip(*columns, strict=True), times, strict=True):
        schema = tuple(sorted(zip(keys, types, strict=True))) if keys is not None else None
        landings[(src, name)].append((landed_us, int(count), schema))
    for (src, name), rows in landings.items():
        start_at = partition_time(name)
        if start_at is None:
            continue
        source = sources.setdefault(src, _Source(src, None))
        if source.configured is None:
            source.cadence = "hourly" if "T" in name else "daily"
        start = _us(start_at)
        if source.first_start is None or start < source.first_start:
            source.first_start = start
        rows.sort(key=lambda r: r[0])
        with_schema = [r for r in rows if r[2] is not None]
        source.partitions[start] = _Partition(
            start=start,
            end=0,
            first_landed=rows[0][0],
            rows=rows[-1][1],
            schema=with_schema[0][2] if with_schema else None,
        )
    for source in sources.values():
        for p in source.partitions.values():
            p.end = p.start + source.period
    return sources


def _judge(source: _Source) -> None:
    """Tolerance of every landed partition and schema change against the previous one."""
    by_landing = sorted(source.partitions.values(), key=lambda p: p.first_landed)
    source.landed = np.array([p.first_landed for p in by_landing], dtype=np.int64)
    source.delays = np.array([p.delay for p in by_landing], dtype=np.int64)
    ordered = sorted(source.partitions.values(), key=lambda p: p.start)
    previous: _Schema | None = None
    for p in ordered:
        p.tolerance = _tolerance(source, p.end)
        if p.schema is not None:
            p.changed = None if previous is None else p.schema != previous
            previous = p.schema


def _tolerance(source: _Source, close: int) -> int | None:
    """Allowed delay after ``close`` (µs): configured, or learned from the 28 days before."""
    if source.configured is not None:
        return int(source.configured.max_delay_minutes * _MINUTE)
    lo = int(np.searchsorted(source.landed, close - HISTORY // timedelta(microseconds=1), side="left"))
    hi = int(np.searchsorted(source.landed, close, side="left"))
    if hi - lo < MIN_HISTORY:
        return None
    window = source.delays[lo:hi]
    median = float(np.median(window))
    logs = np.log(np.maximum(window, _MINUTE).astype(np.float64))
    mad = float(np.median(np.abs(logs - np.median(logs))))
    spread = max(median, _MINUTE) * math.exp(SPREAD * MAD_SCALE * mad)
    return int(max(spread, median + TOLERANCE_FLOOR // timedelta(microseconds=1)))


def _points(ctx: MonitorContext, source: _Source) -> list[dict[str, Any]]:
    g = ctx.granularity
    planned = set(ctx.plan.buckets)
    clock = _us(ctx.clock)
    assert source.first_start is not None
    landed: dict[int, list[_Partition]] = defaultdict(list)
    for p in source.partitions.values():
        b = g.bucket_of(_dt(p.start))
        if b in planned:
            landed[b].append(p)
    missing: dict[int, int] = defaultdict(int)  # expected, past the deadline, not landed
    overdue: dict[int, int] = defaultdict(int)  # landed partitions past their deadline
    pending: set[int] = set()  # windows with an expected partition not landed nor overdue
    period = source.period
    for lo, hi in ctx.plan.ranges():
        start = max(_ceil(_us(lo), period), _ceil(source.first_start, period))
        for s in range(start, _us(hi), period):
            if s in source.partitions:
                continue
            b = g.bucket_of(_dt(s))
            if b not in planned:
                continue
            tolerance = _tolerance(source, s + period)
            if tolerance is not None and s + period + tolerance < clock:
                missing[b] += 1
            else:
                pending.add(b)
    out: list[dict[str, Any]] = []
    for p in source.partitions.values():
        tolerance = p.tolerance
        if tolerance is not None and p.end + tolerance < clock:
            b = g.bucket_of(_dt(p.start))
            if b in planned:
                overdue[b] += 1
    for b in sorted(set(landed) | set(missing)):
        window = g.window(b)
        parts = landed.get(b, [])
        base = {
            "subject": source.name,
            "slice": "",
            "granularity": g.name,
            "window_start": window.start,
            "window_end": window.end,
            "family": NAME,
        }
        point = partial(_point, out, base)
        if b not in pending:
            point("arrival_rows", float(sum(p.rows for p in parts)), len(parts))
        if parts:
            point("arrival_delay_minutes", max(p.delay for p in parts) / _MINUTE, len(parts))
        with_tolerance = [p for p in parts if p.tolerance is not None]
        if with_tolerance or missing[b]:
            late = sum(1 for p in with_tolerance if p.delay > (p.tolerance or 0))
            point("late_partitions", float(late), len(with_tolerance), late, len(with_tolerance))
        expected = overdue[b] + missing[b]
        if expected:
            point("missing_partitions", float(missing[b]), expected, missing[b], expected)
        compared = [p for p in parts if p.changed is not None]
        if compared:
            changed = sum(1 for p in compared if p.changed)
            point("schema_changes", float(changed), len(compared), changed, len(compared))
    return out


def _point(
    out: list[dict[str, Any]],
    base: dict[str, Any],
    metric: str,
    value: float,
    n: int,
    numerator: float | None = None,
    denominator: float | None = None,
) -> None:
    out.append(
        {**base, "metric": metric, "value": value, "numerator": numerator, "denominator": denominator, "n": n}
    )


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def _us(at: datetime) -> int:
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _micros(column: pa.ChunkedArray) -> list[int]:
    """Timestamps as integer microseconds since the epoch (UTC), whatever unit the engine gave."""
    typed = column.cast(pa.timestamp("us", tz="UTC"))
    return [int(v) for v in typed.cast(pa.int64()).to_pylist()]


FAMILY = ArrivalFamily()
