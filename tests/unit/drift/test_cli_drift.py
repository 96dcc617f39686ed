"""``recops drift``: exit codes, --json, --html, --save-profile, --segment, sql: over a workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.unit.drift.test_compare import window


def recops(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "recops.cli", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    ref, same, moved = tmp_path / "ref.parquet", tmp_path / "same.parquet", tmp_path / "moved.parquet"
    pq.write_table(window(1), ref)
    pq.write_table(window(2), same)
    pq.write_table(window(3, shift=2.0, moved=0.4), moved)
    return ref, same, moved


def test_json_html_profile_and_exit_codes(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ref, same, moved = files
    html, stored = tmp_path / "report.html", tmp_path / "ref.profile.json"
    done = recops("drift", str(ref), str(moved), "--json", "--html", str(html), "--save-profile", str(stored))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["summary"]["drifted"] == ["price", "country"]
    assert out["html"] == str(html) and out["profile"] == str(stored)
    page = html.read_text()
    assert "<svg" in page and "<script src" not in page and "price" in page
    failed = recops("drift", str(stored), str(moved), "--fail-on-drift", "--columns", "price,clicks")
    assert failed.returncode == 1, failed.stderr
    assert "drift found in 1 column(s): price" in failed.stderr
    assert "price" in failed.stdout and "wasserstein" in failed.stdout
    calm = recops("drift", str(stored), str(same), "--fail-on-drift")
    assert calm.returncode == 0, calm.stderr
    assert "0 of 5 columns drifted" in calm.stdout


def test_segments_profile_only_and_bad_input(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ref, _same, _moved = files
    shifted = tmp_path / "web.parquet"
    pq.write_table(window(4, shift=0.4), shifted)
    done = recops("drift", str(ref), str(shifted), "--segment", "device", "--json", "--fail-on-drift")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["summary"]["drifted"] == []
    assert out["summary"]["drifted_segments"] == [{"segment": "web", "column": "price"}]
    only = recops("drift", str(ref), "--save-profile", str(tmp_path / "p.json"), "--json")
    assert only.returncode == 0 and json.loads(only.stdout)["columns"] == 5
    assert recops("drift", str(ref)).returncode == 2
    unknown = recops("drift", str(ref), str(shifted), "--test", "numeric=nope")
    assert unknown.returncode == 2 and "unknown drift statistic" in unknown.stderr
    missing = recops("drift", str(ref), str(tmp_path / "none.parquet"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_sql_input_over_the_workspace_lake(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ref, _same, _moved = files
    root = tmp_path / "ws"
    assert recops("init", str(root)).returncode == 0
    query = "sql:SELECT 0.0 AS price UNION ALL SELECT 1.0"
    done = recops("drift", str(ref), query, "--columns", "price", "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["columns"][0]["verdict"] == "insufficient data"
    nowhere = recops("drift", str(ref), query, cwd=tmp_path)
    assert nowhere.returncode == 2 and "recops init" in nowhere.stderr
