"""Window buckets as engine-neutral integer arithmetic on epoch seconds.

A monitor groups rows by a *bucket*: an integer computed from a timestamp with plain
arithmetic, which every engine evaluates the same way. Minute windows are UTC-aligned
steps; hours are UTC hours shifted by the zone's sub-hour offset (a half-hour zone's
hours start at :30); days are local days, found by adding the zone's UTC offset, which is
piecewise constant between the daylight-saving transitions of the range and so compiles
to one CASE expression. These rules are the ones of :mod:`recops.lake.windows`; a test
holds the two to the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from recops.lake.windows import Window, window_of

DAY = 86_400


@ibis.udf.scalar.builtin(name="epoch_us")  # type: ignore[untyped-decorator]
def _duckdb_epoch_us(ts: dt.Timestamp(timezone="UTC", scale=6)) -> dt.int64:  # type: ignore[valid-type]
    """DuckDB's microseconds since the epoch of a TIMESTAMPTZ."""


@ibis.udf.scalar.builtin(name="unix_micros")  # type: ignore[untyped-decorator]
def _spark_epoch_us(ts: dt.Timestamp(timezone="UTC", scale=6)) -> dt.int64:  # type: ignore[valid-type]
    """Spark's microseconds since the epoch of a timestamp."""


def epoch_us(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Microseconds since the epoch of ``ts``: an exact integer, the same on every engine.

    Ibis's ``epoch_seconds`` is neither exact nor fast here: on DuckDB it casts the
    zoned timestamp to a naive one (a time-zone library call per value, 25 times slower
    than the whole rest of a count) and keeps the fraction, which a cast to an integer
    then rounds, while Spark truncates. Each engine has a native function for this;
    other backends fall back to whole seconds plus milliseconds.
    """
    try:
        backend = ts._find_backend().name
    except Exception:  # an unbound expression: use the portable form
        backend = ""
    if backend == "duckdb":
        return _duckdb_epoch_us(ts)
    if backend == "pyspark":
        return _spark_epoch_us(ts)
    seconds = ts.truncate("s").epoch_seconds().cast("int64")
    return seconds * 1_000_000 + ts.millisecond().cast("int64") * 1000


def _epoch(ts: datetime) -> int:
    return int(ts.astimezone(UTC).timestamp())


def _offset(zone: ZoneInfo, at: datetime) -> int:
    return int((at.astimezone(zone).utcoffset() or timedelta()).total_seconds())


@dataclass(frozen=True)
class Granularity:
    """One window size (``5min``, ``hour`` or ``day``) in one time zone.

    Attributes:
        name: the size as written in config and in stored series.
        zone: the workspace time zone.
    """

    name: str
    zone: ZoneInfo

    @property
    def seconds(self) -> int:
        """Nominal length (a local day may be 23 or 25 hours)."""
        if self.name == "day":
            return DAY
        if self.name == "hour":
            return 3600
        return int(self.name.removesuffix("min")) * 60

    def bucket(self, ts: ir.TimestampValue, start: datetime, end: datetime) -> ir.IntegerValue:
        """The bucket of ``ts`` as an Ibis expression; exact for instants in ``[start, end)``."""
        e = epoch_us(ts) // 1_000_000
        if self.name == "day":
            return (e + self._offset_expr(e, start, end)) // DAY
        if self.name == "hour":
            shift = _offset(self.zone, start) % 3600
            return ((e - shift) // 3600) * 3600 + shift
        width = self.seconds
        return (e // width) * width

    def bucket_of(self, ts: datetime) -> int:
        """The bucket of one instant, computed in Python (the same rule)."""
        e = _epoch(ts)
        if self.name == "day":
            return (e + _offset(self.zone, ts)) // DAY
        if self.name == "hour":
            shift = _offset(self.zone, ts) % 3600
            return ((e - shift) // 3600) * 3600 + shift
        return (e // self.seconds) * self.seconds

    def window(self, bucket: int) -> Window:
        """The window a bucket stands for."""
        if self.name == "day":
            # Noon of the local day is always inside it, whatever the DST rules.
            local_noon = datetime(1970, 1, 1) + timedelta(days=int(bucket), hours=12)
            return window_of(local_noon.replace(tzinfo=self.zone), "day", self.zone)
        return window_of(datetime.fromtimestamp(int(bucket), UTC), self.name, self.zone)

    def buckets_between(self, start: datetime, end: datetime) -> list[int]:
        """Every bucket whose window overlaps ``[start, end)``, in order."""
        out: list[int] = []
        if end <= start:
            return out
        window = self.window(self.bucket_of(start))
        while window.start < end:
            out.append(self.bucket_of(window.start))
            window = window_of(window.end, self.name, self.zone)
        return out

    def _offset_expr(self, e: ir.IntegerValue, start: datetime, end: datetime) -> ir.IntegerValue:
        """The zone's UTC offset at epoch second ``e`` for ``e`` in ``[start - 1d, end + 1d)``."""
        first = start - timedelta(days=1)
        last = end + timedelta(days=1)
        offsets: list[tuple[int, int]] = []  # (from epoch second, offset)
        current = _offset(self.zone, first)
        offsets.append((_epoch(first), current))
        hour = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour < last:
            hour += timedelta(hours=1)
            value = _offset(self.zone, hour)
            if value != current:
                offsets.append((_epoch(hour), value))
                current = value
        if len(offsets) == 1:
            return ibis.literal(offsets[0][1], type="int64")
        branches = [
            (e < offsets[i + 1][0], ibis.literal(off, type="int64"))
            for i, (_, off) in enumerate(offsets[:-1])
        ]
        return ibis.cases(*branches, else_=ibis.literal(offsets[-1][1], type="int64"))


def parse_granularities(serving_minutes: int, others: tuple[str, ...], zone: ZoneInfo) -> list[Granularity]:
    """The workspace's window sizes: serving SLI minutes plus hourly/daily."""
    sizes = [f"{serving_minutes}min", *others]
    return [Granularity(size, zone) for size in dict.fromkeys(sizes)]
