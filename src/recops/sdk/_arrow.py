"""Records as the logger queues them: the caller's side of ``recops.contract.packed``.

On the caller's thread a record is a tuple of the values the caller gave (``raw``): the
kind's contract fields in their order (a mixed map as one value), with its times made
epoch microseconds (``caller_time``), then the time it was logged in nanoseconds since
the epoch (``time.time_ns()``, which stands in for a missing value of the kind's time
column). ``orjson`` copies that tuple, maps, candidates and numpy values included, into
one ``bytes`` object of JSON (``pack``): about 6 µs for a request with 20 candidates,
against about 20 µs to flatten it into plain lists and pickle it, which is how it was
done before decision 0054. That copy is what makes everything else cheap:

- The garbage collector does not see ``bytes``, and the caller may reuse its dicts at
  once. Queued as the caller's objects, a record with 20 candidates would keep 26
  containers alive while it waits: enough to make the collector run every few dozen
  requests, and each run promotes whatever the host has in flight towards the oldest
  generation, whose full collections stop every thread of the host for tens of
  milliseconds (measured in ``bench/sdk_overhead.py``).
- The writer spools those bytes as they are (decision 0056); ``recops ingest`` converts
  them (``recops.contract.packed.build_batch``).

JSON has no NaN: a non-finite float becomes null (a missing value), except in a time,
which ``caller_time`` turns into text that the conversion rejects. A record JSON cannot
hold (an object of the caller's own class, say) has its maps and candidates copied on the
caller's thread and is queued by reference instead (``copy_raw``); the logger converts
those itself and spools them in the stored form.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import orjson

from recops.contract import Field, FieldType, RecordKind
from recops.contract.packed import Queued, Record, caller_time

__all__ = ["Candidates", "Queued", "Record", "caller_time", "copy_raw", "pack", "raw"]

# ------------------------------------------------------------- the caller's side


Candidates = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


def _finite(value: Any) -> Any:
    """A number as JSON keeps it: None when it is NaN or infinite; anything else as it is."""
    try:
        return value if math.isfinite(value) else None
    except (TypeError, OverflowError):  # not a number, or an integer no double holds
        return value


def _copy_map(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _finite(value) for key, value in values.items()}


def _copy_candidates(candidates: Candidates) -> list[dict[str, Any]] | dict[str, list[Any]]:
    if isinstance(candidates, Mapping):
        return {name: [_finite(v) for v in column] for name, column in candidates.items()}
    return [_copy_map(c) for c in candidates]


_COPY: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.NUMBER_MAP: _copy_map,
    FieldType.STRING_MAP: _copy_map,
    FieldType.MIXED_MAP: _copy_map,
    FieldType.TIME_MAP: _copy_map,
    FieldType.CANDIDATES: _copy_candidates,
}


def _raw_value(field: Field, record: Mapping[str, Any]) -> Any:
    value = record.get(field.name)
    return caller_time(value) if field.type is FieldType.TIME else value


def raw(kind: RecordKind, record: Mapping[str, Any], logged_ns: int) -> Record:
    """The raw tuple of ``record``, a mapping of field names to values (see the module docstring)."""
    return (
        *(_raw_value(f, record) for f in kind.fields),
        logged_ns,
    )


def copy_raw(kind: RecordKind, raw: Sequence[Any]) -> Record:
    """A raw record with its maps and candidates copied (a record JSON refused is queued so).

    Non-finite numbers become None, as JSON makes them.

    Raises:
        Exception: for a map that is not a mapping, candidates that are neither mappings
            nor a mapping of columns.
    """
    return (
        *(v if v is None else fn(v) for fn, v in zip(_copiers(kind), raw, strict=False)),
        raw[-1],
    )


@cache
def _copiers(kind: RecordKind) -> tuple[Callable[[Any], Any], ...]:
    """Per field of ``kind``, the function that copies its values as JSON would."""
    return tuple(_COPY.get(f.type, _finite) for f in kind.fields)


#: numpy scalars and arrays as numbers and lists; naive datetimes as UTC.
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC


def _as_list(value: Any) -> Any:
    """JSON for what orjson does not take itself: arrays with ``tolist()`` (numpy strings)."""
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return tolist()


def pack(kind: RecordKind, raw: Record) -> Queued:
    """Return the queued form of a raw record (see the module docstring).

    Raises:
        Exception: when JSON cannot hold the record and copying it fails.
    """
    try:
        return orjson.dumps(raw, default=_as_list, option=_JSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: keep the record by reference, copied
        return copy_raw(kind, raw)
