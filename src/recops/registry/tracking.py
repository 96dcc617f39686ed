"""``track_training``: the training side of the SDK.

::

    from recops.registry import track_training

    with track_training(model="ranker", workspace="/srv/recops") as run:
        run.log_dataset("data/train/", name="train", time_column="ts", upstream_sources=["play_events"])
        run.log_params({"lr": 0.01, "depth": 6})
        model = fit(...)
        run.log_metrics({"ndcg_at_10": 0.41})
        run.log_artifact("s3://models/ranker/v13", digest="sha256:...")
    print(run.version.ref)   # ranker@14

Code (git) and environment (installed packages) are captured when the block starts.
When the block ends normally the version is registered; when it raises, the run is kept
as ``failed`` with the error (and audited), and the exception propagates.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from recops.errors import InvalidInput
from recops.registry import audit
from recops.registry._canonical import canonical_json, check_number, loads, now, utc, utc_or_none
from recops.registry.capture import capture_code, capture_environment
from recops.registry.datasets import declared_dataset, describe_dataset, local_path, with_upstream
from recops.registry.entities import (
    CodeRef,
    DatasetRef,
    EnvironmentRef,
    ModelVersion,
    TrainingRunRecord,
    UpstreamPartition,
    check_model_name,
    check_version_name,
)
from recops.registry.lineage import upstream_partitions
from recops.registry.versions import default_actor, register_version
from recops.store import Store
from recops.store.tables import RegistryRunRow
from recops.workspace import Workspace


class TrainingRun:
    """What a training pipeline logs inside :func:`track_training`."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        run_id: str,
        model: str,
        version: str | None,
        code: CodeRef | None,
        environment: EnvironmentRef | None,
        tags: Mapping[str, Any],
        created_by: str,
    ) -> None:
        self.workspace = workspace
        self.run_id = run_id
        self.model = model
        self.requested_version = version
        self.code = code
        self.environment = environment
        self.tags: dict[str, str] = {str(k): str(v) for k, v in tags.items()}
        self.created_by = created_by
        self.datasets: list[DatasetRef] = []
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.artifact_uri: str | None = None
        self.artifact_digest: str | None = None
        self.version: ModelVersion | None = None

    def log_dataset(
        self,
        uri: str | Path,
        *,
        name: str | None = None,
        role: str = "train",
        time_column: str | None = None,
        upstream: Sequence[str | UpstreamPartition] = (),
        upstream_sources: Sequence[str] = (),
        digest: str | None = None,
        rows: int | None = None,
        time_min: datetime | None = None,
        time_max: datetime | None = None,
    ) -> DatasetRef:
        """Record a dataset. Local files and folders are read and digested by recops.

        Args:
            uri: a local path or ``file://`` URI (digested), or any other URI (declared).
            name: short name (default: the file or folder name); unique within the run.
            role: ``train``, ``validation``, ``test``...
            time_column: event-time column for the range (local data).
            upstream: ``SOURCE:PARTITION`` items the data was built from.
            upstream_sources: sources whose partitions covering the data's time range (per
                the lake's ``arrivals``) are added as upstream.
            digest, rows, time_min, time_max: facts of remote data (ignored for local data,
                except that a given digest must match).

        Returns:
            The recorded dataset.

        Raises:
            InvalidInput: unreadable data, a digest mismatch, or a repeated name.
        """
        local = local_path(str(uri))
        if local is not None:
            dataset = describe_dataset(
                local, name=name, role=role, time_column=time_column, upstream=upstream
            )
            if digest is not None and digest != dataset.digest:
                raise InvalidInput(
                    f"dataset {uri}: given digest {digest} but recops computed {dataset.digest}"
                )
        else:
            dataset = declared_dataset(
                str(uri),
                digest=digest,
                name=name,
                role=role,
                rows=rows,
                time_min=time_min,
                time_max=time_max,
                upstream=upstream,
            )
        if upstream_sources:
            found = upstream_partitions(
                self.workspace.lake, upstream_sources, dataset.time_min, dataset.time_max
            )
            dataset = with_upstream(dataset, found)
        if any(d.name == dataset.name for d in self.datasets):
            raise InvalidInput(f"a dataset named {dataset.name!r} is logged already in this run")
        self.datasets.append(dataset)
        return dataset

    def log_param(self, key: str, value: Any) -> None:
        canonical_json(value)
        self.params[str(key)] = value

    def log_params(self, params: Mapping[str, Any]) -> None:
        for key, value in params.items():
            self.log_param(key, value)

    def log_metric(self, key: str, value: float) -> None:
        self.metrics[str(key)] = check_number(str(key), value)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value)

    def set_tag(self, key: str, value: Any) -> None:
        self.tags[str(key)] = str(value)

    def log_artifact(self, uri: str | Path, *, digest: str | None = None) -> None:
        """Record the trained artifact (a local file or folder is digested at registration)."""
        text = str(uri)
        local = local_path(text)
        self.artifact_uri = str(local.resolve()) if local is not None and local.exists() else text
        self.artifact_digest = digest

    def detail(self) -> dict[str, Any]:
        return {
            "code": self.code.to_dict() if self.code else None,
            "environment_digest": self.environment.digest if self.environment else None,
            "datasets": [d.to_dict() for d in self.datasets],
            "params": self.params,
            "metrics": self.metrics,
            "artifact_uri": self.artifact_uri,
            "tags": self.tags,
            "created_by": self.created_by,
        }


@contextmanager
def track_training(
    model: str,
    *,
    version: str | None = None,
    workspace: Workspace | str | Path | None = None,
    code_path: str | Path | None = None,
    capture_git: bool = True,
    capture_env: bool = True,
    tags: Mapping[str, Any] | None = None,
    created_by: str | None = None,
) -> Iterator[TrainingRun]:
    """Track a training run and register its version when the block succeeds.

    Args:
        model: the model name.
        version: the version name (default: the next integer at registration).
        workspace: an open workspace, or its folder (default: found like the CLI does).
        code_path: where to read git from (default: the current directory).
        capture_git: capture the git state (repository, commit, dirty, diff digest).
        capture_env: capture the installed package set.
        tags: free tags.
        created_by: who (default: $RECOPS_ACTOR or the login name).

    Yields:
        The run to log datasets, params, metrics and the artifact on; after the block,
        ``run.version`` is the registered version.

    Raises:
        InvalidInput: no artifact was logged, or bad names.
        Conflict: the version exists already (the run is then kept as failed).
    """
    check_model_name(model)
    if version is not None:
        check_version_name(version)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    try:
        run = TrainingRun(
            ws,
            run_id=str(uuid.uuid4()),
            model=model,
            version=version,
            code=capture_code(code_path) if capture_git else None,
            environment=capture_environment() if capture_env else None,
            tags=tags or {},
            created_by=created_by or default_actor(),
        )
        started = now()
        with ws.store.session() as session:
            session.add(
                RegistryRunRow(
                    run_id=run.run_id,
                    model=model,
                    status="running",
                    started_at=started,
                    ended_at=None,
                    version=version,
                    error=None,
                    detail=canonical_json(run.detail()),
                )
            )
        try:
            yield run
            if run.artifact_uri is None:
                raise InvalidInput("track_training: call run.log_artifact(...) before the block ends")
            run.version = register_version(
                ws.store,
                model=model,
                version=version,
                artifact_uri=run.artifact_uri,
                artifact_digest=run.artifact_digest,
                datasets=run.datasets,
                code=run.code,
                params=run.params,
                metrics=run.metrics,
                environment=run.environment,
                tags=run.tags,
                created_by=run.created_by,
                origin="sdk",
                run_id=run.run_id,
            )
        except BaseException as exc:
            _finish(ws.store, run, "failed", error=_describe(exc))
            raise
        _finish(ws.store, run, "registered")
    finally:
        if not isinstance(workspace, Workspace):
            ws.close()


def _describe(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[:4000]


def _finish(store: Store, run: TrainingRun, status: str, *, error: str | None = None) -> None:
    ended = now()
    with audit.registry_session(store) as session:
        row = session.get(RegistryRunRow, run.run_id)
        if row is None:  # pragma: no cover - inserted when the block started
            return
        row.status, row.ended_at, row.error = status, ended, error
        row.version = run.version.version if run.version else row.version
        row.detail = canonical_json(run.detail())
        if status == "failed":
            audit.append(
                session,
                actor=run.created_by,
                action="run.failed",
                subject=f"{run.model}#{run.run_id}",
                payload={"model": run.model, "run_id": run.run_id, "error": error},
                at=ended,
            )


def run_entity(row: RegistryRunRow) -> TrainingRunRecord:
    return TrainingRunRecord(
        run_id=row.run_id,
        model=row.model,
        status=row.status,
        started_at=utc(row.started_at),
        ended_at=utc_or_none(row.ended_at),
        version=row.version,
        error=row.error,
        detail=loads(row.detail),
    )


def list_runs(
    store: Store, model: str | None = None, *, status: str | None = None
) -> list[TrainingRunRecord]:
    """Tracked training runs, newest first."""
    from sqlalchemy import select

    query = select(RegistryRunRow).order_by(RegistryRunRow.started_at.desc())
    if model is not None:
        query = query.where(RegistryRunRow.model == model)
    if status is not None:
        query = query.where(RegistryRunRow.status == status)
    with store.session() as session:
        return [run_entity(r) for r in session.scalars(query)]
