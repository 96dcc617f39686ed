"""`monitor run`: compute every family for every complete window that needs it.

Incremental and idempotent. A window needs computing when a batch committed since the
last run holds rows in it (for outcomes: in it or in their request's window), when it
became complete since the last run (its end passed the data clock), or, for outcome
metrics, while its labels may still grow (the newest outcome is less than the label
window past its end) and new outcomes arrived. With nothing new in the lake a run does
nothing. ``--from/--to`` recomputes a range regardless.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from recops.config import Config
from recops.contract import KINDS
from recops.errors import InvalidInput
from recops.lake import Lake
from recops.monitors.context import MonitorContext, SliceKey, WindowPlan, default_slices
from recops.monitors.engine import MonitorEngine, open_engine
from recops.monitors.families import Family, families
from recops.monitors.series import replace_points
from recops.monitors.windowing import Granularity, parse_granularities
from recops.store import Store
from recops.store.tables import LakeBatchRow, MonitorBatchRow, MonitorStateRow

Progress = Callable[[str, int, int], None]


@dataclass
class RunReport:
    """What a run did."""

    engine: str
    clock: datetime | None = None
    windows: dict[str, int] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    reason: str = ""
    #: Seconds per family (computing and storing its points, over every window size).
    family_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return not any(self.windows.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "clock": self.clock.isoformat() if self.clock else None,
            "windows": self.windows,
            "points": self.points,
            "seconds": round(self.seconds, 3),
            "family_seconds": {name: round(t, 3) for name, t in self.family_seconds.items()},
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Clocks:
    """The newest (and oldest) time seen in the lake, overall and for outcomes."""

    first: datetime | None
    data: datetime | None
    outcomes: datetime | None


def run_monitors(
    config: Config,
    lake: Lake,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    engine: MonitorEngine | None = None,
    only: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Compute the monitors that need computing and store their series.

    Args:
        config: the workspace configuration (windows, slices, SLOs, groups, sources).
        lake: the lake (and through it the store).
        start, end: recompute every complete window overlapping ``[start, end)``;
            without them the run is incremental.
        engine: an open engine to use (else the configured one is opened and closed).
        only: family names to run (default all).
        progress: called with (step, done, total) as families finish.
    """
    t0 = time.perf_counter()
    own = engine is None
    engine = engine or open_engine(config.monitors.engine, lake, memory_limit=config.monitors.memory_limit)
    report = RunReport(engine.name)
    try:
        chosen = _choose(only)
        store = lake.store
        clocks = _clocks(engine)
        report.clock = clocks.data
        if clocks.data is None or clocks.first is None:
            report.reason = "the lake holds no data yet"
            return report
        new_batches = _new_batches(store)
        state = _State.load(store)
        explicit = start is not None or end is not None
        if not explicit and not new_batches and state.clock == clocks.data:
            report.reason = "nothing new since the last run"
            beat(store)
            return report
        granularities = parse_granularities(config.serving_window_minutes, config.windows, config.zone)
        plans: list[tuple[Granularity, WindowPlan]] = []
        for g in granularities:
            buckets: Iterable[int]
            if explicit:
                buckets = g.buckets_between(start or clocks.first, end or clocks.data)
            elif state.clock is None:
                buckets = g.buckets_between(clocks.first, clocks.data)
            else:
                buckets = _dirty_buckets(engine, g, new_batches, state, clocks, config)
            complete = sorted(b for b in set(buckets) if g.window(b).end <= clocks.data)
            report.windows[g.name] = len(complete)
            if complete:
                plans.append((g, WindowPlan(g, tuple(complete))))
        steps = [(g, plan, fam) for g, plan in plans for fam in chosen if _runs_on(fam, g, config)]
        extras = {"store": store, "outcome_clock": clocks.outcomes, "lake": lake}
        for i, (g, plan, fam) in enumerate(steps):
            started = time.perf_counter()
            ctx = MonitorContext(
                engine=engine,
                config=config,
                plan=plan,
                slices=_slices_for(g, config),
                clock=clocks.data,
                extras=extras,
            )
            points = fam.compute(ctx)
            written = replace_points(store, fam.name, {g.name: plan.starts}, points, engine=engine.name)
            report.points[fam.name] = report.points.get(fam.name, 0) + written
            took = time.perf_counter() - started
            report.family_seconds[fam.name] = report.family_seconds.get(fam.name, 0.0) + took
            if progress:
                progress(f"{fam.name} · {g.name}", i + 1, len(steps))
        if only is None:
            state.clock = clocks.data
            state.outcome_clock = clocks.outcomes
            state.save(store, new_batches)
        if report.nothing_to_do and not report.reason:
            report.reason = "no complete window needs computing"
        beat(store)
        return report
    finally:
        report.seconds = time.perf_counter() - t0
        if own:
            engine.close()


def _choose(only: Iterable[str] | None) -> list[Family]:
    known = families()
    if only is None:
        return list(known.values())
    chosen = []
    for name in only:
        if name not in known:
            raise InvalidInput(f"unknown monitor family {name!r}; expected one of {', '.join(known)}")
        chosen.append(known[name])
    return chosen


def _runs_on(family: Family, g: Granularity, config: Config) -> bool:
    serving = g.name == f"{config.serving_window_minutes}min"
    return ("serving" if serving else "others") in family.granularities or (
        not serving and g.name in family.granularities
    )


def _slices_for(g: Granularity, config: Config) -> tuple[SliceKey, ...]:
    keys = default_slices(config.monitors.context_keys)
    # Short serving windows are sliced by surface and model version only: enough to page
    # on, and it keeps 288 windows a day from multiplying by every context value.
    return keys[:2] if g.name == f"{config.serving_window_minutes}min" else keys


def _clocks(engine: MonitorEngine) -> Clocks:
    firsts: list[datetime] = []
    lasts: list[datetime] = []
    outcome_clock = None
    for name in ("requests", "outcomes", "feature_rows", "arrivals"):
        table = engine.table(name)
        column = table[KINDS[name].time_column]
        row = engine.execute(table.aggregate(lo=column.min(), hi=column.max())).to_pylist()[0]
        if row["lo"] is not None:
            firsts.append(row["lo"])
            lasts.append(row["hi"])
        if name == "outcomes":
            outcome_clock = row["hi"]
    return Clocks(min(firsts) if firsts else None, max(lasts) if lasts else None, outcome_clock)


def _new_batches(store: Store) -> list[str]:
    with store.session() as session:
        committed = session.scalars(
            select(LakeBatchRow.batch_id).where(
                LakeBatchRow.state == "committed", LakeBatchRow.origin != "compaction"
            )
        ).all()
        seen = set(session.scalars(select(MonitorBatchRow.batch_id)).all())
    return sorted(set(committed) - seen)


def _dirty_buckets(
    engine: MonitorEngine,
    g: Granularity,
    new_batches: list[str],
    state: _State,
    clocks: Clocks,
    config: Config,
) -> set[int]:
    assert clocks.data is not None and clocks.first is not None
    lo, hi = clocks.first, clocks.data + timedelta(seconds=1)
    dirty: set[int] = set()
    if new_batches:
        for name in ("requests", "outcomes", "feature_rows", "arrivals"):
            table = engine.table(name)
            fresh = table.filter(table._batch.isin(new_batches))
            column = KINDS[name].time_column
            dirty |= _distinct(engine, fresh.select(b=g.bucket(fresh[column], lo, hi)))
            if name == "outcomes":
                requests = engine.table("requests")
                joined = fresh.select("request_id").distinct().join(requests, "request_id")
                dirty |= _distinct(engine, joined.select(b=g.bucket(joined.ts, lo, hi)))
            if name == "feature_rows":
                dirty |= _distinct(engine, fresh.select(b=g.bucket(fresh.event_ts, lo, hi)))
            if name == "arrivals":
                for partition in _distinct_values(engine, fresh.select(p=fresh.partition)):
                    at = partition_time(str(partition))
                    if at is not None and clocks.first <= at <= clocks.data:
                        dirty.add(g.bucket_of(at))
    if state.clock is not None and clocks.data > state.clock:
        # Windows that were still open at the last run and are complete now.
        dirty |= set(g.buckets_between(state.clock - timedelta(days=2), clocks.data))
    if clocks.outcomes is not None and state.outcome_clock != clocks.outcomes:
        label_window = timedelta(hours=config.monitors.label_window_hours)
        since = (state.outcome_clock or clocks.first) - label_window - timedelta(days=1)
        dirty |= set(g.buckets_between(max(since, clocks.first), clocks.data))
    return dirty


def partition_time(partition: str) -> datetime | None:
    """The start of an arrival partition named ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` (UTC)."""
    for fmt in ("%Y-%m-%dT%H", "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y%m%d"):
        try:
            return datetime.strptime(partition, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _distinct(engine: MonitorEngine, expr: Any) -> set[int]:
    return {int(v) for v in _distinct_values(engine, expr) if v is not None}


def _distinct_values(engine: MonitorEngine, expr: Any) -> list[Any]:
    table: pa.Table = engine.execute(expr.distinct())
    values: list[Any] = table.column(0).to_pylist()
    return values


@dataclass
class _State:
    clock: datetime | None = None
    outcome_clock: datetime | None = None

    @classmethod
    def load(cls, store: Store) -> _State:
        with store.session() as session:
            row = session.get(MonitorStateRow, "clocks")
        if row is None:
            return cls()
        data = json.loads(row.value)
        return cls(_parse(data.get("clock")), _parse(data.get("outcome_clock")))

    def save(self, store: Store, batches: list[str]) -> None:
        now = datetime.now(UTC)
        value = json.dumps(
            {
                "clock": self.clock.isoformat() if self.clock else None,
                "outcome_clock": self.outcome_clock.isoformat() if self.outcome_clock else None,
            }
        )
        with store.session() as session:
            session.merge(MonitorStateRow(key="clocks", value=value))
            session.add_all([MonitorBatchRow(batch_id=b, processed_at=now) for b in batches])


HEARTBEAT_KEY = "heartbeat"


def beat(store: Store, at: datetime | None = None) -> None:
    """Record that a monitor run completed (read by the dead man's switch)."""
    value = (at or datetime.now(UTC)).isoformat()
    with store.session() as session:
        session.merge(MonitorStateRow(key=HEARTBEAT_KEY, value=value))


def last_beat(store: Store) -> datetime | None:
    """When a monitor run last completed, or None if none ever did."""
    with store.session() as session:
        row = session.get(MonitorStateRow, HEARTBEAT_KEY)
        return _parse(row.value) if row is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
