"""Canonical JSON and UTC times: the byte forms that digests and the audit chain hash."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from recops.errors import InvalidInput


def canonical_json(value: Any) -> str:
    """``value`` as JSON with sorted keys, no spaces and no NaN, so equal values give equal text.

    Raises:
        InvalidInput: for NaN or infinite numbers and values JSON cannot hold.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"cannot store value as JSON: {exc}") from None


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (what SQLite hands back)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 with microseconds and ``Z``: the one text form of a time in digests."""
    if value is None:
        return None
    return utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time given on a command line or in a manifest (naive means UTC).

    Raises:
        InvalidInput: when ``text`` is not a time.
    """
    try:
        return utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 time: {text!r} (e.g. 2026-10-03T12:00:00Z)") from None


def check_number(name: str, value: Any) -> float:
    """A metric value as a finite float.

    Raises:
        InvalidInput: for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"metric {name!r} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"metric {name!r} must be finite, got {value!r}")
    return number
