"""Domain objects of the registry: plain frozen dataclasses, kept apart from the store's rows.

Every object has ``to_dict()`` giving the JSON form used by ``--json`` output, the record
digest of a version and the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recops.errors import InvalidInput
from recops.registry._canonical import canonical_json, iso, parse_time, sha256_text

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")


def check_model_name(model: str) -> str:
    """Raises InvalidInput unless ``model`` is a valid model name."""
    if not NAME_RE.match(model):
        raise InvalidInput(
            f"invalid model name {model!r}: letters, digits, '.', '_', '-', '/' (up to 200, no '@')"
        )
    return model


def check_version_name(version: str) -> str:
    """Raises InvalidInput unless ``version`` is a valid version name."""
    if not VERSION_RE.match(version):
        raise InvalidInput(f"invalid version {version!r}: letters, digits, '.', '_', '+', '-' (up to 100)")
    return version


def check_alias_name(alias: str) -> str:
    """Raises InvalidInput unless ``alias`` is a valid alias name."""
    if not ALIAS_RE.match(alias):
        raise InvalidInput(f"invalid alias {alias!r}: a letter, then letters, digits, '_' or '-'")
    return alias


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``MODEL@VERSION``.

    Raises:
        InvalidInput: when ``ref`` is not of that form.
    """
    model, sep, version = ref.rpartition("@")
    if not sep or not model or not version:
        raise InvalidInput(f"expected MODEL@VERSION, got {ref!r}")
    return check_model_name(model), check_version_name(version)


@dataclass(frozen=True, order=True)
class UpstreamPartition:
    """A partition of an upstream source (as in the ``arrivals`` records): ``source:partition``."""

    source: str
    partition: str

    def __str__(self) -> str:
        return f"{self.source}:{self.partition}"

    @classmethod
    def parse(cls, text: str) -> UpstreamPartition:
        """Parse ``SOURCE:PARTITION``.

        Raises:
            InvalidInput: without both parts.
        """
        source, sep, partition = text.partition(":")
        if not sep or not source or not partition:
            raise InvalidInput(f"expected SOURCE:PARTITION, got {text!r}")
        return cls(source, partition)


@dataclass(frozen=True)
class DatasetRef:
    """A dataset a version was trained or evaluated on.

    Attributes:
        uri: where it is (``file:///...`` for local data, any URI otherwise).
        digest: ``sha256:<hex>`` computed by recops (``computed``), or a declared digest
            (e.g. ``mlflow:<digest>`` from an import), or None when unknown.
        name: a short name (``train``, ``eval``...).
        role: ``train``, ``validation``, ``test`` or any word.
        computed: recops read the data and computed digest, rows, range and schema itself.
        format: ``parquet``, ``csv`` or ``jsonl`` (local data).
        rows, bytes, files: size.
        time_column: the event-time column the range was computed on.
        time_min, time_max: the event-time range (inclusive), UTC.
        schema: (column, type) pairs, in file order.
        upstream: source partitions (arrivals) the dataset was built from.
    """

    uri: str
    digest: str | None
    name: str = ""
    role: str = "train"
    computed: bool = False
    format: str | None = None
    rows: int | None = None
    bytes: int | None = None
    files: int | None = None
    time_column: str | None = None
    time_min: datetime | None = None
    time_max: datetime | None = None
    schema: tuple[tuple[str, str], ...] = ()
    upstream: tuple[UpstreamPartition, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "uri": self.uri,
            "digest": self.digest,
            "computed": self.computed,
            "format": self.format,
            "rows": self.rows,
            "bytes": self.bytes,
            "files": self.files,
            "time_column": self.time_column,
            "time_min": iso(self.time_min),
            "time_max": iso(self.time_max),
            "schema": [[c, t] for c, t in self.schema],
            "upstream": [str(p) for p in self.upstream],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetRef:
        return cls(
            uri=str(data["uri"]),
            digest=data.get("digest"),
            name=str(data.get("name") or ""),
            role=str(data.get("role") or "train"),
            computed=bool(data.get("computed", False)),
            format=data.get("format"),
            rows=data.get("rows"),
            bytes=data.get("bytes"),
            files=data.get("files"),
            time_column=data.get("time_column"),
            time_min=parse_time(data["time_min"]) if data.get("time_min") else None,
            time_max=parse_time(data["time_max"]) if data.get("time_max") else None,
            schema=tuple((str(c), str(t)) for c, t in data.get("schema") or ()),
            upstream=tuple(UpstreamPartition.parse(p) for p in data.get("upstream") or ()),
        )


@dataclass(frozen=True)
class CodeRef:
    """The code that produced a version, from the training working directory's git.

    Attributes:
        repo: remote URL (credentials removed) or the repository folder.
        commit: HEAD commit.
        branch: current branch, if any.
        dirty: uncommitted changes (tracked or untracked files) were present.
        diff_digest: ``sha256:<hex>`` of the uncommitted diff and untracked files; None when clean.
        path: the working directory relative to the repository root.
    """

    repo: str | None
    commit: str | None
    dirty: bool | None
    diff_digest: str | None = None
    branch: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "commit": self.commit,
            "branch": self.branch,
            "dirty": self.dirty,
            "diff_digest": self.diff_digest,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodeRef:
        return cls(
            repo=data.get("repo"),
            commit=data.get("commit"),
            dirty=data.get("dirty"),
            diff_digest=data.get("diff_digest"),
            branch=data.get("branch"),
            path=data.get("path"),
        )


@dataclass(frozen=True)
class EnvironmentRef:
    """The installed package set of the training process.

    Attributes:
        digest: ``sha256:<hex>`` over the Python version and the sorted ``name==version`` list.
        python: interpreter version.
        packages: sorted ``name==version`` strings.
    """

    digest: str
    python: str | None = None
    packages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "python": self.python, "packages": list(self.packages)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvironmentRef:
        return cls(
            digest=str(data["digest"]),
            python=data.get("python"),
            packages=tuple(str(p) for p in data.get("packages") or ()),
        )


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version: immutable once registered.

    ``record_digest`` is the sha256 of :meth:`record` in canonical JSON; the registration's
    audit entry carries it too, so ``registry verify`` notices a row edited in place.
    """

    model: str
    version: str
    artifact_uri: str
    artifact_digest: str | None
    datasets: tuple[DatasetRef, ...]
    code: CodeRef | None
    params: dict[str, Any]
    metrics: dict[str, float]
    environment: EnvironmentRef | None
    tags: dict[str, str]
    created_by: str
    created_at: datetime
    origin: str = "api"
    run_id: str | None = None
    record_digest: str = ""

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def record(self) -> dict[str, Any]:
        """Everything that is immutable about the version (all but ``record_digest``)."""
        return {
            "model": self.model,
            "version": self.version,
            "artifact_uri": self.artifact_uri,
            "artifact_digest": self.artifact_digest,
            "datasets": [d.to_dict() for d in self.datasets],
            "code": self.code.to_dict() if self.code else None,
            "params": self.params,
            "metrics": self.metrics,
            "environment": self.environment.to_dict() if self.environment else None,
            "tags": self.tags,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "origin": self.origin,
            "run_id": self.run_id,
        }

    def compute_digest(self) -> str:
        return "sha256:" + sha256_text(canonical_json(self.record()))

    def to_dict(self) -> dict[str, Any]:
        return {**self.record(), "ref": self.ref, "record_digest": self.record_digest}


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias (``version`` set) or its removal (``version`` None)."""

    model: str
    alias: str
    version: str | None
    at: datetime
    recorded_at: datetime
    actor: str
    reason: str | None = None
    override: bool = False
    audit_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "version": self.version,
            "at": iso(self.at),
            "recorded_at": iso(self.recorded_at),
            "actor": self.actor,
            "reason": self.reason,
            "override": self.override,
            "audit_seq": self.audit_seq,
        }


@dataclass(frozen=True)
class AliasState:
    """Where an alias points at some moment, and since when."""

    alias: str
    version: str
    since: datetime
    actor: str

    def to_dict(self) -> dict[str, Any]:
        return {"alias": self.alias, "version": self.version, "since": iso(self.since), "actor": self.actor}


@dataclass(frozen=True)
class AliasWindow:
    """A span during which ``alias`` named a version: [start, end), ``end`` None while it still does."""

    alias: str
    version: str
    start: datetime
    end: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"alias": self.alias, "version": self.version, "start": iso(self.start), "end": iso(self.end)}


@dataclass(frozen=True)
class ValidationResult:
    """A check a version passed or failed (a gate, an offline evaluation, a manual sign-off)."""

    model: str
    version: str
    name: str
    passed: bool
    details: dict[str, Any]
    origin: str
    at: datetime
    actor: str
    audit_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "name": self.name,
            "passed": self.passed,
            "details": self.details,
            "origin": self.origin,
            "at": iso(self.at),
            "actor": self.actor,
            "audit_seq": self.audit_seq,
        }


@dataclass(frozen=True)
class TrainingRunRecord:
    """A training run tracked by ``track_training``: ``running``, ``failed`` or ``registered``."""

    run_id: str
    model: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    version: str | None
    error: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "status": self.status,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "version": self.version,
            "error": self.error,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the hash-chained audit log."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class LineageEdge:
    """One edge of the lineage graph: ``source`` feeds ``target``.

    Node ids: ``partition:SOURCE:PARTITION``, ``dataset:DIGEST_OR_URI``,
    ``version:MODEL@VERSION``, ``alias:MODEL:ALIAS``.
    """

    source: str
    target: str
    kind: str  # built_from | trained_on | named_by

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "kind": self.kind}
