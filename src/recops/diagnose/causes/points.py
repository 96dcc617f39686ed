"""The stored points a diagnosis reads, held in memory and cut into series.

A diagnosis reads ``metric_points`` a few times (one query per window size and period,
on the ``(granularity, window_start)`` index) and every cause module then looks series up
in memory. The cost depends on the number of stored points in the periods read, never
on the number of logged requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from sqlalchemy import and_, or_, select

from recops.diagnose.contribution import Period
from recops.store import Store
from recops.store.tables import MetricPointRow

ALL = ""
_TIMES = ("window_start", "window_end")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_COLUMNS = (
    "metric",
    "subject",
    "slice",
    "window_start",
    "window_end",
    "value",
    "numerator",
    "denominator",
    "n",
    "label_completeness",
)


@dataclass(frozen=True, slots=True)
class Window:
    """One stored point: a window of one series."""

    start: datetime
    end: datetime
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int
    label_completeness: float | None = None


class Series:
    """The windows of one ``(metric, subject, slice)`` in time order."""

    def __init__(self, metric: str, subject: str, slice_: str, windows: list[Window]) -> None:
        self.metric, self.subject, self.slice = metric, subject, slice_
        self.windows = sorted(windows, key=lambda w: w.start)
        self._by_start = {w.start: w for w in self.windows}

    def __len__(self) -> int:
        return len(self.windows)

    def at(self, start: datetime) -> Window | None:
        """The window starting at ``start``, if stored."""
        return self._by_start.get(start)

    def within(self, period: Period) -> list[Window]:
        """The windows whose start lies in ``period``."""
        return [w for w in self.windows if period.start <= w.start < period.end]

    @property
    def is_ratio(self) -> bool:
        """Every window stores a numerator and a positive denominator."""
        return bool(self.windows) and all(
            w.numerator is not None and w.denominator is not None and w.denominator > 0 for w in self.windows
        )


class PointSet:
    """Points of one window size over some periods, indexed by series."""

    def __init__(self, granularity: str, table: pa.Table) -> None:
        self.granularity = granularity
        grouped: dict[tuple[str, str, str], list[Window]] = {}
        if table.num_rows:
            cols = {name: table.column(name).to_pylist() for name in _COLUMNS if name not in _TIMES}
            # Times as integer microseconds, turned into datetimes once per distinct value.
            times: dict[int, datetime] = {}
            for name in _TIMES:
                cols[name] = [_instant(us, times) for us in _micros(table.column(name))]
            for i in range(table.num_rows):
                key = (cols["metric"][i], cols["subject"][i], cols["slice"][i])
                value = cols["value"][i]
                if value is not None and not math.isfinite(value):
                    value = None
                grouped.setdefault(key, []).append(
                    Window(
                        start=cols["window_start"][i],
                        end=cols["window_end"][i],
                        value=value,
                        numerator=cols["numerator"][i],
                        denominator=cols["denominator"][i],
                        n=int(cols["n"][i] or 0),
                        label_completeness=cols["label_completeness"][i],
                    )
                )
        self._series = {k: Series(k[0], k[1], k[2], v) for k, v in grouped.items()}
        self._subjects: dict[str, set[str]] = {}
        self._slices: dict[tuple[str, str], set[str]] = {}
        for metric, subject, slice_ in self._series:
            self._subjects.setdefault(metric, set()).add(subject)
            self._slices.setdefault((metric, subject), set()).add(slice_)
        self.rows = table.num_rows

    def series(self, metric: str, subject: str = "", slice_: str = ALL) -> Series:
        """The series (empty when nothing is stored for it)."""
        return self._series.get((metric, subject, slice_)) or Series(metric, subject, slice_, [])

    def subjects(self, metric: str) -> list[str]:
        return sorted(self._subjects.get(metric, ()))

    def slices(self, metric: str, subject: str = "") -> list[str]:
        """Every stored slice of the series, the all-traffic one (``""``) first."""
        return sorted(self._slices.get((metric, subject), ()))

    def table(self, metric: str, subject: str, period: Period) -> pa.Table:
        """The points of every slice of ``(metric, subject)`` in ``period``, in the stored schema's
        columns that :func:`recops.diagnose.contribution.contributions_from_points` reads."""
        rows: dict[str, list[object]] = {
            "slice": [],
            "value": [],
            "numerator": [],
            "denominator": [],
            "label_completeness": [],
        }
        for slice_ in self.slices(metric, subject):
            for w in self.series(metric, subject, slice_).within(period):
                rows["slice"].append(slice_)
                rows["value"].append(w.value)
                rows["numerator"].append(w.numerator)
                rows["denominator"].append(w.denominator)
                rows["label_completeness"].append(None)
        return pa.table(
            {
                "slice": pa.array(rows["slice"], pa.string()),
                "value": pa.array(rows["value"], pa.float64()),
                "numerator": pa.array(rows["numerator"], pa.float64()),
                "denominator": pa.array(rows["denominator"], pa.float64()),
                "label_completeness": pa.array(rows["label_completeness"], pa.float64()),
            }
        )


def read_points(
    store: Store,
    granularity: str,
    periods: Sequence[Period],
    *,
    metrics: Iterable[str] | None = None,
) -> PointSet:
    """Every stored point of ``granularity`` whose window starts in one of ``periods``.

    Overlapping periods are merged first, so each point is read once.
    """
    table = MetricPointRow.__table__
    merged = _merge(periods)
    ranges = [and_(table.c.window_start >= p.start, table.c.window_start < p.end) for p in merged]
    clauses = [table.c.granularity == granularity, or_(*ranges)]
    if metrics is not None:
        clauses.append(table.c.metric.in_(sorted(set(metrics))))
    query = select(*[table.c[name] for name in _COLUMNS]).where(and_(*clauses))
    return PointSet(granularity, store.fetch_arrow(query))


def _merge(periods: Sequence[Period]) -> list[Period]:
    out: list[Period] = []
    for p in sorted(periods, key=lambda p: p.start):
        if out and p.start <= out[-1].end:
            last = out[-1]
            out[-1] = Period(last.start, max(last.end, p.end))
        else:
            out.append(p)
    return out


def _micros(column: pa.ChunkedArray) -> list[int]:
    us = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return [int(x) for x in us.to_pylist()]


def _instant(us: int, memo: dict[int, datetime]) -> datetime:
    found = memo.get(us)
    if found is None:
        found = memo[us] = _EPOCH + timedelta(microseconds=us)
    return found
