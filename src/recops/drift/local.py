"""The local engine: whole columns from a ``Source``, a few at a time, on a thread pool.

Work is cut into column groups sized to a memory budget; each group is read (pyarrow
and DuckDB release the GIL while decoding) and counted (numpy releases it while
sorting), so two cores keep busy and peak memory stays near ``workers × group``.
Reference and current columns are handled in the same unit, so a column's binning is
used as soon as it is known.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pyarrow as pa

from recops.drift import sketches
from recops.drift.counting import (
    Segments,
    count_column,
    count_segments,
    numeric_counts,
    profile_column,
    segment_values,
    sorted_values,
    use_scratch,
    values_binning,
)
from recops.drift.counts import CATEGORICAL, NUMERIC, CategoricalCounts, ColumnCounts
from recops.drift.engine import Engine, Options, Profiles, profile_segments
from recops.drift.profile import Profile
from recops.drift.sources import Source

#: Bytes of column data one unit of work may hold per window (its Arrow columns and numpy
#: copies are a small multiple of this). A million-row numeric column is 8 MB: one column
#: per unit, so the two workers finish within one column of each other.
UNIT_BYTES = 8 * 2**20


@dataclass
class _Window:
    """What one unit found in one window: counts per column and per segment."""

    columns: dict[str, ColumnCounts] = field(default_factory=dict)
    segments: dict[str, dict[str, ColumnCounts]] = field(default_factory=dict)


def workers_default() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def column_groups(names: Sequence[str], rows: int, workers: int) -> list[list[str]]:
    """Split columns into groups that fit the unit budget, with enough groups to balance workers.

    Narrow windows get several columns per group (a read has a fixed cost); a group never
    holds more than a sixteenth of the columns per worker, so the last groups are short.
    """
    if not names:
        return []
    fit = max(1, UNIT_BYTES // max(rows * 8, 1))
    balanced = max(1, math.ceil(len(names) / (16 * workers)))
    size = min(fit, balanced)
    return [list(names[i : i + size]) for i in range(0, len(names), size)]


def reference_segments(source: Source, key: str, limit: int) -> tuple[Segments, dict[str, int], int]:
    values, sizes, rest = segment_values(source.read([key]).column(key), limit)
    return Segments(key, tuple(values)), dict(zip(values, sizes, strict=True)), rest


def _unit(
    names: list[str],
    kinds: Mapping[str, str],
    reference: Source | Profile,
    current: Source | None,
    options: Options,
    segments: Segments | None,
) -> tuple[_Window, _Window]:
    ref_window, cur_window = _Window(), _Window()
    # The segment column is read with the unit's columns, so rows line up whatever the source.
    wanted = [*names, segments.key] if segments is not None and segments.key not in names else names
    cur_table = current.read(wanted) if current is not None else None
    if isinstance(reference, Profile):
        binnings = {name: reference.columns[name].binning for name in names}
    else:
        ref_table = reference.read(wanted)
        binnings = {}
        for name in names:
            column = ref_table.column(name)
            if options.exact and kinds[name] == NUMERIC and cur_table is not None:
                profiled = _exact_numeric(name, column, cur_table.column(name))
                ref_window.columns[name], cur_window.columns[name] = profiled
            else:
                ref_window.columns[name] = profile_column(
                    name, kinds[name], column, top_k=options.top_k, quantiles=options.quantiles
                )
            binnings[name] = ref_window.columns[name].binning
        if segments is not None:
            ref_window.segments, _ = count_segments(ref_table, binnings, kinds, segments)
        del ref_table
    if cur_table is not None:
        for name in names:
            if name not in cur_window.columns:
                cur_window.columns[name] = count_column(
                    name, kinds[name], cur_table.column(name), binnings[name]
                )
        if segments is not None:
            cur_window.segments, _ = count_segments(cur_table, binnings, kinds, segments)
    return ref_window, cur_window


def _exact_numeric(
    name: str, reference: pa.ChunkedArray, current: pa.ChunkedArray
) -> tuple[ColumnCounts, ColumnCounts]:
    ref_values, ref_missing = sorted_values(reference, slot=1)
    cur_values, cur_missing = sorted_values(current, slot=2)
    binning = values_binning(ref_values, cur_values)
    return (
        ColumnCounts(
            name, NUMERIC, binning, numeric_counts(ref_values, binning, len(reference), ref_missing)
        ),
        ColumnCounts(name, NUMERIC, binning, numeric_counts(cur_values, binning, len(current), cur_missing)),
    )


def count(
    kinds: Mapping[str, str], reference: Source | Profile, current: Source | None, options: Options
) -> Profiles:
    """The local engine's work (``run`` is the keyword entry point, ``engine.Engine.run``)."""
    workers = options.workers or workers_default()
    names = list(kinds)
    ref_rows = reference.rows
    segments: Segments | None = None
    ref_profile = Profile(columns={}, rows=ref_rows, source=getattr(reference, "source", ""))
    if isinstance(reference, Profile):
        ref_profile = reference
        segments = profile_segments(reference)
    else:
        ref_profile.source = reference.description
        if options.segment:
            segments, sizes, rest = reference_segments(reference, options.segment, options.max_segments)
            ref_profile.segment_key = options.segment
            ref_profile.segment_rows = sizes
            ref_profile.other_segment_rows = rest
    cur_profile = None
    if current is not None:
        cur_profile = Profile(columns={}, rows=current.rows, source=current.description)
        if segments is not None:
            codes_cur = segments.codes(current.read([segments.key]).column(segments.key))
            cur_profile.segment_key = segments.key
            tracked = np.bincount(codes_cur[codes_cur >= 0], minlength=len(segments.values))
            cur_profile.segment_rows = dict(zip(segments.values, tracked.tolist(), strict=True))
            cur_profile.other_segment_rows = int(np.count_nonzero(codes_cur < 0))
    rows = max(ref_rows, current.rows if current is not None else 0)
    groups = column_groups(names, rows, workers)

    def one(group: list[str]) -> tuple[_Window, _Window]:
        return _unit(group, kinds, reference, current, options, segments)

    schedule = Schedule.of(groups, kinds, reference)
    done = 0
    for group, (ref_window, cur_window) in run_units(one, schedule, workers, warm=_warm(kinds, options)):
        if not isinstance(reference, Profile):
            ref_profile.columns.update(ref_window.columns)
            for value, counts in ref_window.segments.items():
                ref_profile.segments.setdefault(value, {}).update(counts)
        if cur_profile is not None:
            cur_profile.columns.update(cur_window.columns)
            for value, counts in cur_window.segments.items():
                cur_profile.segments.setdefault(value, {}).update(counts)
            if options.counted is not None:
                for name in group:
                    options.counted(name, ref_profile.columns[name], cur_window.columns[name])
        done += len(group)
        if options.progress is not None:
            options.progress(done, len(names))
    # Units finish in any order: put columns and segments back in the order they were asked for.
    values = segments.values if segments is not None else ()
    if not isinstance(reference, Profile):
        _in_order(ref_profile, names, values)
    if cur_profile is not None:
        _in_order(cur_profile, names, values)
    return ref_profile, cur_profile


def _warm(kinds: Mapping[str, str], options: Options) -> Callable[[], None] | None:
    # Import the sketch library on the main thread while the workers read, not in a worker later.
    return sketches.load if options.quantiles or CATEGORICAL in kinds.values() else None


def _in_order(profile: Profile, names: Sequence[str], tracked: Sequence[str]) -> None:
    profile.columns = {name: profile.columns[name] for name in names if name in profile.columns}
    profile.segments = {
        value: {name: profile.segments[value][name] for name in names if name in profile.segments[value]}
        for value in tracked
        if value in profile.segments
    }


@dataclass
class Schedule:
    """Which unit of work a free worker takes next.

    Counting a numeric column is mostly numpy and pyarrow with the interpreter lock
    released; counting a categorical column is mostly Python (category names, the
    distinct-count sketch, which take the lock). Two workers both counting categorical
    columns mostly wait for each other, so a worker takes a *heavy* unit (one with a
    categorical column) only when no other worker is counting one, or when no light
    unit is left. Heavy units go largest first (by the reference's values outside its
    tracked categories, when a stored profile says), so the run does not end on one.
    """

    heavy: deque[list[str]]
    light: deque[list[str]]
    running_heavy: int = 0
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(
        cls, groups: Sequence[list[str]], kinds: Mapping[str, str], reference: Source | Profile
    ) -> Schedule:
        heavy = [g for g in groups if any(kinds[name] == CATEGORICAL for name in g)]
        light = [g for g in groups if not any(kinds[name] == CATEGORICAL for name in g)]
        if isinstance(reference, Profile):
            heavy.sort(key=lambda g: -sum(_tail_rows(reference.columns[name]) for name in g))
        return cls(deque(heavy), deque(light))

    def take(self) -> tuple[list[str], bool] | None:
        """The next unit and whether it is heavy (None: nothing left, or stopped)."""
        with self.lock:
            if self.stopped:
                return None
            if self.heavy and (not self.running_heavy or not self.light):
                self.running_heavy += 1
                return self.heavy.popleft(), True
            if self.light:
                return self.light.popleft(), False
            return None

    def finished(self, heavy: bool) -> None:
        with self.lock:
            self.running_heavy -= heavy

    def stop(self) -> None:
        with self.lock:
            self.stopped = True


def _tail_rows(column: ColumnCounts) -> int:
    counts = column.counts
    return counts.other if isinstance(counts, CategoricalCounts) else 0


Result = TypeVar("Result")


def run_units(
    work: Callable[[list[str]], Result], schedule: Schedule, workers: int, *, warm: Callable[[], None] | None
) -> Iterator[tuple[list[str], Result]]:
    """Run ``work`` on every unit of ``schedule`` on ``workers`` threads; yield units as they finish.

    Each worker takes its next unit itself (no round trip through this thread). The first
    error stops the schedule and is raised here once the running units have finished.
    """
    results: queue.SimpleQueue[tuple[list[str], Result] | BaseException | None] = queue.SimpleQueue()

    def worker() -> None:
        use_scratch()
        try:
            while (taken := schedule.take()) is not None:
                group, heavy = taken
                try:
                    result = work(group)
                finally:
                    schedule.finished(heavy)
                results.put((group, result))
        except BaseException as exc:  # handed to the caller's thread, which raises it
            schedule.stop()
            results.put(exc)
        finally:
            results.put(None)

    with ThreadPoolExecutor(workers, thread_name_prefix="recops-drift") as pool:
        for _ in range(workers):
            pool.submit(worker)
        if warm is not None:
            warm()
        running = workers
        try:
            while running:
                item = results.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:  # an error here or in a worker, or the caller stopped early: start no more units
            schedule.stop()


run = Engine(count).run
