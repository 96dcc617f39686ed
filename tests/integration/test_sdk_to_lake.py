"""The serving logger's spool files go through `recops ingest` and come out as logged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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
