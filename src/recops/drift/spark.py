"""The Spark engine: the same counting code, run by Spark's executors where the data lives.

A Spark DataFrame (or an Ibis table on the PySpark backend) is counted with
``mapInArrow``: every partition hands its Arrow record batches to
``recops.drift.counting.count_table`` (the very function the local engine calls), which
returns that partition's mergeable counts; the driver merges them. Nothing about
counting or statistics is written twice (decision 0020).

The reference's binning needs quantiles. Up to ``EXACT_ROWS`` rows the reference's
columns are fetched to the driver a group at a time and binned exactly, as locally, so
both engines give identical results; above it each partition builds KLL and
frequent-items sketches that are merged into the binning (sketch mode: the bins'
quantile levels are then within the sketch's rank error, the counts stay exact).

Importing this module does not import pyspark; only running it does.
"""

from __future__ import annotations

import functools
import pickle
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from recops.drift import local
from recops.drift.counting import (
    Segments,
    binning_from_sketch,
    count_table,
    merge_all,
    sketch_column,
)
from recops.drift.counts import Binning, ColumnCounts
from recops.drift.engine import Engine, Options, Profiles, profile_segments
from recops.drift.profile import Profile
from recops.drift.sketches import merge_frequent, merge_kll
from recops.drift.sources import Source

#: References up to this many rows are binned exactly (columns fetched to the driver).
EXACT_ROWS = 50_000_000


def is_spark_input(value: Any) -> bool:
    """A PySpark DataFrame, or an Ibis table whose backend is PySpark."""
    kind = type(value)
    if kind.__name__ == "DataFrame" and kind.__module__.startswith("pyspark.sql"):
        return True
    return _ibis_backend_name(value) == "pyspark"


def _ibis_backend_name(value: Any) -> str | None:
    if not type(value).__module__.startswith("ibis.expr"):
        return None
    try:
        return str(value._find_backend().name)
    except Exception:  # an unbound expression has no backend
        return None


class SparkSource:
    """A Spark DataFrame as a window: counted with mapInArrow, columns fetched for exact bins."""

    def __init__(self, frame: Any, description: str = "spark dataframe") -> None:
        self.frame = frame
        self.description = description
        self._rows: int | None = None
        self._lock = threading.Lock()  # one column group on the driver at a time

    @classmethod
    def wrap(cls, value: Any) -> SparkSource:
        if _ibis_backend_name(value) == "pyspark":
            backend = value._find_backend()
            return cls(backend._session.sql(str(backend.compile(value))), "ibis table (pyspark)")
        return cls(value)

    @property
    def schema(self) -> pa.Schema:
        from pyspark.sql.pandas.types import to_arrow_schema

        return to_arrow_schema(self.frame.schema)

    @property
    def rows(self) -> int:
        if self._rows is None:
            self._rows = int(self.frame.count())
        return self._rows

    def read(self, columns: Sequence[str]) -> pa.Table:
        with self._lock:
            return self.frame.select(*columns).toArrow()


def count(
    kinds: Mapping[str, str], reference: Source | Profile, current: Source | None, options: Options
) -> Profiles:
    """Same contract as ``local.count``; Spark inputs are counted on the cluster, the rest locally."""
    if isinstance(reference, SparkSource) and reference.rows > EXACT_ROWS and not options.exact:
        ref_profile = _sketch_profile(
            kinds, reference, top_k=options.top_k, segment=options.segment, max_segments=options.max_segments
        )
    elif isinstance(reference, SparkSource) and isinstance(current, SparkSource) and options.exact:
        # Exact mode needs both windows' values side by side: fetch them, as the local engine reads files.
        return local.count(kinds, reference, current, options)
    else:
        ref_profile, _ = local.count(kinds, reference, None, replace(options, exact=False))
    if current is None:
        return ref_profile, None
    if not isinstance(current, SparkSource):
        count_only = Options(top_k=options.top_k, workers=options.workers, progress=options.progress)
        _, cur_profile = local.count(kinds, ref_profile, current, count_only)
        return ref_profile, cur_profile
    cur_profile = count_frame(current, ref_profile.binnings(), kinds, segments=profile_segments(ref_profile))
    if options.progress is not None:
        options.progress(len(kinds), len(kinds))
    return ref_profile, cur_profile


run = Engine(count).run


def count_frame(
    source: SparkSource,
    binnings: Mapping[str, Binning],
    kinds: Mapping[str, str],
    *,
    segments: Segments | None = None,
    quantiles: bool = False,
) -> Profile:
    """Count a DataFrame against ``binnings`` on the executors and merge the partitions' counts."""
    names = list(binnings) + ([segments.key] if segments is not None and segments.key not in binnings else [])
    work = functools.partial(
        _count_partition, binnings=dict(binnings), kinds=dict(kinds), segments=segments, quantiles=quantiles
    )
    parts = _map_partitions(source, names, work)
    profile = Profile(columns={}, rows=sum(p["rows"] for p in parts), source=source.description)
    overall = merge_all([p["columns"] for p in parts])
    profile.columns = {name: overall[name] for name in binnings if name in overall}
    for name, binning in binnings.items():  # a frame with no rows at all
        if name not in profile.columns:
            profile.columns[name] = _empty(name, kinds[name], binning)
    if segments is not None:
        profile.segment_key = segments.key
        for value in segments.values:
            merged = merge_all([p["segments"][value] for p in parts if value in p["segments"]])
            if merged:
                profile.segments[value] = merged
            profile.segment_rows[value] = sum(p["segment_rows"].get(value, 0) for p in parts)
        profile.other_segment_rows = sum(p["other_segment_rows"] for p in parts)
    return profile


def _empty(name: str, kind: str, binning: Binning) -> ColumnCounts:
    from recops.drift.counts import empty_counts

    return ColumnCounts(name, kind, binning, empty_counts(binning))


def _map_partitions(
    source: SparkSource, columns: Sequence[str], work: Callable[[pa.Table], Any]
) -> list[Any]:
    """``work`` run by the executors on each non-empty partition's rows; its results, collected."""
    task = functools.partial(_partition, work=work)
    rows = source.frame.select(*columns).mapInArrow(task, "part binary").collect()
    return [pickle.loads(row["part"]) for row in rows]


def _partition(
    batches: Iterator[pa.RecordBatch], *, work: Callable[[pa.Table], Any]
) -> Iterator[pa.RecordBatch]:
    collected = list(batches)
    if not collected:
        return
    result = work(pa.Table.from_batches(collected))
    yield pa.RecordBatch.from_pydict(
        {"part": [pickle.dumps(result)]}, schema=pa.schema([("part", pa.binary())])
    )


def _count_partition(
    table: pa.Table,
    *,
    binnings: dict[str, Binning],
    kinds: dict[str, str],
    segments: Segments | None,
    quantiles: bool,
) -> dict[str, Any]:
    overall, per_segment, segment_rows = count_table(
        table, binnings, kinds, segments=segments, quantiles=quantiles
    )
    return {
        "rows": table.num_rows,
        "columns": overall,
        "segments": per_segment,
        "segment_rows": segment_rows,
        "other_segment_rows": table.num_rows - sum(segment_rows.values()) if segments is not None else 0,
    }


def _sketch_partition(table: pa.Table, *, kinds: dict[str, str]) -> dict[str, bytes]:
    return {name: sketch_column(kind, table.column(name))[0] for name, kind in kinds.items()}


def _sketch_profile(
    kinds: Mapping[str, str], reference: SparkSource, *, top_k: int, segment: str | None, max_segments: int
) -> Profile:
    """Sketch mode: pass 1 merges per-partition sketches into binnings, pass 2 counts exactly."""
    from recops.drift.counts import NUMERIC

    parts = _map_partitions(reference, list(kinds), functools.partial(_sketch_partition, kinds=dict(kinds)))
    merged: dict[str, bytes] = {}
    for part in parts:
        for name, sketch in part.items():
            combine = merge_kll if kinds[name] == NUMERIC else merge_frequent
            merged[name] = combine(merged.get(name, b""), sketch)
    binnings = {name: binning_from_sketch(kind, merged.get(name, b""), top_k) for name, kind in kinds.items()}
    segments = None
    sizes: dict[str, int] = {}
    rest = 0
    if segment is not None:
        segments, sizes, rest = local.reference_segments(reference, segment, max_segments)
    profile = count_frame(reference, binnings, kinds, segments=segments, quantiles=True)
    if segments is not None:
        profile.segment_rows, profile.other_segment_rows = sizes, rest
    return profile
