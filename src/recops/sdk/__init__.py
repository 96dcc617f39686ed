"""The serving-side SDK: log requests and outcomes from a serving process.

Light enough to embed in any service: it imports only ``recops.contract``, pyarrow and
the standard library.

Example:
    >>> import tempfile
    >>> from recops.sdk import RequestLogger
    >>> with RequestLogger(tempfile.mkdtemp(), sample_rate=1.0) as logger:
    ...     logger.log(request_id="r1", surface="home_row", user_id="u1", model="ranker",
    ...                model_version="v13", status="ok", latency_ms=12.5, candidates=[])
    >>> logger.stats.written
    1
"""

from __future__ import annotations

from recops.contract.packed import read_spool_file as read_spool_file
from recops.sdk.logger import LoggerOptions as LoggerOptions
from recops.sdk.logger import LoggerStats as LoggerStats
from recops.sdk.logger import OutcomeLogger as OutcomeLogger
from recops.sdk.logger import RecordLogger as RecordLogger
from recops.sdk.logger import RequestLogger as RequestLogger
from recops.sdk.sampling import keep as keep
from recops.sdk.training import track_training as track_training

__all__ = [
    "LoggerOptions",
    "LoggerStats",
    "OutcomeLogger",
    "RecordLogger",
    "RequestLogger",
    "keep",
    "read_spool_file",
    "track_training",
]
