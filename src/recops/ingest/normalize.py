"""Compile the contract into one vectorized SQL ``SELECT`` per source file.

The SELECT turns whatever the file holds into the stored form of a record kind and tags
each record whose values could not be read as the contract says (``_tv``), so a million
records are one DuckDB query, not a Python loop.

Two source shapes are handled:

* JSON Lines: one ``_json`` struct per line whose fields are still JSON text; a line that
  is not a JSON object has ``_json`` NULL and breaks rule ``json``.
* Parquet: typed columns; the conversions are chosen from the file's column types, so a
  file already in the stored form passes through untouched.

It catches what depends on the source: ``json`` (a line that is not a JSON object),
``type`` and ``time_format``. The rules on the stored form (``required``, ``allowed``,
``minimum``, ``candidate``) are in ``rules.py``, written once for every transport.
"""

from __future__ import annotations

from dataclasses import dataclass

from recops.contract import Field, FieldType, RecordKind
from recops.lake.sqltext import literal, quote

NUMERIC_JSON = "('BIGINT', 'UBIGINT', 'DOUBLE')"
INTEGER_JSON = "('BIGINT', 'UBIGINT')"
SCALAR_JSON = "('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN')"
# RFC 3339 needs an offset (Z or ±hh:mm); a naive string is ambiguous and refused.
RFC3339 = r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d:?\d\d)$"

CANDIDATE_SQL_TYPE = (
    "STRUCT(item_id VARCHAR, source VARCHAR, score DOUBLE, position INTEGER, propensity DOUBLE)"
)
SQL_TYPES: dict[FieldType, str] = {
    FieldType.STRING: "VARCHAR",
    FieldType.NUMBER: "DOUBLE",
    FieldType.INTEGER: "BIGINT",
    FieldType.TIME: "TIMESTAMPTZ",
    FieldType.NUMBER_MAP: "MAP(VARCHAR, DOUBLE)",
    FieldType.STRING_MAP: "MAP(VARCHAR, VARCHAR)",
    FieldType.TIME_MAP: "MAP(VARCHAR, TIMESTAMPTZ)",
    FieldType.MIXED_MAP: "MAP(VARCHAR, DOUBLE)",
    FieldType.CANDIDATES: CANDIDATE_SQL_TYPE + "[]",
}
VIOLATION_TYPE = "STRUCT(rule VARCHAR, field VARCHAR, detail VARCHAR)"
CANDIDATE_FIELDS = (
    ("item_id", FieldType.STRING),
    ("source", FieldType.STRING),
    ("score", FieldType.NUMBER),
    ("position", FieldType.INTEGER),
    ("propensity", FieldType.NUMBER),
)


@dataclass(frozen=True)
class Converted:
    """SQL for one stored column: its value, and whether the source value had a usable type.

    ``ok`` is TRUE when the source was absent/null or converted; FALSE when it was present
    but of the wrong type (the record then breaks ``type`` or ``time_format``).
    """

    value: str
    ok: str = "TRUE"


# ---------------------------------------------------------------- JSON conversions


def _json_time(x: str) -> Converted:
    t = f"json_type({x})"
    text = f"({x} ->> '$')"
    value = (
        f"CASE WHEN {t} = 'VARCHAR' AND regexp_matches({text}, {literal(RFC3339)}) "
        f"THEN TRY_CAST({text} AS TIMESTAMPTZ) "
        f"WHEN {t} IN {NUMERIC_JSON} "
        f"THEN TRY_CAST(make_timestamp(CAST(round(CAST({text} AS DOUBLE) * 1000) AS BIGINT)) "
        "AS TIMESTAMPTZ) END"
    )
    return Converted(value, f"({x} IS NULL OR {t} = 'NULL' OR ({value}) IS NOT NULL)")


def json_scalar(x: str, ftype: FieldType) -> Converted:
    """Convert the JSON value ``x`` to the stored form of a scalar field."""
    t = f"json_type({x})"
    text = f"({x} ->> '$')"
    absent = f"({x} IS NULL OR {t} = 'NULL')"
    if ftype is FieldType.STRING:
        # Integer ids are common in real platforms; they are stored as their decimal text.
        return Converted(
            f"CASE WHEN {t} IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN {text} END",
            f"({absent} OR {t} IN ('VARCHAR', 'BIGINT', 'UBIGINT'))",
        )
    if ftype is FieldType.NUMBER:
        return Converted(
            f"CASE WHEN {t} IN {NUMERIC_JSON} THEN TRY_CAST({text} AS DOUBLE) END",
            f"({absent} OR {t} IN {NUMERIC_JSON})",
        )
    if ftype is FieldType.INTEGER:
        integral = f"({t} = 'DOUBLE' AND TRY_CAST({text} AS DOUBLE) = floor(TRY_CAST({text} AS DOUBLE)))"
        return Converted(
            f"CASE WHEN {t} IN {INTEGER_JSON} OR {integral} "
            f"THEN TRY_CAST(TRY_CAST({text} AS DOUBLE) AS BIGINT) END",
            f"({absent} OR {t} IN {INTEGER_JSON} OR {integral})",
        )
    if ftype is FieldType.TIME:
        return _json_time(x)
    raise ValueError(ftype)  # pragma: no cover


def _json_map(x: str, value_sql: str, value_ok: str, keep: str = "TRUE") -> Converted:
    """A JSON object → MAP, converting each entry value ``e.value`` with ``value_sql``."""
    t = f"json_type({x})"
    m = f"TRY_CAST({x} AS MAP(VARCHAR, JSON))"
    value = (
        f"CASE WHEN {t} = 'OBJECT' THEN map_from_entries("
        f"[{{'key': e.key, 'value': {value_sql}}} for e in map_entries({m}) if {keep}]) END"
    )
    ok = (
        f"({x} IS NULL OR {t} = 'NULL' OR ({t} = 'OBJECT' AND "
        f"len([1 for e in map_entries({m}) if NOT ({value_ok})]) = 0))"
    )
    return Converted(value, ok)


def json_map(x: str, ftype: FieldType) -> tuple[Converted, Converted | None]:
    """Convert a JSON object; MIXED_MAP gives (numbers, strings)."""
    v = "e.value"
    vt = f"json_type({v})"
    null = f"({v} IS NULL OR {vt} = 'NULL')"
    num = f"CASE WHEN {vt} IN {NUMERIC_JSON} THEN TRY_CAST({v} ->> '$' AS DOUBLE) END"
    if ftype is FieldType.NUMBER_MAP:
        return _json_map(x, num, f"({null} OR {vt} IN {NUMERIC_JSON})"), None
    if ftype is FieldType.STRING_MAP:
        text = f"CASE WHEN {vt} IN {SCALAR_JSON} THEN {v} ->> '$' END"
        return _json_map(x, text, f"({null} OR {vt} IN {SCALAR_JSON})"), None
    if ftype is FieldType.TIME_MAP:
        conv = _json_time(v)
        return _json_map(x, conv.value, conv.ok), None
    if ftype is FieldType.MIXED_MAP:
        # Booleans count as numbers (1/0), the same as a boolean Parquet column.
        numeric = f"({vt} IN {NUMERIC_JSON} OR {vt} = 'BOOLEAN' OR {null})"
        num_value = (
            f"CASE WHEN {vt} IN {NUMERIC_JSON} THEN TRY_CAST({v} ->> '$' AS DOUBLE) "
            f"WHEN {vt} = 'BOOLEAN' THEN TRY_CAST(TRY_CAST({v} ->> '$' AS BOOLEAN) AS DOUBLE) END"
        )
        numbers = _json_map(x, num_value, f"({numeric} OR {vt} = 'VARCHAR')", keep=numeric)
        strings = _json_map(x, f"{v} ->> '$'", "TRUE", keep=f"{vt} = 'VARCHAR'")
        return numbers, Converted(strings.value)
    raise ValueError(ftype)  # pragma: no cover


def json_candidates(x: str) -> Converted:
    t = f"json_type({x})"
    items = f"TRY_CAST({x} AS JSON[])"
    parts = {name: json_scalar(f"(c -> '$.{name}')", ftype) for name, ftype in CANDIDATE_FIELDS}
    struct = ", ".join(f"{literal(n)}: {p.value}" for n, p in parts.items())
    ok_each = " AND ".join(p.ok for p in parts.values())
    value = f"CASE WHEN {t} = 'ARRAY' THEN [{{{struct}}} for c in {items}] END"
    ok = (
        f"({x} IS NULL OR {t} = 'NULL' OR ({t} = 'ARRAY' AND len([1 for c in {items} "
        f"if json_type(c) <> 'OBJECT' OR NOT ({ok_each})]) = 0))"
    )
    return Converted(f"CAST({value} AS {CANDIDATE_SQL_TYPE}[])", ok)


# ---------------------------------------------------------------- Parquet conversions

INTEGER_SQL = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
               "UBIGINT", "HUGEINT", "UHUGEINT"}  # fmt: skip
FLOAT_SQL = {"FLOAT", "DOUBLE"}


def _is_numeric(sql_type: str) -> bool:
    return sql_type in INTEGER_SQL or sql_type in FLOAT_SQL or sql_type.startswith("DECIMAL")


def _is_time(sql_type: str) -> bool:
    return sql_type.startswith("TIMESTAMP")


def parquet_scalar(col: str, sql_type: str, ftype: FieldType) -> Converted:
    """Convert a typed column (DuckDB type name ``sql_type``) to a stored scalar."""
    wrong = Converted(f"CAST(NULL AS {SQL_TYPES[ftype]})", f"({col} IS NULL)")
    if ftype is FieldType.STRING:
        if sql_type == "VARCHAR":
            return Converted(col)
        if sql_type in INTEGER_SQL:
            return Converted(f"CAST({col} AS VARCHAR)")
        return wrong
    if ftype is FieldType.NUMBER:
        if _is_numeric(sql_type) or sql_type == "BOOLEAN":
            return Converted(col if sql_type == "DOUBLE" else f"CAST({col} AS DOUBLE)")
        return wrong
    if ftype is FieldType.INTEGER:
        if sql_type in INTEGER_SQL:
            return Converted(col if sql_type == "BIGINT" else f"CAST({col} AS BIGINT)")
        if sql_type in FLOAT_SQL or sql_type.startswith("DECIMAL"):
            value = f"CASE WHEN {col} = floor({col}) THEN TRY_CAST({col} AS BIGINT) END"
            return Converted(value, f"({col} IS NULL OR {col} = floor({col}))")
        return wrong
    if ftype is FieldType.TIME:
        if sql_type == "TIMESTAMP WITH TIME ZONE":
            return Converted(col)
        if _is_time(sql_type):  # naive timestamps are UTC (the session zone is UTC)
            return Converted(f"CAST({col} AS TIMESTAMPTZ)")
        if sql_type in INTEGER_SQL:  # epoch milliseconds, as in JSON
            value = f"CAST(make_timestamp(CAST({col} AS BIGINT) * 1000) AS TIMESTAMPTZ)"
            return Converted(value)
        if sql_type == "VARCHAR":
            value = (
                f"CASE WHEN regexp_matches({col}, {literal(RFC3339)}) THEN TRY_CAST({col} AS TIMESTAMPTZ) END"
            )
            return Converted(value, f"({col} IS NULL OR ({value}) IS NOT NULL)")
        return wrong
    raise ValueError(ftype)  # pragma: no cover


def parquet_map(col: str, sql_type: str, ftype: FieldType) -> Converted:
    target = SQL_TYPES[ftype]
    if sql_type == target:
        return Converted(col)
    if sql_type.startswith(("MAP(VARCHAR,", "MAP(VARCHAR ,")):
        value = f"TRY_CAST({col} AS {target})"
        return Converted(value, f"({col} IS NULL OR ({value}) IS NOT NULL)")
    return Converted(f"CAST(NULL AS {target})", f"({col} IS NULL)")


def parquet_candidates(col: str, sql_type: str, struct_fields: dict[str, str]) -> Converted:
    target = CANDIDATE_SQL_TYPE + "[]"
    if sql_type == target:
        return Converted(col)
    if not struct_fields:
        return Converted(f"CAST(NULL AS {target})", f"({col} IS NULL)")
    parts: list[str] = []
    oks: list[str] = []
    for name, ftype in CANDIDATE_FIELDS:
        if name in struct_fields:
            conv = parquet_scalar(f"c.{quote(name)}", struct_fields[name], ftype)
            parts.append(f"{literal(name)}: {conv.value}")
            if conv.ok != "TRUE":
                oks.append(conv.ok)
        else:
            parts.append(f"{literal(name)}: NULL")
    value = f"CAST([{{{', '.join(parts)}}} for c in {col}] AS {target})"
    ok = "TRUE" if not oks else f"len([1 for c in {col} if NOT ({' AND '.join(oks)})]) = 0"
    return Converted(value, ok)


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Column:
    """A stored column's SQL plus the contract field it came from."""

    name: str
    field: Field
    conv: Converted


EXPECTED = {
    FieldType.TIME: "an RFC 3339 time with offset, or epoch milliseconds",
    FieldType.TIME_MAP: "an object of RFC 3339 times or epoch milliseconds",
    FieldType.CANDIDATES: "a list of candidate objects with typed fields",
    FieldType.NUMBER: "a number",
    FieldType.INTEGER: "a whole number",
    FieldType.STRING: "a string",
    FieldType.NUMBER_MAP: "an object of numbers",
    FieldType.STRING_MAP: "an object of strings",
    FieldType.MIXED_MAP: "an object of numbers and strings",
}


def type_checks(columns: list[Column]) -> list[tuple[str, str, str, str]]:
    """(rule, field, SQL condition that BREAKS it, SQL detail) for values of the wrong type."""
    checks: list[tuple[str, str, str, str]] = []
    for c in columns:
        if c.conv.ok != "TRUE":
            rule = "time_format" if c.field.type in (FieldType.TIME, FieldType.TIME_MAP) else "type"
            detail = literal(f"must be {EXPECTED[c.field.type]}")
            checks.append((rule, c.field.name, f"NOT {quote('_ok_' + c.name)}", detail))
    return checks


def _columns(kind: RecordKind, json_mode: bool, types: dict[str, str]) -> list[Column]:
    columns: list[Column] = []
    for f in kind.fields:
        if json_mode:
            x = f"_json.{quote(f.name)}"
            if f.type is FieldType.CANDIDATES:
                columns.append(Column(f.name, f, json_candidates(x)))
            elif f.type in (FieldType.STRING, FieldType.NUMBER, FieldType.INTEGER, FieldType.TIME):
                columns.append(Column(f.name, f, json_scalar(x, f.type)))
            else:
                main, strings = json_map(x, f.type)
                columns.append(Column(f.name, f, main))
                if strings is not None:
                    assert f.strings_column is not None
                    columns.append(Column(f.strings_column, f, strings))
            continue
        columns.extend(_parquet_columns(f, types))
    return columns


def _parquet_columns(f: Field, types: dict[str, str]) -> list[Column]:
    sql_type = types.get(f.name)
    if f.type is FieldType.MIXED_MAP:
        assert f.strings_column is not None
        strings_type = types.get(f.strings_column)
        numbers = (
            parquet_map(quote(f.name), sql_type, FieldType.NUMBER_MAP)
            if sql_type
            else Converted("CAST(NULL AS MAP(VARCHAR, DOUBLE))")
        )
        strings = (
            parquet_map(quote(f.strings_column), strings_type, FieldType.STRING_MAP)
            if strings_type
            else Converted("CAST(NULL AS MAP(VARCHAR, VARCHAR))")
        )
        return [Column(f.name, f, numbers), Column(f.strings_column, f, strings)]
    if sql_type is None:
        return [Column(f.name, f, Converted(f"CAST(NULL AS {SQL_TYPES[f.type]})"))]
    col = quote(f.name)
    if f.type is FieldType.CANDIDATES:
        return [Column(f.name, f, parquet_candidates(col, sql_type, candidate_fields(sql_type)))]
    if f.type in (FieldType.STRING, FieldType.NUMBER, FieldType.INTEGER, FieldType.TIME):
        return [Column(f.name, f, parquet_scalar(col, sql_type, f.type))]
    return [Column(f.name, f, parquet_map(col, sql_type, f.type))]


def candidate_fields(sql_type: str) -> dict[str, str]:
    """Field name → type of a ``STRUCT(...)[]`` type string (empty if not a struct list)."""
    if not (sql_type.startswith("STRUCT(") and sql_type.endswith(")[]")):
        return {}
    inner = sql_type[len("STRUCT(") : -len(")[]")]
    fields: dict[str, str] = {}
    depth, start = 0, 0
    for i, ch in enumerate(inner + ","):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            name, _, typ = inner[start:i].strip().partition(" ")
            fields[name.strip('"')] = typ.strip()
            start = i + 1
    return fields


def normalize_select(kind: RecordKind, source: str, *, json_mode: bool, types: dict[str, str]) -> str:
    """SQL turning rows of ``source`` into stored columns plus ``_row`` and ``_tv``.

    ``_tv`` is ``{rule, field, detail}`` when the record could not be read as the contract
    says (not JSON, a value of the wrong type, a bad time), else NULL. The remaining rules
    work on the stored form and live in ``rules.py``.

    Args:
        kind: the record kind.
        source: a relation with ``_row`` and, for JSON, ``_json`` (struct of JSON fields);
            for Parquet, the file's own columns.
        json_mode: which source shape.
        types: for Parquet, column name → DuckDB type of the source.
    """
    columns = _columns(kind, json_mode, types)
    select = [f"{c.conv.value} AS {quote(c.name)}" for c in columns]
    select += [f"{c.conv.ok} AS {quote('_ok_' + c.name)}" for c in columns if c.conv.ok != "TRUE"]
    whens: list[str] = []
    if json_mode:
        select.append("_json IS NULL AS _bad_json")
        detail = literal(f"line is not a JSON object ({kind.record} expected)")
        whens.append(f"WHEN _bad_json THEN {{'rule': 'json', 'field': NULL, 'detail': {detail}}}")
    for rule, name, cond, detail in type_checks(columns):
        violation = f"{{'rule': {literal(rule)}, 'field': {literal(name)}, 'detail': {detail}}}"
        whens.append(f"WHEN {cond} THEN {violation}")
    stored = ", ".join(quote(n) for n in kind.column_names)
    tv = f"CASE {' '.join(whens)} END" if whens else "NULL"
    return (
        f"WITH conv AS (SELECT _row, {', '.join(select)} FROM {source}) "
        f"SELECT _row, {stored}, CAST({tv} AS {VIOLATION_TYPE}) AS _tv FROM conv"
    )


def json_struct_spec(kind: RecordKind) -> str:
    """The ``from_json`` structure that parses a line once into top-level JSON fields."""
    return "{" + ", ".join(f'"{f.name}": "JSON"' for f in kind.fields) + "}"
