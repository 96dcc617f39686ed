"""The store behaves the same on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from recops.ingest.pipeline import ingest_files
from recops.store import Store
from recops.workspace import Workspace
from tests.records import request, write_jsonl


def test_migrations_are_idempotent(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    assert {"lake_batches", "lake_files", "ingested_sources"} <= set(store.table_names())
    store.close()


def test_the_head_revision_is_alembics_and_an_up_to_date_store_skips_alembic(store_url: str) -> None:
    import subprocess
    import sys

    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from recops.store.store import MIGRATIONS, head_revision

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()
    store = Store(store_url)
    assert store.revision() == head_revision()
    store.close()
    # Opening an up-to-date store does not import Alembic (a fresh interpreter to tell).
    code = (
        f"import sys; from recops.store import Store; Store({store_url!r}).close(); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ingest_and_read_back(any_workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [request("r1"), request("r2"), request("r1", surface="x")])
    report = ingest_files(any_workspace.lake, "requests", [path])
    assert (report.rows_stored, report.rows_conflict) == (2, 1)
    batches = any_workspace.store.read_table("lake_batches").to_pylist()
    assert [(b["state"], b["rows_stored"], b["rows_quarantined"]) for b in batches] == [("committed", 2, 1)]
    assert batches[0]["committed_at"].tzinfo is not None
    again = ingest_files(any_workspace.lake, "requests", [path])
    assert again.files_skipped == 1


def test_pending_batch_is_aborted_and_cleaned(any_workspace: Workspace, tmp_path: Path) -> None:
    lake = any_workspace.lake
    lake.catalog.begin("20260101T000000-0badf00d", "requests", "file")
    orphan = lake.data_dir / "requests" / "date=2026-01-01" / "part-20260101T000000-0badf00d-0.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"partial")
    with lake.writer():
        pass
    assert not orphan.exists()
    states = {b["batch_id"]: b["state"] for b in any_workspace.store.read_table("lake_batches").to_pylist()}
    assert states["20260101T000000-0badf00d"] == "aborted"


def test_writer_lock_excludes(store_url: str) -> None:
    store = Store(store_url)
    events: list[str] = []

    def hold(name: str) -> None:
        with store.lock("test-lock"):
            events.append(f"{name} in")
            time.sleep(0.3)
            events.append(f"{name} out")

    threads = [threading.Thread(target=hold, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert events in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    store.close()
