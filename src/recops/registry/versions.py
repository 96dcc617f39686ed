"""Model versions: register (once, immutable), read, list; validation results attached to them.

There is no update or delete here, on purpose: a version's lineage, parameters, metrics
and digests are fixed when it is registered. Its record digest goes into the audit log
with the registration, so ``registry verify`` also notices a row edited in the database.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recops.errors import Conflict, InvalidInput, NotFound
from recops.registry import audit
from recops.registry._canonical import canonical_json, check_number, loads, now, utc
from recops.registry.datasets import local_path, path_digest
from recops.registry.entities import (
    CodeRef,
    DatasetRef,
    EnvironmentRef,
    ModelVersion,
    UpstreamPartition,
    ValidationResult,
    check_model_name,
    check_version_name,
)
from recops.registry.reads import LATEST, LATEST_NAMED, not_found_message, version_entity
from recops.registry.reads import get_version as get_version
from recops.store import Store
from recops.store.tables import (
    RegistryInputRow,
    RegistryUpstreamRow,
    RegistryValidationRow,
    RegistryVersionRow,
)

ORIGINS = ("api", "sdk", "manifest", "mlflow")


def default_actor() -> str:
    """Who is acting: $RECOPS_ACTOR, else the login name."""
    if os.environ.get("RECOPS_ACTOR"):
        return os.environ["RECOPS_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register_version(
    store: Store,
    *,
    model: str,
    artifact_uri: str,
    version: str | None = None,
    artifact_digest: str | None = None,
    datasets: Sequence[DatasetRef] = (),
    code: CodeRef | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    environment: EnvironmentRef | None = None,
    tags: Mapping[str, Any] | None = None,
    created_by: str | None = None,
    created_at: datetime | None = None,
    origin: str = "api",
    run_id: str | None = None,
) -> ModelVersion:
    """Register a model version; it can never be changed afterwards.

    Args:
        store: the metadata store.
        model: model name.
        artifact_uri: where the trained artifact is. A local path (or ``file://``) is
            digested by recops; a given ``artifact_digest`` must then match.
        version: version name; None takes the next integer (``1``, ``2``...).
        artifact_digest: ``sha256:<hex>`` (or any ``algo:value``) for remote artifacts.
        datasets: training and evaluation data (:func:`describe_dataset`).
        code: git state (:func:`capture_code`).
        params: hyperparameters (JSON values).
        metrics: offline metrics (finite numbers).
        environment: package set (:func:`capture_environment`).
        tags: free ``key: value`` strings.
        created_by: who (default: $RECOPS_ACTOR or the login name).
        created_at: when (default: now).
        origin: ``api``, ``sdk``, ``manifest`` or ``mlflow``.
        run_id: the tracked training run, if any.

    Returns:
        The registered version, with its record digest.

    Raises:
        Conflict: ``model@version`` is registered already.
        InvalidInput: bad names, values JSON cannot hold, or an artifact digest mismatch.
    """
    check_model_name(model)
    if version is not None:
        check_version_name(version)
    if not artifact_uri or not artifact_uri.strip():
        raise InvalidInput("artifact_uri is required")
    if origin not in ORIGINS:
        raise InvalidInput(f"origin must be one of {', '.join(ORIGINS)}")
    artifact_digest = _artifact_digest(artifact_uri, artifact_digest)
    clean_metrics = {str(k): check_number(str(k), v) for k, v in (metrics or {}).items()}
    clean_params = {str(k): v for k, v in (params or {}).items()}
    canonical_json(clean_params)  # refuses what JSON cannot hold, before anything is written
    clean_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise InvalidInput(f"dataset names must be unique within a version: {names}")
    actor = created_by or default_actor()
    when = utc(created_at) if created_at else now()
    try:
        with audit.registry_session(store) as session:
            name = version or _next_version(session, model)
            existing = _row(session, model, name)
            if existing is not None:
                raise Conflict(
                    f"{model}@{name} is registered already (on {utc(existing.created_at):%Y-%m-%d %H:%M} UTC "
                    f"by {existing.created_by}); versions are immutable: register a new version instead"
                )
            entity = ModelVersion(
                model=model,
                version=name,
                artifact_uri=artifact_uri,
                artifact_digest=artifact_digest,
                datasets=tuple(datasets),
                code=code,
                params=clean_params,
                metrics=clean_metrics,
                environment=environment,
                tags=clean_tags,
                created_by=actor,
                created_at=when,
                origin=origin,
                run_id=run_id,
            )
            digest = entity.compute_digest()
            row = _insert(session, entity, digest)
            audit.append(
                session,
                actor=actor,
                action="version.register",
                subject=entity.ref,
                payload={
                    "model": model,
                    "version": name,
                    "record_digest": digest,
                    "artifact_uri": artifact_uri,
                    "artifact_digest": artifact_digest,
                    "datasets": [d.digest for d in entity.datasets],
                    "origin": origin,
                },
                at=when,
            )
            session.flush()
            stored = _entity(session, row)
    except IntegrityError:
        raise Conflict(
            f"{model}@{version or 'that version'} is registered already; versions are immutable: "
            "register a new version instead"
        ) from None
    return stored


def _artifact_digest(uri: str, given: str | None) -> str | None:
    path = local_path(uri)
    if path is None or not path.exists():
        if given is not None and ":" not in given:
            raise InvalidInput(f"artifact digest {given!r} must be ALGORITHM:VALUE, e.g. sha256:<hex>")
        return given
    computed = path_digest(path)
    if given is not None and given != computed:
        raise InvalidInput(f"artifact digest mismatch for {uri}: given {given}, recops computed {computed}")
    return computed


def _next_version(session: Session, model: str) -> str:
    names = session.scalars(select(RegistryVersionRow.version).where(RegistryVersionRow.model == model))
    numbers = [int(n) for n in names if n.isdigit()]
    return str(max(numbers, default=0) + 1)


def _row(session: Session, model: str, version: str) -> RegistryVersionRow | None:
    return session.scalars(
        select(RegistryVersionRow).where(
            RegistryVersionRow.model == model, RegistryVersionRow.version == version
        )
    ).one_or_none()


def _insert(session: Session, v: ModelVersion, digest: str) -> RegistryVersionRow:
    row = RegistryVersionRow(
        model=v.model,
        version=v.version,
        artifact_uri=v.artifact_uri,
        artifact_digest=v.artifact_digest,
        code=canonical_json(v.code.to_dict()) if v.code else None,
        params=canonical_json(v.params),
        metrics=canonical_json(v.metrics),
        environment=canonical_json(v.environment.to_dict()) if v.environment else None,
        tags=canonical_json(v.tags),
        created_by=v.created_by,
        created_at=v.created_at,
        origin=v.origin,
        run_id=v.run_id,
        record_digest=digest,
    )
    session.add(row)
    session.flush()
    for position, d in enumerate(v.datasets):
        inp = RegistryInputRow(
            version_id=row.id,
            position=position,
            name=d.name,
            role=d.role,
            uri=d.uri,
            digest=d.digest,
            computed=d.computed,
            format=d.format,
            rows=d.rows,
            bytes=d.bytes,
            files=d.files,
            time_column=d.time_column,
            time_min=d.time_min,
            time_max=d.time_max,
            schema=canonical_json([[c, t] for c, t in d.schema]),
        )
        session.add(inp)
        session.flush()
        session.add_all(
            RegistryUpstreamRow(input_id=inp.id, source=p.source, partition=p.partition) for p in d.upstream
        )
    return row


def _entity(session: Session, row: RegistryVersionRow) -> ModelVersion:
    return entities_of(session, [row])[0]


def entities_of(session: Session, rows: Sequence[RegistryVersionRow]) -> list[ModelVersion]:
    """Domain objects for version rows, reading their inputs and upstream in two queries."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    inputs: dict[int, list[RegistryInputRow]] = {}
    for chunk in _chunks(ids):
        for inp in session.scalars(
            select(RegistryInputRow)
            .where(RegistryInputRow.version_id.in_(chunk))
            .order_by(RegistryInputRow.position)
        ):
            inputs.setdefault(inp.version_id, []).append(inp)
    input_ids = [i.id for group in inputs.values() for i in group]
    upstream: dict[int, list[UpstreamPartition]] = {}
    for chunk in _chunks(input_ids):
        for up in session.scalars(select(RegistryUpstreamRow).where(RegistryUpstreamRow.input_id.in_(chunk))):
            upstream.setdefault(up.input_id, []).append(UpstreamPartition(up.source, up.partition))
    return [version_entity(r, inputs.get(r.id, []), upstream) for r in rows]


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _not_found(session: Session, model: str, version: str) -> str:
    latest = session.scalars(text(LATEST), {"model": model, "limit": LATEST_NAMED})
    return not_found_message(model, version, [str(v) for v in latest])


def find_version_row(session: Session, model: str, version: str) -> RegistryVersionRow:
    """The version row, or NotFound."""
    row = _row(session, model, version)
    if row is None:
        raise NotFound(_not_found(session, model, version))
    return row


def list_versions(store: Store, model: str | None = None, *, limit: int | None = None) -> list[ModelVersion]:
    """Registered versions, newest first (of one model, or all)."""
    query = select(RegistryVersionRow).order_by(
        RegistryVersionRow.created_at.desc(), RegistryVersionRow.id.desc()
    )
    if model is not None:
        query = query.where(RegistryVersionRow.model == model)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return entities_of(session, list(session.scalars(query)))


def list_models(store: Store) -> list[str]:
    with store.session() as session:
        return list(
            session.scalars(select(RegistryVersionRow.model).distinct().order_by(RegistryVersionRow.model))
        )


def record_validation(
    store: Store,
    model: str,
    version: str,
    *,
    name: str,
    passed: bool,
    details: Mapping[str, Any] | None = None,
    origin: str = "manual",
    actor: str | None = None,
    at: datetime | None = None,
) -> ValidationResult:
    """Attach a validation result to a version (append-only; audited).

    Raises:
        NotFound: no such version.
        InvalidInput: an empty name or details JSON cannot hold.
    """
    if not name.strip():
        raise InvalidInput("a validation needs a name")
    clean = dict(details or {})
    text = canonical_json(clean)
    who = actor or default_actor()
    when = utc(at) if at else now()
    with audit.registry_session(store) as session:
        row = find_version_row(session, model, version)
        entry = audit.append(
            session,
            actor=who,
            action="validation.record",
            subject=f"{model}@{version}",
            payload={"name": name, "passed": passed, "details": clean, "origin": origin},
            at=when,
        )
        session.add(
            RegistryValidationRow(
                version_id=row.id,
                name=name,
                passed=passed,
                details=text,
                origin=origin,
                at=when,
                actor=who,
                audit_seq=entry.seq,
            )
        )
    return ValidationResult(model, version, name, passed, clean, origin, when, who, entry.seq)


def validations(store: Store, model: str, version: str) -> list[ValidationResult]:
    """The validation results of a version, oldest first."""
    with store.session() as session:
        row = find_version_row(session, model, version)
        results = session.scalars(
            select(RegistryValidationRow)
            .where(RegistryValidationRow.version_id == row.id)
            .order_by(RegistryValidationRow.id)
        )
        return [
            ValidationResult(
                model, version, r.name, r.passed, loads(r.details), r.origin, utc(r.at), r.actor, r.audit_seq
            )
            for r in results
        ]
