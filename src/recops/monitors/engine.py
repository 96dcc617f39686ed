"""Where monitors run: the lake's record kinds as Ibis tables on DuckDB or Spark.

Every monitor is an Ibis expression over these tables, so one definition runs on the
embedded engine (DuckDB over the catalog's files, the default) and on Spark (the same
files read by a Spark session, for data that does not fit one machine).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from recops.contract import BOOKKEEPING, KINDS
from recops.errors import InvalidInput
from recops.lake import Lake

ENGINES = ("duckdb", "spark")


@dataclass
class MonitorEngine:
    """Ibis tables for every record kind plus ``candidates``, on one backend.

    Attributes:
        name: ``duckdb`` or ``spark``.
        backend: the Ibis backend the tables belong to.
        tables: kind name → Ibis table (``requests``, ``outcomes``, ``feature_rows``,
            ``arrivals``, ``changes``, ``candidates``).
    """

    name: str
    backend: Any
    tables: dict[str, ir.Table] = field(default_factory=dict)
    _close: Callable[[], None] | None = None

    def table(self, kind: str) -> ir.Table:
        return self.tables[kind]

    def execute(self, expr: ir.Table) -> pa.Table:
        """Run an expression and return Arrow (timestamps as UTC microseconds)."""
        with warnings.catch_warnings():
            # PySpark 4.0 sets a pandas option that pandas 3 deprecates; harmless here.
            warnings.filterwarnings("ignore", message=".*future.infer_string.*")
            table: pa.Table = expr.to_pyarrow()
        return _utc_times(table)

    def close(self) -> None:
        if self._close is not None:
            self._close()


def _utc_times(table: pa.Table) -> pa.Table:
    """Spark hands back naive timestamps in its session zone (UTC): label them UTC."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is None:
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp("us", tz="UTC")))
    return table


def candidates_of(requests: ir.Table) -> ir.Table:
    """One row per scored candidate with its request's keys: the ``candidates`` view in Ibis."""
    flat = requests.select(
        "request_id",
        "ts",
        "surface",
        "user_id",
        "model",
        "model_version",
        "context",
        c=requests.candidates.unnest(),
    )
    return flat.select(
        "request_id",
        "ts",
        "surface",
        "user_id",
        "model",
        "model_version",
        "context",
        item_id=flat.c.item_id,
        source=flat.c.source,
        score=flat.c.score,
        position=flat.c.position,
        propensity=flat.c.propensity,
    )


def duckdb_engine(
    lake: Lake, *, threads: int | None = None, memory_limit: str | None = None
) -> MonitorEngine:
    """Monitors on DuckDB over the lake's committed files (the default engine)."""
    con = lake.connect(threads=threads, memory_limit=memory_limit)
    backend = ibis.duckdb.from_connection(con)
    tables = {name: backend.table(name) for name in KINDS}
    tables["candidates"] = candidates_of(tables["requests"])
    return MonitorEngine("duckdb", backend, tables, _close=con.close)


def spark_session(app_name: str = "recops", *, driver_memory: str = "2g") -> Any:
    """A local Spark session with recops' settings (UTC, no UI, loopback)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - depends on the install
        raise InvalidInput("the Spark engine needs the spark extra: pip install 'recops[spark]'") from None
    return (
        SparkSession.builder.master(os.environ.get("RECOPS_SPARK_MASTER", "local[2]"))
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )


def spark_engine(lake: Lake, session: Any | None = None) -> MonitorEngine:
    """Monitors on Spark: the same committed files, read by a Spark session."""
    session = session or spark_session()
    backend = ibis.pyspark.connect(session)
    tables: dict[str, ir.Table] = {}
    for name, kind in KINDS.items():
        files = [str(p) for p in lake.catalog.live_files(name)]
        view = f"recops_{name}"
        if files:
            frame = session.read.option("mergeSchema", "true").parquet(*files)
        else:
            schema = pa.schema(list(kind.schema) + list(BOOKKEEPING))
            frame = session.createDataFrame(schema.empty_table().to_pandas(), schema=_spark_schema(schema))
        frame.createOrReplaceTempView(view)
        tables[name] = backend.table(view)
    tables["candidates"] = candidates_of(tables["requests"])
    return MonitorEngine("spark", backend, tables)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def open_engine(name: str, lake: Lake, *, memory_limit: str | None = None) -> MonitorEngine:
    """The engine called ``name`` (``duckdb`` or ``spark``) over ``lake``.

    ``memory_limit`` bounds DuckDB (Spark's memory is its session's configuration)."""
    if name == "duckdb":
        return duckdb_engine(lake, memory_limit=memory_limit)
    if name == "spark":
        return spark_engine(lake)
    raise InvalidInput(f"unknown monitor engine {name!r}; expected one of {', '.join(ENGINES)}")
