"""Ingest: files, SDK batches and HTTP bodies into the lake, validated and deduplicated."""

from __future__ import annotations

from recops.ingest.pipeline import IngestReport as IngestReport
from recops.ingest.pipeline import ingest_files as ingest_files
from recops.ingest.pipeline import ingest_table as ingest_table

__all__ = ["IngestReport", "ingest_files", "ingest_table"]
