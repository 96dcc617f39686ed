"""The local engine's scheduling: which unit a worker takes next, errors, and order-independent results."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest

from recops.drift import compare, profile
from recops.drift.counts import CATEGORICAL, NUMERIC
from recops.drift.local import Schedule, run_units
from recops.drift.sources import ArrowSource


def table(seed: int, rows: int = 30_000) -> pa.Table:
    g = np.random.default_rng(seed)
    columns: dict[str, object] = {f"x{i}": g.normal(size=rows) for i in range(6)}
    columns.update({f"c{i}": g.choice([f"v{j}" for j in range(8 + 40 * i)], size=rows) for i in range(3)})
    return pa.table(columns)


KINDS = {**{f"x{i}": NUMERIC for i in range(6)}, **{f"c{i}": CATEGORICAL for i in range(3)}}


def test_a_categorical_unit_waits_while_another_runs_unless_nothing_else_is_left() -> None:
    schedule = Schedule.of([[n] for n in KINDS], KINDS, ArrowSource(table(1)))
    first = schedule.take()
    assert first == (["c0"], True)
    # Another worker gets numeric units while c0 is being counted ...
    assert [schedule.take() for _ in range(2)] == [(["x0"], False), (["x1"], False)]
    schedule.finished(True)
    # ... and the next categorical one once it is done.
    assert schedule.take() == (["c1"], True)
    for _ in range(4):
        assert schedule.take() is not None  # x2 .. x5 while c1 runs
    # No numeric unit is left: a second categorical unit runs beside the first.
    assert schedule.take() == (["c2"], True)
    assert schedule.take() is None


def test_a_stored_profile_puts_the_categorical_column_with_the_longest_tail_first() -> None:
    stored = profile(table(1))
    schedule = Schedule.of([[n] for n in KINDS], KINDS, stored)
    assert [g[0] for g in schedule.heavy] == ["c2", "c1", "c0"]  # 128, 48 and 8 values, top 20 tracked
    assert stored.columns["c0"].counts.other == 0


def test_an_error_in_a_unit_is_raised_and_no_further_unit_starts() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def work(group: list[str]) -> int:
        with lock:
            started.append(group[0])
        if group[0] == "x1":
            raise ValueError("broken column")
        return 1

    schedule = Schedule.of(
        [[f"x{i}"] for i in range(50)], {f"x{i}": NUMERIC for i in range(50)}, ArrowSource(table(1))
    )
    with pytest.raises(ValueError, match="broken column"):
        list(run_units(work, schedule, 2, warm=None))
    assert len(started) < 50


def test_results_do_not_depend_on_the_number_of_workers() -> None:
    reference, current = table(1), table(2)
    one = compare(reference, current, workers=1, segment="c0")
    two = compare(reference, current, workers=2, segment="c0")
    compared = [n for n in reference.column_names if n != "c0"]
    assert [c.column for c in one.columns] == [c.column for c in two.columns] == compared
    assert [(c.verdict, c.statistic) for c in one.columns] == [(c.verdict, c.statistic) for c in two.columns]
    assert list(one.reference_profile.columns) == list(two.reference_profile.columns)
    assert list(one.reference_profile.segments) == list(two.reference_profile.segments)
    for value, counts in one.reference_profile.segments.items():
        assert list(counts) == list(two.reference_profile.segments[value])
