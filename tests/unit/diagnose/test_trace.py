"""The request trace against what is in the lake: hand-made records ingested for real, and a simulated world.

Every expected value is computed independently: by hand from the records written here,
or by plain DuckDB SQL over the lake's views (``Lake.connect``), never by the code under test.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.diagnose.trace import RequestTrace, find_user_request, trace_request, trace_user_at
from recops.errors import NotFound, RecopsError
from recops.ingest import ingest_files
from recops.registry import declared_dataset, register_version, set_alias
from recops.sim import Incident, SimConfig, World, simulate
from recops.workspace import Workspace
from tests.records import request, write_jsonl
from tests.unit.monitors.conftest import KINDS

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------------------- hand-made records


@pytest.fixture
def hand_ws(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace with a few requests, outcomes and feature rows ingested through the real path."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    config = root / "recops.toml"
    # A per-stage target for ranking (5 ms served: over), none for candidate generation.
    config.write_text(config.read_text().replace("[slo]\n", "[slo]\nranking_p99_ms = 4.0\n"))
    main = request(
        "r1",
        ts=_iso(T0),
        feature_ts={
            "user_profile": _iso(T0 - timedelta(hours=1)),  # 1 h old, TTL 36 h: fresh
            "session_context": _iso(T0 - timedelta(hours=3, minutes=30)),  # 3.5 h old, TTL 2 h: stale
            "item_stats": None,  # looked up, nothing found: stale
            "embeddings": _iso(T0 - timedelta(hours=100)),  # no TTL configured: no verdict
        },
        candidates=[
            {"item_id": "i1", "source": "trending", "score": 0.5, "position": 1, "propensity": 0.9},
            {"item_id": "i2", "source": "collaborative", "score": 0.7, "position": 0, "propensity": 0.8},
            {"item_id": "i3", "source": "collaborative", "score": 0.2, "position": None},
            {"item_id": "i4", "source": "collaborative", "score": 0.4, "position": 2},
            {"item_id": "i5", "source": "popular", "score": None, "position": None},
        ],
    )
    earlier = request("r0", ts=_iso(T0 - timedelta(days=1, hours=2)), user_id="u1")
    same_day_before = request("r0b", ts=_iso(T0 - timedelta(hours=2)), user_id="u1")
    other_user = request("r2", ts=_iso(T0 - timedelta(minutes=5)), user_id="u2")
    later = request("r3", ts=_iso(T0 + timedelta(days=2)), user_id="u1")
    requests = write_jsonl(tmp_path / "requests.jsonl", [main, earlier, same_day_before, other_user, later])

    def outcome(rid: str, item: str, event: str, at: datetime, value: float | None = None) -> dict[str, Any]:
        return {"request_id": rid, "item_id": item, "event": event, "ts": _iso(at), "value": value}

    outcomes = write_jsonl(
        tmp_path / "outcomes.jsonl",
        [
            outcome("r1", "i2", "impression", T0 + timedelta(seconds=1)),
            outcome("r1", "i1", "impression", T0 + timedelta(seconds=1)),
            # i4 was shown but never impressed
            outcome("r1", "i1", "click", T0 + timedelta(minutes=3)),
            outcome("r1", "i1", "play", T0 + timedelta(minutes=4), 310.0),
            outcome("r1", "i9", "click", T0 + timedelta(hours=23)),  # not a candidate; inside 24 h
            outcome("r1", "i2", "click", T0 - timedelta(minutes=5)),  # clock skew: counts
            outcome("r1", "i2", "play", T0 - timedelta(minutes=20)),  # too early: not attributed
            outcome("r1", "i2", "like", T0 + timedelta(hours=30)),  # after the label window
            outcome("r2", "i1", "click", T0 + timedelta(minutes=1)),  # another request
        ],
    )
    feature_rows = write_jsonl(
        tmp_path / "feature_rows.jsonl",
        [
            {
                "feature_group": "user_profile",
                "entity_id": "u1",
                "event_ts": _iso(T0 - timedelta(hours=1)),
                "materialized_at": _iso(T0 - timedelta(minutes=50)),
                "values": {"tenure_days": 300, "genre": "drama"},
            },
            {  # an older run of the same group: not the one served
                "feature_group": "user_profile",
                "entity_id": "u1",
                "event_ts": _iso(T0 - timedelta(hours=25)),
                "materialized_at": _iso(T0 - timedelta(hours=24)),
                "values": {"old_feature": 1},
            },
            {
                "feature_group": "session_context",
                "entity_id": "u1",
                "event_ts": _iso(T0 - timedelta(hours=3, minutes=30)),
                "materialized_at": _iso(T0 - timedelta(hours=3)),
                "values": {"missing": None},
            },
        ],
    )
    with Workspace.open(root) as ws:
        for kind, path in (("requests", requests), ("outcomes", outcomes), ("feature_rows", feature_rows)):
            report = ingest_files(ws.lake, kind, [path])
            assert report.rows_quarantined == 0
    ws = Workspace.open(root)
    yield ws
    ws.close()


def test_hand_made_request_is_traced_exactly(hand_ws: Workspace) -> None:
    t = trace_request(hand_ws.config, hand_ws.lake, "r1")
    assert (t.request_id, t.ts, t.surface, t.user_id, t.status) == ("r1", T0, "home_row", "u1", "ok")
    assert t.context == {"device": "tv", "country": "DE"}
    assert (t.model.model, t.model.version, t.model.registered) == ("ranker", "v1", False)
    assert t.model.lineage_command == "recops lineage ranker@v1"

    # candidates: all five, grouped by source (largest group first), best score first
    assert len(t.candidates) == 5
    groups = {g.source: [c.item_id for c in g.candidates] for g in t.by_source}
    assert groups == {"collaborative": ["i2", "i4", "i3"], "trending": ["i1"], "popular": ["i5"]}
    assert {g.source: g.shown for g in t.by_source} == {"collaborative": 2, "trending": 1, "popular": 0}
    assert [c.rank for c in t.by_source[0].candidates] == [1, 3, 2]

    # the slate by position, with what the outcomes say happened
    assert [(s.position, s.item_id) for s in t.slate] == [(0, "i2"), (1, "i1"), (2, "i4")]
    impressed = {s.item_id: s.impressed for s in t.slate}
    assert impressed == {"i2": True, "i1": True, "i4": False}
    assert next(s for s in t.slate if s.item_id == "i1").events == ("impression", "click", "play")

    # outcomes in [ts - 10 min, ts + 24 h]: 6 of the 8 of r1
    got = [(o.event, o.item_id, o.delay_seconds) for o in t.outcomes]
    assert got == [
        ("click", "i2", -300.0),
        ("impression", "i1", 1.0),
        ("impression", "i2", 1.0),
        ("click", "i1", 180.0),
        ("play", "i1", 240.0),
        ("click", "i9", 23 * 3600.0),
    ]
    play = next(o for o in t.outcomes if o.event == "play")
    assert (play.value, play.position, play.source) == (310.0, 1, "trending")
    stray = next(o for o in t.outcomes if o.item_id == "i9")
    assert not stray.in_candidates and stray.position is None
    assert t.outcome_window == (T0 - timedelta(minutes=10), T0 + timedelta(hours=24))


def test_feature_ages_against_ttl(hand_ws: Workspace) -> None:
    t = trace_request(hand_ws.config, hand_ws.lake, "r1")
    ages = {g.group: g for g in t.feature_groups}
    assert set(ages) == {"user_profile", "session_context", "item_stats", "embeddings"}
    up, sc, it, emb = ages["user_profile"], ages["session_context"], ages["item_stats"], ages["embeddings"]
    assert (up.age_hours, up.ttl_hours, up.stale) == (1.0, 36.0, False)
    assert (sc.age_hours, sc.ttl_hours, sc.stale) == (3.5, 2.0, True)
    assert (it.feature_ts, it.age_hours, it.ttl_hours, it.stale) == (None, None, 12.0, True)
    assert (emb.age_hours, emb.ttl_hours, emb.stale) == (100.0, None, None)
    assert all(g.looked_up for g in t.feature_groups)
    assert t.stale_groups == ["item_stats", "session_context"]
    # features the ranker saw, with the group whose served run materialized them
    features = {f.name: (f.value, f.group) for f in t.features}
    assert features == {
        "tenure_days": (300.0, "user_profile"),
        "genre": ("drama", "user_profile"),
        "missing": (None, "session_context"),
    }
    assert up.features == ("genre", "tenure_days")


def test_stage_latencies_against_slo(hand_ws: Workspace) -> None:
    t = trace_request(hand_ws.config, hand_ws.lake, "r1")
    stages = {s.stage: (s.ms, s.slo_ms, s.over_slo) for s in t.stages}
    assert stages == {
        "total": (12.5, 250.0, False),
        "candidate_generation": (4.5, None, None),
        "ranking": (5.0, 4.0, True),
    }


def test_a_boundary_age_equal_to_the_ttl_is_not_stale(hand_ws: Workspace, tmp_path: Path) -> None:
    at = T0 + timedelta(hours=5)
    record = request("edge", ts=_iso(at), feature_ts={"session_context": _iso(at - timedelta(hours=2))})
    ingest_files(hand_ws.lake, "requests", [write_jsonl(tmp_path / "edge.jsonl", [record])])
    t = trace_request(hand_ws.config, hand_ws.lake, "edge")
    (group,) = [g for g in t.feature_groups if g.looked_up]
    assert (group.age_hours, group.stale) == (2.0, False)  # stale means strictly older, as the monitor


def test_user_at_finds_the_latest_request_at_or_before(hand_ws: Workspace) -> None:
    cfg, lake = hand_ws.config, hand_ws.lake
    assert find_user_request(lake, "u1", T0) == "r1"  # at exactly its time
    assert find_user_request(lake, "u1", T0 - timedelta(microseconds=1)) == "r0b"
    assert find_user_request(lake, "u1", T0 + timedelta(days=1)) == "r1"
    # the previous day's request, found in a second round over older partitions
    t = trace_user_at(cfg, lake, "u1", T0 - timedelta(hours=3))
    assert t.request_id == "r0"
    assert t.lookup.partitions_searched == ("2026-11-24", "2026-11-23")
    # restricted by time first: the partition after --at is never read
    t = trace_user_at(cfg, lake, "u1", T0 + timedelta(minutes=1))
    assert t.request_id == "r1" and t.lookup.partitions_searched == ("2026-11-24",)
    with pytest.raises(NotFound, match="no request of user 'u1'"):
        find_user_request(lake, "u1", T0 - timedelta(days=3))
    with pytest.raises(NotFound):
        find_user_request(lake, "nobody", T0)


def test_unknown_request_is_not_found(hand_ws: Workspace) -> None:
    with pytest.raises(NotFound, match=r"no request 'nope'.*3 date partitions"):
        trace_request(hand_ws.config, hand_ws.lake, "nope")
    with pytest.raises(NotFound):  # quotes are data, not SQL
        trace_request(hand_ws.config, hand_ws.lake, "r1' OR '1'='1")


def test_request_id_search_is_newest_first(hand_ws: Workspace) -> None:
    newest = trace_request(hand_ws.config, hand_ws.lake, "r3")
    assert newest.lookup.partitions_searched == ("2026-11-26",) and newest.lookup.rounds == 1
    oldest = trace_request(hand_ws.config, hand_ws.lake, "r0")
    assert oldest.lookup.partitions_searched == ("2026-11-26", "2026-11-24", "2026-11-23")
    assert oldest.lookup.rounds == 2  # rounds of 1, then 2 partitions


def test_registered_version_carries_lineage_and_aliases(hand_ws: Workspace) -> None:
    store = hand_ws.store
    dataset = declared_dataset(
        "s3://bucket/train/2026-11-20",
        digest="sha256:" + "ab" * 32,
        rows=1000,
        upstream=["play_events:2026-11-20"],
    )
    register_version(
        store,
        model="ranker",
        version="v1",
        artifact_uri="s3://bucket/ranker/v1",
        artifact_digest="sha256:" + "cd" * 32,
        datasets=[dataset],
        created_at=T0 - timedelta(days=4),
    )
    set_alias(store, "ranker", "production", "v1", at=T0 - timedelta(days=3), reason="test")
    set_alias(store, "ranker", "canary", "v1", at=T0 + timedelta(hours=1), reason="test")
    t = trace_request(hand_ws.config, hand_ws.lake, "r1")
    m = t.model
    assert m.registered and m.ref == "ranker@v1"
    assert m.aliases_at_serve == ("production",)  # canary named it only after the request
    assert m.aliases_now == ("canary", "production")
    assert m.lineage is not None
    assert m.lineage["artifact_uri"] == "s3://bucket/ranker/v1"
    assert m.lineage["datasets"][0]["upstream"] == ["play_events: 2026-11-20"]
    assert json.loads(json.dumps(t.to_json()))["model"]["lineage"]["datasets"][0]["rows"] == 1000


def test_to_json_is_json_and_complete(hand_ws: Workspace) -> None:
    d = json.loads(json.dumps(trace_request(hand_ws.config, hand_ws.lake, "r1").to_json(), allow_nan=False))
    assert d["ts"] == "2026-11-24T13:00:00Z"
    assert d["candidate_count"] == 5 and d["shown_count"] == 3
    assert d["stale_groups"] == ["item_stats", "session_context"]
    # largest group first, then by name
    assert [g["source"] for g in d["candidates_by_source"]] == ["collaborative", "popular", "trending"]
    assert d["outcome_window"] == {"start": "2026-11-24T12:50:00Z", "end": "2026-11-25T13:00:00Z"}
    assert {s["stage"] for s in d["stages"]} == {"total", "candidate_generation", "ranking"}


def test_tracing_imports_neither_pandas_nor_pyarrow_compute(hand_ws: Workspace) -> None:
    # Together they cost about 0.4 s of the 1 s budget of `recops trace` (see bench/trace.py).
    code = (
        "import sys\nfrom recops.workspace import Workspace\n"
        "from recops.diagnose.trace import trace_request\n"
        f"with Workspace.open({str(hand_ws.config.root)!r}) as ws: trace_request(ws.config, ws.lake, 'r1')\n"
        "print(sorted(m for m in ('pandas', 'pyarrow.compute') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- CLI


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(["trace"]), list(args))
    if isinstance(result.exception, RecopsError):
        return result.exception.exit_code, result.stdout, str(result.exception)
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_and_errors(hand_ws: Workspace) -> None:
    root = str(hand_ws.config.root)
    code, out, _ = _cli("trace", "r1", "-w", root, "--json")
    assert code == 0
    d = json.loads(out)
    assert d["request_id"] == "r1" and d["candidate_count"] == 5
    assert [o["event"] for o in d["outcomes"]] == [
        "click",
        "impression",
        "impression",
        "click",
        "play",
        "click",
    ]
    code, out, _ = _cli("trace", "--user", "u1", "--at", "2026-11-24T12:00:00Z", "-w", root, "--json")
    assert code == 0 and json.loads(out)["request_id"] == "r0b"
    # a naive --at is read in the workspace zone (UTC here)
    code, out, _ = _cli("trace", "--user", "u1", "--at", "2026-11-24T13:00", "-w", root, "--json")
    assert code == 0 and json.loads(out)["request_id"] == "r1"
    code, out, _ = _cli("trace", "r1", "-w", root, "--json", "--outcome-hours", "0.1")
    assert code == 0 and [o["event"] for o in json.loads(out)["outcomes"]][-1] == "play"
    code, _, message = _cli("trace", "nope", "-w", root)
    assert code == 2 and "no request 'nope'" in message
    code, _, message = _cli("trace", "-w", root)
    assert code == 2 and "REQUEST_ID or --user" in message
    code, _, message = _cli("trace", "--user", "u1", "-w", root)
    assert code == 2 and "--user and --at" in message


def test_cli_rich_output_names_what_matters(hand_ws: Workspace) -> None:
    code, out, _ = _cli("trace", "r1", "-w", str(hand_ws.config.root))
    assert code == 0
    for text in (
        "candidates by source",
        "slate shown",
        "STALE",
        "OVER",
        "recops lineage ranker@v1",
        "outcomes",
    ):
        assert text in out, text


# ----------------------------------------------------------------------------- a simulated world


@pytest.fixture(scope="module")
def sim_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Two days at 2,000 requests a day with session_context stalled for 10 hours on day 2."""
    root = tmp_path_factory.mktemp("trace-world") / "ws"
    stall = Incident(
        "stale_feature_group", start="2026-10-02T04:00", hours=10, params={"group": "session_context"}
    )
    world = simulate(
        SimConfig(seed=11, start="2026-10-01", days=2, requests_per_day=2_000, incidents=[stall])
    )
    world.write(root / "raw", fmt="parquet")
    with Workspace.init(root) as ws:
        for kind in KINDS:  # as the monitors' world builder, minus kinds this world has none of
            if (root / "raw" / kind).exists():
                ingest_files(ws.lake, kind, [root / "raw" / kind])
    shutil.rmtree(root / "raw")
    return root, world


@pytest.fixture
def sim_ws(sim_world: tuple[Path, World]) -> Iterator[Workspace]:
    ws = Workspace.open(sim_world[0])
    yield ws
    ws.close()


def _sql(ws: Workspace, sql: str) -> list[dict[str, Any]]:
    con = ws.lake.connect()
    try:
        rows: list[dict[str, Any]] = con.execute(sql).to_arrow_table().to_pylist()
        return rows
    finally:
        con.close()


def _check_against_lake(ws: Workspace, t: RequestTrace) -> None:
    rid = t.request_id.replace("'", "''")
    (row,) = _sql(
        ws,
        "SELECT ts, user_id, surface, status, latency_ms, len(candidates) AS n, "
        "len(list_filter(candidates, c -> c.position IS NOT NULL)) AS shown, "
        "map_keys(feature_ts) AS groups, "
        "list_transform(map_values(feature_ts), v -> epoch_us(v)) AS feature_us, epoch_us(ts) AS ts_us, "
        "cardinality(features) + cardinality(feature_strings) AS n_features "
        f"FROM requests WHERE request_id = '{rid}'",
    )
    assert (t.ts, t.user_id, t.surface, t.status) == (
        row["ts"],
        row["user_id"],
        row["surface"],
        row["status"],
    )
    assert len(t.candidates) == row["n"] and len(t.slate) == row["shown"]
    assert len(t.features) == row["n_features"]
    per_source = _sql(
        ws,
        "SELECT source, count(*) AS n, count(position) AS shown FROM candidates "
        f"WHERE request_id = '{rid}' GROUP BY source",
    )
    assert {g.source: (len(g.candidates), g.shown) for g in t.by_source} == {
        r["source"]: (r["n"], r["shown"]) for r in per_source
    }
    # feature ages by hand from the stored microseconds, against the configured TTLs
    ttl = {g: c.ttl_hours for g, c in ws.config.feature_groups.items()}
    ages = {g.group: g for g in t.feature_groups if g.looked_up}
    assert set(ages) == set(row["groups"])
    for group, served_us in zip(row["groups"], row["feature_us"], strict=True):
        g = ages[group]
        if served_us is None:
            assert g.age_hours is None and g.stale is True
            continue
        age_us = row["ts_us"] - served_us
        assert g.age_hours == pytest.approx(age_us / 3.6e9, rel=1e-12)
        assert g.stale is (age_us > ttl[group] * 3.6e9)
    # the outcomes that followed: the same rows as SQL over the outcomes view
    served = f"TIMESTAMPTZ '{row['ts'].isoformat()}'"
    expected = _sql(
        ws,
        "SELECT event, item_id, epoch_us(ts) AS us FROM outcomes WHERE request_id = "
        f"'{rid}' AND ts BETWEEN {served} - INTERVAL 10 MINUTE AND {served} + INTERVAL 24 HOUR",
    )
    got = sorted((o.event, o.item_id, round(o.delay_seconds * 1e6) + row["ts_us"]) for o in t.outcomes)
    assert got == sorted((r["event"], r["item_id"], r["us"]) for r in expected)
    impressions = {r["item_id"] for r in expected if r["event"] == "impression"}
    assert {s.item_id for s in t.slate if s.impressed} == impressions & {s.item_id for s in t.slate}


def test_sim_requests_match_the_lake(sim_ws: Workspace) -> None:
    ids = [r["request_id"] for r in _sql(sim_ws, "SELECT request_id FROM requests ORDER BY request_id")]
    sample = random.Random(5).sample(ids, 12)
    for rid in sample:
        _check_against_lake(sim_ws, trace_request(sim_ws.config, sim_ws.lake, rid))


def test_sim_stale_group_is_flagged(sim_ws: Workspace) -> None:
    # requests served with session_context older than its TTL, per plain SQL
    ttl_us = sim_ws.config.feature_groups["session_context"].ttl_hours * 3.6e9
    stale = _sql(
        sim_ws,
        "SELECT request_id FROM requests WHERE status = 'ok' AND "
        f"epoch_us(ts) - epoch_us(feature_ts['session_context']) > {ttl_us} ORDER BY request_id LIMIT 3",
    )
    fresh = _sql(
        sim_ws,
        "SELECT request_id FROM requests WHERE status = 'ok' AND "
        f"epoch_us(ts) - epoch_us(feature_ts['session_context']) <= {ttl_us} ORDER BY request_id LIMIT 3",
    )
    assert stale and fresh  # the incident stalls the group; other hours are fresh
    for r in stale:
        t = trace_request(sim_ws.config, sim_ws.lake, r["request_id"])
        assert "session_context" in t.stale_groups
        _check_against_lake(sim_ws, t)
    for r in fresh:
        assert (
            "session_context" not in trace_request(sim_ws.config, sim_ws.lake, r["request_id"]).stale_groups
        )


def test_sim_user_at_matches_sql(sim_ws: Workspace) -> None:
    rows = _sql(sim_ws, "SELECT user_id, ts FROM requests ORDER BY hash(request_id) LIMIT 5")
    for r in rows:
        at = r["ts"] + timedelta(hours=7)  # often a later request of the same user
        (expected,) = _sql(
            sim_ws,
            f"SELECT request_id, ts FROM requests WHERE user_id = '{r['user_id']}' "
            f"AND ts <= TIMESTAMPTZ '{at.isoformat()}' ORDER BY ts DESC, request_id LIMIT 1",
        )
        t = trace_user_at(sim_ws.config, sim_ws.lake, r["user_id"], at)
        assert (t.request_id, t.ts, t.user_id) == (expected["request_id"], expected["ts"], r["user_id"])
        _check_against_lake(sim_ws, t)
