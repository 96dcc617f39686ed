"""`recops registry import-mlflow` against a real MLflow tracking server.

The server is `mlflow server` from its own venv (`.venv-mlflow`, made by `make
mlflow-venv`, which `make test` depends on: mlflow pins an older pyarrow) on 127.0.0.1
with a SQLite backend; it is populated through MLflow's own client, run by that venv's
Python. recops talks to it over the REST API only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recops.registry import alias_history, get_version, list_versions, resolve_alias, verify
from recops.registry.mlflow_import import import_mlflow
from recops.workspace import Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_PYTHON = Path(os.environ.get("RECOPS_MLFLOW_PYTHON", ROOT / ".venv-mlflow" / "bin" / "python"))

POPULATE = r"""
import json, sys, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import mlflow
import pandas as pd
from mlflow import MlflowClient

uri, prefix, phase = sys.argv[1], sys.argv[2], sys.argv[3]
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
ranker, retrieval = f"{prefix}-ranker", f"{prefix}-retrieval"
mlflow.set_experiment(f"{prefix}-training")


def train(i, lr):
    with mlflow.start_run() as run:
        mlflow.log_params({"lr": lr, "depth": 6})
        mlflow.log_metric("ndcg_at_10", 0.30 + i / 100)
        mlflow.log_metric("ndcg_at_10", 0.40 + i / 100)  # the latest value is the one that counts
        df = pd.DataFrame({"user": ["a", "b", "c"], "y": [1.0, 0.0, 1.0]})
        ds = mlflow.data.from_pandas(df, source=f"s3://bucket/train/{i}", name=f"train-{i}")
        mlflow.log_input(ds, context="training")
        mlflow.set_tag("mlflow.source.git.commit", f"commit{i}")
        return run.info.run_id


if phase == "1":
    client.create_registered_model(ranker, tags={"team": "recs"})
    for i in (1, 2):
        run_id = train(i, 0.01 * i)
        source = f"s3://models/ranker/{i}"
        client.create_model_version(ranker, source=source, run_id=run_id, tags={"stage": f"s{i}"})
    client.set_registered_model_alias(ranker, "production", "1")
    client.set_registered_model_alias(ranker, "canary", "2")
    client.create_registered_model(retrieval)
    client.create_model_version(retrieval, source="s3://models/retrieval/1")
else:
    run_id = train(3, 0.03)
    client.create_model_version(ranker, source="s3://models/ranker/3", run_id=run_id)
    client.set_registered_model_alias(ranker, "production", "2")
    client.set_registered_model_alias(ranker, "canary", "3")

out = []
for name in (ranker, retrieval):
    for mv in client.search_model_versions(f"name='{name}'"):
        out.append({"ref": f"{name}@{mv.version}", "created_ms": mv.creation_timestamp, "run_id": mv.run_id,
                    "source": mv.source, "tags": mv.tags})
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not MLFLOW_PYTHON.exists():
        message = f"{MLFLOW_PYTHON} missing: run `make mlflow-venv`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(home / "server.log", "w")  # closed below
    backend = f"sqlite:///{home / 'mlflow.db'}"
    cmd = [str(MLFLOW_PYTHON), "-m", "mlflow", "server", "--backend-store-uri", backend,
           "--default-artifact-root", str(home / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"mlflow server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def populate(url: str, prefix: str, phase: str) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", POPULATE, url, prefix, phase], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {v["ref"]: v for v in json.loads(done.stdout.strip().splitlines()[-1])}


def test_import_from_a_real_mlflow_server(
    mlflow_server: str, any_workspace: Workspace, request: pytest.FixtureRequest
) -> None:
    prefix = request.node.callspec.id  # one set of models per store backend on the shared server
    ranker, retrieval = f"{prefix}-ranker", f"{prefix}-retrieval"
    truth = populate(mlflow_server, prefix, "1")
    store = any_workspace.store

    report = import_mlflow(store, mlflow_server, models=[ranker, retrieval])
    assert sorted(report.added) == sorted(truth) == [f"{ranker}@1", f"{ranker}@2", f"{retrieval}@1"]
    assert sorted(report.aliases_moved) == [f"{ranker}:canary → 2", f"{ranker}:production → 1"]
    v1 = get_version(store, ranker, "1")
    t1 = truth[f"{ranker}@1"]
    assert v1.origin == "mlflow" and v1.artifact_uri == t1["source"] == "s3://models/ranker/1"
    assert round(v1.created_at.timestamp() * 1000) == t1["created_ms"]
    assert v1.run_id == t1["run_id"] and v1.tags["mlflow.run_id"] == t1["run_id"]
    assert v1.params == {"lr": "0.01", "depth": "6"}  # MLflow keeps params as strings
    assert v1.metrics == {"ndcg_at_10": 0.40 + 1 / 100}  # exactly what the client logged last
    assert v1.tags["stage"] == "s1" and v1.tags["mlflow.model.team"] == "recs"
    assert v1.tags["recops.imported_from"] == mlflow_server
    assert v1.code is not None and v1.code.commit == "commit1"
    [dataset] = v1.datasets
    assert (dataset.uri, dataset.name, dataset.role, dataset.rows) == (
        "s3://bucket/train/1",
        "train-1",
        "train",
        3,
    )
    assert dataset.digest is not None and dataset.digest.startswith("mlflow:") and not dataset.computed
    assert [c for c, _ in dataset.schema] == ["user", "y"]
    assert get_version(store, retrieval, "1").datasets == ()
    assert resolve_alias(store, ranker, "production") == ("1", "s3://models/ranker/1")

    # Again: nothing is new.
    again = import_mlflow(store, mlflow_server, models=[ranker, retrieval])
    assert again.added == [] and again.aliases_moved == [] and sorted(again.skipped) == sorted(truth)

    # MLflow moves on; the import (through the CLI) brings only the new version and the moves.
    truth = populate(mlflow_server, prefix, "2")
    done = subprocess.run(
        [sys.executable, "-m", "recops.cli", "registry", "import-mlflow", "--tracking-uri", mlflow_server,
         "--model", ranker, "--model", retrieval, "-w", str(any_workspace.config.root), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    third = json.loads(done.stdout)
    assert third["added"] == [f"{ranker}@3"]
    assert sorted(third["aliases_moved"]) == [f"{ranker}:canary → 3", f"{ranker}:production → 2"]
    assert len(third["skipped"]) == 3
    assert sorted(v.ref for v in list_versions(store)) == sorted(truth)
    moves = [(e.alias, e.version) for e in alias_history(store, ranker)]
    assert sorted(moves) == [("canary", "2"), ("canary", "3"), ("production", "1"), ("production", "2")]
    assert verify(store).ok
