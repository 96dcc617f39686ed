"""Declarative data-quality checks: the YAML file, its validation, the built-in defaults.

The quality family (:mod:`recops.monitors.families.quality`) compiles each check to an
Ibis expression; this module only reads and validates the file, so a mistake is found
before anything runs and the error names the file, the check and the key::

    checks:
      - name: outcome_joins_request
        table: outcomes            # requests|outcomes|candidates|feature_rows|arrivals|changes
        type: references           # not_null|range|accepted_values|unique|null_rate|cardinality|references
        column: request_id
        to: {table: requests, column: request_id}
      - name: device_values
        table: requests
        type: accepted_values
        column: context.device     # a map entry: context.KEY, features.KEY, values.KEY, ...
        values: [tv, android_tv, ios, android, web, fire_tv]

The file is ``[monitors] checks`` of ``recops.toml`` (``checks.yaml`` beside it by
default). Without that file :func:`default_checks` applies; an empty ``checks: []``
turns checks off.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import yaml

from recops.config import Config
from recops.contract import CANDIDATE_TYPE, KINDS
from recops.errors import ConfigError

TYPES = ("not_null", "range", "accepted_values", "unique", "null_rate", "cardinality", "references")
TIME_COLUMNS = {
    "requests": "ts",
    "outcomes": "ts",
    "candidates": "ts",
    "feature_rows": "materialized_at",
    "arrivals": "landed_at",
    "changes": "ts",
}
# Checks on these tables are cut by the request slices (surface, model_version, context keys).
SLICED_TABLES = frozenset({"requests", "candidates"})
BUILTIN_PATH = "<built-in checks>"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_NAME_MAX = 200  # metric_points.subject is String(200)
_COMMON = ("name", "table", "type", "column", "description")
_KEYS: dict[str, tuple[str, ...]] = {
    "not_null": _COMMON,
    "range": (*_COMMON, "min", "max"),
    "accepted_values": (*_COMMON, "values"),
    "unique": _COMMON,
    "null_rate": (*_COMMON, "max"),
    "cardinality": (*_COMMON, "min", "max"),
    "references": (*_COMMON, "to", "max_rate"),
}
_TARGET_KEYS = ("table", "column", "where")
_CANDIDATE_REQUEST_COLUMNS = ("request_id", "ts", "surface", "user_id", "model", "model_version", "context")
# Columns of a candidates row that come from the candidate itself (the rest from its request).
CANDIDATE_FIELDS = tuple(f.name for f in CANDIDATE_TYPE)


def table_schema(table: str) -> pa.Schema:
    """The stored columns of a check table (``candidates``: one row per scored candidate)."""
    if table == "candidates":
        requests = KINDS["requests"].schema
        return pa.schema(
            [requests.field(name) for name in _CANDIDATE_REQUEST_COLUMNS]
            + [pa.field(f.name, f.type) for f in CANDIDATE_TYPE]
        )
    return KINDS[table].schema


@dataclass(frozen=True)
class ColumnRef:
    """A column of a check table, or one entry of a map column (``context.device``).

    Attributes:
        table: the check table.
        text: the reference as written.
        column: the stored column.
        key: the map key, for a map entry.
        type: the Arrow type of the value (the map's value type for an entry).
    """

    table: str
    text: str
    column: str
    key: str | None
    type: pa.DataType

    def expr(self, t: ir.Table) -> ir.Value:
        """The value as an Ibis expression over ``t`` (a missing map key reads as null)."""
        value: ir.Value = t[self.column]
        if self.key is not None:
            value = value[self.key]
        return value

    @property
    def numeric(self) -> bool:
        return bool(pa.types.is_integer(self.type) or pa.types.is_floating(self.type))

    @property
    def scalar(self) -> bool:
        return not (
            pa.types.is_map(self.type) or pa.types.is_list(self.type) or pa.types.is_struct(self.type)
        )


@dataclass(frozen=True)
class Target:
    """The other side of a ``references`` check: values that must exist somewhere in the lake."""

    table: str
    column: ColumnRef
    where: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Check:
    """One declarative check.

    Attributes:
        name: the series subject (``check_violation_rate`` per check).
        table: the table checked, windowed on its time column (:data:`TIME_COLUMNS`).
        type: one of :data:`TYPES`.
        column: the value checked.
        minimum, maximum: bounds of ``range`` (inclusive), the ``null_rate`` limit
            (``maximum``), the distinct-count limits of ``cardinality``.
        values: the accepted values.
        to: the referenced values of a ``references`` check.
        max_rate: for ``references``, an allowed share of unmatched rows (set-level check).
    """

    name: str
    table: str
    type: str
    column: ColumnRef
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[Any, ...] = ()
    to: Target | None = None
    max_rate: float | None = None
    description: str = ""

    @property
    def time_column(self) -> str:
        return TIME_COLUMNS[self.table]

    @property
    def sliced(self) -> bool:
        return self.table in SLICED_TABLES

    @property
    def set_level(self) -> bool:
        """True when the check judges a whole window against a limit rather than rows."""
        return self.type in ("null_rate", "cardinality") or (
            self.type == "references" and self.max_rate is not None
        )


@dataclass
class _Reader:
    path: str
    label: str = ""

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, key=f"{self.label}.{key}" if key else self.label, path=self.path)


def parse_checks(text: str, path: str | Path) -> list[Check]:
    """Parse and validate the text of a checks file.

    Raises:
        ConfigError: naming the file, the check (``checks.NAME`` or ``checks[i]``) and the key.
    """
    where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=where) from None
    if data is None:
        return []
    if not isinstance(data, Mapping) or set(data) - {"checks"}:
        raise ConfigError(
            "must be a mapping with one key, checks: a list of checks", key="checks", path=where
        )
    items = data.get("checks") or []
    if not isinstance(items, list):
        raise ConfigError("must be a list of checks", key="checks", path=where)
    names: set[str] = set()
    checks = []
    for i, item in enumerate(items):
        check = _check(item, i, where)
        if check.name in names:
            raise ConfigError(
                "a check of this name is defined twice", key=f"checks.{check.name}.name", path=where
            )
        names.add(check.name)
        checks.append(check)
    return checks


def _check(item: Any, index: int, path: str) -> Check:
    r = _Reader(path, f"checks[{index}]")
    if not isinstance(item, Mapping):
        raise r.error("", "must be a mapping (name, table, type, column, ...)")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > _NAME_MAX:
        raise r.error(
            "name",
            f"must be a name of letters, digits and _ . : - (at most {_NAME_MAX} characters), got {name!r}",
        )
    r.label = f"checks.{name}"
    kind = item.get("type")
    if kind not in TYPES:
        raise r.error("type", f"must be one of {', '.join(TYPES)}, got {kind!r}")
    unknown = sorted(set(item) - set(_KEYS[kind]))
    if unknown:
        raise r.error(unknown[0], f"unknown key for a {kind} check; expected one of {', '.join(_KEYS[kind])}")
    table = _table(r, item.get("table"), "table")
    column = _column(r, table, item.get("column"), "column")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise r.error("description", "must be a string")
    check = Check(name=name, table=table, type=kind, column=column, description=description)
    if kind in ("not_null", "unique", "cardinality", "references", "accepted_values") and not column.scalar:
        raise r.error(
            "column", f"{column.text!r} is a {column.type}; name one entry, e.g. {column.column}.KEY"
        )
    if kind == "range":
        if not column.numeric:
            raise r.error("column", f"a range needs a numeric column; {column.text!r} holds {column.type}")
        lo, hi = _number(r, item, "min"), _number(r, item, "max")
        if lo is None and hi is None:
            raise r.error("min", "a range needs min, max or both")
        if lo is not None and hi is not None and lo > hi:
            raise r.error("max", f"must be at least min ({lo}), got {hi}")
        return replace(check, minimum=lo, maximum=hi)
    if kind == "accepted_values":
        return replace(check, values=_values(r, item.get("values"), column))
    if kind == "null_rate":
        hi = _number(r, item, "max")
        if hi is None or not 0 <= hi <= 1:
            raise r.error(
                "max", f"must be the largest allowed null share, between 0 and 1, got {item.get('max')!r}"
            )
        return replace(check, maximum=hi)
    if kind == "cardinality":
        lo, hi = _number(r, item, "min", whole=True), _number(r, item, "max", whole=True)
        if lo is None and hi is None:
            raise r.error("max", "a cardinality check needs min, max or both (distinct values per window)")
        if lo is not None and hi is not None and lo > hi:
            raise r.error("max", f"must be at least min ({lo}), got {hi}")
        return replace(check, minimum=lo, maximum=hi)
    if kind == "references":
        rate = _number(r, item, "max_rate")
        if rate is not None and not 0 <= rate <= 1:
            raise r.error("max_rate", f"must be a share between 0 and 1, got {rate}")
        return replace(check, to=_target(r, item.get("to"), column), max_rate=rate)
    return check


def _table(r: _Reader, value: Any, key: str) -> str:
    if value not in TIME_COLUMNS:
        raise r.error(key, f"must be one of {', '.join(TIME_COLUMNS)}, got {value!r}")
    return str(value)


def _column(r: _Reader, table: str, value: Any, key: str) -> ColumnRef:
    if not isinstance(value, str) or not value:
        raise r.error(key, f"must name a column of {table}, got {value!r}")
    schema = table_schema(table)
    if value in schema.names:
        return ColumnRef(table, value, value, None, schema.field(value).type)
    head, _, entry = value.partition(".")
    if entry and head in schema.names and pa.types.is_map(schema.field(head).type):
        map_type = schema.field(head).type
        assert isinstance(map_type, pa.MapType)
        return ColumnRef(table, value, head, entry, map_type.item_type)
    maps = [n for n in schema.names if pa.types.is_map(schema.field(n).type)]
    hint = f"; map entries as {maps[0]}.KEY" if maps else ""
    raise r.error(key, f"{table} has no column {value!r}; columns: {', '.join(schema.names)}{hint}")


def _number(r: _Reader, item: Mapping[str, Any], key: str, *, whole: bool = False) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise r.error(key, f"must be a number, got {value!r}")
    if whole and (value != int(value) or value < 0):
        raise r.error(key, f"must be a whole number of distinct values, got {value!r}")
    return float(value)


def _values(r: _Reader, value: Any, column: ColumnRef) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise r.error("values", "must be a non-empty list of accepted values")
    out: list[Any] = []
    for v in value:
        if pa.types.is_string(column.type):
            if not isinstance(v, str):
                raise r.error(
                    "values",
                    f"{column.text!r} holds strings; {v!r} is not one (quote it in YAML, e.g. '{v}')",
                )
        elif column.numeric:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise r.error("values", f"{column.text!r} holds numbers; {v!r} is not one")
        else:
            raise r.error(
                "column",
                f"accepted values need a string or numeric column; {column.text!r} holds {column.type}",
            )
        out.append(v)
    return tuple(dict.fromkeys(out))


def _target(r: _Reader, value: Any, column: ColumnRef) -> Target:
    if not isinstance(value, Mapping):
        raise r.error("to", "must be a mapping {table: ..., column: ..., where: {column: value}}")
    unknown = sorted(set(value) - set(_TARGET_KEYS))
    if unknown:
        raise r.error(f"to.{unknown[0]}", f"unknown key; expected one of {', '.join(_TARGET_KEYS)}")
    table = _table(r, value.get("table"), "to.table")
    target = _column(r, table, value.get("column"), "to.column")
    if not target.scalar:
        raise r.error("to.column", f"{target.text!r} is a {target.type}; name one entry")
    if _kind(target.type) != _kind(column.type):
        raise r.error(
            "to.column", f"{target.text!r} holds {target.type}, {column.text!r} holds {column.type}"
        )
    where = value.get("where") or {}
    if not isinstance(where, Mapping):
        raise r.error("to.where", "must be a mapping of column to the value it must equal")
    conditions = []
    for name, wanted in where.items():
        ref = _column(r, table, name, f"to.where.{name}")
        if not ref.scalar or isinstance(wanted, bool) or not isinstance(wanted, str | int | float):
            raise r.error(f"to.where.{name}", "must compare a column with one string or number")
        if _kind(ref.type) != ("string" if isinstance(wanted, str) else "number"):
            raise r.error(f"to.where.{name}", f"{name!r} holds {ref.type}, got {wanted!r}")
        conditions.append((str(name), wanted))
    return Target(table, target, tuple(conditions))


def _kind(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "string"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    return str(t)


def default_checks(config: Config) -> list[Check]:
    """Checks suited to the event contract, used when the workspace has no checks file.

    * ``request_latency_range``: ``requests.latency_ms`` within 0..60,000 ms (a slower
      value is a unit or clock bug, not a slow request);
    * ``request_id_unique``: no ``request_id`` twice in a window;
    * ``outcome_joins_request``: every outcome's request is in the lake;
    * ``candidate_item_known`` (when ``[feature_groups.item_stats]`` is configured): at
      most 5 % of a window's candidates are items the ``item_stats`` group never
      materialized (new items take a run or two to appear; more than that means the
      ranker scores candidates without their item features).
    """
    text = """
checks:
  - name: request_latency_range
    table: requests
    type: range
    column: latency_ms
    min: 0
    max: 60000
  - name: request_id_unique
    table: requests
    type: unique
    column: request_id
  - name: outcome_joins_request
    table: outcomes
    type: references
    column: request_id
    to: {table: requests, column: request_id}
"""
    if "item_stats" in config.feature_groups:
        text += """
  - name: candidate_item_known
    table: candidates
    type: references
    column: item_id
    to: {table: feature_rows, column: entity_id, where: {feature_group: item_stats}}
    max_rate: 0.05
"""
    return parse_checks(text, BUILTIN_PATH)


def checks_path(config: Config) -> Path:
    return config.root / config.monitors.checks


def load_checks(config: Config) -> list[Check]:
    """The workspace's checks: its checks file, else :func:`default_checks`."""
    path = checks_path(config)
    if not path.exists():
        return default_checks(config)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read checks: {exc.strerror}", path=str(path)) from None
    return parse_checks(text, path)


def group_by_table(checks: Sequence[Check]) -> dict[str, list[Check]]:
    out: dict[str, list[Check]] = {}
    for check in checks:
        out.setdefault(check.table, []).append(check)
    return out
