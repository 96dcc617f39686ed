"""``recops trace`` stays light: a SQLite store is read without SQLAlchemy, any other store through it.

The command must finish in under a second over 10M requests (``bench/trace.py``); importing
SQLAlchemy's ORM and the registry's writers would take a third of it. So the catalog's file
lists, the registry check and a registered version's lineage and alias history are plain
SQL (``Store.read``, the registry's reads in ``recops.registry.reads``); these tests pin that
down, and that the same reads give the same answers on PostgreSQL and through the ORM.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from recops.diagnose.trace import trace_request
from recops.errors import NotFound
from recops.ingest import ingest_files
from recops.lake.catalog import LIVE_FILES
from recops.registry import (
    AliasEvent,
    CodeRef,
    alias_history,
    describe_dataset,
    get_version,
    list_versions,
    record_validation,
    register_version,
    remove_alias,
    set_alias,
)
from recops.store import Store
from recops.store.store import head_revision
from recops.workspace import Workspace
from tests.records import request, write_jsonl

HEAVY = ("sqlalchemy", "alembic", "pandas", "recops.registry", "recops.store.tables")
#: What a trace of a registered version must not load: the ORM (and on SQLite SQLAlchemy at all).
ORM = ("sqlalchemy.orm", "alembic", "pandas", "recops.store.tables")


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
    assert traced["model"]["registered"] and "recops.registry.lineage" in loaded  # the registry, when needed
    assert not [m for m in loaded if m.startswith(("sqlalchemy", "alembic", "recops.store.tables"))]


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


def _register_with_history(ws: Workspace, tmp_path: Path) -> list[AliasEvent]:
    """ranker@v1 (a computed dataset, code) and v2, and alias moves around the requests
    r1, r2, r3 (served by v1 at 13:00 on 2026-11-21, 22, 23); the events the moves returned."""
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [{"ts": f"2026-11-0{d}T06:00:00Z", "x": d, "ok": d % 2 == 0} for d in range(1, 9)],
    )
    upstream = [f"events:2026-11-0{d}" for d in range(1, 9)] + ["clicks:2026-11-02T05"]
    dataset = describe_dataset(train, name="train", time_column="ts", upstream=upstream)
    code = CodeRef("https://git.example/reco.git", "0123abcd", True, "sha256:" + "e" * 64, "main", "ranker")
    created = datetime(2026, 11, 20, 8, 0, 0, 500_000, tzinfo=UTC)
    store = ws.store
    register_version(
        store,
        model="ranker",
        version="v1",
        artifact_uri="s3://b/ranker/v1",
        datasets=[dataset],
        code=code,
        metrics={"auc": 0.71},
        created_at=created,
    )
    register_version(store, model="ranker", version="v2", artifact_uri="s3://b/ranker/v2", created_at=created)
    day = datetime(2026, 11, 21, tzinfo=UTC)
    serve3 = datetime(2026, 11, 23, 13, tzinfo=UTC)
    moves = [
        set_alias(store, "ranker", "production", "v1", at=day),
        set_alias(store, "ranker", "canary", "v1", at=day + timedelta(days=1, hours=12)),
        set_alias(store, "ranker", "canary", "v2", at=serve3 - timedelta(microseconds=1)),  # ends before r3
        set_alias(store, "ranker", "production", "v2", at=serve3),  # ends exactly at r3: not at serve
        set_alias(store, "ranker", "fallback", "v1", at=serve3),  # starts exactly at r3: at serve
        set_alias(store, "ranker", "shadow", "v1", at=serve3 + timedelta(hours=1)),
        remove_alias(store, "ranker", "shadow", at=serve3 + timedelta(hours=11)),
    ]
    return [m for m in moves if m is not None]


def test_a_registered_versions_lineage_and_aliases_read_in_plain_sql(
    any_workspace: Workspace, tmp_path: Path
) -> None:
    _ingest(any_workspace, tmp_path)
    moves = _register_with_history(any_workspace, tmp_path)
    store = any_workspace.store
    # The plain-SQL reads give what the ORM maps and what the writes returned.
    orm = {v.version: v for v in list_versions(store, "ranker")}
    assert get_version(store, "ranker", "v1") == orm["v1"] and get_version(store, "ranker", "v2") == orm["v2"]
    assert orm["v1"].datasets[0].computed is True and orm["v1"].datasets[0].time_min is not None
    assert alias_history(store, "ranker") == moves
    assert alias_history(store, "ranker", "canary") == [m for m in moves if m.alias == "canary"]

    expected = {
        "r1": ["production"],
        "r2": ["canary", "production"],
        "r3": ["fallback"],  # canary moved 1 µs before, production at the instant it was served
    }
    root = str(any_workspace.config.root)
    for rid, at_serve in expected.items():
        local = json.loads(json.dumps(trace_request(any_workspace.config, any_workspace.lake, rid).to_json()))
        traced, loaded = _cli("trace", rid, "-w", root, "--json")  # a new process: sqlite3 for SQLite
        assert traced == local
        assert not [m for m in loaded if m.startswith(ORM)]
        if any_workspace.store.url.startswith("sqlite"):
            assert not [m for m in loaded if m.startswith("sqlalchemy")]
        model = traced["model"]
        assert (model["ref"], model["registered"]) == ("ranker@v1", True)
        assert model["lineage_command"] == "recops lineage ranker@v1"
        assert (model["aliases_at_serve"], model["aliases_now"]) == (at_serve, ["fallback"])
    lineage = model["lineage"]
    assert lineage["created_at"] == "2026-11-20T08:00:00.500000Z"
    assert lineage["code"] == {"repo": "https://git.example/reco.git", "commit": "0123abcd", "dirty": True}
    assert lineage["metrics"] == {"auc": 0.71} and lineage["artifact_uri"] == "s3://b/ranker/v1"
    [train] = lineage["datasets"]
    assert (train["name"], train["role"], train["rows"]) == ("train", "train", 8)
    assert train["digest"].startswith("sha256:")
    assert train["upstream"] == ["clicks: 2026-11-02T05", "events: 2026-11-01 … 2026-11-08 (8 partitions)"]


def test_a_missing_version_is_named_alike_by_the_plain_sql_and_the_orm(any_workspace: Workspace) -> None:
    store = any_workspace.store
    with pytest.raises(NotFound, match=r"^no model 'ranker' in the registry$"):
        get_version(store, "ranker", "v1")
    created = datetime(2026, 11, 20, tzinfo=UTC)
    for n in range(1, 8):  # the five newest are named, newest first
        register_version(
            store,
            model="ranker",
            version=str(n),
            artifact_uri="s3://b",
            created_at=created + timedelta(hours=n),
        )
    message = r"^no version ranker@9; latest: 7, 6, 5, 4, 3$"
    with pytest.raises(NotFound, match=message):
        get_version(store, "ranker", "9")  # plain SQL
    with pytest.raises(NotFound, match=message):
        record_validation(store, "ranker", "9", name="offline", passed=True)  # the ORM session's query
    assert alias_history(store, "nobody") == []
