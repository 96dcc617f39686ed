"""Time windows cut in the workspace's time zone.

Traffic follows local days, so an hourly or daily window is a local hour or day: a day
in ``Europe/Berlin`` is 23 or 25 hours long at a daylight-saving change, and "the same
hour last week" means the same local hour. Minute windows (serving SLIs) are cut in
UTC-aligned steps, which coincide with local ones for every zone on a whole or half hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from recops.errors import InvalidInput


@dataclass(frozen=True, order=True)
class Window:
    """A half-open interval ``[start, end)`` of UTC instants, labelled by its local start."""

    start: datetime
    end: datetime
    label: str


def _parse_size(size: str) -> tuple[str, int]:
    if size in ("hour", "day"):
        return size, 1
    if size.endswith("min") and size[:-3].isdigit() and 60 % int(size[:-3]) == 0:
        return "minute", int(size[:-3])
    raise InvalidInput(f"unknown window size {size!r}: use 'day', 'hour' or 'Nmin' with N dividing 60")


def window_of(ts: datetime, size: str, zone: ZoneInfo) -> Window:
    """The window of ``size`` (``day``, ``hour``, ``5min``...) that contains instant ``ts``."""
    unit, n = _parse_size(size)
    local = ts.astimezone(zone)
    if unit == "day":
        start_local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end_local = (start_local + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=zone)
        label = start_local.strftime("%Y-%m-%d")
    elif unit == "hour":
        # Hours are cut on UTC instants so a repeated local hour (DST end) is two windows.
        start_utc = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        offset_minutes = int((local.utcoffset() or timedelta()).total_seconds() // 60) % 60
        start_utc += timedelta(minutes=offset_minutes)
        if start_utc > ts:
            start_utc -= timedelta(hours=1)
        start_local = start_utc.astimezone(zone)
        end_local = (start_utc + timedelta(hours=1)).astimezone(zone)
        label = start_local.strftime("%Y-%m-%dT%H:%M%z")
    else:
        utc = ts.astimezone(UTC)
        start_utc = utc.replace(minute=utc.minute - utc.minute % n, second=0, microsecond=0)
        start_local = start_utc.astimezone(zone)
        end_local = (start_utc + timedelta(minutes=n)).astimezone(zone)
        label = start_local.strftime("%Y-%m-%dT%H:%M%z")
    return Window(start_local.astimezone(UTC), end_local.astimezone(UTC), label)


def windows_between(start: datetime, end: datetime, size: str, zone: ZoneInfo) -> Iterator[Window]:
    """Every window of ``size`` overlapping ``[start, end)``, in order."""
    if end <= start:
        return
    window = window_of(start, size, zone)
    while window.start < end:
        yield window
        window = window_of(window.end, size, zone)


def parse_local_time(text: str, zone: ZoneInfo) -> datetime:
    """A time typed by a person: ISO 8601, a naive one read in the workspace zone.

    ``2026-10-05`` is local midnight; ``2026-10-05T13:00Z`` is an instant.

    Raises:
        InvalidInput: when ``text`` is not a time.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 time: {text!r} (e.g. 2026-10-05 or 2026-10-05T13:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def parse_local_range(
    start: str | None, end: str | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """``--from`` and ``--to`` as typed (either may be missing), by :func:`parse_local_time`.

    Raises:
        InvalidInput: a value is not a time, or the end is not after the start.
    """
    low = parse_local_time(start, zone) if start else None
    high = parse_local_time(end, zone) if end else None
    if low is not None and high is not None and high <= low:
        raise InvalidInput(f"--to {end} is not after --from {start}: the range would be empty")
    return low, high
