"""Lake upkeep, the dead man's switch, config validation and the MLflow import over the API.

Expectations come from outside the code under test: the lake catalog and the Parquet files
on disk (counted here with SQL and pyarrow), the lake batches table, recops.toml as
written here, and a real `mlflow server` (the integration test's fixture) populated
through MLflow's own client.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from recops.detect.alerts import list_alerts
from recops.registry import audit
from recops.registry.entities import AuditEntry
from recops.registry.versions import get_version
from recops.workspace import Workspace
from tests.integration import test_mlflow_import as mlflow_it
from tests.records import request, write_jsonl
from tests.server.conftest import ServerWorld, bearer, free_port
from tests.server.test_api import ok, strict, workspace_of

SMALL = 64 << 20  # what compaction counts as a small file
mlflow_server = mlflow_it.mlflow_server  # the real MLflow server fixture, shared with the integration test


@pytest.fixture
def admin(server_world: ServerWorld) -> dict[str, str]:
    return bearer(server_world, "admin")


def catalog(root: Path, where: str = "removed_at IS NULL") -> list[tuple[str, str, str, int, int]]:
    """(path, kind, date, rows, bytes) of lake files, read straight from the store's table."""
    with sqlite3.connect(root / "recops.db") as con:
        return con.execute(f"SELECT path, kind, date, rows, bytes FROM lake_files WHERE {where}").fetchall()


def parquet_rows(root: Path, paths: list[str]) -> int:
    return sum(pq.ParquetFile(root / "data" / p).metadata.num_rows for p in paths)


def written_by(ws: Workspace, actor: str, after: int) -> list[AuditEntry]:
    return [e for e in audit.entries(ws.store, after=after) if e.actor == actor]


def head(ws: Workspace) -> int:
    last = audit.entries(ws.store, limit=1, newest_first=True)
    return last[0].seq if last else 0


def ingest_cli(root: Path, path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "recops.cli", "ingest", "requests", str(path), "-w", str(root), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# --- lake upkeep --------------------------------------------------------------------------


def test_compact_rewrites_partitions_of_small_files_and_keeps_every_row(
    writable_client: TestClient, writable_root: Path, admin: dict[str, str], tmp_path: Path
) -> None:
    # Two more batches into one day: that partition then holds three small files.
    for i in range(2):
        records = [request(f"compact-{i}-{n}", ts=f"2026-10-21T1{i}:0{n}:00Z") for n in range(3)]
        ingest_cli(writable_root, write_jsonl(tmp_path / f"batch-{i}.jsonl", records))
    live = catalog(writable_root)
    per_partition = Counter((kind, day) for _, kind, day, _, size in live if size < SMALL)
    expected = {p: n for p, n in per_partition.items() if n >= 2}
    assert expected.get(("requests", "2026-10-21"), 0) >= 3, per_partition
    rows_before = {
        kind: parquet_rows(writable_root, [p for p, k, *_ in live if k == kind]) for kind, _ in expected
    }
    ws = workspace_of(writable_client)
    start = head(ws)

    body = ok(writable_client.post("/api/lake/compact", headers=admin, json={"min_files": 2}))

    assert body["partitions"] == len(expected) and body["files_after"] == len(expected)
    assert body["files_before"] == sum(expected.values()) and body["min_files"] == 2
    after = catalog(writable_root)
    now_per_partition = Counter((kind, day) for _, kind, day, *_ in after)
    assert all(now_per_partition[p] == 1 for p in expected)
    for kind in rows_before:
        assert parquet_rows(writable_root, [p for p, k, *_ in after if k == kind]) == rows_before[kind]
    assert body["rows"] == sum(r for _, k, d, r, _ in after if (k, d) in expected)
    [entry] = written_by(ws, "token:test-admin", start)
    assert entry.action == "lake.compact" and entry.seq == body["audit_seq"]
    assert entry.payload["partitions"] == len(expected)


def test_retention_hides_old_partitions_and_vacuum_deletes_them_after_the_grace(
    writable_client: TestClient, writable_root: Path, admin: dict[str, str]
) -> None:
    ws = workspace_of(writable_client)
    start = head(ws)
    # The workspace keeps everything by default (lake.retention_days = 0): nothing hidden.
    assert ok(writable_client.post("/api/lake/retention", headers=admin)) | {"audit_seq": 0} == {
        "days": ws.config.retention_days,
        "files_expired": 0,
        "audit_seq": 0,
    }
    cutoff = date(2026, 10, 15)
    days = (datetime.now(UTC).date() - cutoff).days
    old = [row for row in catalog(writable_root) if row[2] < cutoff.isoformat()]
    assert old  # the world starts on 2026-10-01

    body = ok(writable_client.post("/api/lake/retention", headers=admin, json={"days": days}))

    assert body["files_expired"] == len(old) and body["days"] == days
    assert [r for r in catalog(writable_root) if r[2] < cutoff.isoformat()] == []
    hidden = {r[0] for r in catalog(writable_root, "removed_at IS NOT NULL")}
    assert {r[0] for r in old} <= hidden
    # Hidden a moment ago: an hour's grace deletes none of them; no grace deletes them all.
    kept = ok(writable_client.post("/api/lake/vacuum", headers=admin, json={"grace_minutes": 60}))
    assert kept["files_deleted"] == 0 and all((writable_root / "data" / p).exists() for p in hidden)
    gone = ok(writable_client.post("/api/lake/vacuum", headers=admin, json={"grace_minutes": 0}))
    assert gone["files_deleted"] == len(hidden)
    assert not any((writable_root / "data" / p).exists() for p in hidden)
    assert catalog(writable_root, "removed_at IS NOT NULL") == []
    assert all((writable_root / "data" / r[0]).exists() for r in catalog(writable_root))
    actions = [e.action for e in written_by(ws, "token:test-admin", start)]
    assert actions == ["lake.retention", "lake.retention", "lake.vacuum", "lake.vacuum"]


def test_lake_upkeep_refuses_bad_values(writable_client: TestClient, admin: dict[str, str]) -> None:
    ws = workspace_of(writable_client)
    start = head(ws)
    for url, body in (
        ("/api/lake/compact", {"min_files": 1}),
        ("/api/lake/retention", {"days": -1}),
        ("/api/lake/vacuum", {"grace_minutes": -5}),
    ):
        assert writable_client.post(url, headers=admin, json=body).status_code == 422, url
    assert head(ws) == start


# --- the dead man's switch ----------------------------------------------------------------


def test_deadman_reports_the_clocks_and_raises_nothing(client: TestClient, server_world: ServerWorld) -> None:
    ws = workspace_of(client)
    alerts_before = [a.to_dict() for a in list_alerts(ws.store, limit=None)]
    with sqlite3.connect(server_world.root / "recops.db") as con:
        last = dict(
            con.execute(
                "SELECT kind, max(committed_at) FROM lake_batches WHERE state = 'committed' "
                "AND origin != 'compaction' GROUP BY kind"
            ).fetchall()
        )
        beat = con.execute("SELECT value FROM monitor_state WHERE key = 'heartbeat'").fetchone()

    assert client.get("/api/alerts/deadman").status_code == 401
    rows = ok(client.get("/api/alerts/deadman", headers=bearer(server_world, "viewer")))

    data = {r["subject"]: r for r in rows if r["metric"] == "data_silence"}
    assert set(data) == {k for k in ("requests", "outcomes", "arrivals") if k in last}
    for kind, row in data.items():
        assert datetime.fromisoformat(row["last"]) == datetime.fromisoformat(last[kind]).replace(tzinfo=UTC)
        quiet = (datetime.now(UTC) - datetime.fromisoformat(row["last"])) / timedelta(minutes=1)
        assert row["quiet_minutes"] == pytest.approx(quiet, abs=1.0)
        assert row["tripped"] is (row["quiet_minutes"] > row["limit_minutes"])
    # Clocks run on commit times (when the world was built), not on the simulated weeks.
    assert data["requests"]["limit_minutes"] == ws.config.detection.data_silence_minutes
    monitor = [r for r in rows if r["metric"] == "monitor_silence"]
    assert [datetime.fromisoformat(r["last"]) for r in monitor] == (
        [datetime.fromisoformat(beat[0])] if beat else []
    )
    # A read: no alert was raised, resolved or changed.
    assert [a.to_dict() for a in list_alerts(ws.store, limit=None)] == alerts_before


# --- config validation --------------------------------------------------------------------


def test_config_validate_is_for_admins(client: TestClient, server_world: ServerWorld) -> None:
    assert client.get("/api/config/validate").status_code == 401
    for role in ("viewer", "ingest", "operator"):
        assert client.get("/api/config/validate", headers=bearer(server_world, role)).status_code == 403
    body = ok(client.get("/api/config/validate", headers=bearer(server_world, "admin")))
    cfg = workspace_of(client).config
    assert body["valid"] is True and body["problems"] == [] and body["matches_running"] is True
    assert body["config"] == str(server_world.root / "recops.toml")
    assert body["summary"]["timezone"] == cfg.timezone == "UTC"
    assert body["summary"]["store_url"] == f"sqlite:///{server_world.root / 'recops.db'}"
    assert body["summary"]["sources"] == {name: s.schedule for name, s in cfg.sources.items()}


def test_config_validate_reports_the_problem_and_never_a_secret(
    writable_client: TestClient, writable_root: Path, admin: dict[str, str]
) -> None:
    path = writable_root / "recops.toml"
    text = path.read_text()
    secret_url = "postgresql+psycopg://recops:s3cret-pw@db.internal:5432/recops?sslpassword=k3y"
    path.write_text(text.replace('store_url = "sqlite:///recops.db"', f'store_url = "{secret_url}"'))
    response = writable_client.get("/api/config/validate", headers=admin)
    body = ok(response)
    assert body["valid"] is True and body["matches_running"] is False  # edited since the server started
    assert "s3cret-pw" not in response.text and "k3y" not in response.text
    assert body["summary"]["store_url"] == "postgresql+psycopg://recops:***@db.internal:5432/recops"

    path.write_text(text.replace("[server]", "[server]\nportt = 1"))
    body = ok(writable_client.get("/api/config/validate", headers=admin))
    assert body["valid"] is False and body["summary"] is None and body["matches_running"] is False
    [problem] = body["problems"]
    assert problem["key"] == "server.portt" and "unknown key" in problem["message"]

    path.write_text("[workspace\n")
    body = ok(writable_client.get("/api/config/validate", headers=admin))
    assert body["valid"] is False and "not valid TOML" in body["problems"][0]["message"]


# --- MLflow import ------------------------------------------------------------------------


def _import(client: TestClient, server_world: ServerWorld, payload: dict[str, Any]) -> Any:
    return client.post("/api/models/import/mlflow", headers=bearer(server_world, "admin"), json=payload)


def test_mlflow_import_refuses_a_bad_uri_and_names_an_unreachable_server(
    writable_client: TestClient, server_world: ServerWorld
) -> None:
    ws = workspace_of(writable_client)
    start = head(ws)
    bad = _import(writable_client, server_world, {"tracking_uri": "ftp://mlflow.example"})
    assert bad.status_code == 400 and "http(s)://HOST:PORT" in strict(bad)["detail"]
    port = free_port()  # nothing listens there
    down = _import(
        writable_client, server_world, {"tracking_uri": f"http://127.0.0.1:{port}", "timeout_seconds": 5}
    )
    assert down.status_code == 502
    assert strict(down)["error"] == "MlflowError"
    assert f"cannot reach MLflow at http://127.0.0.1:{port}" in strict(down)["detail"]
    assert (
        _import(writable_client, server_world, {"tracking_uri": "http://x", "timeout_seconds": 0}).status_code
        == 422
    )
    assert head(ws) == start  # nothing written, nothing audited


@pytest.mark.slow
def test_mlflow_import_from_a_real_server_is_audited_as_the_token(
    mlflow_server: str, writable_client: TestClient, server_world: ServerWorld
) -> None:
    truth = mlflow_it.populate(mlflow_server, "api", "1")
    ranker, retrieval = "api-ranker", "api-retrieval"
    ws = workspace_of(writable_client)
    start = head(ws)

    body = ok(
        _import(writable_client, server_world, {"tracking_uri": mlflow_server, "models": [ranker, retrieval]})
    )

    assert sorted(body["added"]) == sorted(truth) and body["skipped"] == []
    assert sorted(body["aliases_moved"]) == [f"{ranker}:canary → 2", f"{ranker}:production → 1"]
    for ref, seen in truth.items():
        model, version = ref.split("@")
        stored = get_version(ws.store, model, version)
        assert stored.origin == "mlflow" and stored.artifact_uri == seen["source"]
    [entry] = written_by(ws, "token:test-admin", start)
    assert entry.action == "mlflow.import" and entry.seq == body["audit_seq"]
    assert entry.subject == f"mlflow:{mlflow_server}" and sorted(entry.payload["added"]) == sorted(truth)

    again = ok(_import(writable_client, server_world, {"tracking_uri": mlflow_server, "models": [ranker]}))
    assert again["added"] == [] and sorted(again["skipped"]) == [f"{ranker}@1", f"{ranker}@2"]
    # A server that answers but is not MLflow's API (404 on its paths) is MLflow's failure too.
    wrong = _import(writable_client, server_world, {"tracking_uri": f"{mlflow_server}/not-mlflow"})
    assert wrong.status_code == 502, wrong.text
