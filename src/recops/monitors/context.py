"""What a monitor family sees when it runs: the engine, the windows to compute, the slices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from recops.config import Config
from recops.lake.windows import Window
from recops.monitors.engine import MonitorEngine
from recops.monitors.windowing import Granularity

# Dirty windows are read as at most this many time ranges (gaps between them are read too).
MAX_RANGES = 32

ALL = ""


@dataclass(frozen=True)
class SliceKey:
    """A slicing key of requests: ``surface``, ``model_version`` or a context key."""

    name: str
    column: str | None = None  # a top-level column, else a context key

    def expr(self, table: ir.Table) -> ir.StringValue:
        if self.column is not None:
            return table[self.column].cast("string")
        return table.context[self.name]


@dataclass(frozen=True)
class WindowPlan:
    """The windows of one granularity that a run computes."""

    granularity: Granularity
    buckets: tuple[int, ...]

    @property
    def windows(self) -> list[Window]:
        return [self.granularity.window(b) for b in self.buckets]

    @property
    def starts(self) -> list[datetime]:
        return [w.start for w in self.windows]

    def ranges(self) -> list[tuple[datetime, datetime]]:
        """Contiguous time ranges covering the windows (at most :data:`MAX_RANGES`)."""
        spans: list[list[datetime]] = []
        for w in self.windows:
            if spans and spans[-1][1] >= w.start:
                spans[-1][1] = max(spans[-1][1], w.end)
            else:
                spans.append([w.start, w.end])
        while len(spans) > MAX_RANGES:
            gaps = [(spans[i + 1][0] - spans[i][1], i) for i in range(len(spans) - 1)]
            _, i = min(gaps)
            spans[i][1] = spans[i + 1][1]
            del spans[i + 1]
        return [(a, b) for a, b in spans]

    @property
    def start(self) -> datetime:
        return self.windows[0].start

    @property
    def end(self) -> datetime:
        return self.windows[-1].end


@dataclass
class MonitorContext:
    """Everything a family needs to compute its points for one granularity.

    Attributes:
        engine: where the data is (DuckDB or Spark tables).
        config: the workspace configuration.
        plan: the windows to compute.
        slices: slicing keys; every family computes the total plus one slice per value.
        clock: the data clock (the newest time seen in the lake); windows end before it.
        extras: services a family may need (``store`` for the registry).
    """

    engine: MonitorEngine
    config: Config
    plan: WindowPlan
    slices: tuple[SliceKey, ...]
    clock: datetime
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def granularity(self) -> Granularity:
        return self.plan.granularity

    def table(self, kind: str) -> ir.Table:
        return self.engine.table(kind)

    def in_windows(self, table: ir.Table, column: str, *, margin_before: float = 0.0) -> ir.Table:
        """Rows of ``table`` whose ``column`` falls in the planned windows' time ranges.

        ``margin_before`` (seconds) widens each range backwards, for trailing look-backs.
        """
        ts = table[column]
        conditions = []
        for start, end in self.plan.ranges():
            lo = ibis.literal(_shift(start, -margin_before), type="timestamp('UTC', 6)")
            hi = ibis.literal(end, type="timestamp('UTC', 6)")
            conditions.append((ts >= lo) & (ts < hi))
        condition = conditions[0]
        for other in conditions[1:]:
            condition = condition | other
        return table.filter(condition)

    def bucket(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        return self.granularity.bucket(ts, self.plan.start, self.plan.end)

    def aggregate(
        self,
        table: ir.Table,
        time_column: str,
        metrics: Callable[[ir.Table], dict[str, ir.Value]],
        *,
        by: tuple[str, ...] = (),
        sliced: bool = True,
    ) -> pa.Table:
        """Aggregate rows per planned window, for the total and for every slice value.

        Args:
            table: rows carrying ``time_column`` (and the slice columns when ``sliced``).
            metrics: builds the aggregate expressions over the prepared table.
            by: extra grouping columns kept in the output (a subject such as a stage).
            sliced: compute per slice too; otherwise the total only.

        Returns:
            Arrow with ``granularity``, ``window_start``, ``window_end``, ``slice``, the
            ``by`` columns and one column per metric; windows outside the plan dropped.
        """
        rows = self.in_windows(table, time_column)
        rows = rows.mutate(_bucket=self.bucket(rows[time_column]))
        parts = []
        for key in (None, *(self.slices if sliced else ())):
            label = (
                ibis.literal(ALL)
                if key is None
                else ibis.literal(f"{key.name}=") + key.expr(rows).fill_null("(none)")
            )
            keyed = rows.mutate(_slice=label)
            parts.append(keyed.group_by(["_bucket", "_slice", *by]).aggregate(**metrics(keyed)))
        expr = parts[0] if len(parts) == 1 else ibis.union(*parts)
        return self.attach_windows(self.engine.execute(expr), bucket="_bucket", slice_column="_slice")

    def attach_windows(
        self, table: pa.Table, *, bucket: str = "_bucket", slice_column: str | None = None
    ) -> pa.Table:
        """Replace a bucket column with the window's granularity, start and end; drop unplanned."""
        planned = set(self.plan.buckets)
        buckets = table[bucket].to_pylist()
        keep = [b in planned for b in buckets]
        table = table.filter(pa.array(keep, pa.bool_())) if not all(keep) else table
        windows = {b: self.granularity.window(b) for b in set(table[bucket].to_pylist())}
        starts = pa.array([windows[b].start for b in table[bucket].to_pylist()], pa.timestamp("us", tz="UTC"))
        ends = pa.array([windows[b].end for b in table[bucket].to_pylist()], pa.timestamp("us", tz="UTC"))
        table = table.drop_columns([bucket])
        if slice_column is not None and slice_column != "slice":
            table = table.rename_columns(["slice" if c == slice_column else c for c in table.column_names])
        elif slice_column is None and "slice" not in table.column_names:
            table = table.append_column("slice", pa.array([ALL] * table.num_rows, pa.string()))
        n = table.num_rows
        table = table.append_column("granularity", pa.array([self.granularity.name] * n, pa.string()))
        table = table.append_column("window_start", starts)
        return table.append_column("window_end", ends)


def _shift(ts: datetime, seconds: float) -> datetime:
    from datetime import timedelta

    return (ts + timedelta(seconds=seconds)).astimezone(UTC)


def default_slices(context_keys: tuple[str, ...]) -> tuple[SliceKey, ...]:
    """Surface and model version, then the configured context keys."""
    return (
        SliceKey("surface", "surface"),
        SliceKey("model_version", "model_version"),
        *(SliceKey(k) for k in context_keys),
    )
