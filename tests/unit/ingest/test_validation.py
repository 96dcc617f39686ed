"""Every contract rule refuses a record with its name; valid records are stored exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recops.ingest.pipeline import ingest_files
from recops.workspace import Workspace
from tests.records import request, write_jsonl


def quarantine(ws: Workspace) -> list[dict[str, Any]]:
    con = ws.lake.connect()
    return (
        con.execute("SELECT row, rule, field, detail, record FROM quarantine ORDER BY row")
        .to_arrow_table()
        .to_pylist()
    )


@pytest.mark.parametrize(
    ("record", "rule", "field"),
    [
        ('{"request_id": "x"', "json", None),
        ("[1, 2]", "json", None),
        ({**request("r"), "request_id": None}, "required", "request_id"),
        ({k: v for k, v in request("r").items() if k != "surface"}, "required", "surface"),
        (request("r", latency_ms="12"), "type", "latency_ms"),
        (request("r", context=["tv"]), "type", "context"),
        (request("r", features={"a": [1]}), "type", "features"),
        (request("r", ts="2026-11-24T13:00:00"), "time_format", "ts"),
        (request("r", ts="yesterday"), "time_format", "ts"),
        (request("r", feature_ts={"user_profile": "soon"}), "time_format", "feature_ts"),
        (request("r", status="degraded"), "allowed", "status"),
        (request("r", latency_ms=-1), "minimum", "latency_ms"),
        (request("r", latency_ms=float("nan")), "finite", "latency_ms"),
        (request("r", latency_ms=float("inf")), "finite", "latency_ms"),
        (
            request("r", candidates=[{"item_id": "i", "source": "s", "score": float("nan")}]),
            "candidate",
            "candidates",
        ),
        (request("r", candidates=[{"item_id": "i1"}]), "candidate", "candidates"),
        (
            request("r", candidates=[{"item_id": "i", "source": "s", "position": -1}]),
            "candidate",
            "candidates",
        ),
        (
            request("r", candidates=[{"item_id": "i", "source": "s", "propensity": 0}]),
            "candidate",
            "candidates",
        ),
        (request("r", candidates=[{"item_id": "i", "source": "s", "score": "high"}]), "type", "candidates"),
        (request("r", candidates=None), "required", "candidates"),
    ],
)
def test_each_rule_is_named(
    workspace: Workspace, tmp_path: Path, record: Any, rule: str, field: str | None
) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [request("ok1"), record])
    report = ingest_files(workspace.lake, "requests", [path])
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    [refused] = quarantine(workspace)
    assert (refused["row"], refused["rule"], refused["field"]) == (2, rule, field)
    assert refused["detail"]
    assert refused["record"]  # the original text is kept for the operator


def test_valid_record_is_stored_in_contract_form(workspace: Workspace, tmp_path: Path) -> None:
    record = request("r1", ts=1764000000123, user_id=42)
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "r.jsonl", [record])])
    con = workspace.lake.connect()
    row = con.execute(
        "SELECT request_id, user_id, epoch_ms(ts), features, feature_strings, stage_latency_ms, "
        "epoch_ms(feature_ts['user_profile']), candidates FROM requests"
    ).fetchall()[0]
    assert row[0] == "r1" and row[1] == "42" and row[2] == 1764000000123
    assert row[3] == {"missing": None, "tenure_days": 300.0}
    assert row[4] == {"genre": "drama"}
    assert row[5] == {"candidate_generation": 4.5, "ranking": 5.0}
    assert row[6] == 1795521600000  # 2026-11-24T12:00:00Z
    assert row[7][0] == {
        "item_id": "i1",
        "source": "trending",
        "score": 0.5,
        "position": 0,
        "propensity": 0.9,
    }
    assert row[7][1]["position"] is None and row[7][1]["propensity"] is None


def test_offsets_are_converted_to_utc(workspace: Workspace, tmp_path: Path) -> None:
    record = request("r1", ts="2026-11-24T15:00:00+02:00")
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "r.jsonl", [record])])
    got = workspace.lake.connect().execute("SELECT strftime(ts, '%Y-%m-%dT%H:%M') FROM requests").fetchall()
    assert got == [("2026-11-24T13:00",)]


def test_gzip_and_blank_lines(workspace: Workspace, tmp_path: Path) -> None:
    import gzip
    import json

    path = tmp_path / "r.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(request("a")) + "\n\n" + json.dumps(request("b")) + "\n")
    report = ingest_files(workspace.lake, "requests", [path])
    assert report.rows_stored == 2 and report.rows_quarantined == 0


def test_unknown_kind_is_bad_input(workspace: Workspace, tmp_path: Path) -> None:
    from recops.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown record kind 'clicks'"):
        ingest_files(workspace.lake, "clicks", [write_jsonl(tmp_path / "r.jsonl", [request()])])


@pytest.mark.parametrize(
    ("value", "rule"),
    [("many", "type"), (1.5, "type"), (-3, "minimum"), (True, "type"), ({"n": 1}, "type")],
)
def test_a_bad_value_refuses_its_record_not_the_file(
    workspace: Workspace, tmp_path: Path, value: Any, rule: str
) -> None:
    landed = "2026-11-24T02:00:00Z"
    good = {"source": "catalog", "partition": "2026-11-24", "landed_at": landed, "row_count": 5}
    bad = {**good, "partition": "2026-11-25", "row_count": value}
    report = ingest_files(workspace.lake, "arrivals", [write_jsonl(tmp_path / "a.jsonl", [good, bad, good])])
    assert (report.rows_stored, report.rows_duplicate, report.rows_quarantined) == (1, 1, 1)
    assert [(r["row"], r["rule"], r["field"]) for r in quarantine(workspace)] == [(2, rule, "row_count")]
