"""`recops ingest KIND --watch DIR` picks up files as they appear, each once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from recops.workspace import Workspace
from tests.records import request, write_jsonl


def stored(root: Path) -> int:
    with Workspace.open(root) as ws:
        return int(ws.lake.connect().execute("SELECT count(*) FROM requests").fetchall()[0][0])


def wait_for(root: Path, expected: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (n := stored(root)) == expected:
            return n
        time.sleep(0.2)
    return stored(root)


def start_watching(tmp_path: Path, *options: str) -> tuple[Path, Path, subprocess.Popen[str]]:
    """A workspace, a spool holding r1 and r2, and ``recops ingest requests --watch`` on it."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    spool = tmp_path / "spool"
    spool.mkdir()
    write_jsonl(spool / "a.jsonl", [request("r1"), request("r2")])
    cmd = [sys.executable, "-m", "recops.cli", "ingest", "requests", "--watch", str(spool)]
    cmd += ["--interval", "0.2", *options, "-w", str(root), "--json"]
    return root, spool, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_watch_ingests_new_files(tmp_path: Path) -> None:
    root, spool, proc = start_watching(tmp_path)
    try:
        assert wait_for(root, 2) == 2
        (spool / ".b.jsonl.tmp").write_text("")  # a file being written is ignored...
        write_jsonl(spool / "b.jsonl", [request("r2"), request("r3")])  # ...a complete one is not
        assert wait_for(root, 3) == 3
        time.sleep(1.0)  # further scans find nothing new
        assert stored(root) == 3
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_watch_with_remove_ingested_keeps_the_spool_empty(tmp_path: Path) -> None:
    root, spool, proc = start_watching(tmp_path, "--remove-ingested")
    try:
        assert wait_for(root, 2) == 2
        write_jsonl(spool / "b.jsonl", [request("r3")])
        assert wait_for(root, 3) == 3
        deadline = time.monotonic() + 10
        while any(spool.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(spool.iterdir())  # each file removed once committed
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    reports = [json.loads(line) for line in out.splitlines()]  # one JSON line per scan that read files
    assert sum(r["rows_stored"] for r in reports) == 3
    assert sum(r["files_removed"] for r in reports) == 2
