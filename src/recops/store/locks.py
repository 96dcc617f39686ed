"""Cross-process writer locks, so two ingests never both accept the same key.

PostgreSQL gets a session advisory lock (works across machines sharing the store);
SQLite gets an ``flock`` on a file beside the database.
"""

from __future__ import annotations

import fcntl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

_memory_locks: dict[str, threading.Lock] = {}


@contextmanager
def writer_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the named writer lock for the duration of the ``with`` block (blocking)."""
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(name.encode())
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with _memory_locks.setdefault(name, threading.Lock()):
            yield
        return
    lock_path = Path(f"{database}.{name}.lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
