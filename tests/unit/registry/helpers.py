"""Helpers shared by the registry tests: small data files and one-call registrations."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recops.registry import ModelVersion, describe_dataset, register_version
from recops.store import Store

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def events(
    n: int, *, start: datetime = T0, step: timedelta = timedelta(minutes=7), seed: int = 0
) -> pa.Table:
    """n rows with an event time, a user and a label."""
    return pa.table(
        {
            "ts": pa.array([start + i * step for i in range(n)], pa.timestamp("us", tz="UTC")),
            "user_id": pa.array([f"u{(i * 7 + seed) % 13}" for i in range(n)], pa.string()),
            "label": pa.array([float((i + seed) % 2) for i in range(n)], pa.float64()),
        }
    )


def write_parquet(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_digest(root: Path, files: list[Path]) -> str:
    """The folder digest computed independently: sha256 of the sorted sha256sum manifest."""
    lines = sorted(f"{sha256_file(f)}  {f.relative_to(root).as_posix()}\n" for f in files)
    lines.sort(key=lambda line: line.split("  ", 1)[1])
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def register(
    store: Store, tmp: Path, version: str = "1", model: str = "ranker", **extra: Any
) -> ModelVersion:
    """Register a version trained on a small local Parquet dataset."""
    data = write_parquet(tmp / f"train-{model}-{version}" / "part-0.parquet", events(50, seed=len(version)))
    dataset = describe_dataset(data.parent, name="train", upstream=["play_events:2026-10-01T00"])
    fields: dict[str, Any] = {
        "artifact_uri": f"s3://models/{model}/{version}",
        "datasets": [dataset],
        "params": {"lr": 0.01, "depth": 6, "features": ["a", "b"]},
        "metrics": {"ndcg_at_10": 0.41, "recall_at_50": 0.62},
        "tags": {"team": "recs"},
        "created_by": "tester",
    }
    fields.update(extra)
    return register_version(store, model=model, version=version, **fields)
