"""The lake: Parquet files under ``data_dir``, listed by the catalog in the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from recops.lake.catalog import Catalog
from recops.lake.engine import create_views, new_connection
from recops.store import Store

WRITER_LOCK = "lake-writer"


class Lake:
    """Parquet partitioned by kind and date, plus the catalog that says which files count.

    Args:
        data_dir: the lake folder.
        store: the metadata store holding the catalog.
    """

    def __init__(self, data_dir: Path, store: Store) -> None:
        self.data_dir = data_dir
        self.store = store
        self.catalog = Catalog(store, data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)

    def connect(
        self, *, threads: int | None = None, memory_limit: str | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with a view per record kind over the committed files."""
        con = new_connection(threads=threads, memory_limit=memory_limit)
        create_views(con, self.catalog)
        return con

    @contextmanager
    def writer(self) -> Iterator[Catalog]:
        """Hold the lake's writer lock; batches left by killed writers are cleaned first."""
        with self.store.lock(WRITER_LOCK):
            self.catalog.recover()
            yield self.catalog

    def status(self) -> pa.Table:
        """Files, rows and bytes per record kind, with the first and last partition date."""
        con = self.connect()
        try:
            con.register("files", self.store.read_table("lake_files"))
            return con.execute(
                "SELECT kind, count(*) AS files, sum(rows)::BIGINT AS rows, sum(bytes)::BIGINT AS bytes, "
                "min(date) AS first_date, max(date) AS last_date FROM files WHERE removed_at IS NULL "
                "GROUP BY kind ORDER BY kind"
            ).to_arrow_table()
        finally:
            con.close()
