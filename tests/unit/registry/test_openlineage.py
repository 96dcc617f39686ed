"""OpenLineage export: events that openlineage-python's v2 models rebuild and re-serialize unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from openlineage.client import event_v2 as ol
from openlineage.client.generated.base_subset_dataset import (
    InputSubsetInputDatasetFacet,
    Partition,
    PartitionSubsetCondition,
)
from openlineage.client.generated.data_quality_metrics_input_dataset import (
    DataQualityMetricsInputDatasetFacet,
)
from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
from openlineage.client.generated.job_type_job import JobTypeJobFacet
from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields
from openlineage.client.generated.source_code_location_job import SourceCodeLocationJobFacet
from openlineage.client.serde import Serde

from recops.registry import CodeRef
from recops.registry.openlineage_export import openlineage_events, to_json_lines
from recops.workspace import Workspace
from tests.unit.registry.helpers import register

DATASET_FACETS = {"schema": SchemaDatasetFacet, "version": DatasetVersionDatasetFacet}
JOB_FACETS = {"jobType": JobTypeJobFacet, "sourceCodeLocation": SourceCodeLocationJobFacet}


def _strip(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def _dataset_facets(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in raw.items():
        fields = _strip(value)
        if name == "schema":
            fields["fields"] = [SchemaDatasetFacetFields(**f) for f in fields["fields"]]
        out[name] = DATASET_FACETS[name](**fields)
    return out


def _input_facets(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in raw.items():
        fields = _strip(value)
        if name == "subset":
            parts = [Partition(**p) for p in fields["inputCondition"]["partitions"]]
            out[name] = InputSubsetInputDatasetFacet(
                inputCondition=PartitionSubsetCondition(partitions=parts)
            )
        else:
            out[name] = DataQualityMetricsInputDatasetFacet(**fields)
    return out


def rebuild(doc: dict[str, Any]) -> ol.RunEvent:
    """Build a RunEvent from JSON with openlineage-python's models (their validators run)."""
    return ol.RunEvent(
        eventType=ol.RunState[doc["eventType"]],
        eventTime=doc["eventTime"],
        producer=doc["producer"],
        run=ol.Run(runId=doc["run"]["runId"]),
        job=ol.Job(
            namespace=doc["job"]["namespace"],
            name=doc["job"]["name"],
            facets={k: JOB_FACETS[k](**_strip(v)) for k, v in doc["job"].get("facets", {}).items()},
        ),
        inputs=[
            ol.InputDataset(
                namespace=i["namespace"], name=i["name"], facets=_dataset_facets(i.get("facets", {})),
                inputFacets=_input_facets(i.get("inputFacets", {})),
            )
            for i in doc["inputs"]
        ],
        outputs=[
            ol.OutputDataset(
                namespace=o["namespace"], name=o["name"], facets=_dataset_facets(o.get("facets", {}))
            )
            for o in doc["outputs"]
        ],
    )  # fmt: skip


def test_openlineage_events_validate_with_openlineage_python(workspace: Workspace, tmp_path: Path) -> None:
    code = CodeRef(
        repo="https://git.example.org/recs/ranker.git", commit="f" * 40, dirty=False, branch="main"
    )
    v = register(workspace.store, tmp_path, "v13", code=code)
    events = openlineage_events(v)
    assert [(e.job.name, e.eventType.value) for e in events] == [
        ("dataset.train", "START"), ("dataset.train", "COMPLETE"),
        ("ranker.train", "START"), ("ranker.train", "COMPLETE"),
    ]  # fmt: skip
    text = to_json_lines(events)
    docs = [json.loads(line) for line in text.splitlines()]
    for doc in docs:
        assert doc["schemaURL"].endswith("OpenLineage.json#/$defs/RunEvent")
        assert json.loads(Serde.to_json(rebuild(doc))) == doc
    build, train = docs[1], docs[3]
    dataset = v.datasets[0]
    assert build["inputs"][0]["inputFacets"]["subset"]["inputCondition"]["partitions"] == [
        {"dimensions": {"partition": "2026-10-01T00"}, "identifier": "2026-10-01T00"}
    ]
    assert build["outputs"][0]["facets"]["version"]["datasetVersion"] == dataset.digest
    trained_on = train["inputs"][0]
    assert (trained_on["namespace"], trained_on["name"]) == ("file", dataset.uri.removeprefix("file://"))
    assert trained_on["inputFacets"]["dataQualityMetrics"]["rowCount"] == 50
    assert [f["name"] for f in trained_on["facets"]["schema"]["fields"]] == ["ts", "user_id", "label"]
    assert train["outputs"][0]["name"] == "models/ranker/v13"
    assert train["job"]["facets"]["sourceCodeLocation"]["version"] == "f" * 40
    assert train["run"]["runId"] == docs[2]["run"]["runId"] != build["run"]["runId"]
    assert to_json_lines(openlineage_events(v)) == text  # deterministic run ids

    out = tmp_path / "events.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "recops.cli", "lineage", "ranker@v13", "--format", "openlineage",
         "-o", str(out), "-w", str(workspace.config.root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text() == text
