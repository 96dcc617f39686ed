"""Records that break exactly one contract rule, made from valid records.

Each broken record gets a fresh key (an id containing ``x``, which no valid id has, or a
shifted time) so that it can never be mistaken for a valid record or its duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Per kind and format: the (rule, detail) variants written, cycled in this order.
JSON_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "requests": (
        ("required", "user_id missing"),
        ("type", 'latency_ms = "fast"'),
        ("allowed", 'status = "timeout"'),
        ("minimum", "latency_ms = -5"),
        ("candidate", "candidate without item_id"),
        ("candidate", "candidate without source"),
        ("candidate", "candidate position = -1"),
        ("candidate", "candidate propensity = 1.5"),
        ("candidate", "candidate propensity = 0"),
        ("time_format", 'ts = "2026-13-45T25:61:00"'),
        ("json", "truncated line"),
        ("required", "candidates missing"),
    ),
    "outcomes": (
        ("required", "item_id missing"),
        ("type", 'value = "lots"'),
        ("time_format", 'ts = "10/01/2026 13:00"'),
        ("json", "truncated line"),
        ("required", "event missing"),
    ),
    "feature_rows": (
        ("required", "entity_id missing"),
        ("type", "values = [1, 2]"),
        ("time_format", 'event_ts = "not a time"'),
        ("json", "truncated line"),
        ("required", "values missing"),
    ),
    "arrivals": (
        ("required", "partition missing"),
        ("type", 'row_count = "many"'),
        ("minimum", "row_count = -3"),
        ("time_format", 'landed_at = "yesterday"'),
        ("json", "truncated line"),
        ("minimum", "bytes = -1"),
    ),
    "changes": (
        ("required", "target missing"),
        ("type", 'version = {"v": 1}'),
        ("time_format", 'ts = "2026-10-01 25:00"'),
        ("json", "truncated line"),
        ("required", "kind missing"),
    ),
}
# In Parquet a column has one type and times are typed, so only these can be expressed.
PARQUET_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "requests": (
        ("required", "user_id null"),
        ("allowed", 'status = "timeout"'),
        ("minimum", "latency_ms = -5"),
        ("candidate", "candidate item_id null"),
        ("candidate", "candidate position = -1"),
        ("candidate", "candidate propensity = 1.5"),
    ),
    "outcomes": (("required", "item_id null"),),
    "feature_rows": (("required", "entity_id null"),),
    "arrivals": (("required", "partition null"), ("minimum", "row_count = -3")),
    "changes": (("required", "target null"),),
}


@dataclass(frozen=True)
class Broken:
    """A broken record: its JSON line, or its row (Arrow Python form) for Parquet."""

    rule: str
    detail: str
    line: str | None
    row: dict[str, Any] | None


def _fresh(kind: str, row: dict[str, Any], n: int) -> None:
    """Give the row a key no valid record has."""
    tag = f"x{n:09x}"
    if kind == "requests":
        row["request_id"] = f"req_{tag}"
    elif kind == "outcomes":
        row["request_id"] = f"req_{tag}"
    elif kind == "feature_rows":
        row["entity_id"] = f"u_{tag}"
    elif kind == "arrivals":
        row["partition"] = f"{row['partition']}-{tag}"
    else:
        row["version"] = f"{row['version']}-{tag}"


def _first_candidate(row: dict[str, Any]) -> dict[str, Any]:
    if not row["candidates"]:
        row["candidates"] = [
            {"item_id": "it_x", "source": "trending", "score": 0.5, "position": 0, "propensity": 1.0}
        ]
    candidate: dict[str, Any] = row["candidates"][0]
    return candidate


def _apply(detail: str, row: dict[str, Any], parquet: bool) -> None:
    """Break ``row`` (JSON form, or Arrow Python form for Parquet) as ``detail`` says."""
    actions: dict[str, Callable[[], None]] = {
        'latency_ms = "fast"': lambda: row.update(latency_ms="fast"),
        'status = "timeout"': lambda: row.update(status="timeout"),
        "latency_ms = -5": lambda: row.update(latency_ms=-5.0),
        "candidate without item_id": lambda: _first_candidate(row).pop("item_id"),
        "candidate without source": lambda: _first_candidate(row).pop("source"),
        "candidate item_id null": lambda: _first_candidate(row).update(item_id=None),
        "candidate position = -1": lambda: _first_candidate(row).update(position=-1),
        "candidate propensity = 1.5": lambda: _first_candidate(row).update(propensity=1.5),
        "candidate propensity = 0": lambda: _first_candidate(row).update(propensity=0.0),
        'ts = "2026-13-45T25:61:00"': lambda: row.update(ts="2026-13-45T25:61:00"),
        'value = "lots"': lambda: row.update(value="lots"),
        'ts = "10/01/2026 13:00"': lambda: row.update(ts="10/01/2026 13:00"),
        "values = [1, 2]": lambda: row.update(values=[1, 2]),
        'event_ts = "not a time"': lambda: row.update(event_ts="not a time"),
        'row_count = "many"': lambda: row.update(row_count="many"),
        "row_count = -3": lambda: row.update(row_count=-3),
        "bytes = -1": lambda: row.update(bytes=-1),
        'landed_at = "yesterday"': lambda: row.update(landed_at="yesterday"),
        'version = {"v": 1}': lambda: row.update(version={"v": 1}),
        'ts = "2026-10-01 25:00"': lambda: row.update(ts="2026-10-01 25:00"),
        "truncated line": lambda: None,
    }
    if detail in actions:
        actions[detail]()
    elif parquet:  # "<field> null"
        row[detail.split(" ")[0]] = None
    else:  # "<field> missing"
        row.pop(detail.split(" ")[0])


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return {k: _json_value(v) for k, v in value}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def to_json_form(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A stored row (Arrow Python form) as the JSON record the contract describes."""
    out = {k: _json_value(v) for k, v in row.items()}
    mixed = {"requests": ("features", "feature_strings"), "feature_rows": ("values", "value_strings")}
    if kind in mixed:
        numbers, strings = mixed[kind]
        merged = dict(out.get(numbers) or {})
        merged.update(out.pop(strings, None) or {})
        out[numbers] = merged
    return out


def make_broken(kind: str, template: dict[str, Any], n: int, rule: str, detail: str, parquet: bool) -> Broken:
    """The ``n``-th broken record of a kind, made from a valid ``template`` row."""
    row = dict(template)
    if "candidates" in row and row["candidates"] is not None:
        row["candidates"] = [dict(c) for c in row["candidates"]]
    _fresh(kind, row, n)
    if parquet:
        _apply(detail, row, parquet=True)
        return Broken(rule, detail, None, row)
    record = to_json_form(kind, row)
    _apply(detail, record, parquet=False)
    text = json.dumps(record, separators=(",", ":"))
    if rule == "json":
        text = text[: max(10, len(text) // 2)]
    return Broken(rule, detail, text, None)
