"""Metrics family against independent computations.

A tiny handmade lake whose every value is worked out by hand below, and the small
simulated world checked against plain DuckDB SQL, numpy and pandas on the same lake.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recops.ingest import ingest_files
from recops.monitors import read_series, run_monitors
from recops.monitors.quantiles import RELATIVE_ACCURACY
from recops.sim import World
from recops.workspace import Workspace
from tests.records import request, write_jsonl

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def _at(hours: float, seconds: float = 0) -> str:
    return (DAY + timedelta(hours=hours, seconds=seconds)).isoformat()


def _cand(item: str, source: str, score: float | None, position: int | None) -> dict[str, Any]:
    return {"item_id": item, "source": source, "score": score, "position": position, "propensity": None}


def _req(rid: str, hours: float, user: str, **overrides: Any) -> dict[str, Any]:
    return request(rid, ts=_at(hours), user_id=user, features={}, feature_ts={}, **overrides)


def _outcome(
    rid: str, item: str, event: str, hours: float, seconds: float, value: float | None = None
) -> dict[str, Any]:
    return {"request_id": rid, "item_id": item, "ts": _at(hours, seconds), "event": event, "value": value}


def _tiny_lake(root: Path, *, genres: bool) -> Workspace:
    """Four requests at 10:00 on 2026-03-02 (plus one of u1 ten days earlier and one the next day)."""
    raw = root.parent / "raw"
    raw.mkdir()
    requests = [
        _req("r0", -240, "u1", candidates=[_cand("A", "collaborative", 0.5, 0)]),
        _req(
            "r1",
            10.1,
            "u1",
            context={"device": "tv"},
            candidates=[
                _cand("A", "collaborative", 0.5, 0),
                _cand("B", "trending", 0.4, 1),
                _cand("C", "collaborative", 0.3, 2),
                _cand("D", "collaborative", 0.2, None),
            ],
        ),
        _req(
            "r2",
            10.2,
            "u2",
            surface="search",
            context={"device": "ios"},
            candidates=[
                _cand("A", "collaborative", 0.6, 0),
                _cand("E", "trending", 0.1, 1),
                _cand("F", "trending", 0.05, None),
            ],
        ),
        _req(
            "r3",
            10.3,
            "u3",
            status="fallback",
            context={"device": "tv"},
            candidates=[_cand("B", "popular_fallback", None, 0), _cand("A", "popular_fallback", None, 1)],
        ),
        _req("r4", 10.4, "u1", status="error", context={}, candidates=[]),
        _req("r5", 26, "u4", candidates=[_cand("A", "collaborative", 0.5, 0)]),
    ]
    outcomes = [
        *[_outcome("r1", i, "impression", 10.1, 1) for i in "ABC"],
        _outcome("r1", "B", "click", 10.1, 30),
        _outcome("r1", "C", "click", 10.1, 60),
        _outcome("r1", "B", "play", 10.1, 90, 100.0),
        _outcome("r1", "B", "complete", 10.1, 200, 100.0),
        *[_outcome("r2", i, "impression", 10.2, 1) for i in "AE"],
        _outcome("r2", "A", "click", 10.2, 10),
        _outcome("r2", "F", "click", 10.2, 40),  # an item the slate did not show
        _outcome("r2", "A", "play", 10.2, 50, 50.0),
        _outcome("r2", "E", "click", 10.2 + 30, 0),  # 30 h later: outside the label window
        *[_outcome("r3", i, "impression", 10.3, 1) for i in "BA"],
    ]
    genre_of = {"A": "drama", "B": "comedy", "C": "drama", "D": "drama", "E": "comedy"}
    rows = [
        {
            "feature_group": "item_stats",
            "entity_id": item,
            "event_ts": _at(-300),
            "materialized_at": _at(-300, 60),
            "values": {"genre": genre, "item_ctr_7d": 0.1},
        }
        for item, genre in genre_of.items()
    ]
    with Workspace.init(root) as ws:
        ingest_files(ws.lake, "requests", [write_jsonl(raw / "requests.jsonl", requests)])
        ingest_files(ws.lake, "outcomes", [write_jsonl(raw / "outcomes.jsonl", outcomes)])
        if genres:
            ingest_files(ws.lake, "feature_rows", [write_jsonl(raw / "features.jsonl", rows)])
        run_monitors(ws.config, ws.lake, only=["metrics"])
    return Workspace.open(root)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = _tiny_lake(tmp_path_factory.mktemp("tiny") / "ws", genres=True)
    yield ws
    ws.close()


def _point(
    ws: Workspace, metric: str, *, slice: str = "", granularity: str = "day", subject: str = ""
) -> dict[str, Any]:
    start = DAY if granularity == "day" else DAY + timedelta(hours=10)
    found = read_series(ws.store, metric, slice=slice, granularity=granularity, subject=subject, start=start)
    rows = [r for r in found.to_pylist() if r["window_start"] == start]
    assert len(rows) == 1, (metric, slice, granularity, rows)
    return rows[0]


def _close(point: dict[str, Any], expected: float) -> None:
    assert point["value"] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("granularity", ["day", "hour"])
def test_tiny_lake_hand_worked(tiny: Workspace, granularity: str) -> None:
    def value(metric: str, **kw: Any) -> dict[str, Any]:
        return _point(tiny, metric, granularity=granularity, **kw)

    # r1..r4 in the window: one fallback, one error (empty list, not an empty slate).
    assert value("requests")["value"] == 4
    _close(value("fallback_rate"), 1 / 4)
    _close(value("error_rate"), 1 / 4)
    assert value("empty_slate_rate")["value"] == 0 and value("empty_slate_rate")["denominator"] == 3
    # Outcome events within 24 h of their request: 7 impressions, 4 clicks (the late one
    # excluded), 2 plays of 100 s and 50 s, 1 completion.
    assert value("impressions")["value"] == 7
    _close(value("ctr"), 4 / 7)
    _close(value("play_rate"), 2 / 7)
    _close(value("completion_rate"), 1 / 2)
    _close(value("watch_time_per_request"), 150 / 4)
    # NDCG@10: r1 clicked B (pos 1) and C (pos 2) of 2 relevant; r2 clicked A at pos 0.
    dcg_r1 = 1 / math.log2(3) + 1 / math.log2(4)
    ndcg = value("ndcg_at_10")
    _close(ndcg, (dcg_r1 / (1 + 1 / math.log2(3)) + 1.0) / 2)
    assert ndcg["denominator"] == 2
    # Recall@10: r1 2 of 2 clicked items in the top 10; r2 1 of 2 (F was never shown).
    _close(value("recall_at_10"), (1.0 + 0.5) / 2)
    # Calibration: 3 clicked shown scored items over Σ shown scores 0.5+0.4+0.3+0.6+0.1.
    _close(value("calibration_ratio"), 3 / 1.9)
    # Scores of shown items: 0.5 0.4 0.3 0.6 0.1 (r3's fallback slate is unscored).
    _close(value("score_mean"), 1.9 / 5)
    # Quantiles are read off log-spaced bins: within RELATIVE_ACCURACY of the exact ones.
    assert value("score_p50")["value"] == pytest.approx(0.4, rel=RELATIVE_ACCURACY)
    assert value("score_p90")["value"] == pytest.approx(0.5 + 0.6 * 0.1, rel=RELATIVE_ACCURACY)
    # Items shown: A×3 B×2 C×1 E×1 of the 6 scored (A-F).
    _close(value("catalog_coverage"), 4 / 6)
    _close(value("popularity_gini"), 2 * (1 * 1 + 2 * 1 + 3 * 2 + 4 * 3) / (4 * 7) - 5 / 4)
    novelty = (3 * -math.log2(3 / 4) + 2 * -math.log2(2 / 4) + 2 * -math.log2(1 / 4)) / 7
    _close(value("novelty"), novelty)
    # Genre pairs: r1 drama/comedy/drama 2 of 3 pairs differ; r2 and r3 1 of 1.
    _close(value("intra_list_diversity"), (2 / 3 + 1 + 1) / 3)
    # u1 made r0 ten days earlier; u2 and u3 are new.
    _close(value("cold_start_share"), 2 / 4)
    shares = {s: value("candidate_source_share", subject=s)["value"] for s in ("collaborative", "trending")}
    assert shares == pytest.approx({"collaborative": 3 / 7, "trending": 2 / 7})
    _close(value("candidate_source_share", subject="popular_fallback"), 2 / 7)
    # Outcome metrics carry label completeness; the others do not.
    assert value("ctr")["label_completeness"] == 1.0
    assert value("catalog_coverage")["label_completeness"] is None


def test_tiny_lake_diversity_by_source_without_genres(tmp_path: Path) -> None:
    ws = _tiny_lake(tmp_path / "ws", genres=False)
    try:
        # r1 collaborative/trending/collaborative, r2 collaborative/trending, r3 one source.
        _close(_point(ws, "intra_list_diversity"), (2 / 3 + 1 + 0) / 3)
        _close(_point(ws, "ctr"), 4 / 7)
    finally:
        ws.close()


def test_diversity_with_more_genres_than_one_packed_sum(tmp_path: Path) -> None:
    """Fourteen genres: counts of genres 12 and 13 travel in a second packed sum."""
    root = tmp_path / "ws"
    raw = tmp_path / "raw"
    raw.mkdir()
    genre_of = {f"i{k}": f"g{k:02d}" for k in range(14)}
    slate = ["i0", "i0b", "i12", "i12b", "i13", "i5", "i6", "i7", "i8", "i9"]
    genre_of |= {"i0b": "g00", "i12b": "g12"}
    requests = [
        _req("q1", 10.1, "u1", candidates=[_cand(i, "collaborative", 0.5, p) for p, i in enumerate(slate)]),
        _req("q2", 30, "u2", candidates=[_cand("i1", "collaborative", 0.5, 0)]),
    ]
    rows = [
        {
            "feature_group": "item_stats",
            "entity_id": i,
            "event_ts": _at(1),
            "materialized_at": _at(1, 5),
            "values": {"genre": g},
        }
        for i, g in genre_of.items()
    ]
    with Workspace.init(root) as ws:
        ingest_files(ws.lake, "requests", [write_jsonl(raw / "requests.jsonl", requests)])
        ingest_files(ws.lake, "feature_rows", [write_jsonl(raw / "features.jsonl", rows)])
        run_monitors(ws.config, ws.lake, only=["metrics"])
        # g00 ×2, g12 ×2 and six genres once: Σ m² = 4 + 4 + 6 over 10 items.
        _close(_point(ws, "intra_list_diversity"), (100 - 14) / 90)


def test_tiny_lake_slices(tiny: Workspace) -> None:
    tv = "device=tv"  # r1 and r3
    assert _point(tiny, "requests", slice=tv)["value"] == 2
    assert _point(tiny, "requests", slice="device=(none)")["value"] == 1  # r4 has no device
    _close(_point(tiny, "ctr", slice=tv), 2 / 5)
    # A×2 B×2 C×1 shown on tv; the denominator is every item scored in the window.
    _close(_point(tiny, "catalog_coverage", slice=tv), 3 / 6)
    _close(_point(tiny, "popularity_gini", slice=tv), 2 * (1 * 1 + 2 * 2 + 3 * 2) / (3 * 5) - 4 / 3)
    _close(_point(tiny, "ndcg_at_10", slice="surface=search"), 1.0)
    _close(_point(tiny, "recall_at_10", slice="surface=search"), 0.5)
    # The tv slice never showed anything from "search"-only items: its mix has no E.
    _close(_point(tiny, "candidate_source_share", slice=tv, subject="trending"), 1 / 5)


def test_tiny_lake_source_gone_silent_gets_zero(tiny: Workspace) -> None:
    # r5 (02:00 the next day) shows one collaborative item; trending and popular_fallback
    # had a share within the 28 days before, so they get 0 there, not nothing.
    hour = DAY + timedelta(hours=26)
    expected = {
        "collaborative": (1.0, 1, 1),
        "trending": (0.0, 0, 1),
        "popular_fallback": (0.0, 0, 1),
    }

    def shares() -> dict[str, tuple[float, float, float]]:
        points = read_series(tiny.store, "candidate_source_share", slice="", granularity="hour", start=hour)
        return {r["subject"]: (r["value"], r["numerator"], r["denominator"]) for r in points.to_pylist()}

    assert shares() == expected
    # Recomputing that hour alone finds the earlier sources in the stored series.
    run_monitors(tiny.config, tiny.lake, start=hour, end=hour + timedelta(hours=1), only=["metrics"])
    assert shares() == expected
    # r0's hour, ten days earlier, has no earlier sources to miss.
    early = read_series(tiny.store, "candidate_source_share", slice="", granularity="hour", end=DAY)
    assert set(early["subject"].to_pylist()) == {"collaborative"}


# --- the small simulated world against plain SQL ------------------------------------


@pytest.fixture(scope="module")
def world(small_world: tuple[Path, World], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("metrics-world") / "ws"
    shutil.copytree(small_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    run_monitors(ws.config, ws.lake, only=["metrics"])
    yield ws
    ws.close()


def _day_points(ws: Workspace, metric: str, slice: str = "") -> list[dict[str, Any]]:
    rows = read_series(ws.store, metric, granularity="day", slice=slice, subject="").to_pylist()
    assert rows, metric
    return rows


SLICES = {"": "TRUE", "surface=home_row": "surface = 'home_row'", "device=tv": "context['device'] = 'tv'"}


@pytest.mark.parametrize("slice", list(SLICES))
def test_world_request_and_outcome_metrics(world: Workspace, slice: str) -> None:
    con = world.lake.connect()
    where = SLICES[slice]
    for point in _day_points(world, "ctr", slice):
        start, end = point["window_start"], point["window_end"]
        counts = con.execute(
            f"""
            WITH r AS (SELECT * FROM requests WHERE ts >= ? AND ts < ? AND {where}),
            o AS (
                SELECT o.* FROM outcomes o JOIN r USING (request_id)
                WHERE o.ts >= r.ts - INTERVAL 10 MINUTE AND o.ts <= r.ts + INTERVAL 24 HOUR
            )
            SELECT
                (SELECT count(*) FROM r) AS requests,
                (SELECT count(*) FILTER (status = 'fallback') FROM r) AS fallbacks,
                (SELECT count(*) FILTER (status = 'error') FROM r) AS errors,
                (SELECT count(*) FILTER (status <> 'error') FROM r) AS non_error,
                (SELECT count(*) FILTER (status <> 'error'
                    AND len(list_filter(candidates, c -> c.position IS NOT NULL)) = 0) FROM r) AS empty,
                (SELECT count(*) FILTER (event = 'impression') FROM o) AS impressions,
                (SELECT count(*) FILTER (event = 'click') FROM o) AS clicks,
                (SELECT count(*) FILTER (event = 'play') FROM o) AS plays,
                (SELECT count(*) FILTER (event = 'complete') FROM o) AS completes,
                (SELECT coalesce(sum(value) FILTER (event = 'play'), 0) FROM o) AS watch
            """,
            [start, end],
        ).fetchone()
        assert counts is not None
        requests, fallbacks, errors, non_error, empty, impressions, clicks, plays, completes, watch = counts

        def get(metric: str, start: datetime = start) -> dict[str, Any]:
            found = [p for p in _day_points(world, metric, slice) if p["window_start"] == start]
            assert len(found) == 1
            return found[0]

        assert get("requests")["value"] == requests
        assert (
            get("fallback_rate")["numerator"] == fallbacks and get("fallback_rate")["denominator"] == requests
        )
        assert get("error_rate")["numerator"] == errors
        assert (
            get("empty_slate_rate")["numerator"] == empty
            and get("empty_slate_rate")["denominator"] == non_error
        )
        assert get("impressions")["value"] == impressions
        assert (point["numerator"], point["denominator"]) == (clicks, impressions)
        assert point["value"] == pytest.approx(clicks / impressions, rel=1e-12)
        assert get("play_rate")["value"] == pytest.approx(plays / impressions, rel=1e-12)
        assert get("completion_rate")["value"] == pytest.approx(completes / plays, rel=1e-12)
        assert get("watch_time_per_request")["value"] == pytest.approx(watch / requests, rel=1e-9)
        assert 0.0 < point["label_completeness"] <= 1.0


def _slates(ws: Workspace, start: datetime, end: datetime, where: str) -> pd.DataFrame:
    """Shown slots of the window's requests with their genre and whether they were clicked."""
    con = ws.lake.connect()
    return con.execute(
        f"""
        WITH r AS (SELECT * FROM requests WHERE ts >= ? AND ts < ? AND {where}),
        genre AS (
            SELECT entity_id, arg_max(value_strings['genre'], event_ts) AS genre FROM feature_rows
            WHERE feature_group = 'item_stats' AND value_strings['genre'] IS NOT NULL GROUP BY entity_id
        ),
        clicked AS (
            SELECT DISTINCT o.request_id, o.item_id FROM outcomes o JOIN r USING (request_id)
            WHERE o.event = 'click' AND o.ts >= r.ts - INTERVAL 10 MINUTE AND o.ts <= r.ts + INTERVAL 24 HOUR
        )
        SELECT c.request_id, c.item_id, c.source, c.score, c.position, g.genre,
               k.item_id IS NOT NULL AS clicked
        FROM candidates c JOIN r USING (request_id)
        LEFT JOIN genre g ON g.entity_id = c.item_id
        LEFT JOIN clicked k ON k.request_id = c.request_id AND k.item_id = c.item_id
        """,
        [start, end],
    ).df()


@pytest.mark.parametrize("slice", list(SLICES))
def test_world_slate_metrics(world: Workspace, slice: str) -> None:
    con = world.lake.connect()
    where = SLICES[slice]
    for point in _day_points(world, "ndcg_at_10", slice):
        start, end = point["window_start"], point["window_end"]

        def get(metric: str, start: datetime = start) -> dict[str, Any]:
            found = [p for p in _day_points(world, metric, slice) if p["window_start"] == start]
            assert len(found) == 1
            return found[0]

        slots = _slates(world, start, end, where)
        shown = slots[slots.position.notna()]
        # NDCG@10 with binary relevance, over requests with a clicked shown item.
        ndcgs = []
        for _, slate in shown.groupby("request_id"):
            hits = slate[slate.clicked]
            if hits.empty:
                continue
            dcg = sum(1 / np.log2(p + 2) for p in hits.position if p < 10)
            ideal = sum(1 / np.log2(i + 2) for i in range(min(len(hits), 10)))
            ndcgs.append(dcg / ideal)
        assert point["value"] == pytest.approx(np.mean(ndcgs), rel=1e-9)
        assert point["denominator"] == len(ndcgs)
        # Recall@10 over requests with a clicked item (all clicks here are on shown items).
        clicked = con.execute(
            f"""SELECT count(DISTINCT (o.request_id, o.item_id)) FROM outcomes o
                JOIN (SELECT * FROM requests WHERE ts >= ? AND ts < ? AND {where}) r USING (request_id)
                WHERE o.event = 'click' AND o.ts >= r.ts - INTERVAL 10 MINUTE
                  AND o.ts <= r.ts + INTERVAL 24 HOUR""",
            [start, end],
        ).fetchone()
        assert clicked is not None and clicked[0] == shown.clicked.sum()
        per_request = shown[shown.clicked].groupby("request_id").position.apply(lambda p: (p < 10).mean())
        assert get("recall_at_10")["value"] == pytest.approx(per_request.mean(), rel=1e-9)
        # Intra-list diversity: share of top-10 item pairs of different genres.
        diversities = []
        for _, slate in shown[shown.position < 10].groupby("request_id"):
            if len(slate) < 2:
                continue
            cats = [
                g if isinstance(g, str) else f"item:{i}"
                for g, i in zip(slate.genre, slate.item_id, strict=True)
            ]
            pairs = [(a, b) for i, a in enumerate(cats) for b in cats[i + 1 :]]
            diversities.append(sum(a != b for a, b in pairs) / len(pairs))
        assert get("intra_list_diversity")["value"] == pytest.approx(np.mean(diversities), rel=1e-9)
        # Scores of shown items against numpy.
        scores = shown.score.dropna().to_numpy()
        assert get("score_p50")["value"] == pytest.approx(np.percentile(scores, 50), rel=RELATIVE_ACCURACY)
        assert get("score_p90")["value"] == pytest.approx(np.percentile(scores, 90), rel=RELATIVE_ACCURACY)
        assert get("score_mean")["value"] == pytest.approx(scores.mean(), rel=1e-9)
        assert get("score_p90")["n"] == len(scores)
        # Calibration: clicked shown scored items over the sum of their scores.
        if scores.min() >= 0 and scores.max() <= 1:
            expected = shown[shown.score.notna()].clicked.sum() / scores.sum()
            assert get("calibration_ratio")["value"] == pytest.approx(expected, rel=1e-9)
        # Exposure: Gini by mean absolute difference, coverage, novelty.
        counts = shown.groupby("item_id").size().to_numpy().astype(float)
        mad = np.abs(counts[:, None] - counts[None, :]).sum()
        gini = mad / (2 * len(counts) ** 2 * counts.mean())
        assert get("popularity_gini")["value"] == pytest.approx(gini, rel=1e-9)
        everything = _slates(world, start, end, "TRUE")
        assert get("catalog_coverage")["value"] == pytest.approx(
            len(counts) / everything.item_id.nunique(), rel=1e-12
        )
        total = con.execute(
            f"SELECT count(*) FROM requests WHERE ts >= ? AND ts < ? AND {where}", [start, end]
        )
        requests = total.fetchone()[0]  # type: ignore[index]
        novelty = float(np.sum(counts * -np.log2(counts / requests)) / counts.sum())
        assert get("novelty")["value"] == pytest.approx(novelty, rel=1e-9)
        # Candidate source mix of shown slots.
        mix = shown.groupby("source").size() / len(shown)
        for source, share in mix.items():
            found = read_series(
                world.store, "candidate_source_share", granularity="day", slice=slice, subject=str(source)
            )
            values = {r["window_start"]: r["value"] for r in found.to_pylist()}
            assert values[start] == pytest.approx(share, rel=1e-12)


def test_world_cold_start_share(world: Workspace) -> None:
    con = world.lake.connect()
    for granularity in ("day", "hour"):
        points = read_series(world.store, "cold_start_share", granularity=granularity, slice="").to_pylist()
        assert points
        for point in points[:30]:
            start, end = point["window_start"], point["window_end"]
            row = con.execute(
                """SELECT count(*) FILTER (p.user_id IS NULL), count(*) FROM requests r
                   LEFT JOIN (SELECT DISTINCT user_id FROM requests
                              WHERE ts >= ? - INTERVAL 28 DAY AND ts < ?) p USING (user_id)
                   WHERE r.ts >= ? AND r.ts < ?""",
                [start, start, start, end],
            ).fetchone()
            assert row is not None
            assert (point["numerator"], point["denominator"]) == (row[0], row[1])


def test_world_hour_points_sum_to_day(world: Workspace) -> None:
    """Additive numerators of the 24 hours of a day add up to the day's."""
    day = read_series(world.store, "ctr", granularity="day", slice="surface=autoplay").to_pylist()[0]
    hours = read_series(
        world.store,
        "ctr",
        granularity="hour",
        slice="surface=autoplay",
        start=day["window_start"],
        end=day["window_end"],
    ).to_pylist()
    assert len(hours) == 24
    assert sum(h["numerator"] for h in hours) == day["numerator"]
    assert sum(h["denominator"] for h in hours) == day["denominator"]


def test_serving_windows_have_request_rates_only(world: Workspace) -> None:
    short = read_series(world.store, granularity="5min", family="metrics")
    assert set(short["metric"].to_pylist()) == {"requests", "fallback_rate", "error_rate"}
    assert not any(s.startswith("device=") for s in short["slice"].to_pylist())
    requests = read_series(world.store, "requests", granularity="5min", slice="").to_pylist()
    con = world.lake.connect()
    for point in requests[100:110]:
        n = con.execute(
            "SELECT count(*) FROM requests WHERE ts >= ? AND ts < ?",
            [point["window_start"], point["window_end"]],
        ).fetchone()
        assert n is not None and point["value"] == n[0]
