"""track_training, code capture from git and the environment digest."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path

import pyarrow
import pytest

from recops.errors import Conflict, InvalidInput
from recops.registry import capture_code, capture_environment, get_version, track_training
from recops.registry.audit import entries
from recops.registry.capture import strip_credentials
from recops.registry.tracking import list_runs
from recops.workspace import Workspace
from tests.unit.registry.helpers import events, write_parquet


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}  # fmt: skip
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "pipeline"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('train')\n")
    (root / ".gitignore").write_text("out/\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    git(root, "remote", "add", "origin", "https://ci-bot:s3cret@git.example.org/recs/ranker.git")
    return root


def test_code_capture_clean_dirty_and_untracked(repo: Path) -> None:
    clean = capture_code(repo)
    assert clean is not None
    assert clean.commit == git(repo, "rev-parse", "HEAD").strip()
    assert clean.repo == "https://git.example.org/recs/ranker.git"  # no credentials recorded
    assert (clean.dirty, clean.diff_digest, clean.branch, clean.path) == (False, None, "main", ".")
    (repo / "out").mkdir()
    (repo / "out" / "ignored.txt").write_text("ignored files do not make it dirty")
    assert capture_code(repo) == clean
    (repo / "train.py").write_text("print('train v2')\n")
    edited = capture_code(repo)
    assert edited is not None and edited.dirty is True and edited.diff_digest is not None
    # The digest is the sha256 of `git diff HEAD --binary` (no untracked files here), computed independently.
    diff = subprocess.run(["git", "-C", str(repo), "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"],
                          capture_output=True, check=True).stdout  # fmt: skip
    assert edited.diff_digest == "sha256:" + hashlib.sha256(diff).hexdigest()
    assert capture_code(repo) == edited  # same state, same digest
    (repo / "new.py").write_text("x = 1\n")
    untracked = capture_code(repo)
    assert untracked is not None and untracked.diff_digest not in (None, edited.diff_digest)
    assert capture_code(repo.parent) is None  # not a git work tree


def test_strip_credentials() -> None:
    assert strip_credentials("https://u:p@host:8443/x.git") == "https://host:8443/x.git"
    assert strip_credentials("git@github.com:org/repo.git") == "git@github.com:org/repo.git"


def test_environment_digest_covers_the_installed_packages() -> None:
    env = capture_environment()
    assert f"pyarrow=={pyarrow.__version__}" in env.packages
    assert len(env.packages) == len({p.split("==")[0] for p in env.packages})
    names = {
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in importlib.metadata.distributions()
    }  # PEP 503
    assert {p.split("==")[0] for p in env.packages} == names
    text = "\n".join(
        [f"{platform.python_implementation().lower()}=={platform.python_version()}", *env.packages]
    )
    assert env.digest == "sha256:" + hashlib.sha256((text + "\n").encode()).hexdigest()


def test_track_training_registers_on_success(workspace: Workspace, repo: Path, tmp_path: Path) -> None:
    data = write_parquet(tmp_path / "train.parquet", events(30))
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"m" * 64)
    with track_training("ranker", workspace=workspace, code_path=repo, tags={"team": "recs"}) as run:
        run.log_dataset(data, name="train", upstream=["play_events:2026-10-01T00"])
        run.log_dataset("s3://bucket/eval/", name="eval", role="validation", digest="etag:abc", rows=1000)
        run.log_params({"lr": 0.01})
        run.log_param("depth", 6)
        run.log_metrics({"ndcg_at_10": 0.41})
        run.set_tag("owner", "ml")
        run.log_artifact(artifact)
    assert run.version is not None and run.version.ref == "ranker@1"
    v = get_version(workspace.store, "ranker", "1")
    assert v == run.version and v.origin == "sdk" and v.run_id == run.run_id
    assert v.code is not None and v.code.commit == git(repo, "rev-parse", "HEAD").strip()
    assert v.environment is not None and v.environment.digest == capture_environment().digest
    assert v.artifact_digest == "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert [(d.name, d.computed, d.digest) for d in v.datasets] == [
        ("train", True, "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()),
        ("eval", False, "etag:abc"),
    ]
    assert v.params == {"lr": 0.01, "depth": 6} and v.tags == {"team": "recs", "owner": "ml"}
    [record] = list_runs(workspace.store, "ranker")
    assert (record.status, record.version, record.error) == ("registered", "1", None)


def test_failed_runs_are_recorded_and_the_error_propagates(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="diverged"):
        with track_training("ranker", workspace=workspace, capture_git=False) as run:
            run.log_params({"lr": 10.0})
            raise RuntimeError("loss diverged")
    with pytest.raises(InvalidInput, match="log_artifact"):
        with track_training("ranker", workspace=workspace, capture_git=False, capture_env=False):
            pass
    with track_training("ranker", version="v1", workspace=workspace, capture_git=False) as ok:
        ok.log_artifact("s3://m/v1")
    with pytest.raises(Conflict):
        with track_training("ranker", version="v1", workspace=workspace, capture_git=False) as again:
            again.log_artifact("s3://m/v1-bis")
    runs = list_runs(workspace.store, "ranker", status="failed")
    assert len(runs) == 3
    errors = sorted(r.error or "" for r in runs)
    assert any("RuntimeError: loss diverged" in e for e in errors)
    assert any("ranker@v1 is registered already" in e for e in errors)
    assert any(r.detail["params"] == {"lr": 10.0} for r in runs)
    assert len(entries(workspace.store, action="run.failed")) == 3
    with pytest.raises(InvalidInput, match="logged already"):
        with track_training("ranker", workspace=workspace, capture_git=False) as dup:
            dup.log_dataset("s3://a", name="x")
            dup.log_dataset("s3://b", name="x")
