"""``/api/models``, ``/api/versions``, ``/api/audit``: the model registry over HTTP (``recops registry``).

Reads need a viewer token. Registering a version and recording a validation need the
ingest role (pipelines and CI do both); moving an alias by hand needs operator, like
promote and rollback. Every write passes the caller's token as the actor, which is what
the registry's audit log records.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from recops.errors import InvalidInput
from recops.registry import aliases as alias_lib
from recops.registry import audit as audit_lib
from recops.registry._canonical import now, parse_time
from recops.registry.datasets import declared_dataset, local_path, with_upstream
from recops.registry.entities import CodeRef, DatasetRef, EnvironmentRef
from recops.registry.lineage import lineage_of, reverse_lineage, upstream_partitions
from recops.registry.report import describe_version
from recops.registry.tracking import list_runs
from recops.registry.traffic import DEFAULT_GRACE, served_report
from recops.registry.verify import verify
from recops.registry.versions import (
    list_models,
    list_versions,
    record_validation,
    register_version,
    validations,
)
from recops.respond.gates.run import gate_name
from recops.server.api._common import AUTH_RESPONSES, WS, Ingest, Operator, Viewer, reply

router = APIRouter(tags=["registry"], responses=AUTH_RESPONSES)


class DatasetIn(BaseModel):
    """A dataset the version was trained or evaluated on, as the caller declares it.

    The server never reads its own files for a client, so datasets are declared (like a
    manifest's remote datasets); ``upstream_sources`` derives the lake partitions read.
    """

    uri: str = Field(description="Where the data is (s3://, gs://, hdfs://, ...).")
    name: str | None = None
    role: str = Field(default="train", description="train, eval, ...")
    digest: str | None = Field(default=None, description="ALGORITHM:VALUE, e.g. sha256:<hex>.")
    rows: int | None = None
    time_min: str | None = Field(default=None, description="Earliest event time in the data (ISO 8601).")
    time_max: str | None = Field(default=None, description="Latest event time in the data (ISO 8601).")
    schema_: dict[str, str] = Field(default_factory=dict, alias="schema", description="column → type")
    upstream: list[str] = Field(
        default_factory=list, description="Upstream partitions, e.g. play_events:2026-10-01"
    )
    upstream_sources: list[str] = Field(
        default_factory=list, description="Lake sources whose arrivals in [time_min, time_max] were read."
    )


class CodeIn(BaseModel):
    repo: str | None = None
    commit: str | None = None
    dirty: bool | None = None
    diff_digest: str | None = None
    branch: str | None = None
    path: str | None = None


class EnvironmentIn(BaseModel):
    digest: str
    python: str | None = None
    packages: list[str] = Field(default_factory=list)


class VersionIn(BaseModel):
    """A model version to register (the JSON form of a manifest with remote data)."""

    version: str | None = Field(default=None, description="Version name; omitted: the next integer.")
    artifact_uri: str = Field(description="Where the trained artifact is; a remote URI (s3://...).")
    artifact_digest: str | None = Field(default=None, description="ALGORITHM:VALUE of the artifact.")
    datasets: list[DatasetIn] = Field(default_factory=list)
    code: CodeIn | None = None
    environment: EnvironmentIn | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = None


class AliasIn(BaseModel):
    version: str
    reason: str | None = Field(default=None, description="Why (kept in the history and the audit log).")
    at: str | None = Field(
        default=None, description="When it took effect (ISO 8601, naive = UTC; default now)."
    )
    override: bool = Field(default=False, description="The move bypasses a failed check; needs a reason.")


class AliasRemoveIn(BaseModel):
    reason: str | None = None
    at: str | None = None


class ValidationIn(BaseModel):
    name: str = Field(description="The check's name (gate:<alias> is reserved for `POST /api/gate/check`).")
    passed: bool
    details: dict[str, Any] = Field(default_factory=dict)
    origin: str = Field(default="manual", description="Where the result comes from (ci, manual, ...).")


def _remote(uri: str, what: str) -> str:
    if local_path(uri) is not None:
        raise InvalidInput(
            f"{what} {uri!r} is a local path: over HTTP give a remote URI (s3://, gs://, https://) and its "
            "digest; `recops registry register` digests local files"
        )
    return uri


def _dataset(ws: WS, d: DatasetIn) -> DatasetRef:
    dataset = declared_dataset(
        _remote(d.uri, "dataset"),
        digest=d.digest,
        name=d.name,
        role=d.role,
        rows=d.rows,
        time_min=parse_time(d.time_min) if d.time_min else None,
        time_max=parse_time(d.time_max) if d.time_max else None,
        schema=list(d.schema_.items()),
        upstream=d.upstream,
    )
    if d.upstream_sources:
        found = upstream_partitions(ws.lake, d.upstream_sources, dataset.time_min, dataset.time_max)
        dataset = with_upstream(dataset, found)
    return dataset


@router.get("/models", summary="Models in the registry")
def models(ws: WS, _p: Viewer) -> JSONResponse:
    """Every model with a registered version, and where each of its aliases points now."""
    return reply(
        [
            {"model": m, "aliases": [s.to_dict() for s in alias_lib.current_aliases(ws.store, m)]}
            for m in list_models(ws.store)
        ]
    )


@router.get("/versions", summary="Registered versions, newest first")
def versions(
    ws: WS,
    _p: Viewer,
    model: str | None = Query(None, description="Only this model."),
    limit: int = Query(50, ge=1, le=10_000, description="At most this many."),
) -> JSONResponse:
    """Like `recops registry list`: each version with the aliases naming it now."""
    named = alias_lib.aliases_by_version(ws.store)
    return reply(
        [
            {**v.to_dict(), "ref": v.ref, "aliases": named.get((v.model, v.version), [])}
            for v in list_versions(ws.store, model, limit=limit)
        ]
    )


@router.post("/models/{model}/versions", summary="Register a version (ingest)", status_code=201)
def register(model: str, body: VersionIn, ws: WS, principal: Ingest) -> JSONResponse:
    """Register an immutable model version; the token is recorded as its creator (audited).

    Datasets and the artifact are declared with remote URIs; a local path is refused
    (the server does not read its own files on a client's behalf). 409 if it exists.
    """
    datasets = [_dataset(ws, d) for d in body.datasets]
    version = register_version(
        ws.store,
        model=model,
        version=body.version,
        artifact_uri=_remote(body.artifact_uri, "artifact"),
        artifact_digest=body.artifact_digest,
        datasets=datasets,
        code=CodeRef(**body.code.model_dump()) if body.code else None,
        params=body.params,
        metrics=body.metrics,
        environment=(
            EnvironmentRef(body.environment.digest, body.environment.python, tuple(body.environment.packages))
            if body.environment
            else None
        ),
        tags=body.tags,
        created_by=principal.actor,
        origin="api",
        run_id=body.run_id,
    )
    return reply({**version.to_dict(), "ref": version.ref}, status_code=201)


@router.get("/models/{model}/versions/{version}", summary="One version with lineage and validations")
def show_version(model: str, version: str, ws: WS, _p: Viewer) -> JSONResponse:
    """Like `recops registry show`: lineage, offline metrics, validations, production windows."""
    return reply(describe_version(ws.store, model, version).to_dict())


@router.get("/models/{model}/versions/{version}/lineage", summary="Lineage graph of a version")
def lineage(model: str, version: str, ws: WS, _p: Viewer) -> JSONResponse:
    """Upstream partitions → datasets → version → aliases (`recops lineage MODEL@VERSION --json`)."""
    return reply(lineage_of(ws.store, model, version).to_dict())


@router.get(
    "/models/{model}/versions/{version}/openlineage",
    summary="OpenLineage run events of a version",
    response_class=PlainTextResponse,
)
def openlineage(model: str, version: str, ws: WS, _p: Viewer) -> PlainTextResponse:
    """`recops lineage MODEL@VERSION --format openlineage`: JSON lines, one run event each."""
    from recops.registry.openlineage_export import openlineage_events, to_json_lines

    events = openlineage_events(lineage_of(ws.store, model, version).version)
    return PlainTextResponse(to_json_lines(events), media_type="application/x-ndjson")


@router.get("/lineage/reverse", summary="Versions trained on a dataset, source or partition")
def lineage_reverse(
    ws: WS, _p: Viewer, target: str = Query(description="DATASET_OR_SOURCE[:PARTITION]")
) -> JSONResponse:
    """Impact analysis (`recops lineage --reverse`): flags versions that hold an alias now."""
    return reply(reverse_lineage(ws.store, target).to_dict())


@router.get("/models/{model}/versions/{version}/validations", summary="Validations of a version")
def list_validations(model: str, version: str, ws: WS, _p: Viewer) -> JSONResponse:
    """Every validation result attached to the version, oldest first (gates included)."""
    return reply([v.to_dict() for v in validations(ws.store, model, version)])


@router.post(
    "/models/{model}/versions/{version}/validations",
    summary="Record a validation (ingest)",
    status_code=201,
)
def add_validation(model: str, version: str, body: ValidationIn, ws: WS, principal: Ingest) -> JSONResponse:
    """Attach a check result (append-only; audited with the token as actor).

    Gate results (``gate:<alias>``) are refused here: promotion trusts them, so only the
    gate itself (`POST /api/gate/check`, operator) records them.
    """
    if body.name.startswith(gate_name("")):
        raise InvalidInput(f"{body.name!r} is a gate result: run `POST /api/gate/check` instead")
    result = record_validation(
        ws.store,
        model,
        version,
        name=body.name,
        passed=body.passed,
        details=body.details,
        origin=body.origin,
        actor=principal.actor,
    )
    return reply(result.to_dict(), status_code=201)


@router.get("/models/{model}/aliases", summary="Where each alias of a model points now")
def list_aliases(model: str, ws: WS, _p: Viewer) -> JSONResponse:
    """`recops registry alias list`."""
    return reply([s.to_dict() for s in alias_lib.current_aliases(ws.store, model)])


@router.put("/models/{model}/aliases/{alias}", summary="Point an alias at a version (operator)")
def set_alias(model: str, alias: str, body: AliasIn, ws: WS, principal: Operator) -> JSONResponse:
    """Move an alias by hand, like `recops registry alias set` (audited; no gate check).

    Use `POST /api/promote` to move behind the deployment gate. ``moved`` is false when
    the alias already named the version.
    """
    event = alias_lib.set_alias(
        ws.store,
        model,
        alias,
        body.version,
        actor=principal.actor,
        reason=body.reason,
        at=parse_time(body.at) if body.at else None,
        override=body.override,
    )
    return reply(
        {"model": model, "alias": alias, "version": body.version, "moved": event is not None,
         "event": event.to_dict() if event else None}
    )  # fmt: skip


@router.delete("/models/{model}/aliases/{alias}", summary="Remove an alias (operator)")
def remove_alias(
    model: str, alias: str, ws: WS, principal: Operator, body: AliasRemoveIn | None = None
) -> JSONResponse:
    """Stop the alias naming any version (the history keeps it); audited."""
    body = body or AliasRemoveIn()
    event = alias_lib.remove_alias(
        ws.store, model, alias, actor=principal.actor, reason=body.reason,
        at=parse_time(body.at) if body.at else None,
    )  # fmt: skip
    return reply(event.to_dict())


@router.get("/models/{model}/alias-history", summary="Every move of a model's aliases")
def alias_history(
    model: str, ws: WS, _p: Viewer, alias: str | None = Query(None, description="Only this alias.")
) -> JSONResponse:
    """In the order they took effect, with actor, reason, override and audit entry."""
    return reply([e.to_dict() for e in alias_lib.alias_history(ws.store, model, alias)])


@router.get("/models/{model}/served", summary="What the aliases named and what was served at a moment")
def served(
    model: str,
    ws: WS,
    _p: Viewer,
    at: str | None = Query(None, description="The moment (ISO 8601, naive = UTC; default now)."),
    check: bool = Query(False, description="Compare the whole alias history with the request logs."),
    aliases: str | None = Query(None, description="Aliases that route traffic, comma-separated."),
    grace_minutes: float = Query(DEFAULT_GRACE.total_seconds() / 60, ge=0),
) -> JSONResponse:
    """`recops registry served`: alias states, traffic ±30 minutes, and optionally the traffic check."""
    wanted = [a.strip() for a in aliases.split(",") if a.strip()] if aliases else None
    when = parse_time(at) if at else now()
    grace = timedelta(minutes=grace_minutes)
    return reply(served_report(ws.store, ws.lake, model, when, check=check, aliases=wanted, grace=grace))


@router.get("/runs", summary="Tracked training runs")
def runs(
    ws: WS,
    _p: Viewer,
    model: str | None = Query(None),
    status: str | None = Query(None, description="running, failed or registered."),
) -> JSONResponse:
    """Training runs tracked by track_training, failed ones included, newest first."""
    return reply([r.to_dict() for r in list_runs(ws.store, model, status=status)])


@router.get("/audit", summary="The audit log, newest first")
def audit(
    ws: WS,
    _p: Viewer,
    limit: int = Query(50, ge=1, le=10_000),
    subject: str | None = Query(None, description="e.g. ranker@v13, ranker:production, incident:3."),
    action: str | None = Query(None, description="An action; * matches anything (alias.*)."),
    actor: str | None = Query(None, description="Only entries by this actor (token:NAME)."),
) -> JSONResponse:
    """Who did what, when: every write through the API is here with its token as actor."""
    found = audit_lib.entries(
        ws.store, subject=subject, action=action, limit=None if actor else limit, newest_first=True
    )
    if actor is not None:
        found = [e for e in found if e.actor == actor][:limit]
    return reply([e.to_dict() for e in found])


@router.get("/audit/verify", summary="Verify the audit chain and the registry against it")
def audit_verify(ws: WS, _p: Viewer) -> JSONResponse:
    """`recops registry verify`: edited, deleted or cut entries; registry rows changed behind the log."""
    return reply(verify(ws.store).to_dict())
