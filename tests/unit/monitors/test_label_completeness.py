"""Late outcomes: recomputed windows, untouched neighbours, and label completeness."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recops.contract import KINDS
from recops.ingest import ingest_files
from recops.monitors import read_series, run_monitors
from recops.monitors import runner as runner_module
from recops.monitors.families import metrics
from recops.workspace import Workspace

OUTCOME_METRICS = set(metrics.OUTCOME_METRICS)
HOUR = datetime(2026, 10, 1, 12, tzinfo=UTC)
DAY = datetime(2026, 10, 1, tzinfo=UTC)
Key = tuple[str, str, str, str, datetime]


@pytest.fixture(autouse=True)
def only_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full incremental runs (state saved) of the metrics family alone."""
    monkeypatch.setattr(runner_module, "families", lambda: {metrics.NAME: metrics.FAMILY})


def _snapshot(ws: Workspace) -> dict[Key, dict[str, Any]]:
    points = read_series(ws.store, family=metrics.NAME).to_pylist()
    out = {}
    for p in points:
        key = (p["metric"], p["subject"], p["slice"], p["granularity"], p["window_start"])
        assert key not in out
        out[key] = p
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for field in ("value", "numerator", "denominator", "n", "label_completeness"):
        x, y = a[field], b[field]
        if x is None or y is None:
            if x is not y:
                return False
        elif not math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12):
            return False
    return True


def _late_clicks(ws: Workspace, path: Path) -> tuple[pa.Table, set[str]]:
    """Clicks on shown, unclicked top-10 items of requests of HOUR, stamped inside HOUR."""
    con = ws.lake.connect()
    rows = con.execute(
        """
        SELECT c.request_id, c.item_id, r.ts + INTERVAL 1 SECOND AS ts,
               r.surface, r.context['device'] AS device
        FROM candidates c JOIN requests r USING (request_id)
        WHERE r.ts >= ? AND r.ts < ? - INTERVAL 5 SECOND AND c.position BETWEEN 0 AND 9
          AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.request_id = c.request_id
                          AND o.item_id = c.item_id AND o.event = 'click')
        ORDER BY c.request_id, c.position LIMIT 40
        """,
        [HOUR, HOUR + timedelta(hours=1)],
    ).to_arrow_table()
    n = rows.num_rows
    assert n == 40
    late = pa.table(
        {
            "request_id": rows["request_id"],
            "item_id": rows["item_id"],
            "ts": rows["ts"].cast(pa.timestamp("us", tz="UTC")),
            "event": pa.array(["click"] * n),
            "value": pa.nulls(n, pa.float64()),
        },
        schema=KINDS["outcomes"].schema,
    )
    pq.write_table(late, path)
    slices = {"", *(f"surface={s}" for s in rows["surface"].to_pylist())}
    slices |= {f"device={d}" for d in rows["device"].to_pylist()}
    return late, slices


def test_late_outcomes_update_exactly_their_windows(world_ws: Workspace, tmp_path: Path) -> None:
    first = run_monitors(world_ws.config, world_ws.lake)
    assert first.windows["hour"] > 24
    before = _snapshot(world_ws)
    clock_before = _outcome_clock(world_ws)

    late, touched_slices = _late_clicks(world_ws, tmp_path / "late.parquet")
    ingest_files(world_ws.lake, "outcomes", [tmp_path / "late.parquet"])
    second = run_monitors(world_ws.config, world_ws.lake)
    # Only the hour and the day of the late outcomes (and the 5-minute windows they fall
    # in) are recomputed: the outcome clock did not move.
    assert second.windows["hour"] == 1 and second.windows["day"] == 1
    after = _snapshot(world_ws)
    assert set(after) == set(before)

    recomputed = {k for k in after if after[k]["computed_at"] != before[k]["computed_at"]}
    changed = {k for k in after if not _same(after[k], before[k])}
    windows = {("hour", HOUR), ("day", DAY)}
    assert {(g, s) for _, _, _, g, s in recomputed if g != "5min"} == windows
    assert all(HOUR <= s < HOUR + timedelta(hours=1) for _, _, _, g, s in recomputed if g == "5min")
    # What changed is outcome metrics of those two windows, in slices the clicks belong to.
    assert changed, "the late clicks changed nothing"
    for metric, _, sl, g, s in changed:
        assert metric in OUTCOME_METRICS, metric
        assert (g, s) in windows
        assert sl in touched_slices or sl.startswith(("model_version=", "country=")), sl
    for g, s in windows:
        old, new = before[("ctr", "", "", g, s)], after[("ctr", "", "", g, s)]
        assert new["numerator"] == old["numerator"] + late.num_rows
        assert new["denominator"] == old["denominator"]
        assert ("ndcg_at_10", "", "", g, s) in changed
        # Old windows: their labels were already complete, and still are.
        assert new["label_completeness"] == old["label_completeness"] == 1.0
    assert _outcome_clock(world_ws) == clock_before

    third = run_monitors(world_ws.config, world_ws.lake)
    assert third.nothing_to_do
    again = _snapshot(world_ws)
    assert again == after


def _outcome_clock(ws: Workspace) -> datetime:
    table = ws.lake.connect().execute("SELECT max(ts) AS clock FROM outcomes").to_arrow_table()
    clock: datetime = table["clock"][0].as_py()
    return clock


def _matured_delays(ws: Workspace, clock: datetime) -> np.ndarray:
    """Label delays (s) of click/play/complete on the requests of the day before clock - 24 h."""
    con = ws.lake.connect()
    end = clock - timedelta(hours=24)
    return con.execute(
        """SELECT greatest(epoch(o.ts) - epoch(r.ts), 0) AS d
           FROM outcomes o JOIN requests r USING (request_id)
           WHERE r.ts >= ? AND r.ts < ? AND o.event IN ('click', 'play', 'complete')
             AND o.ts >= r.ts - INTERVAL 10 MINUTE AND o.ts <= r.ts + INTERVAL 24 HOUR""",
        [end - timedelta(days=1), end],
    ).fetchnumpy()["d"]


def test_label_completeness_follows_the_outcome_clock(world_ws: Workspace) -> None:
    run_monitors(world_ws.config, world_ws.lake)
    con = world_ws.lake.connect()
    clock = _outcome_clock(world_ws)
    ctr = read_series(world_ws.store, "ctr", granularity="hour", slice="").to_pylist()
    final = [p for p in ctr if p["window_end"] <= clock - timedelta(hours=24)]
    recent = [p for p in ctr if p["window_end"] > clock - timedelta(hours=24)]
    assert final and len(recent) >= 20
    assert all(p["label_completeness"] == 1.0 for p in final)
    levels = [p["label_completeness"] for p in sorted(recent, key=lambda p: p["window_start"])]
    assert all(0.0 < x <= 1.0 for x in levels)
    assert levels[-1] < 0.99
    # Newer windows have seen less of their labels.
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(levels))
    # Against the empirical CDF of matured delays, averaged over each window's requests.
    delays = np.sort(_matured_delays(world_ws, clock))
    assert len(delays) > 1000
    for point in recent[::4]:
        ts = con.execute(
            "SELECT epoch(ts) AS t FROM requests WHERE ts >= ? AND ts < ?",
            [point["window_start"], point["window_end"]],
        ).fetchnumpy()["t"]
        ages = clock.timestamp() - ts
        expected = np.mean(np.searchsorted(delays, ages, side="right") / len(delays))
        assert point["label_completeness"] == pytest.approx(expected, abs=0.03)
    # Every outcome-based metric of a window carries the same completeness; others none.
    hour = recent[0]["window_start"]
    at_hour = read_series(
        world_ws.store, granularity="hour", slice="", start=hour, end=hour + timedelta(hours=1)
    )
    for p in at_hour.to_pylist():
        if p["metric"] in OUTCOME_METRICS:
            assert p["label_completeness"] == recent[0]["label_completeness"]
        else:
            assert p["label_completeness"] is None


def test_completeness_grows_as_the_outcome_clock_moves(world_ws: Workspace, tmp_path: Path) -> None:
    run_monitors(world_ws.config, world_ws.lake)
    before = {
        p["window_start"]: p["label_completeness"]
        for p in read_series(world_ws.store, "ctr", granularity="hour", slice="").to_pylist()
    }
    con = world_ws.lake.connect()
    last = con.execute(
        "SELECT request_id, item_id, ts FROM outcomes WHERE event = 'impression' ORDER BY ts DESC LIMIT 1"
    ).to_arrow_table()
    # One click six hours after the newest outcome moves the outcome clock forward.
    later = last["ts"][0].as_py() + timedelta(hours=6)
    extra = pa.table(
        {
            "request_id": last["request_id"],
            "item_id": last["item_id"],
            "ts": pa.array([later], pa.timestamp("us", tz="UTC")),
            "event": pa.array(["click"]),
            "value": pa.nulls(1, pa.float64()),
        },
        schema=KINDS["outcomes"].schema,
    )
    pq.write_table(extra, tmp_path / "later.parquet")
    ingest_files(world_ws.lake, "outcomes", [tmp_path / "later.parquet"])
    run_monitors(world_ws.config, world_ws.lake)
    after = {
        p["window_start"]: p["label_completeness"]
        for p in read_series(world_ws.store, "ctr", granularity="hour", slice="").to_pylist()
    }
    assert set(after) >= set(before)
    grew = [s for s in before if after[s] > before[s] + 1e-9]
    assert grew
    assert all(after[s] >= before[s] - 0.02 for s in before)
    newly_final = [s for s in before if before[s] < 1.0 and after[s] == 1.0]
    assert newly_final
