"""The registry's reads of one version and of a model's alias history, in plain SQL.

The queries run through :meth:`recops.store.Store.read`: the standard library's
``sqlite3`` for a SQLite store this process has not opened, the engine otherwise. So
this module imports neither SQLAlchemy nor the store's ORM tables (a third of a second
together): ``recops trace`` shows a registered version's lineage and aliases through
``lineage_of``, which reads with these functions. They are the registry's own
(``recops.registry.get_version`` and ``alias_history`` are :func:`get_version` and
:func:`alias_history`), so the SQL and the row → entity mapping exist once.

Rows come back as the ORM's rows would: a time read as text (SQLite keeps
``YYYY-MM-DD HH:MM:SS.ffffff``, in UTC) is parsed, a SQLite boolean (0/1) is made a
``bool``; :func:`version_entity` and :func:`dataset_entity` map these rows and the ORM's
alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from recops.errors import NotFound
from recops.registry._canonical import loads, utc, utc_or_none
from recops.registry.entities import (
    AliasEvent,
    AliasWindow,
    CodeRef,
    DatasetRef,
    EnvironmentRef,
    ModelVersion,
    UpstreamPartition,
)
from recops.store import Store

if TYPE_CHECKING:
    from recops.store.tables import RegistryInputRow, RegistryVersionRow


class VersionColumns(NamedTuple):
    """A ``registry_versions`` row (``RegistryVersionRow``)."""

    id: int
    model: str
    version: str
    artifact_uri: str
    artifact_digest: str | None
    code: str | None
    params: str
    metrics: str
    environment: str | None
    tags: str
    created_by: str
    created_at: datetime
    origin: str
    run_id: str | None
    record_digest: str


class InputColumns(NamedTuple):
    """A ``registry_inputs`` row (``RegistryInputRow``)."""

    id: int
    version_id: int
    position: int
    name: str
    role: str
    uri: str
    digest: str | None
    computed: bool
    format: str | None
    rows: int | None
    bytes: int | None
    files: int | None
    time_column: str | None
    time_min: datetime | None
    time_max: datetime | None
    schema: str


class AliasEventColumns(NamedTuple):
    """A ``registry_alias_history`` row (``RegistryAliasEventRow``), without its id."""

    model: str
    alias: str
    version: str | None
    at: datetime
    recorded_at: datetime
    actor: str
    reason: str | None
    override: bool
    audit_seq: int


def _columns(fields: Iterable[str]) -> str:
    """Quoted column names (``rows``, ``schema``, ``position``... are keywords somewhere)."""
    return ", ".join(f'"{f}"' for f in fields)


VERSION = (
    f"SELECT {_columns(VersionColumns._fields)} FROM registry_versions "
    "WHERE model = :model AND version = :version"
)
INPUTS = (
    f"SELECT {_columns(InputColumns._fields)} FROM registry_inputs "
    'WHERE version_id = :version_id ORDER BY "position"'
)
UPSTREAM = (
    'SELECT u.input_id, u.source, u."partition" FROM registry_upstream u '
    "JOIN registry_inputs i ON i.id = u.input_id WHERE i.version_id = :version_id"
)
#: The model's newest versions, named when a version is not found.
LATEST = "SELECT version FROM registry_versions WHERE model = :model ORDER BY created_at DESC LIMIT :limit"
ALIAS_HISTORY = (
    f"SELECT {_columns(AliasEventColumns._fields)} FROM registry_alias_history WHERE model = :model"
)
ONE_ALIAS = " AND alias = :alias"
HISTORY_ORDER = ' ORDER BY "at", id'
LATEST_NAMED = 5


def _time(value: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back text, naive UTC)."""
    return utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _time_or_none(value: datetime | str | None) -> datetime | None:
    return None if value is None else _time(value)


def not_found_message(model: str, version: str, latest: Sequence[str]) -> str:
    """What NotFound says of ``model@version``, given the model's newest versions (:data:`LATEST`)."""
    if not latest:
        return f"no model {model!r} in the registry"
    return f"no version {model}@{version}; latest: {', '.join(latest)}"


def get_version(store: Store, model: str, version: str) -> ModelVersion:
    """The registered ``model@version``.

    Raises:
        NotFound: with the versions the model has.
    """
    found = store.read(VERSION, {"model": model, "version": version})
    if not found:
        latest = store.read(LATEST, {"model": model, "limit": LATEST_NAMED})
        raise NotFound(not_found_message(model, version, [str(v) for (v,) in latest]))
    row = VersionColumns._make(found[0])
    row = row._replace(created_at=_time(row.created_at))
    inputs = [
        i._replace(
            computed=bool(i.computed), time_min=_time_or_none(i.time_min), time_max=_time_or_none(i.time_max)
        )
        for i in map(InputColumns._make, store.read(INPUTS, {"version_id": row.id}))
    ]
    upstream: dict[int, list[UpstreamPartition]] = {}
    for input_id, source, partition in store.read(UPSTREAM, {"version_id": row.id}):
        upstream.setdefault(input_id, []).append(UpstreamPartition(source, partition))
    return version_entity(row, inputs, upstream)


def alias_history(store: Store, model: str, alias: str | None = None) -> list[AliasEvent]:
    """Every move of the model's aliases (or one alias), in the order they took effect."""
    sql = ALIAS_HISTORY + (ONE_ALIAS if alias is not None else "") + HISTORY_ORDER
    params = {"model": model} if alias is None else {"model": model, "alias": alias}
    return [alias_event(AliasEventColumns._make(r)) for r in store.read(sql, params)]


def alias_event(row: AliasEventColumns) -> AliasEvent:
    """The domain object of an alias history row."""
    return AliasEvent(
        row.model,
        row.alias,
        row.version,
        _time(row.at),
        _time(row.recorded_at),
        row.actor,
        row.reason,
        bool(row.override),
        row.audit_seq,
    )


def windows(events: Sequence[AliasEvent]) -> list[AliasWindow]:
    """The [start, end) spans during which each alias named each version."""
    out: list[AliasWindow] = []
    open_: dict[str, AliasEvent] = {}
    for e in events:
        previous = open_.pop(e.alias, None)
        if previous is not None and previous.version is not None and previous.at < e.at:
            out.append(AliasWindow(e.alias, previous.version, previous.at, e.at))
        if e.version is not None:
            open_[e.alias] = e
    out.extend(AliasWindow(a, e.version, e.at, None) for a, e in open_.items() if e.version is not None)
    return sorted(out, key=lambda w: (w.start, w.alias))


def dataset_entity(inp: RegistryInputRow | InputColumns, upstream: Sequence[UpstreamPartition]) -> DatasetRef:
    return DatasetRef(
        uri=inp.uri,
        digest=inp.digest,
        name=inp.name,
        role=inp.role,
        computed=inp.computed,
        format=inp.format,
        rows=inp.rows,
        bytes=inp.bytes,
        files=inp.files,
        time_column=inp.time_column,
        time_min=utc_or_none(inp.time_min),
        time_max=utc_or_none(inp.time_max),
        schema=tuple((str(c), str(t)) for c, t in loads(inp.schema)),
        upstream=tuple(sorted(upstream)),
    )


def version_entity(
    row: RegistryVersionRow | VersionColumns,
    inputs: Sequence[RegistryInputRow | InputColumns],
    upstream: Mapping[int, Sequence[UpstreamPartition]],
) -> ModelVersion:
    """The domain object of a version row and its input rows."""
    code = loads(row.code)
    env = loads(row.environment)
    return ModelVersion(
        model=row.model,
        version=row.version,
        artifact_uri=row.artifact_uri,
        artifact_digest=row.artifact_digest,
        datasets=tuple(dataset_entity(i, upstream.get(i.id, ())) for i in inputs),
        code=CodeRef.from_dict(code) if code is not None else None,
        params=loads(row.params),
        metrics=loads(row.metrics),
        environment=EnvironmentRef.from_dict(env) if env is not None else None,
        tags=loads(row.tags),
        created_by=row.created_by,
        created_at=utc(row.created_at),
        origin=row.origin,
        run_id=row.run_id,
        record_digest=row.record_digest,
    )
