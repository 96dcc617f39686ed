"""The serving logger's spool files go through `recops ingest` and come out as logged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from recops.errors import InvalidInput
from recops.ingest.pipeline import ingest_files
from recops.sdk import OutcomeLogger, RequestLogger
from recops.workspace import Workspace


def test_logged_requests_and_outcomes_reach_the_lake(workspace: Workspace, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    ts = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    with (
        RequestLogger(spool, batch_size=50) as requests,
        OutcomeLogger(tmp_path / "outcome-spool") as outcomes,
    ):
        for i in range(120):
            requests.log(
                request_id=f"r{i}",
                ts=ts,
                surface="home_row",
                user_id=f"u{i % 7}",
                model="ranker",
                model_version="v13",
                status="ok",
                latency_ms=40.0 + i,
                context={"device": "tv"},
                features={"tenure_days": float(i), "genre": "drama"},
                feature_ts={"user_profile": ts},
                candidates=[{"item_id": f"i{j}", "source": "trending", "score": 1.0 / (j + 1), "position": j}
                            for j in range(20)],
            )  # fmt: skip
            outcomes.log(request_id=f"r{i}", item_id="i0", ts=ts, event="click")
    report = ingest_files(workspace.lake, "requests", [spool])
    assert (report.rows_stored, report.rows_quarantined) == (120, 0)
    assert ingest_files(workspace.lake, "outcomes", [tmp_path / "outcome-spool"]).rows_stored == 120
    con = workspace.lake.connect()
    got = con.execute(
        "SELECT count(*), sum(latency_ms), count(DISTINCT user_id), sum(len(candidates)), "
        "any_value(feature_strings['genre']) FROM requests"
    ).fetchall()[0]
    assert got == (120, sum(40.0 + i for i in range(120)), 7, 2400, "drama")
    assert con.execute("SELECT count(*) FROM candidates WHERE position = 0").fetchall()[0][0] == 120


def test_spooled_records_that_cannot_be_converted_go_to_quarantine_with_their_field(
    workspace: Workspace, tmp_path: Path
) -> None:
    # The logger spools every record as the caller packed it (decision 0056); what cannot
    # be converted is refused at ingest, naming the record, the rule and the field.
    spool = tmp_path / "spool"
    base = {
        "surface": "home_row",
        "user_id": "u1",
        "model": "ranker",
        "model_version": "v13",
        "status": "ok",
        "latency_ms": 41.0,
        "candidates": [{"item_id": "i1", "source": "trending", "score": 0.5, "position": 0}],
    }
    with RequestLogger(spool) as logger:
        logger.log(request_id="good", **base)
        logger.log(request_id="slow", **{**base, "latency_ms": "fast"})
        logger.log(request_id="nameless", **{**base, "surface": None})
        logger.log(request_id="badpos", **{**base, "candidates": [{"item_id": "a", "position": "top"}]})
    report = ingest_files(workspace.lake, "requests", [spool])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (4, 1, 3)
    con = workspace.lake.connect()
    rows = con.execute("SELECT record ->> 'request_id', rule, field FROM quarantine ORDER BY 1").fetchall()
    assert rows == [
        ("badpos", "type", "candidates.position"),
        ("nameless", "required", "surface"),
        ("slow", "type", "latency_ms"),
    ]
    assert con.execute("SELECT request_id FROM requests").fetchall() == [("good",)]
    # the record as the caller passed it: named fields, times in RFC 3339, the bad value
    query = "SELECT record, detail FROM quarantine WHERE record ->> 'request_id' = 'slow'"
    [(record, detail)] = con.execute(query).fetchall()
    assert '"latency_ms":"fast"' in record and '"surface":"home_row"' in record
    assert detail == "cannot convert: 'fast' (str) is not a double"
    # the files of one kind are refused as another, by name
    with pytest.raises(InvalidInput, match="kind requests, not outcomes"):
        ingest_files(workspace.lake, "outcomes", [next(spool.glob("*.parquet"))])


def test_remove_ingested_empties_the_spool_once_each_file_is_in_the_lake(
    workspace: Workspace, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    with OutcomeLogger(spool, batch_size=10) as logger:
        for i in range(25):
            logger.log(request_id=f"r{i}", item_id="i0", event="click")
    files = sorted(spool.glob("*.parquet"))
    assert len(files) == 3
    first = ingest_files(workspace.lake, "outcomes", [files[0]])  # kept: no --remove-ingested
    assert (first.rows_stored, first.files_removed) == (10, 0) and files[0].exists()
    # the file ingested before is found unchanged and removed too, without being read again
    report = ingest_files(workspace.lake, "outcomes", [spool], remove=True)
    assert (report.files_read, report.files_skipped, report.rows_stored) == (2, 1, 15)
    assert report.files_removed == 3 and not list(spool.iterdir())
    count = workspace.lake.connect().execute("SELECT count(*) FROM outcomes").fetchall()[0][0]
    assert count == 25
