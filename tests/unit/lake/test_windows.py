"""Windows follow the configured zone, including daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from recops.errors import InvalidInput
from recops.lake.windows import parse_local_range, window_of, windows_between

BERLIN = ZoneInfo("Europe/Berlin")


def test_local_day_in_berlin() -> None:
    w = window_of(datetime(2026, 11, 24, 23, 30, tzinfo=UTC), "day", BERLIN)  # 00:30 local on the 25th
    assert w.label == "2026-11-25"
    assert w.start == datetime(2026, 11, 24, 23, tzinfo=UTC)
    assert w.end == datetime(2026, 11, 25, 23, tzinfo=UTC)


def test_days_around_dst_have_23_and_25_hours() -> None:
    spring = window_of(datetime(2026, 3, 29, 12, tzinfo=UTC), "day", BERLIN)
    autumn = window_of(datetime(2026, 10, 25, 12, tzinfo=UTC), "day", BERLIN)
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    assert (autumn.end - autumn.start).total_seconds() == 25 * 3600


def test_hours_tile_a_dst_day_without_gaps_or_overlaps() -> None:
    day = window_of(datetime(2026, 10, 25, 12, tzinfo=UTC), "day", BERLIN)
    hours = list(windows_between(day.start, day.end, "hour", BERLIN))
    assert len(hours) == 25
    assert all(a.end == b.start for a, b in pairwise(hours))
    assert hours[0].start == day.start and hours[-1].end == day.end
    assert len({h.label for h in hours}) == 25  # the repeated 02:00 hour has two labels (+0200, +0100)


def test_half_hour_zone_hours_start_on_the_local_hour() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    w = window_of(datetime(2026, 11, 24, 10, 10, tzinfo=UTC), "hour", kolkata)  # 15:40 local
    assert w.label == "2026-11-24T15:00+0530"
    assert w.start == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_minute_windows() -> None:
    w = window_of(datetime(2026, 11, 24, 10, 7, 59, tzinfo=UTC), "5min", ZoneInfo("UTC"))
    assert (w.start.minute, w.end.minute) == (5, 10)
    later = w.start.replace(hour=11, minute=5)
    assert len(list(windows_between(w.start, later, "5min", ZoneInfo("UTC")))) == 12


def test_bad_size() -> None:
    with pytest.raises(InvalidInput, match="window size"):
        window_of(datetime(2026, 1, 1, tzinfo=UTC), "7min", BERLIN)


def test_a_range_as_typed() -> None:
    low, high = parse_local_range("2026-10-05", "2026-10-06T12:00Z", BERLIN)
    assert low == datetime(2026, 10, 4, 22, tzinfo=UTC) and high == datetime(2026, 10, 6, 12, tzinfo=UTC)
    assert parse_local_range(None, "2026-10-06", BERLIN)[0] is None
    with pytest.raises(InvalidInput, match="not after --from"):
        parse_local_range("2026-11-20", "2026-11-01", BERLIN)
