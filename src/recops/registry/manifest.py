"""Register a version from a YAML or JSON manifest (``recops registry register``).

For pipelines that are not Python. Example::

    model: ranker
    version: v13                      # optional: next integer when absent
    artifact: s3://models/ranker/v13  # or {uri: ..., digest: sha256:...}
    datasets:
      - name: train
        uri: data/train/              # local: recops computes digest, rows, range, schema
        time_column: ts
        upstream: [play_events:2026-10-01T13]
        upstream_sources: [play_events]   # partitions derived from the lake's arrivals
      - name: eval
        uri: s3://bucket/eval/        # remote: declare what you know
        digest: sha256:...
        rows: 120000
    code: capture                     # git of the manifest's folder; or {repo, commit, dirty}
    environment: {digest: sha256:..., python: "3.11.7"}   # optional; "capture" for this process
    params: {lr: 0.01}
    metrics: {ndcg_at_10: 0.41}
    tags: {team: recs}
    created_by: ci-bot

Relative dataset and artifact paths are resolved against the manifest's folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recops.errors import InvalidInput
from recops.lake import Lake
from recops.registry._canonical import parse_time
from recops.registry.capture import capture_code, capture_environment
from recops.registry.datasets import declared_dataset, describe_dataset, local_path, with_upstream
from recops.registry.entities import CodeRef, DatasetRef, EnvironmentRef, ModelVersion
from recops.registry.lineage import upstream_partitions
from recops.registry.versions import register_version
from recops.store import Store

KEYS = {
    "model",
    "version",
    "artifact",
    "datasets",
    "code",
    "environment",
    "params",
    "metrics",
    "tags",
    "created_by",
}
DATASET_KEYS = {
    "name", "uri", "role", "time_column", "upstream", "upstream_sources", "digest", "rows", "time_min",
    "time_max", "schema",
}  # fmt: skip


def load_manifest(path: Path) -> dict[str, Any]:
    """Parse a ``.json``, ``.yaml`` or ``.yml`` manifest.

    Raises:
        InvalidInput: unreadable file, bad syntax, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read manifest {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # json and yaml raise their own types
        raise InvalidInput(
            f"manifest {path} is not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"manifest {path} must be a mapping with at least model and artifact")
    return data


def register_manifest(store: Store, lake: Lake | None, path: Path) -> ModelVersion:
    """Register the version a manifest describes.

    Raises:
        InvalidInput: unknown keys, missing model/artifact, unreadable data.
        Conflict: the version exists already.
    """
    data = load_manifest(path)
    base = path.resolve().parent
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise InvalidInput(f"manifest {path}: unknown keys {unknown}; expected some of {sorted(KEYS)}")
    for key in ("model", "artifact"):
        if not data.get(key):
            raise InvalidInput(f"manifest {path}: {key!r} is required")
    artifact = data["artifact"]
    if isinstance(artifact, str):
        artifact_uri, artifact_digest = artifact, None
    elif isinstance(artifact, Mapping) and artifact.get("uri"):
        artifact_uri, artifact_digest = str(artifact["uri"]), artifact.get("digest")
    else:
        raise InvalidInput(f"manifest {path}: artifact must be a URI or {{uri, digest}}")
    artifact_uri = _resolve(base, artifact_uri)
    datasets = [_dataset(lake, base, d, path) for d in _list(data.get("datasets"), "datasets", path)]
    return register_version(
        store,
        model=str(data["model"]),
        version=str(data["version"]) if data.get("version") is not None else None,
        artifact_uri=artifact_uri,
        artifact_digest=str(artifact_digest) if artifact_digest else None,
        datasets=datasets,
        code=_code(data.get("code", "capture"), base, path),
        params=_mapping(data.get("params"), "params", path),
        metrics=_mapping(data.get("metrics"), "metrics", path),
        environment=_environment(data.get("environment"), path),
        tags=_mapping(data.get("tags"), "tags", path),
        created_by=str(data["created_by"]) if data.get("created_by") else None,
        origin="manifest",
    )


def _resolve(base: Path, uri: str) -> str:
    local = local_path(uri)
    if local is None:
        return uri
    return str(local if local.is_absolute() else (base / local).resolve())


def _list(value: Any, key: str, path: Path) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"manifest {path}: {key} must be a list")
    return value


def _mapping(value: Any, key: str, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"manifest {path}: {key} must be a mapping")
    return {str(k): v for k, v in value.items()}


def _dataset(lake: Lake | None, base: Path, item: Any, path: Path) -> DatasetRef:
    if not isinstance(item, Mapping) or not item.get("uri"):
        raise InvalidInput(f"manifest {path}: each dataset needs a uri")
    unknown = sorted(set(item) - DATASET_KEYS)
    if unknown:
        raise InvalidInput(f"manifest {path}: unknown dataset keys {unknown}")
    uri = str(item["uri"])
    upstream = [str(p) for p in _list(item.get("upstream"), "upstream", path)]
    local = local_path(uri)
    if local is not None:
        dataset = describe_dataset(
            local if local.is_absolute() else base / local,
            name=item.get("name"),
            role=str(item.get("role") or "train"),
            time_column=item.get("time_column"),
            upstream=upstream,
        )
        if item.get("digest") and item["digest"] != dataset.digest:
            raise InvalidInput(
                f"dataset {uri}: declared digest {item['digest']} but recops computed {dataset.digest}"
            )
    else:
        dataset = declared_dataset(
            uri,
            digest=item.get("digest"),
            name=item.get("name"),
            role=str(item.get("role") or "train"),
            rows=int(item["rows"]) if item.get("rows") is not None else None,
            time_min=parse_time(str(item["time_min"])) if item.get("time_min") else None,
            time_max=parse_time(str(item["time_max"])) if item.get("time_max") else None,
            schema=[(str(c), str(t)) for c, t in _mapping(item.get("schema"), "schema", path).items()],
            upstream=upstream,
        )
    sources = [str(s) for s in _list(item.get("upstream_sources"), "upstream_sources", path)]
    if sources:
        if lake is None:
            raise InvalidInput("upstream_sources needs a workspace lake with arrivals")
        dataset = with_upstream(
            dataset, upstream_partitions(lake, sources, dataset.time_min, dataset.time_max)
        )
    return dataset


def _code(value: Any, base: Path, path: Path) -> CodeRef | None:
    if value is None or value is False:
        return None
    if value == "capture":
        return capture_code(base)
    if isinstance(value, Mapping):
        return CodeRef(
            repo=value.get("repo"),
            commit=value.get("commit"),
            dirty=value.get("dirty"),
            diff_digest=value.get("diff_digest"),
            branch=value.get("branch"),
            path=value.get("path"),
        )
    raise InvalidInput(f"manifest {path}: code must be 'capture', a mapping or null")


def _environment(value: Any, path: Path) -> EnvironmentRef | None:
    if value is None:
        return None
    if value == "capture":
        return capture_environment()
    if isinstance(value, Mapping) and value.get("digest"):
        return EnvironmentRef(
            digest=str(value["digest"]),
            python=value.get("python"),
            packages=tuple(str(p) for p in value.get("packages") or ()),
        )
    raise InvalidInput(f"manifest {path}: environment must be 'capture' or a mapping with a digest")
