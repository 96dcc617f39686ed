"""Lineage as OpenLineage run events, built with openlineage-python's v2 models.

For ``MODEL@VERSION`` recops emits, per dataset built from upstream partitions, a START
and a COMPLETE event of job ``recops/dataset.<name>`` (inputs: the upstream sources with
an ``InputSubset`` facet listing the partitions; output: the dataset), then a START and a
COMPLETE event of job ``recops/<model>.train`` (inputs: the datasets with schema, version
and row-count facets; output: the model version as a dataset). Run ids are UUIDs derived
from the content (uuid5), so exporting twice gives the same events. Nothing is sent
anywhere: the caller writes the JSON where it wants (or hands the objects to its own
OpenLineage client and transport).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from recops import __version__
from recops.errors import InvalidInput
from recops.registry._canonical import iso
from recops.registry.entities import DatasetRef, ModelVersion

NAMESPACE = "recops"
PRODUCER = f"urn:recops:{__version__}"
UPSTREAM_NAMESPACE = "recops-upstream"
_UUID_NS = uuid.UUID("5a0c1d6e-3f7b-4a8e-9c2d-6b1e0f4a7d93")


def _ol() -> Any:
    try:
        from openlineage.client import event_v2
    except ImportError:  # pragma: no cover - the extra is part of dev
        raise InvalidInput(
            "--format openlineage needs openlineage-python: pip install 'recops[lineage]'"
        ) from None
    return event_v2


def dataset_name(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) for a dataset URI (naming conventions of the spec)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return "file", parsed.path or uri
    if parsed.scheme in ("s3", "s3a", "gs", "abfss", "hdfs"):
        return f"{'s3' if parsed.scheme == 's3a' else parsed.scheme}://{parsed.netloc}", parsed.path or "/"
    if parsed.netloc:
        return f"{parsed.scheme}://{parsed.netloc}", parsed.path or "/"
    return parsed.scheme, parsed.path or uri


def _run_id(kind: str, key: str) -> str:
    return str(uuid.uuid5(_UUID_NS, f"{kind}:{key}"))


def _input_dataset(d: DatasetRef) -> Any:
    from openlineage.client.generated.data_quality_metrics_input_dataset import (
        DataQualityMetricsInputDatasetFacet,
    )
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields

    ev = _ol()
    namespace, name = dataset_name(d.uri)
    facets: dict[str, Any] = {}
    if d.schema:
        facets["schema"] = SchemaDatasetFacet(
            fields=[
                SchemaDatasetFacetFields(name=c, type=t, ordinal_position=i + 1)
                for i, (c, t) in enumerate(d.schema)
            ]
        )
    if d.digest:
        facets["version"] = DatasetVersionDatasetFacet(datasetVersion=d.digest)
    input_facets: dict[str, Any] = {}
    if d.rows is not None or d.bytes is not None:
        input_facets["dataQualityMetrics"] = DataQualityMetricsInputDatasetFacet(
            columnMetrics={}, rowCount=d.rows, bytes=d.bytes, fileCount=d.files
        )
    return ev.InputDataset(namespace=namespace, name=name, facets=facets, inputFacets=input_facets)


def _event(
    state: str,
    at: datetime,
    run_id: str,
    job: str,
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    job_facets: dict[str, Any],
) -> Any:
    ev = _ol()
    return ev.RunEvent(
        eventType=ev.RunState[state],
        eventTime=iso(at) or "",
        run=ev.Run(runId=run_id),
        job=ev.Job(namespace=NAMESPACE, name=job, facets=job_facets),
        inputs=list(inputs),
        outputs=list(outputs),
        producer=PRODUCER,
    )


def _job_type(job_type: str) -> dict[str, Any]:
    from openlineage.client.generated.job_type_job import JobTypeJobFacet

    return {"jobType": JobTypeJobFacet(processingType="BATCH", integration="RECOPS", jobType=job_type)}


def openlineage_events(version: ModelVersion) -> list[Any]:
    """OpenLineage ``RunEvent`` objects describing how ``version`` was made."""
    from openlineage.client.generated.base_subset_dataset import (
        InputSubsetInputDatasetFacet,
        Partition,
        PartitionSubsetCondition,
    )
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
    from openlineage.client.generated.source_code_location_job import SourceCodeLocationJobFacet

    ev = _ol()
    events: list[Any] = []
    at = version.created_at
    for d in version.datasets:
        if not d.upstream:
            continue
        by_source: dict[str, list[str]] = {}
        for p in d.upstream:
            by_source.setdefault(p.source, []).append(p.partition)
        inputs = [
            ev.InputDataset(
                namespace=UPSTREAM_NAMESPACE,
                name=source,
                inputFacets={
                    "subset": InputSubsetInputDatasetFacet(
                        inputCondition=PartitionSubsetCondition(
                            partitions=[Partition(dimensions={"partition": p}, identifier=p) for p in parts]
                        )
                    )
                },
            )
            for source, parts in sorted(by_source.items())
        ]
        namespace, name = dataset_name(d.uri)
        out_facets = {"version": DatasetVersionDatasetFacet(datasetVersion=d.digest)} if d.digest else {}
        output = ev.OutputDataset(namespace=namespace, name=name, facets=out_facets)
        run_id = _run_id("dataset", d.digest or d.uri)
        job = f"dataset.{d.name or name}"
        built = d.time_max or at
        for state in ("START", "COMPLETE"):
            events.append(_event(state, built, run_id, job, inputs, [output], _job_type("DATASET")))
    job_facets = _job_type("TRAIN")
    if version.code and version.code.repo:
        job_facets["sourceCodeLocation"] = SourceCodeLocationJobFacet(
            type="git", url=version.code.repo, repoUrl=version.code.repo, version=version.code.commit,
            branch=version.code.branch, path=version.code.path,
        )  # fmt: skip
    model_facets: dict[str, Any] = {}
    if version.artifact_digest:
        model_facets["version"] = DatasetVersionDatasetFacet(datasetVersion=version.artifact_digest)
    output = ev.OutputDataset(
        namespace=NAMESPACE, name=f"models/{version.model}/{version.version}", facets=model_facets
    )
    inputs = [_input_dataset(d) for d in version.datasets]
    run_id = version.run_id if version.run_id and _is_uuid(version.run_id) else _run_id("train", version.ref)
    for state in ("START", "COMPLETE"):
        events.append(_event(state, at, run_id, f"{version.model}.train", inputs, [output], job_facets))
    return events


def _is_uuid(value: str | None) -> bool:
    if not value:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def to_json_lines(events: Sequence[Any]) -> str:
    """Events as JSON lines (OpenLineage's own serializer)."""
    from openlineage.client.serde import Serde

    return "".join(Serde.to_json(e) + "\n" for e in events)
