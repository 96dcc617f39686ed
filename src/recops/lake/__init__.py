"""The lake: Parquet by kind and date, its catalog, DuckDB views and the SQL sandbox."""

from __future__ import annotations

from recops.lake.lake import Lake as Lake

__all__ = ["Lake"]
