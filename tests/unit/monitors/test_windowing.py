"""Engine-side window buckets agree with the Python definition of windows, across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import ibis
import numpy as np
import pyarrow as pa
import pytest

from recops.lake.windows import window_of
from recops.monitors.windowing import Granularity

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def instants(start: datetime, days: int, count: int, seed: int) -> list[datetime]:
    g = np.random.default_rng(seed)
    seconds = np.sort(g.integers(0, days * 86_400, count))
    return [start + timedelta(seconds=int(s), microseconds=int(g.integers(0, 1_000_000))) for s in seconds]


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("size", ["5min", "hour", "day"])
def test_buckets_match_python_windows_across_dst(zone_name: str, size: str) -> None:
    zone = ZoneInfo(zone_name)
    # Spans the European and American DST ends (late Oct / early Nov) and the Lord Howe one.
    start = datetime(2026, 10, 20, tzinfo=UTC)
    times = instants(start, 20, 3_000, seed=len(zone_name))
    g = Granularity(size, zone)
    con = ibis.duckdb.connect()
    table = con.create_table("t", pa.table({"ts": pa.array(times, pa.timestamp("us", tz="UTC"))}))
    buckets = (
        table.select(b=g.bucket(table.ts, start, start + timedelta(days=20))).to_pyarrow()["b"].to_pylist()
    )
    for ts, bucket in zip(times, buckets, strict=True):
        expected = window_of(ts, size, zone)
        assert g.bucket_of(ts) == bucket, (ts, size, zone_name)
        assert g.window(bucket) == expected, (ts, size, zone_name)


def test_local_days_are_23_or_25_hours_at_dst_changes() -> None:
    g = Granularity("day", ZoneInfo("Europe/Berlin"))
    fall = g.window(g.bucket_of(datetime(2026, 10, 25, 12, tzinfo=UTC)))
    spring = g.window(g.bucket_of(datetime(2026, 3, 29, 12, tzinfo=UTC)))
    assert fall.end - fall.start == timedelta(hours=25)
    assert spring.end - spring.start == timedelta(hours=23)
    days = g.buckets_between(datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC))
    assert [g.window(d).label for d in days] == ["2026-10-24", "2026-10-25", "2026-10-26", "2026-10-27"]
