"""The CLI face: exit codes 0/2, --json shapes, workspace discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.records import request, write_jsonl


def recops(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recops.cli", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    assert recops("init", str(root)).returncode == 0
    return root


def test_ingest_and_sql_json(ws: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [request("r1"), request("r2", status="nope")])
    done = recops("ingest", "requests", str(path), "-w", str(ws), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows_stored"] == 1 and report["quarantined_by_rule"] == {"allowed": 1}
    out = recops("sql", "SELECT request_id FROM requests", "--json", cwd=ws)  # found from the cwd
    assert json.loads(out.stdout) == [{"request_id": "r1"}]
    csv = recops("sql", "SELECT rule, row FROM quarantine", "--csv", "-w", str(ws))
    assert csv.stdout.splitlines() == ["rule,row", "allowed,2"]


def test_sql_json_is_strict_json_with_maps_as_objects(ws: Path) -> None:
    query = "SELECT 'nan'::DOUBLE AS x, '-inf'::DOUBLE AS y, 1.5::DOUBLE AS z, MAP {'a': 'nan'::DOUBLE} AS m"
    out = recops("sql", query, "--json", "-w", str(ws))
    assert out.returncode == 0, out.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    rows = json.loads(out.stdout, parse_constant=refuse)
    assert rows == [{"x": None, "y": None, "z": 1.5, "m": {"a": None}}]


def test_bad_input_exits_2_with_a_clear_message(ws: Path, tmp_path: Path) -> None:
    refused = recops("sql", "DROP TABLE requests", "-w", str(ws))
    assert refused.returncode == 2 and "read-only" in refused.stderr
    unknown = recops("ingest", "clicks", str(tmp_path), "-w", str(ws))
    assert unknown.returncode == 2 and "unknown record kind" in unknown.stderr
    missing = recops("ingest", "requests", str(tmp_path / "nope.jsonl"), "-w", str(ws))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    nowhere = recops("sql", "SELECT 1", cwd=tmp_path)
    assert nowhere.returncode == 2 and "recops init" in nowhere.stderr
    usage = recops("ingest")
    assert usage.returncode == 2
    (tmp_path / "empty").mkdir()
    nothing = recops("ingest", "requests", str(tmp_path / "empty"), "-w", str(ws))
    assert nothing.returncode == 0 and "no Parquet or JSON Lines files" in nothing.stderr


def test_config_validate(ws: Path) -> None:
    good = recops("config", "validate", "-w", str(ws), "--json")
    assert good.returncode == 0 and json.loads(good.stdout)["valid"] is True
    (ws / "recops.toml").write_text('[workspace]\ntimezone = "Nowhere/City"\n')
    bad = recops("config", "validate", "-w", str(ws))
    assert bad.returncode == 2 and "workspace.timezone" in bad.stderr and "recops.toml" in bad.stderr


def test_workspace_from_environment(ws: Path, tmp_path: Path) -> None:
    import os

    env = {**os.environ, "RECOPS_WORKSPACE": str(ws)}
    done = recops("lake", "status", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0 and json.loads(done.stdout) == []


def test_help_teaches() -> None:
    out = recops("ingest", "--help")
    assert out.returncode == 0 and "quarantine" in out.stdout and "--watch" in out.stdout


def test_help_prints_config_sections_and_joins_paragraph_lines() -> None:
    out = recops("monitor", "run", "--help")
    assert out.returncode == 0
    assert "[detection]" in out.stdout and "[monitors]" in out.stdout  # not eaten as Rich markup
    # the docstring breaks after "`recops alerts"; the help rewraps the paragraph instead
    assert not any(line.rstrip().endswith("`recops alerts") for line in out.stdout.splitlines())


def test_version_answers_without_importing_a_command() -> None:
    code = (
        "import sys; sys.argv = ['recops', '--version']\n"
        "from recops.cli.main import run; run()\n"
        "print(sorted(m for m in sys.modules if m.startswith('recops.cli.') and m != 'recops.cli.main'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    from recops import __version__

    assert out.splitlines()[0] == f"recops {__version__}"
    assert "recops.cli.ingest" not in out and "recops.cli.demo" not in out


def test_top_level_help_lists_every_command_without_importing_one() -> None:
    from typer.testing import CliRunner

    from recops.cli.main import build_app

    code = (
        "import sys; sys.argv = ['recops', '--help']\n"
        "from recops.cli.main import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('recops.cli.') and m != 'recops.cli.main'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "recops.cli.ingest" not in out and "recops.cli.registry" not in out
    assert "Validate, deduplicate and store contract records" in out
    runner = CliRunner()
    full = runner.invoke(build_app(), ["--help"])
    listing = runner.invoke(build_app(listing_only=True), ["--help"])
    # the summaries written in COMMANDS are exactly what the commands' own help says
    assert full.exit_code == listing.exit_code == 0
    assert listing.output == full.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown metric 'nope'"),
        (["ctr", "--granularity", "week"], "unknown granularity 'week'"),
        (["ctr", "--slice", "device"], "--slice takes KEY=VALUE"),
    ],
)
def test_monitor_series_refuses_what_names_no_series(ws: Path, args: list[str], message: str) -> None:
    out = recops("monitor", "series", *args, "-w", str(ws))
    assert out.returncode == 2 and message in " ".join(out.stderr.split())


def test_monitor_series_with_no_points_says_so(ws: Path) -> None:
    out = recops("monitor", "series", "ctr", "--slice", "device=tv", "-w", str(ws))
    assert out.returncode == 1 and "No points for 'ctr'" in out.stderr


def test_diagnose_names_an_unknown_metric(ws: Path) -> None:
    out = recops("diagnose", "--metric", "ctrr", "--from", "2026-10-10", "--to", "2026-10-11", "-w", str(ws))
    assert out.returncode == 2 and "unknown metric 'ctrr'" in out.stderr


def test_a_silence_matching_no_metric_warns_but_holds(ws: Path) -> None:
    def silence(metric: str) -> subprocess.CompletedProcess[str]:
        return recops("alerts", "silence", "--metric", metric, "--for", "1h", "--reason", "x", "-w", str(ws))

    out = silence("nope_*")
    assert out.returncode == 0 and "no metric of the catalog matches 'nope_*'" in " ".join(out.stderr.split())
    quiet = silence("feature_*")
    assert quiet.returncode == 0 and "warning" not in quiet.stderr
