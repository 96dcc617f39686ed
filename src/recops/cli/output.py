"""Printing for people (Rich) or machines (--json / --csv); the one place faces format output."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

#: Rich wraps at 80 columns when stdout is not a terminal; a table piped to a file, ``less -S``
#: or ``grep`` reads better whole, so pipes get this width unless ``COLUMNS`` says otherwise.
PIPED_WIDTH = 200


def _width() -> int | None:
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return PIPED_WIDTH


console = Console(width=_width())
err_console = Console(stderr=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_json(data: Any, *, line: bool = False) -> None:
    """``data`` as JSON that any parser reads: NaN and infinities become null (RFC 8259 has none).

    With ``line``, on one line and flushed: a stream of reports (JSON Lines) that a script
    reads as they come.
    """
    text = json.dumps(_finite(data), default=_default, indent=None if line else 2, allow_nan=False)
    sys.stdout.write(text + "\n")
    if line:
        sys.stdout.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def arrow_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` for JSON: maps as objects (a repeated key keeps its last value)."""
    return table.to_pylist(maps_as_pydicts="lossy")  # type: ignore[no-any-return]


def print_table(table: pa.Table, *, title: str | None = None) -> None:
    """An Arrow table as a Rich table (nested values shown as compact JSON)."""
    out = Table(title=title, show_lines=False, header_style="bold")
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.to_pylist():
        out.add_row(*(_cell(v) for v in row.values()))
    console.print(out)


def print_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """Rows of plain values as a Rich table of ``columns`` (numbers to six digits, nested values as JSON)."""
    data = {c: pa.array([_cell(r.get(c)) for r in rows], pa.string()) for c in columns}
    print_table(pa.table(data), title=title)  # no rows: the columns, empty


def print_csv(table: pa.Table) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(_cell(v) for v in row.values())
    sys.stdout.write(buffer.getvalue())


def print_pairs(rows: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
    out = Table(title=title, show_header=False, box=None)
    out.add_column(style="bold")
    out.add_column()
    for key, value in rows:
        out.add_row(key, _cell(value))
    console.print(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_default)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool = True) -> Iterator[Progress]:
    """A progress bar on stderr (hidden with --json or when not asked for)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )
    with bar:
        bar.add_task(description, total=total)
        yield bar
