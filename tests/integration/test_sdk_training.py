"""`recops.sdk.track_training` registers a version with its dataset digest and metrics."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recops.registry.versions import get_version
from recops.sdk import track_training
from recops.workspace import Workspace


def test_track_training_registers_a_version(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "train.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0]}), data)
    with track_training("ranker", version="v1", workspace=workspace, capture_git=False) as run:
        dataset = run.log_dataset(data, role="train")
        run.log_params({"lr": 0.05})
        run.log_metrics({"ndcg_at_10": 0.41})
        run.log_artifact("s3://models/ranker/v1", digest="sha256:" + "0" * 64)
    version = get_version(workspace.store, "ranker", "v1")
    assert version.metrics == {"ndcg_at_10": 0.41}
    assert dataset.rows == 3
    assert hashlib.sha256(data.read_bytes()).hexdigest() in (dataset.digest or "")
