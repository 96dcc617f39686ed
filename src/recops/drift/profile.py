"""Profiles: a window's counts (and sketches) per column, stored as JSON and merged by addition.

A *reference profile* carries the binning chosen from its own data; a window counted
against it (``compare`` does this for the current window) carries the same binning, so
profiles of days, files or workers counted against one reference merge exactly into the
profile of their union. A stored reference lets ``recops drift`` read only the current
window.

The file is JSON: readable, diffable, small (a few KB per column) and loaded in
milliseconds. Sketches are base64 inside it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recops import __version__
from recops.drift.counts import (
    NUMERIC,
    Binning,
    CategoricalBinning,
    CategoricalCounts,
    ColumnCounts,
    NumericBinning,
    NumericCounts,
)
from recops.errors import InvalidInput

FORMAT = "recops-drift-profile"
VERSION = 1


@dataclass
class Profile:
    """Counts per column of one window, optionally per segment of a key column.

    Attributes:
        columns: counts per compared column.
        rows: rows in the window.
        source: where the window came from (for people).
        created: ISO time the profile was made.
        segment_key: the column segments were taken from, if any.
        segments: counts per segment value and column (same binnings as ``columns``).
        segment_rows: rows per tracked segment value.
        other_segment_rows: rows in segment values not tracked (beyond the largest ones).
        skipped: columns not compared, with the reason.
    """

    columns: dict[str, ColumnCounts]
    rows: int
    source: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    segment_key: str | None = None
    segments: dict[str, dict[str, ColumnCounts]] = field(default_factory=dict)
    segment_rows: dict[str, int] = field(default_factory=dict)
    other_segment_rows: int = 0
    skipped: dict[str, str] = field(default_factory=dict)

    def binnings(self) -> dict[str, Binning]:
        return {name: column.binning for name, column in self.columns.items()}

    def kinds(self) -> dict[str, str]:
        return {name: column.kind for name, column in self.columns.items()}

    def merge(self, other: Profile) -> Profile:
        """The profile of both windows together (both counted against the same binnings).

        Raises:
            InvalidInput: the profiles have different columns, binnings or segment keys.
        """
        if self.columns.keys() != other.columns.keys() or self.segment_key != other.segment_key:
            raise InvalidInput("profiles with different columns or segment keys cannot be merged")
        try:
            columns = {name: self.columns[name].merge(other.columns[name]) for name in self.columns}
            segments = dict(self.segments)
            for value, counts in other.segments.items():
                if value in segments:
                    segments[value] = {n: segments[value][n].merge(c) for n, c in counts.items()}
                else:
                    segments[value] = counts
        except ValueError as exc:
            raise InvalidInput(f"{exc}: count both windows against the same reference profile") from None
        rows = dict(self.segment_rows)
        for value, count in other.segment_rows.items():
            rows[value] = rows.get(value, 0) + count
        return Profile(
            columns=columns,
            rows=self.rows + other.rows,
            source=f"{self.source} + {other.source}",
            segment_key=self.segment_key,
            segments=segments,
            segment_rows=rows,
            other_segment_rows=self.other_segment_rows + other.other_segment_rows,
            skipped={**self.skipped, **other.skipped},
        )

    # --- storage ------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "recops": __version__,
            "created": self.created,
            "source": self.source,
            "rows": self.rows,
            "columns": {name: _column_to_dict(column) for name, column in self.columns.items()},
            "segment_key": self.segment_key,
            "segments": {
                value: {name: column.counts.to_dict() for name, column in counts.items()}
                for value, counts in self.segments.items()
            },
            "segment_rows": self.segment_rows,
            "other_segment_rows": self.other_segment_rows,
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if data.get("format") != FORMAT:
            raise InvalidInput("not a recops drift profile")
        if int(data.get("version", 0)) > VERSION:
            raise InvalidInput(
                f"profile version {data['version']} is newer than this recops reads ({VERSION})"
            )
        columns = {name: _column_from_dict(name, c) for name, c in data["columns"].items()}
        segments = {
            value: {name: _counts_from(columns[name], c) for name, c in counts.items()}
            for value, counts in data.get("segments", {}).items()
        }
        return cls(
            columns=columns,
            rows=int(data["rows"]),
            source=str(data.get("source", "")),
            created=str(data.get("created", "")),
            segment_key=data.get("segment_key"),
            segments=segments,
            segment_rows={k: int(v) for k, v in data.get("segment_rows", {}).items()},
            other_segment_rows=int(data.get("other_segment_rows", 0)),
            skipped=dict(data.get("skipped", {})),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read a stored profile.

        Raises:
            InvalidInput: the file is missing or is not a profile recops can read.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput(f"{path}: no such file") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{path}: not a recops drift profile ({exc})") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{path}: not a recops drift profile")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{path}: damaged recops drift profile ({exc!r})") from None


def is_profile(path: Path) -> bool:
    """Whether ``path`` is a stored profile (a ``.json`` file whose ``format`` says so)."""
    if path.suffix != ".json" or not path.is_file():
        return False
    with path.open("rb") as handle:
        head = handle.read(4096)
    return FORMAT.encode() in head and head.lstrip().startswith(b"{")


def _column_to_dict(column: ColumnCounts) -> dict[str, Any]:
    return {
        "kind": column.kind,
        "binning": column.binning.to_dict(),
        "counts": column.counts.to_dict(),
        "quantiles": base64.b64encode(column.quantiles).decode("ascii"),
    }


def _column_from_dict(name: str, data: dict[str, Any]) -> ColumnCounts:
    kind = data["kind"]
    binning: Binning
    if kind == NUMERIC:
        binning = NumericBinning.from_dict(data["binning"])
        counts: NumericCounts | CategoricalCounts = NumericCounts.from_dict(data["counts"])
    else:
        binning = CategoricalBinning.from_dict(data["binning"])
        counts = CategoricalCounts.from_dict(data["counts"])
    return ColumnCounts(name, kind, binning, counts, base64.b64decode(data.get("quantiles", "")))


def _counts_from(column: ColumnCounts, data: dict[str, Any]) -> ColumnCounts:
    counts: NumericCounts | CategoricalCounts
    if column.kind == NUMERIC:
        counts = NumericCounts.from_dict(data)
    else:
        counts = CategoricalCounts.from_dict(data)
    return ColumnCounts(column.name, column.kind, column.binning, counts)
