"""Metric series: the points monitors produce, stored in the store, read back as Arrow.

A point is one value of a metric about a subject, in a slice and a window. Families
return points as Arrow tables in :data:`POINT_SCHEMA`; :func:`replace_points` writes
them in one transaction, replacing whatever a previous run stored for the same family
and windows, so running a monitor twice stores the same thing once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Table, and_, delete, insert, select

from recops.store import Store
from recops.store.tables import MetricPointRow

TIME = pa.timestamp("us", tz="UTC")

POINT_SCHEMA = pa.schema(
    [
        pa.field("metric", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("slice", pa.string(), nullable=False),
        pa.field("granularity", pa.string(), nullable=False),
        pa.field("window_start", TIME, nullable=False),
        pa.field("window_end", TIME, nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("numerator", pa.float64()),
        pa.field("denominator", pa.float64()),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("label_completeness", pa.float64()),
    ]
)

_CHUNK = 500


def empty_points() -> pa.Table:
    return POINT_SCHEMA.empty_table()


def conform(table: pa.Table) -> pa.Table:
    """Cast a family's output to :data:`POINT_SCHEMA` (missing optional columns as nulls)."""
    columns = []
    for f in POINT_SCHEMA:
        if f.name in table.column_names:
            columns.append(table[f.name].cast(f.type))
        elif f.name == "subject":
            columns.append(pa.array([""] * table.num_rows, pa.string()))
        elif f.name == "n":
            columns.append(pa.array([0] * table.num_rows, pa.int64()))
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=POINT_SCHEMA)


def replace_points(
    store: Store,
    family: str,
    windows: dict[str, Sequence[datetime]],
    points: pa.Table,
    *,
    engine: str,
) -> int:
    """Store ``points`` for ``family``, replacing its points of the given windows.

    Args:
        windows: granularity → window starts that were recomputed (their old points go,
            even when the new run found nothing to say about them).
        points: rows in :data:`POINT_SCHEMA`.
        engine: the engine that computed them, recorded with each point.

    Returns:
        The number of points written.
    """
    points = conform(points)
    now = datetime.now(UTC)
    rows = points.to_pylist()
    for row in rows:
        row["engine"] = engine
        row["computed_at"] = now
        if row["value"] is not None and row["value"] != row["value"]:  # NaN is no value
            row["value"] = None
    table = cast(Table, MetricPointRow.__table__)
    with store.session() as session:
        for granularity, starts in windows.items():
            starts = sorted(set(starts))
            for i in range(0, len(starts), _CHUNK):
                session.execute(
                    delete(table).where(
                        and_(
                            table.c.family == family,
                            table.c.granularity == granularity,
                            table.c.window_start.in_(starts[i : i + _CHUNK]),
                        )
                    )
                )
        for i in range(0, len(rows), 5_000):
            session.execute(insert(table), rows[i : i + 5_000])
    return len(rows)


def read_series(
    store: Store,
    metric: str | None = None,
    *,
    subject: str | None = None,
    slice: str | None = None,
    granularity: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    family: str | None = None,
) -> pa.Table:
    """Stored points as an Arrow table, ordered by metric, subject, slice and window.

    ``.to_pandas()`` on the result gives a DataFrame; each filter left as ``None``
    matches everything.
    """
    table = MetricPointRow.__table__
    clauses: list[Any] = []
    for column, wanted in (
        ("metric", metric),
        ("subject", subject),
        ("slice", slice),
        ("granularity", granularity),
        ("family", family),
    ):
        if wanted is not None:
            clauses.append(table.c[column] == wanted)
    if start is not None:
        clauses.append(table.c.window_start >= start)
    if end is not None:
        clauses.append(table.c.window_start < end)
    query = select(*[table.c[f.name] for f in POINT_SCHEMA], table.c.engine, table.c.computed_at)
    if clauses:
        query = query.where(and_(*clauses))
    query = query.order_by(
        table.c.metric, table.c.subject, table.c.slice, table.c.granularity, table.c.window_start
    )
    return store.fetch_arrow(query)


def points_from(
    aggregated: pa.Table,
    *,
    metric: str,
    family: str,
    value: pa.Array | pa.ChunkedArray,
    numerator: pa.Array | pa.ChunkedArray | None = None,
    denominator: pa.Array | pa.ChunkedArray | None = None,
    n: pa.Array | pa.ChunkedArray | None = None,
    subject: str | pa.Array | pa.ChunkedArray = "",
    label_completeness: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    """Points for one metric from an aggregated table with ``granularity``, ``window_start``,
    ``window_end`` and ``slice`` columns (what :func:`recops.monitors.slices.aggregate` returns)."""
    rows = aggregated.num_rows
    subject_col = pa.array([subject] * rows, pa.string()) if isinstance(subject, str) else subject
    cols: dict[str, Any] = {
        "metric": pa.array([metric] * rows, pa.string()),
        "subject": subject_col,
        "slice": aggregated["slice"],
        "granularity": aggregated["granularity"],
        "window_start": aggregated["window_start"],
        "window_end": aggregated["window_end"],
        "family": pa.array([family] * rows, pa.string()),
        "value": pc.cast(value, pa.float64()),
    }
    if numerator is not None:
        cols["numerator"] = pc.cast(numerator, pa.float64())
    if denominator is not None:
        cols["denominator"] = pc.cast(denominator, pa.float64())
    if n is not None:
        cols["n"] = pc.cast(n, pa.int64())
    if label_completeness is not None:
        cols["label_completeness"] = pc.cast(label_completeness, pa.float64())
    return conform(pa.table(cols))


def concat_points(parts: Iterable[pa.Table]) -> pa.Table:
    tables = [conform(p) for p in parts if p.num_rows]
    return pa.concat_tables(tables) if tables else empty_points()
