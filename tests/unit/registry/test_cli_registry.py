"""The registry CLI: every command walked, none can change a registered version; exit codes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from recops.cli.main import app
from recops.errors import RecopsError
from recops.registry import get_version, list_versions
from recops.registry.manifest import register_manifest
from recops.workspace import Workspace
from tests.unit.registry.helpers import events, write_parquet


def recops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recops.cli", *args], capture_output=True, text=True, check=False
    )


MANIFEST = """\
model: ranker
version: {version}
artifact: {{uri: model.bin}}
datasets:
  - name: train
    uri: data/
    time_column: ts
    upstream: [play_events:2026-10-01T00, play_events:2026-10-01T01]
  - name: eval
    uri: s3://bucket/eval/
    digest: etag:123
    rows: 1000
    time_min: 2026-10-02T00:00:00Z
    time_max: 2026-10-02T23:59:59Z
code: {{repo: https://git.example.org/recs/ranker.git, commit: abc123, dirty: false}}
environment: {{digest: "sha256:{env}", python: "3.11.7"}}
params: {{lr: 0.01, depth: 6}}
metrics: {{ndcg_at_10: 0.41}}
tags: {{team: recs}}
created_by: ci-bot
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    pipeline = tmp_path / "pipeline"
    write_parquet(pipeline / "data" / "part-0.parquet", events(40))
    (pipeline / "model.bin").write_bytes(b"weights")
    with Workspace.init(root) as w:
        for version in ("v1", "v2"):
            (pipeline / f"{version}.yaml").write_text(MANIFEST.format(version=version, env="e" * 64))
            register_manifest(w.store, w.lake, pipeline / f"{version}.yaml")
    return root


def cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr), recops errors mapped as ``recops`` does."""
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, RecopsError):
        return result.exception.exit_code, result.stdout, str(result.exception)
    return result.exit_code, result.stdout, result.stderr


def walk(command: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every leaf command under ``command`` (typer ships its own click, so duck-type groups)."""
    if hasattr(command, "commands"):
        out: set[tuple[str, ...]] = set()
        for name, sub in command.commands.items():
            out |= walk(sub, (*path, name))
        return out
    return {path}


def test_every_registry_command_leaves_versions_unchanged(ws: Path, tmp_path: Path) -> None:
    with Workspace.open(ws) as w:
        before = {v.ref: (v.record(), v.record_digest) for v in list_versions(w.store)}
    pipeline = tmp_path / "pipeline"
    altered = pipeline / "altered.json"
    altered.write_text(json.dumps({"model": "ranker", "version": "v1", "artifact": "s3://other",
                                   "params": {"lr": 99}, "metrics": {"ndcg_at_10": 1.0}}))  # fmt: skip
    w_ = ["-w", str(ws)]
    recipes: dict[tuple[str, ...], list[list[str]]] = {
        ("registry", "register"): [[str(pipeline / "v1.yaml"), *w_], [str(altered), *w_]],
        ("registry", "show"): [["ranker@v1", *w_], ["ranker@v1", "--json", *w_]],
        ("registry", "list"): [[*w_], ["ranker", "--json", *w_]],
        ("registry", "resolve"): [["ranker", "production", *w_]],
        ("registry", "alias", "set"): [
            ["ranker", "production", "v1", "--reason", "first", *w_],
            ["ranker", "canary", "v2", "--json", *w_],
            ["ranker", "production", "v2", "--override", "--reason", "gate flaky", *w_],
        ],
        ("registry", "alias", "remove"): [["ranker", "canary", *w_]],
        ("registry", "alias", "list"): [["ranker", "--json", *w_]],
        ("registry", "alias", "history"): [["ranker", *w_], ["ranker", "production", "--json", *w_]],
        ("registry", "validate"): [
            ["ranker@v1", "--check", "offline", "--passed", "--details", '{"ndcg": 0.41}', *w_],
        ],
        ("registry", "verify"): [[*w_], ["--json", *w_]],
        ("registry", "served"): [["ranker", *w_], ["ranker", "--at", "2030-01-01T00:00:00Z", "--json", *w_]],
        ("registry", "audit"): [[*w_], ["--subject", "ranker@v1", "--json", *w_]],
        ("registry", "runs"): [[*w_], ["ranker", "--json", *w_]],
        ("registry", "import-mlflow"): [["--tracking-uri", "http://127.0.0.1:9", *w_]],
        ("lineage",): [
            ["ranker@v1", *w_], ["ranker@v2", "--json", *w_], ["ranker@v1", "--format", "openlineage", *w_],
            ["--reverse", "play_events:2026-10-01", *w_],
        ],
    }  # fmt: skip
    root = typer.main.get_command(app)
    walked = {("registry", *p) for p in walk(root.commands["registry"])} | {("lineage",)}
    assert walked == set(recipes), "every registry/lineage command needs a recipe here"
    order = [p for p in recipes if p[-1] in ("set", "validate")] + [
        p for p in recipes if p[-1] not in ("set", "validate")
    ]
    exits: dict[tuple[str, ...], list[int]] = {}
    for path in order:
        for args in recipes[path]:
            exits.setdefault(path, []).append(cli(*path, *args)[0])
    assert exits[("registry", "register")] == [2, 2]  # Conflict both times
    assert exits[("registry", "import-mlflow")] == [2]  # nothing listens on port 9
    assert all(code == 0 for path, codes in exits.items() if path[-1] not in ("register", "import-mlflow")
               for code in codes), exits  # fmt: skip
    with Workspace.open(ws) as w:
        after = {v.ref: (v.record(), v.record_digest) for v in list_versions(w.store)}
        assert after == before
        assert get_version(w.store, "ranker", "v1").params == {"lr": 0.01, "depth": 6}
    code, out, _ = cli("registry", "verify", *w_)
    assert code == 0 and "match their registration" in " ".join(out.split())


def test_register_from_manifest_and_show(ws: Path) -> None:
    w_ = ("-w", str(ws))
    data = json.loads(cli("registry", "show", "ranker@v1", *w_, "--json")[1])
    train, evaluation = data["datasets"]
    assert train["computed"] and train["rows"] == 40
    assert train["upstream"] == ["play_events:2026-10-01T00", "play_events:2026-10-01T01"]
    assert not evaluation["computed"] and evaluation["digest"] == "etag:123" and evaluation["rows"] == 1000
    assert data["artifact_digest"].startswith("sha256:") and data["origin"] == "manifest"
    assert data["created_by"] == "ci-bot" and data["live_metrics"] == []
    assert cli("registry", "alias", "set", "ranker", "production", "v1", *w_)[0] == 0
    text = " ".join(cli("registry", "show", "ranker@v1", *w_)[1].split())
    assert "production windows" in text and "production" in text and "now" in text
    assert "live metrics: none stored for this version yet" in text  # no monitor run in this workspace
    code, _, err = cli("registry", "register", str(ws.parent / "pipeline" / "v1.yaml"), *w_)
    assert code == 2 and "ranker@v1 is registered already" in err
    resolved = json.loads(cli("registry", "resolve", "ranker", "production", *w_, "--json")[1])
    assert resolved["version"] == "v1" and resolved["artifact_uri"].endswith("model.bin")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("model: m\nartifact: s3://x\nowner: me\n", "unknown keys ['owner']"),
        ("artifact: s3://x\n", "'model' is required"),
        ("model: m\nartifact: s3://x\ndatasets: [{uri: nowhere/}]\n", "no such file or folder"),
        ("model: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_manifests_exit_2(ws: Path, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    code, _, err = cli("registry", "register", str(path), "-w", str(ws))
    assert code == 2 and message in err


def test_verify_names_tampering_and_exits_1(ws: Path) -> None:
    steps = (
        ["alias", "set", "ranker", "production", "v1"],
        ["validate", "ranker@v1", "--check", "c", "--failed"],
        ["alias", "set", "ranker", "production", "v2"],
        ["alias", "set", "ranker", "canary", "v1"],
    )
    for args in steps:
        assert cli("registry", *args, "-w", str(ws))[0] == 0
    assert cli("registry", "verify", "-w", str(ws))[0] == 0  # entries 1..6
    con = sqlite3.connect(ws / "recops.db")
    with con:
        con.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        con.execute("DELETE FROM audit_log WHERE seq = 4")
        con.execute("DELETE FROM audit_log WHERE seq = 6")
    con.close()
    done = recops("registry", "verify", "-w", str(ws))  # the real command: exit code and stderr
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    assert "entry #2 (version.register ranker@v2) was edited" in err
    assert "entry #4 is missing (deleted) before entry #5" in err
    assert "entry #6 is missing (cut) after entry #5" in err
    report = json.loads(cli("registry", "verify", "-w", str(ws), "--json")[1])
    assert {p["kind"] for p in report["problems"]} >= {"edited", "deleted", "cut_tail"}


def test_usage_errors_exit_2(ws: Path) -> None:
    w_ = ("-w", str(ws))
    assert cli("registry", "show", "ranker", *w_)[0] == 2  # no @VERSION
    code, _, err = cli("registry", "show", "ranker@v9", *w_)
    assert code == 2 and "no version ranker@v9" in err
    code, _, err = cli("registry", "served", "ranker", "--at", "yesterday", *w_)
    assert code == 2 and "ISO 8601" in err
    assert cli("lineage", *w_)[0] == 2
    missing = recops("registry", "show", "ranker@v9", *w_)  # the real command maps errors to exit 2
    assert missing.returncode == 2 and "no version ranker@v9" in " ".join(missing.stderr.split())
