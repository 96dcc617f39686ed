"""What happened to one request: its context, model, candidates, slate, features, latencies, outcomes.

:func:`trace_request` finds a request by id; :func:`find_user_request` finds a user's
request nearest before (or at) a time, and :func:`trace_user_at` traces it. The result is
a :class:`RequestTrace` (``to_json()`` for scripts), assembled from:

- the request row (serving context, status, latencies, features, ``feature_ts``, candidates);
- the registry: the version's record and lineage when it is registered, and the aliases
  that named it when the request was served (``recops lineage MODEL@VERSION`` has more);
- ``[feature_groups.<g>] ttl_hours`` of the config: each feature group's age at serve time
  (``ts - feature_ts[g]``) against its TTL, stale when older (or looked up and not found),
  the same rule as ``stale_feature_share`` in the freshness monitor;
- ``[slo]``: end-to-end latency against ``latency_p99_ms``, a stage against
  ``<stage>_p99_ms`` when configured;
- the feature rows of the runs served (which group each feature comes from);
- the outcomes that followed: ``request_id`` matches and ``ts`` lies in
  ``[ts - 10 min, ts + label_window_hours]``, the window the metrics monitors attribute
  outcomes in.

How the lake is read (the whole command must stay under a second over 10M requests;
``bench/trace.py`` measures it):

- Files come from the catalog (the store's list of live files, with each file's UTC date
  partition), not from :meth:`recops.lake.Lake.connect`, whose views bind every file of
  every kind. Each query reads exactly the files of the partitions it needs with
  ``read_parquet``, in one DuckDB connection.
- A request id carries no time, so finding it must read the ``request_id`` column (and
  only that column, plus ``ts`` and the model of the one matching row; ``filename`` and
  ``file_row_number`` locate it). Partitions are searched newest first, in rounds of 1,
  2, 4, ... dates, stopping at the first round that finds the id: a recent request (the
  usual one to trace) costs one day's ids, an old or unknown one at most one pass over
  every id. Within a round DuckDB skips row groups by their ``request_id`` min/max
  statistics (effective when ids are time-ordered: ULIDs, UUIDv7, snowflake ids) and by
  Parquet Bloom filters when the files carry them (the lake's writer does not write them
  today; with them a lookup reads a few row groups instead of every id, and the outcome
  scan below shrinks the same way).
- With ``--user U --at T`` only partitions dated on or before ``T``'s UTC date are
  searched (newest first, the same rounds), with ``ts <= T`` (row groups pruned by their
  ``ts`` statistics: files are written in arrival order, which is close to time order).
- The row itself is then read from its one file, filtered by ``file_row_number``, id and
  ``ts`` (``LIMIT 1``), so DuckDB decodes the one row group holding it.
- Outcomes are read from the date partitions of the outcome window, filtered by id and
  ``ts`` (row groups outside the window pruned by their statistics): without Bloom
  filters this reads the ids of about a day of outcomes. It runs in a second thread,
  beside the row read and the registry lookup (DuckDB releases the GIL).
- Feature rows: per group, the partitions between the served run's ``event_ts`` and the
  request, the first ``RUN_SAMPLE`` rows of the run.
- Values are inlined in the SQL as escaped literals and results are converted without
  pandas (see :meth:`_Reader.query`): importing it would cost a third of the budget.
- The catalog's file lists, whether the model version is registered and, when it is, the
  version's record, datasets and alias history are read in plain SQL
  (:meth:`recops.store.Store.read`: ``sqlite3`` for a SQLite store; the registry's reads
  are :mod:`recops.registry.reads`, which ``lineage_of`` uses), so a trace never imports
  SQLAlchemy's ORM, nor for a SQLite store SQLAlchemy at all. The registry's light
  modules are imported for a registered version only, in the thread beside the outcome scan.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from recops.config import Config
from recops.errors import NotFound
from recops.lake import Lake
from recops.lake.engine import file_list_sql, new_connection
from recops.lake.sqltext import literal

#: Outcomes stamped this long before their request still count (clock skew between
#: services); the same allowance as the metrics monitors (``metrics_labels.SKEW_SECONDS``).
SKEW = timedelta(minutes=10)
#: ``[slo]`` key of the end-to-end latency target; a stage's is ``<stage>_p99_ms``.
LATENCY_SLO = "latency_p99_ms"
STAGE_SLO_SUFFIX = "_p99_ms"
#: Feature rows of a served run are looked for in partitions at most this long after its ``event_ts``.
MATERIALIZATION_LOOKAHEAD = timedelta(days=2)
#: Rows of a served run whose feature names are read to tell which group a feature comes from.
RUN_SAMPLE = 256
#: Whether the registry holds ``model@version`` (``RegistryVersionRow``), asked first: an
#: unregistered version is then answered without importing the registry at all.
REGISTERED = "SELECT count(*) FROM registry_versions WHERE model = :model AND version = :version"
_US = 1_000_000


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Candidate:
    """One scored candidate. ``rank`` is its index in the logged candidate list."""

    rank: int
    item_id: str
    source: str
    score: float | None
    position: int | None
    propensity: float | None

    @property
    def shown(self) -> bool:
        return self.position is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "item_id": self.item_id,
            "source": self.source,
            "score": _finite(self.score),
            "position": self.position,
            "propensity": _finite(self.propensity),
        }


@dataclass(frozen=True)
class SourceGroup:
    """The candidates one generator proposed, best score first."""

    source: str
    candidates: tuple[Candidate, ...]

    @property
    def shown(self) -> int:
        return sum(c.shown for c in self.candidates)

    def to_json(self) -> dict[str, Any]:
        scores = [c.score for c in self.candidates if c.score is not None and math.isfinite(c.score)]
        return {
            "source": self.source,
            "candidates": len(self.candidates),
            "shown": self.shown,
            "best_score": max(scores) if scores else None,
            "items": [c.to_json() for c in self.candidates],
        }


@dataclass(frozen=True)
class SlateItem:
    """A shown candidate, with what the user did with it (``events`` from the outcomes)."""

    position: int
    item_id: str
    source: str
    score: float | None
    propensity: float | None
    impressed: bool
    events: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "item_id": self.item_id,
            "source": self.source,
            "score": _finite(self.score),
            "propensity": _finite(self.propensity),
            "impressed": self.impressed,
            "events": list(self.events),
        }


@dataclass(frozen=True)
class Feature:
    """A feature value the ranker saw, and the group whose served run holds it (if known)."""

    name: str
    value: float | str | None
    group: str | None

    def to_json(self) -> dict[str, Any]:
        value = _finite(self.value) if isinstance(self.value, float) else self.value
        return {"name": self.name, "value": value, "group": self.group}


@dataclass(frozen=True)
class FeatureGroupAge:
    """A feature group's age at serve time against its TTL.

    Attributes:
        group: the feature group.
        looked_up: the request's ``feature_ts`` has the group (False: configured, not used).
        feature_ts: as-of time of the values served (None: looked up, nothing found).
        age_hours: ``ts - feature_ts`` in hours.
        ttl_hours: ``[feature_groups.<g>] ttl_hours``, None when not configured.
        stale: looked up and (nothing found or older than the TTL); None without a TTL.
        features: the request's features this group's served run materializes.
    """

    group: str
    looked_up: bool
    feature_ts: datetime | None
    age_hours: float | None
    ttl_hours: float | None
    stale: bool | None
    features: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "looked_up": self.looked_up,
            "feature_ts": _iso(self.feature_ts),
            "age_hours": self.age_hours,
            "ttl_hours": self.ttl_hours,
            "stale": self.stale,
            "features": list(self.features),
        }


@dataclass(frozen=True)
class StageLatency:
    """A serving stage's latency (``stage`` ``"total"`` is end to end) against its SLO target."""

    stage: str
    ms: float | None
    slo_ms: float | None
    slo_key: str | None
    over_slo: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "ms": _finite(self.ms),
            "slo_ms": self.slo_ms,
            "slo_key": self.slo_key,
            "over_slo": self.over_slo,
        }


@dataclass(frozen=True)
class Outcome:
    """An outcome that followed the request; ``position`` and ``source`` of its item if scored."""

    item_id: str
    event: str
    ts: datetime
    value: float | None
    delay_seconds: float
    position: int | None
    source: str | None
    in_candidates: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "event": self.event,
            "ts": _iso(self.ts),
            "value": _finite(self.value),
            "delay_seconds": self.delay_seconds,
            "position": self.position,
            "source": self.source,
            "in_candidates": self.in_candidates,
        }


@dataclass(frozen=True)
class ModelInfo:
    """The model version that ranked, and what the registry knows about it.

    Attributes:
        model, version: as logged.
        registered: the registry holds ``model@version``.
        lineage_command: the command that shows the full lineage graph.
        aliases_at_serve: aliases that named this version when the request was served.
        aliases_now: aliases that name it now.
        lineage: a summary of the registered version (artifact, datasets with their
            upstream partitions, code, creation) when registered.
    """

    model: str
    version: str
    registered: bool
    lineage_command: str
    aliases_at_serve: tuple[str, ...] = ()
    aliases_now: tuple[str, ...] = ()
    lineage: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "registered": self.registered,
            "lineage_command": self.lineage_command,
            "aliases_at_serve": list(self.aliases_at_serve),
            "aliases_now": list(self.aliases_now),
            "lineage": self.lineage,
        }


@dataclass(frozen=True)
class Lookup:
    """How the request was found: partitions (UTC dates) and files read for the search."""

    by: str  # request_id | user_at
    partitions_searched: tuple[str, ...]
    files_searched: int
    rounds: int

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "partitions_searched": list(self.partitions_searched),
            "files_searched": self.files_searched,
            "rounds": self.rounds,
        }


@dataclass(frozen=True)
class RequestTrace:
    """Everything recorded about one served request."""

    request_id: str
    ts: datetime
    surface: str
    user_id: str
    status: str
    latency_ms: float
    context: dict[str, str]
    model: ModelInfo
    candidates: tuple[Candidate, ...]
    by_source: tuple[SourceGroup, ...]
    slate: tuple[SlateItem, ...]
    features: tuple[Feature, ...]
    feature_groups: tuple[FeatureGroupAge, ...]
    stages: tuple[StageLatency, ...]
    outcomes: tuple[Outcome, ...]
    outcome_window: tuple[datetime, datetime]
    lookup: Lookup
    batch: str | None = None
    ingested_at: datetime | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def stale_groups(self) -> list[str]:
        return [g.group for g in self.feature_groups if g.stale]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 UTC, non-finite numbers as null)."""
        return {
            "request_id": self.request_id,
            "ts": _iso(self.ts),
            "surface": self.surface,
            "user_id": self.user_id,
            "status": self.status,
            "latency_ms": _finite(self.latency_ms),
            "context": dict(self.context),
            "model": self.model.to_json(),
            "candidate_count": len(self.candidates),
            "shown_count": len(self.slate),
            "candidates_by_source": [g.to_json() for g in self.by_source],
            "slate": [s.to_json() for s in self.slate],
            "features": [f.to_json() for f in self.features],
            "feature_groups": [g.to_json() for g in self.feature_groups],
            "stale_groups": self.stale_groups,
            "stages": [s.to_json() for s in self.stages],
            "outcomes": [o.to_json() for o in self.outcomes],
            "outcome_window": {"start": _iso(self.outcome_window[0]), "end": _iso(self.outcome_window[1])},
            "lookup": self.lookup.to_json(),
            "batch": self.batch,
            "ingested_at": _iso(self.ingested_at),
            "warnings": list(self.warnings),
        }

    def dumps(self) -> str:
        """:meth:`to_json` as text."""
        return json.dumps(self.to_json(), indent=2)


# ----------------------------------------------------------------------------- API


def trace_request(
    config: Config, lake: Lake, request_id: str, *, outcome_hours: float | None = None
) -> RequestTrace:
    """Trace the request ``request_id``.

    Args:
        config: the workspace config (TTLs, SLOs, label window).
        lake: the workspace lake (its store holds the catalog and the registry).
        request_id: the request to trace.
        outcome_hours: how long after the request outcomes are looked for (default the
            config's ``label_window_hours``).

    Raises:
        NotFound: no request with this id in the lake.
    """
    with _Reader(lake) as reader:
        located, lookup = reader.locate_id(request_id)
        if located is None:
            raise NotFound(
                f"no request {request_id!r} in the lake ({lookup.files_searched} files of "
                f"{len(lookup.partitions_searched)} date partitions searched)"
            )
        return _assemble(config, lake, reader, located, lookup, outcome_hours)


def find_user_request(lake: Lake, user_id: str, at: datetime) -> str:
    """The id of ``user_id``'s latest request served at or before ``at``.

    Raises:
        NotFound: the user has no request at or before ``at`` in the lake.
    """
    with _Reader(lake) as reader:
        located, lookup = reader.locate_user(user_id, _utc(at))
    if located is None:
        raise NotFound(_no_user_request(user_id, at, lookup))
    return located.request_id


def trace_user_at(
    config: Config, lake: Lake, user_id: str, at: datetime, *, outcome_hours: float | None = None
) -> RequestTrace:
    """Trace ``user_id``'s latest request served at or before ``at`` (see :func:`trace_request`).

    Raises:
        NotFound: the user has no request at or before ``at`` in the lake.
    """
    with _Reader(lake) as reader:
        located, lookup = reader.locate_user(user_id, _utc(at))
        if located is None:
            raise NotFound(_no_user_request(user_id, at, lookup))
        return _assemble(config, lake, reader, located, lookup, outcome_hours)


def _no_user_request(user_id: str, at: datetime, lookup: Lookup) -> str:
    return (
        f"no request of user {user_id!r} at or before {_iso(_utc(at))} in the lake "
        f"({lookup.files_searched} files of {len(lookup.partitions_searched)} date partitions searched)"
    )


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Located:
    request_id: str
    file: str
    row: int
    ts: datetime
    model: str
    model_version: str


class _Reader:
    """One DuckDB connection and the catalog's file lists, per kind and UTC date."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.con: duckdb.DuckDBPyConnection = new_connection()
        self._files: dict[str, dict[str, list[Path]]] = {}

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.con.close()

    def files(self, kind: str) -> dict[str, list[Path]]:
        """Live files of ``kind`` by date partition (``YYYY-MM-DD``)."""
        if kind not in self._files:
            by_date: dict[str, list[Path]] = {}
            for day, path in self.lake.catalog.live_files_by_date(kind):
                by_date.setdefault(day, []).append(path)
            self._files[kind] = by_date
        return self._files[kind]

    def files_between(self, kind: str, first: date, last: date) -> list[Path]:
        lo, hi = first.isoformat(), last.isoformat()
        return [p for d, paths in sorted(self.files(kind).items()) if lo <= d <= hi for p in paths]

    def query(self, sql: str, con: duckdb.DuckDBPyConnection | None = None) -> list[dict[str, Any]]:
        """Rows as dicts, times as UTC datetimes (on ``con``, a cursor for another thread).

        Values are inlined as escaped literals (:func:`_str`, :func:`_time`) and rows come
        through Arrow with zoned timestamps viewed as plain ones (then marked UTC):
        DuckDB's parameter binding and its conversion of zoned times import pandas, and so
        does pyarrow's (a third of a second, for a command that must take less than one).
        """
        table = (con or self.con).execute(sql).to_arrow_table()
        columns = []
        for column in table.columns:  # a zero-copy view: casting would import pyarrow.compute
            naive = _naive(column.type)
            columns.append(pa.chunked_array([chunk.view(naive) for chunk in column.chunks], naive))
        plain = pa.Table.from_arrays(columns, names=table.column_names)
        rows: list[dict[str, Any]] = _zoned(plain.to_pylist())
        return rows

    def _search(
        self, dates: Sequence[str], where: str, order: str, by: str
    ) -> tuple[_Located | None, Lookup]:
        """Search ``dates`` (newest first) in rounds of 1, 2, 4, ... partitions."""
        by_date = self.files("requests")
        searched: list[str] = []
        files = rounds = 0
        for chunk in _doubling(dates):
            paths = [p for d in chunk for p in by_date[d]]
            searched.extend(chunk)
            files += len(paths)
            rounds += 1
            found = self.query(
                "SELECT request_id, filename, file_row_number, ts, model, model_version FROM "
                f"{_scan(paths, located=True)} WHERE {where} ORDER BY {order} LIMIT 1"
            )
            if found:
                hit = found[0]
                located = _Located(
                    hit["request_id"],
                    hit["filename"],
                    int(hit["file_row_number"]),
                    hit["ts"],
                    hit["model"],
                    hit["model_version"],
                )
                return located, Lookup(by, tuple(searched), files, rounds)
        return None, Lookup(by, tuple(searched), files, rounds)

    def locate_id(self, request_id: str) -> tuple[_Located | None, Lookup]:
        dates = sorted(self.files("requests"), reverse=True)
        return self._search(dates, f"request_id = {literal(request_id)}", "ts, filename", "request_id")

    def locate_user(self, user_id: str, at: datetime) -> tuple[_Located | None, Lookup]:
        last = at.date().isoformat()
        dates = sorted((d for d in self.files("requests") if d <= last), reverse=True)
        where = f"user_id = {literal(user_id)} AND ts <= {_time(at)}"
        return self._search(dates, where, "ts DESC, request_id", "user_at")

    def request_row(self, located: _Located) -> dict[str, Any]:
        rows = self.query(
            f"SELECT * EXCLUDE (file_row_number) FROM {_scan([located.file], row_numbers=True)} "
            f"WHERE file_row_number = {int(located.row)} AND request_id = {literal(located.request_id)} "
            f"AND ts = {_time(located.ts)} LIMIT 1"
        )
        if not rows:  # pragma: no cover - the file changed between the two reads
            raise NotFound(f"request {located.request_id!r} vanished from {located.file}")
        return rows[0]

    def outcomes(self, request_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The request's outcomes with ``ts`` in [start, end], on a cursor of its own (thread-safe)."""
        paths = self.files_between("outcomes", start.date(), end.date())
        if not paths:
            return []
        cursor = self.con.cursor()
        try:
            return self.query(
                f"SELECT item_id, event, ts, value FROM {_scan(paths)} "
                f"WHERE request_id = {literal(request_id)} AND ts BETWEEN {_time(start)} AND {_time(end)} "
                "ORDER BY ts, event, item_id",
                cursor,
            )
        finally:
            cursor.close()

    def run_features(self, runs: Mapping[str, datetime], served_at: datetime) -> dict[str, set[str]]:
        """Feature names each group's served run materialized (keys of ``values`` and ``value_strings``).

        A run's rows are materialized after its ``event_ts`` and, being served, before the
        request (give or take clock skew), and within ``MATERIALIZATION_LOOKAHEAD``; the
        keys are read from its first ``RUN_SAMPLE`` rows (a feature only rarer rows carry
        stays ungrouped).
        """
        parts = []
        for group in sorted(runs):
            start = runs[group] - SKEW
            end = min(served_at + SKEW, runs[group] + MATERIALIZATION_LOOKAHEAD)
            paths = self.files_between("feature_rows", start.date(), end.date())
            if paths and start <= end:
                keys = 'feature_group, map_keys("values") AS numbers, map_keys(value_strings) AS strings'
                run = f"feature_group = {literal(group)} AND event_ts = {_time(runs[group])}"
                window = f"materialized_at BETWEEN {_time(start)} AND {_time(end)}"
                where = f"{run} AND {window}"
                parts.append(f"(SELECT {keys} FROM {_scan(paths)} WHERE {where} LIMIT {RUN_SAMPLE})")
        if not parts:
            return {}
        out: dict[str, set[str]] = {}
        for r in self.query(" UNION ALL ".join(parts)):
            names = out.setdefault(r["feature_group"], set())
            names.update(str(k) for k in (r["numbers"] or []) + (r["strings"] or []) if k is not None)
        return out


def _scan(paths: Iterable[Path | str], *, located: bool = False, row_numbers: bool = False) -> str:
    options = ["union_by_name = true", "hive_partitioning = false"]
    if located:
        options += ["filename = true", "file_row_number = true"]
    elif row_numbers:
        options.append("file_row_number = true")
    return f"read_parquet({file_list_sql(paths)}, {', '.join(options)})"


def _time(t: datetime) -> str:
    """A SQL TIMESTAMPTZ literal of ``t`` (exact to the microsecond)."""
    return f"TIMESTAMPTZ '{_utc(t).isoformat()}'"


def _doubling(items: Sequence[str]) -> Iterator[list[str]]:
    """``items`` in consecutive chunks of 1, 2, 4, ... elements."""
    start, size = 0, 1
    while start < len(items):
        yield list(items[start : start + size])
        start += size
        size *= 2


# ----------------------------------------------------------------------------- assembling


def _assemble(
    config: Config,
    lake: Lake,
    reader: _Reader,
    located: _Located,
    lookup: Lookup,
    outcome_hours: float | None,
) -> RequestTrace:
    hours = config.monitors.label_window_hours if outcome_hours is None else outcome_hours
    window = (located.ts - SKEW, located.ts + timedelta(hours=hours))
    reader.files("outcomes")  # listed here, not in a thread
    # Overlapped: the outcome scan (many row groups, in parallel), the registry (its read
    # modules, a few hundredths of a second to import) and the request's own row group;
    # DuckDB runs without the GIL.
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending_outcomes = pool.submit(reader.outcomes, located.request_id, *window)
        pending_model = pool.submit(model_info, lake, located.model, located.model_version, located.ts)
        row = reader.request_row(located)
        outcome_rows = pending_outcomes.result()
        model = pending_model.result()
    ts: datetime = row["ts"]
    candidates = tuple(
        Candidate(
            rank=i,
            item_id=c["item_id"],
            source=c["source"],
            score=c["score"],
            position=c["position"],
            propensity=c["propensity"],
        )
        for i, c in enumerate(row["candidates"] or [])
    )
    outcomes = _outcomes(outcome_rows, candidates, ts)
    feature_ts = _as_dict(row["feature_ts"])
    runs = {g: t for g, t in feature_ts.items() if t is not None}
    groups_of = reader.run_features(runs, ts)
    numbers = _as_dict(row["features"])
    strings = _as_dict(row["feature_strings"])
    features = _features(numbers, strings, groups_of)
    warnings: list[str] = []
    if feature_ts and (numbers or strings) and not groups_of:
        warnings.append("no feature rows of the served runs in the lake: features are not grouped")
    return RequestTrace(
        request_id=row["request_id"],
        ts=ts,
        surface=row["surface"],
        user_id=row["user_id"],
        status=row["status"],
        latency_ms=row["latency_ms"],
        context={str(k): str(v) for k, v in _as_dict(row["context"]).items()},
        model=model,
        candidates=candidates,
        by_source=_by_source(candidates),
        slate=_slate(candidates, outcomes),
        features=features,
        feature_groups=feature_ages(config, ts, feature_ts, features),
        stages=stage_latencies(config, row["latency_ms"], _as_dict(row["stage_latency_ms"])),
        outcomes=outcomes,
        outcome_window=window,
        lookup=lookup,
        batch=row.get("_batch"),
        ingested_at=row.get("_ingested_at"),
        warnings=tuple(warnings),
    )


def model_info(lake: Lake, model: str, version: str, served_at: datetime) -> ModelInfo:
    """The registry's view of ``model@version``: lineage summary and aliases at ``served_at``."""
    command = f"recops lineage {model}@{version}"
    if not lake.store.read(REGISTERED, {"model": model, "version": version})[0][0]:
        return ModelInfo(model, version, registered=False, lineage_command=command)
    from recops.registry.lineage import lineage_of, summarize_partitions

    try:
        graph = lineage_of(lake.store, model, version)
    except NotFound:
        return ModelInfo(model, version, registered=False, lineage_command=command)
    v = graph.version
    at_serve = tuple(
        sorted(
            w.alias for w in graph.windows if w.start <= served_at and (w.end is None or served_at < w.end)
        )
    )
    summary: dict[str, Any] = {
        "artifact_uri": v.artifact_uri,
        "artifact_digest": v.artifact_digest,
        "created_at": _iso(v.created_at),
        "created_by": v.created_by,
        "code": {"repo": v.code.repo, "commit": v.code.commit, "dirty": v.code.dirty} if v.code else None,
        "datasets": [
            {
                "name": d.name,
                "role": d.role,
                "digest": d.digest,
                "rows": d.rows,
                "upstream": summarize_partitions(d.upstream),
            }
            for d in v.datasets
        ],
        "metrics": dict(v.metrics),
    }
    return ModelInfo(
        model,
        version,
        registered=True,
        lineage_command=command,
        aliases_at_serve=at_serve,
        aliases_now=graph.aliases_now,
        lineage=summary,
    )


def feature_ages(
    config: Config, ts: datetime, feature_ts: Mapping[str, datetime | None], features: Sequence[Feature] = ()
) -> tuple[FeatureGroupAge, ...]:
    """Each group's age at ``ts`` against its TTL: the groups looked up, then configured ones not used.

    Stale as in the freshness monitor: looked up and either nothing found (null time) or
    ``ts - feature_ts > ttl`` (strictly older); no verdict without a configured TTL.
    """
    out: list[FeatureGroupAge] = []
    for group in sorted(feature_ts):
        served = feature_ts[group]
        ttl = config.feature_groups[group].ttl_hours if group in config.feature_groups else None
        age_us = _micros(ts) - _micros(served) if served is not None else None
        age = age_us / (3600 * _US) if age_us is not None else None
        stale: bool | None = None
        if ttl is not None:
            stale = age_us is None or age_us > round(ttl * 3600 * _US)
        names = tuple(f.name for f in features if f.group == group)
        out.append(FeatureGroupAge(group, True, served, age, ttl, stale, names))
    for group in sorted(set(config.feature_groups) - set(feature_ts)):
        out.append(FeatureGroupAge(group, False, None, None, config.feature_groups[group].ttl_hours, None))
    return tuple(out)


def stage_latencies(
    config: Config, latency_ms: float | None, stages: Mapping[str, float | None]
) -> tuple[StageLatency, ...]:
    """End to end (``total``) and each stage, against ``[slo]`` targets where configured."""

    def one(stage: str, key: str, ms: float | None) -> StageLatency:
        target = config.slo.get(key)
        over = None if target is None or ms is None or not math.isfinite(ms) else ms > target
        return StageLatency(stage, ms, target, key if target is not None else None, over)

    out = [one("total", LATENCY_SLO, latency_ms)]
    out.extend(one(s, f"{s}{STAGE_SLO_SUFFIX}", stages[s]) for s in sorted(stages))
    return tuple(out)


def _features(
    numbers: Mapping[str, float | None], strings: Mapping[str, str | None], groups_of: Mapping[str, set[str]]
) -> tuple[Feature, ...]:
    owner: dict[str, str] = {}
    for group in sorted(groups_of):
        for name in groups_of[group]:
            owner.setdefault(name, group)
    values: dict[str, float | str | None] = {**numbers, **strings}
    return tuple(Feature(name, values[name], owner.get(name)) for name in sorted(values))


def _by_source(candidates: Sequence[Candidate]) -> tuple[SourceGroup, ...]:
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.source, []).append(c)

    def best_first(c: Candidate) -> tuple[bool, float, int]:
        score = c.score if c.score is not None and math.isfinite(c.score) else -math.inf
        return (c.score is None, -score, c.rank)

    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return tuple(SourceGroup(s, tuple(sorted(cs, key=best_first))) for s, cs in ordered)


def _slate(candidates: Sequence[Candidate], outcomes: Sequence[Outcome]) -> tuple[SlateItem, ...]:
    events: dict[str, list[str]] = {}
    for o in outcomes:
        events.setdefault(o.item_id, []).append(o.event)
    shown = sorted((c for c in candidates if c.position is not None), key=lambda c: (c.position, c.rank))
    return tuple(
        SlateItem(
            position=int(c.position),  # type: ignore[arg-type]  # filtered above
            item_id=c.item_id,
            source=c.source,
            score=c.score,
            propensity=c.propensity,
            impressed="impression" in events.get(c.item_id, ()),
            events=tuple(events.get(c.item_id, ())),
        )
        for c in shown
    )


def _outcomes(
    rows: Sequence[Mapping[str, Any]], candidates: Sequence[Candidate], ts: datetime
) -> tuple[Outcome, ...]:
    by_item = {c.item_id: c for c in candidates}
    out = []
    for r in rows:
        c = by_item.get(r["item_id"])
        out.append(
            Outcome(
                item_id=r["item_id"],
                event=r["event"],
                ts=r["ts"],
                value=r["value"],
                delay_seconds=(_micros(r["ts"]) - _micros(ts)) / _US,
                position=c.position if c is not None else None,
                source=c.source if c is not None else None,
                in_candidates=c is not None,
            )
        )
    return tuple(out)


# ----------------------------------------------------------------------------- helpers


def _as_dict(value: Any) -> dict[str, Any]:
    """A map column as a dict (Arrow gives a list of key/value pairs)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return {str(k): v for k, v in value}


def _naive(t: pa.DataType) -> pa.DataType:
    """``t`` with every zoned timestamp (at any depth) made a plain one (same instants, as UTC)."""
    if pa.types.is_timestamp(t):
        return pa.timestamp(t.unit)
    if pa.types.is_map(t):
        return pa.map_(t.key_type, _naive(t.item_type))
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, _naive(t.value_type), t.value_field.nullable))
    if pa.types.is_large_list(t):
        return pa.large_list(pa.field(t.value_field.name, _naive(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _naive(f.type), f.nullable) for f in t])
    return t


def _zoned(value: Any) -> Any:
    """``value`` with every naive datetime (at any depth) marked UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if isinstance(value, dict):
        return {k: _zoned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_zoned(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_zoned(v) for v in value)
    return value


def _micros(t: datetime) -> int:
    """Exact microseconds since the epoch (no float rounding)."""
    delta = _utc(t) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else _utc(t).isoformat().replace("+00:00", "Z")


def _finite(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None
