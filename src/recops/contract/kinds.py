"""The record kinds of the event contract (shared/spec/event-contract.md, version 1).

Everything here is data: the fields of each kind, their logical types and the rules a
record must satisfy. The ingest validator compiles these into vectorized SQL, the SDK
builds Arrow batches from the same schemas, so the contract is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pyarrow as pa

CONTRACT_VERSION = 1

TIME = pa.timestamp("us", tz="UTC")


class FieldType(Enum):
    """Logical field types of the contract and their stored Arrow form."""

    STRING = "string"
    NUMBER = "number"  # stored as float64; integers accepted
    INTEGER = "integer"  # stored as int64
    TIME = "time"  # stored as timestamp[us, tz=UTC]
    NUMBER_MAP = "map<string, number>"
    STRING_MAP = "map<string, string>"
    TIME_MAP = "map<string, time>"
    # A map whose values may be numbers or strings (request features, feature row values):
    # stored as two columns, numbers in ``name`` and strings in ``strings_column``.
    MIXED_MAP = "map<string, number | string>"
    CANDIDATES = "list<candidate>"


CANDIDATE_TYPE = pa.struct(
    [
        pa.field("item_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("position", pa.int32()),
        pa.field("propensity", pa.float64()),
    ]
)

ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.STRING: pa.string(),
    FieldType.NUMBER: pa.float64(),
    FieldType.INTEGER: pa.int64(),
    FieldType.TIME: TIME,
    FieldType.NUMBER_MAP: pa.map_(pa.string(), pa.float64()),
    FieldType.STRING_MAP: pa.map_(pa.string(), pa.string()),
    FieldType.TIME_MAP: pa.map_(pa.string(), TIME),
    FieldType.MIXED_MAP: pa.map_(pa.string(), pa.float64()),
    FieldType.CANDIDATES: pa.list_(CANDIDATE_TYPE),
}


@dataclass(frozen=True)
class Field:
    """One field of a record kind.

    Attributes:
        name: column name, as in the contract.
        type: logical type.
        required: a record without a value here is rejected (rule ``required``).
        minimum: smallest allowed value (numbers), inclusive.
        allowed: the only values accepted (strings).
        strings_column: for ``MIXED_MAP``, the column that stores the string values.
        doc: one line on what the field means.
    """

    name: str
    type: FieldType
    required: bool = False
    minimum: float | None = None
    allowed: tuple[str, ...] | None = None
    strings_column: str | None = None
    doc: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


@dataclass(frozen=True)
class RecordKind:
    """A kind of record: its fields, natural key and the time that partitions it.

    Attributes:
        name: the one name used everywhere (CLI argument, HTTP path, SQL view).
        record: the singular noun used in messages.
        fields: the contract fields, in stored column order.
        key: the natural key; a record whose key is stored already is a duplicate
            (same content) or a conflict (different content).
        time_column: the time that decides the lake partition (UTC date).
    """

    name: str
    record: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    time_column: str

    @property
    def schema(self) -> pa.Schema:
        """The stored Arrow schema (contract columns only, no ingest bookkeeping)."""
        columns: list[pa.Field] = []
        for f in self.fields:
            columns.append(pa.field(f.name, f.arrow_type, nullable=not f.required))
            if f.type is FieldType.MIXED_MAP:
                assert f.strings_column is not None
                columns.append(pa.field(f.strings_column, pa.map_(pa.string(), pa.string())))
        return pa.schema(columns)

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


S, N, INT, T = FieldType.STRING, FieldType.NUMBER, FieldType.INTEGER, FieldType.TIME

REQUESTS = RecordKind(
    name="requests",
    record="request",
    key=("request_id",),
    time_column="ts",
    fields=(
        Field("request_id", S, required=True, doc="unique id of the served recommendation"),
        Field("ts", T, required=True, doc="when the response was sent"),
        Field("surface", S, required=True, doc="where the slate is shown"),
        Field("user_id", S, required=True, doc="pseudonymous user id"),
        Field("model", S, required=True, doc="registered model name"),
        Field("model_version", S, required=True, doc="version that produced the ranking"),
        Field(
            "status",
            S,
            required=True,
            allowed=("ok", "fallback", "error"),
            doc="ok, fallback (a degraded path served) or error",
        ),
        Field("latency_ms", N, required=True, minimum=0.0, doc="end-to-end serving latency"),
        Field("stage_latency_ms", FieldType.NUMBER_MAP, doc="latency per serving stage"),
        Field("context", FieldType.STRING_MAP, doc="serving context (device, country, ...)"),
        Field(
            "features",
            FieldType.MIXED_MAP,
            strings_column="feature_strings",
            doc="request-level feature values the ranker saw",
        ),
        Field("feature_ts", FieldType.TIME_MAP, doc="as-of time of each feature group served"),
        Field("candidates", FieldType.CANDIDATES, required=True, doc="everything the ranker scored"),
    ),
)

OUTCOMES = RecordKind(
    name="outcomes",
    record="outcome",
    key=("request_id", "item_id", "event", "ts"),
    time_column="ts",
    fields=(
        Field("request_id", S, required=True, doc="the request this outcome follows"),
        Field("item_id", S, required=True),
        Field("ts", T, required=True),
        Field("event", S, required=True, doc="impression, click, play, complete, ... or custom"),
        Field("value", N, doc="e.g. seconds watched"),
    ),
)

FEATURE_ROWS = RecordKind(
    name="feature_rows",
    record="feature row",
    key=("feature_group", "entity_id", "event_ts"),
    time_column="materialized_at",
    fields=(
        Field("feature_group", S, required=True),
        Field("entity_id", S, required=True, doc="user or item id"),
        Field("event_ts", T, required=True, doc="as-of time of the values"),
        Field("materialized_at", T, required=True, doc="when the row reached the online store"),
        Field(
            "values",
            FieldType.MIXED_MAP,
            required=True,
            strings_column="value_strings",
            doc="feature name to value",
        ),
    ),
)

ARRIVALS = RecordKind(
    name="arrivals",
    record="arrival",
    key=("source", "partition", "landed_at"),
    time_column="landed_at",
    fields=(
        Field("source", S, required=True, doc="upstream dataset"),
        Field("partition", S, required=True, doc="e.g. 2026-11-24 or 2026-11-24T13"),
        Field("landed_at", T, required=True),
        Field("row_count", INT, required=True, minimum=0),
        Field("bytes", INT, minimum=0),
        Field("schema", FieldType.STRING_MAP, doc="column to type"),
    ),
)

CHANGES = RecordKind(
    name="changes",
    record="change",
    key=("ts", "kind", "target", "version"),
    time_column="ts",
    fields=(
        Field("ts", T, required=True),
        Field("kind", S, required=True, doc="deploy, rollback, canary, config, ... or custom"),
        Field("target", S, required=True, doc="model, feature group, source or service"),
        Field("version", S),
        Field("actor", S),
        Field("description", S),
    ),
)

KINDS: dict[str, RecordKind] = {k.name: k for k in (REQUESTS, OUTCOMES, FEATURE_ROWS, ARRIVALS, CHANGES)}

# Columns recops adds to every stored row: which ingest batch brought it, and when.
BOOKKEEPING = pa.schema([pa.field("_batch", pa.string()), pa.field("_ingested_at", TIME)])


def get_kind(name: str) -> RecordKind:
    """Return the record kind called ``name`` (singular forms are accepted too).

    Raises:
        KeyError: with the list of valid kinds.
    """
    if name in KINDS:
        return KINDS[name]
    for kind in KINDS.values():
        if name in (kind.record, kind.record.replace(" ", "_")):
            return kind
    raise KeyError(f"unknown record kind {name!r}; expected one of {', '.join(KINDS)}")
