"""An ingest killed with SIGKILL at random points leaves all of a batch or none of it.

Each round starts `recops ingest` in a subprocess, kills it after a random delay (spread
over reading, staging, writing Parquet and the store commit), then checks that the lake
holds either nothing from the batch or all of it, and that a re-run ends with exactly one
copy of every record.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recops.workspace import Workspace
from tests.records import request

pytestmark = pytest.mark.slow

ROUNDS = 22
RECORDS_PER_FILE = 4_000
FILES = 3


def make_inputs(folder: Path) -> int:
    folder.mkdir()
    n = 0
    for f in range(FILES):
        with open(folder / f"part-{f}.jsonl", "w") as handle:
            for i in range(RECORDS_PER_FILE):
                handle.write(json.dumps(request(f"r{f}-{i}", user_id=f"u{i % 97}")) + "\n")
                n += 1
    return n


def ingest_cmd(root: Path, folder: Path) -> list[str]:
    return [sys.executable, "-m", "recops.cli", "ingest", "requests", str(folder), "-w", str(root), "--json"]


def stored(ws_root: Path) -> tuple[int, int]:
    with Workspace.open(ws_root) as ws:
        con = ws.lake.connect()
        total, distinct = con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchall()[
            0
        ]
    return int(total), int(distinct)


def test_sigkill_at_random_points_never_leaves_a_partial_batch(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    expected = make_inputs(tmp_path / "in")
    # Time one full run to spread kill points over its whole length, commit included.
    probe = Workspace.init(tmp_path / "probe")
    probe.close()
    started = time.perf_counter()
    subprocess.run(ingest_cmd(tmp_path / "probe", tmp_path / "in"), check=True, capture_output=True)
    full = time.perf_counter() - started
    outcomes = {"none": 0, "all": 0}
    round_no = 0
    # Keep going past ROUNDS (up to twice) until kills have landed on both sides of the commit.
    while round_no < ROUNDS or (round_no < 2 * ROUNDS and 0 in outcomes.values()):
        root = tmp_path / f"ws{round_no}"
        Workspace.init(root).close()
        proc = subprocess.Popen(
            ingest_cmd(root, tmp_path / "in"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.05, full * 1.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        total, distinct = stored(root)
        # One batch holds all three files: all of it or none of it, never a part.
        assert total == distinct, f"round {round_no}: duplicated rows"
        assert total in (0, expected), f"round {round_no}: partial batch of {total} rows"
        outcomes["all" if total else "none"] += 1
        started = time.perf_counter()
        rerun = subprocess.run(ingest_cmd(root, tmp_path / "in"), capture_output=True, text=True, check=True)
        if total == 0:  # a whole ingest: follow the machine's load when spreading kill points
            full = max(full, time.perf_counter() - started)
        assert stored(root) == (expected, expected), f"round {round_no}: re-run gave {stored(root)}"
        report = json.loads(rerun.stdout)
        assert report["rows_stored"] in (0, expected)
        # Files of the killed batch are gone from disk too (cleaned by the next writer).
        on_disk = {p.name for p in (root / "data" / "requests").rglob("*.parquet")}
        with Workspace.open(root) as ws:
            listed = {p.name for p in ws.lake.catalog.live_files("requests")}
        assert on_disk == listed
        round_no += 1
    # The kill points must have hit both before and after the commit.
    assert outcomes["none"] > 0 and outcomes["all"] > 0, outcomes
