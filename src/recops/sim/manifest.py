"""What World.write() wrote: per record kind, what a correct ingest must store."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class BrokenRecord:
    """A record written on purpose to break one contract rule.

    Attributes:
        rule: ``required``, ``type``, ``allowed``, ``minimum``, ``candidate``,
            ``time_format`` or ``json``.
        detail: which field and how, e.g. ``latency_ms = -5``.
        file: path relative to the written directory.
        line: 1-based line (JSON Lines) or row (Parquet) in that file.
    """

    rule: str
    detail: str
    file: str
    line: int


@dataclass(frozen=True)
class KindManifest:
    """What was written for one record kind.

    Attributes:
        distinct_valid: distinct valid records: exactly what a correct ingest stores.
        duplicates_written: exact re-sends of valid records (same or a later file).
        conflicts_written: records with the key of a valid record but other content,
            always after the original in file order (sorted paths, then lines).
        broken: the records that break a rule (fresh keys, never a valid record's).
        files: the files written, relative to the directory, in file order.
    """

    distinct_valid: int
    duplicates_written: int
    conflicts_written: int
    broken: tuple[BrokenRecord, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def broken_written(self) -> int:
        return len(self.broken)

    @property
    def broken_by_rule(self) -> dict[str, int]:
        return dict(Counter(b.rule for b in self.broken))

    @property
    def records_written(self) -> int:
        return self.distinct_valid + self.duplicates_written + self.conflicts_written + len(self.broken)


@dataclass(frozen=True)
class WriteManifest:
    """What World.write() wrote.

    Attributes:
        directory: the directory written.
        fmt: ``parquet``, ``jsonl`` or ``jsonl.gz``.
        counts: per record kind name, what was written.
    """

    directory: str
    fmt: str
    counts: dict[str, KindManifest] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> KindManifest:
        return self.counts[kind]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (counts, broken records and files per kind)."""
        out: dict[str, Any] = {"directory": self.directory, "fmt": self.fmt, "counts": {}}
        for name, kind in self.counts.items():
            entry = asdict(kind)
            entry["broken_written"] = kind.broken_written
            entry["broken_by_rule"] = kind.broken_by_rule
            out["counts"][name] = entry
        return out
