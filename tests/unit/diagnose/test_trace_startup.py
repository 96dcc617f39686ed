"""``recops trace`` stays light: a SQLite store is read without SQLAlchemy, any other store through it.

The command must finish in under a second over 10M requests (``bench/trace.py``); importing
SQLAlchemy's ORM and the registry alone would take a quarter of it. So the catalog's file
lists and the registry check are plain SQL (``Store.read``); these tests pin that down, and
that the same reads give the same answers on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from recops.diagnose.trace import trace_request
from recops.ingest import ingest_files
from recops.lake.catalog import LIVE_FILES
from recops.registry import register_version
from recops.store import Store
from recops.store.store import head_revision
from recops.workspace import Workspace
from tests.records import request, write_jsonl

HEAVY = ("sqlalchemy", "alembic", "pandas", "recops.registry", "recops.store.tables")


def _ingest(ws: Workspace, tmp_path: Path) -> None:
    days = [request(f"r{d}", ts=f"2026-11-2{d}T13:00:00Z") for d in range(1, 4)]
    outcomes = [{"request_id": "r3", "item_id": "i1", "event": "click", "ts": "2026-11-23T13:01:00Z"}]
    ingest_files(ws.lake, "requests", [write_jsonl(tmp_path / "requests.jsonl", days)])
    ingest_files(ws.lake, "outcomes", [write_jsonl(tmp_path / "outcomes.jsonl", outcomes)])


def _cli(*args: str) -> tuple[dict[str, Any], list[str]]:
    """Run ``recops ARGS`` in a fresh interpreter: its JSON output and the heavy modules it loaded."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['recops', *{list(args)!r}]\n"
        "from recops.cli.main import run\n"
        "try:\n    run()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    output, _, loaded = done.stdout.rstrip().rpartition("\n")
    return json.loads(output), json.loads(loaded)


def test_importing_the_trace_command_loads_no_store_orm() -> None:
    code = f"import sys, recops.cli.trace; print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_trace_of_an_unregistered_version_never_imports_sqlalchemy(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with Workspace.init(root) as ws:
        _ingest(ws, tmp_path)
    traced, loaded = _cli("trace", "r3", "-w", str(root), "--json")
    assert loaded == []
    assert (traced["request_id"], traced["model"]["registered"]) == ("r3", False)
    assert [o["event"] for o in traced["outcomes"]] == ["click"]
    assert traced["lookup"]["partitions_searched"] == ["2026-11-23"]
    with Workspace.open(root) as ws:
        assert traced == json.loads(json.dumps(trace_request(ws.config, ws.lake, "r3").to_json()))
        register_version(ws.store, model="ranker", version="v1", artifact_uri="s3://b/ranker/v1")
    traced, loaded = _cli("trace", "r3", "-w", str(root), "--json")
    assert traced["model"]["registered"] and "recops.registry" in loaded  # the registry, when needed


def test_catalog_and_registry_reads_agree_on_either_store(any_workspace: Workspace, tmp_path: Path) -> None:
    _ingest(any_workspace, tmp_path)
    catalog = any_workspace.lake.catalog
    rows = sorted((r.date, any_workspace.lake.data_dir / r.path) for r in catalog.live_file_rows("requests"))
    assert catalog.live_files_by_date("requests") == rows
    assert [d for d, _ in rows] == ["2026-11-21", "2026-11-22", "2026-11-23"]
    # A fresh Store of the same URL: not opened, so SQLite is read with sqlite3.
    fresh = Store(any_workspace.config.store_url)
    try:
        assert fresh.read(LIVE_FILES, {"kind": "requests"}) == [
            (d, str(p.relative_to(any_workspace.lake.data_dir))) for d, p in rows
        ]
    finally:
        fresh.close()
    t = trace_request(any_workspace.config, any_workspace.lake, "r1")
    assert (t.request_id, t.model.registered, t.lookup.rounds) == ("r1", False, 2)
    created = t.ts - timedelta(days=1)
    register_version(
        any_workspace.store, model="ranker", version="v1", artifact_uri="s3://b", created_at=created
    )
    assert trace_request(any_workspace.config, any_workspace.lake, "r1").model.registered


def test_a_read_of_a_store_not_yet_created_creates_and_migrates_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    store = Store(url)
    try:
        assert store.read(LIVE_FILES, {"kind": "requests"}) == []
        assert store.revision() == head_revision()
    finally:
        store.close()
