"""The catalog's SQL and the monitors held to the same numbers: ``metrics`` and ``latency``.

docs/metrics.md ("Expression conventions"): a metric's ``expression`` defines its value
and the monitor family computes it with Ibis. Here both families run once on a copy of
the small simulated world; then every definition of theirs in the built-in catalog is
executed as written, in DuckDB on the lake's contract views (``Lake.connect()``), for
stored windows of the total slice (slice ""), with the placeholders substituted as the
conventions say:

- ``in_window(t)`` is a temporary macro for ``t >= :window_start AND t < :window_end``;
- ``:window_start`` and ``:window_end`` are the stored window's bounds (TIMESTAMPTZ);
- ``:monitors.label_window_hours`` is ``[monitors] label_window_hours``;
- ``:slo.KEY`` is ``[slo] KEY``, or the latency family's default when it is absent.

Any other placeholder fails the test. Windows checked per metric: every stored day
window, and HOUR_WINDOWS hour windows spread evenly over the stored ones (first, last and
between: night and peak hours, and hours whose 28-day look-backs reach earlier requests);
all 71 hour windows would take about 95 s.

Values are compared subject by subject (the ``subject`` column, "" when the expression
returns none): counts exactly, quantiles (BINNED) to the relative accuracy of the
log-spaced bins the families read them off (the catalog's SQL states the exact quantile,
``recops.monitors.quantiles``), others to a relative tolerance of 1e-9. "No value" (NULL,
NaN or ±inf, or no row for the subject) agrees only with "no value": a ratio over 0 has
no value.

The fixture's lake starts with its first window, so the 28-day look-backs of
``cold_start_share``, ``candidate_source_share`` and ``error_budget_remaining`` see the
same history the families see (all of it): every metric of the two families runs
standalone, and none is left out (NOT_STANDALONE is empty).
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recops.catalog import load_catalog
from recops.catalog.definitions import MetricDefinition
from recops.monitors import read_series, run_monitors
from recops.monitors.quantiles import RELATIVE_ACCURACY
from recops.sim import World
from recops.workspace import Workspace

FAMILIES = ("metrics", "latency")
GRANULARITIES = ("hour", "day")
HOUR_WINDOWS = 6
# [slo] keys the latency family falls back on when recops.toml leaves them out.
SLO_DEFAULTS = {"latency_p99_ms": 250.0, "error_rate": 0.01}
IN_WINDOW = "t >= :window_start AND t < :window_end"
PLACEHOLDER = re.compile(r"(?<![\w:]):([A-Za-z_]\w*(?:\.\w+)?)")

# metric -> why its expression cannot run standalone on the fixture (skipped with that reason).
NOT_STANDALONE: dict[str, str] = {}
#: Quantiles the families read off log-spaced bins (within RELATIVE_ACCURACY of the SQL's).
BINNED = frozenset({"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "score_p50", "score_p90"})
# metric -> a documented, reported difference between its SQL and its family (xfail).
KNOWN_MISMATCHES: dict[str, str] = {}

CATALOG = load_catalog(None)
DEFINITIONS = {d.name: d for family in FAMILIES for d in CATALOG.by_family(family)}


@pytest.fixture(scope="module")
def monitored(
    small_world: tuple[Path, World], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, duckdb.DuckDBPyConnection]]:
    """A private copy of the small world (as ``world_ws`` makes), both families run once."""
    root = tmp_path_factory.mktemp("catalog-sql") / "ws"
    shutil.copytree(small_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    run_monitors(ws.config, ws.lake, only=list(FAMILIES))
    con = ws.lake.connect()
    yield ws, con
    con.close()
    ws.close()


def _literal(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionError(f"placeholder value {value!r} is not a number")
    return repr(value)


def _substitute(sql: str, metric: str, ws: Workspace, start: datetime, end: datetime) -> str:
    """``sql`` with every placeholder replaced in one pass, as the expression conventions say."""
    for bound in (start, end):
        assert bound.tzinfo is not None, f"window bound {bound!r} has no time zone"

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "window_start":
            return f"TIMESTAMPTZ '{start.isoformat()}'"
        if name == "window_end":
            return f"TIMESTAMPTZ '{end.isoformat()}'"
        if name == "monitors.label_window_hours":
            return _literal(ws.config.monitors.label_window_hours)
        if name.startswith("slo.") and name[4:] in SLO_DEFAULTS:
            return _literal(float(ws.config.slo.get(name[4:], SLO_DEFAULTS[name[4:]])))
        raise AssertionError(f"metric {metric!r}: placeholder :{name} has no substitution in this test")

    return PLACEHOLDER.sub(value, sql)


def _spread(windows: list[Any], k: int) -> list[Any]:
    """``k`` of ``windows`` evenly spread, the first and the last included."""
    if len(windows) <= k:
        return windows
    return [windows[round(i * (len(windows) - 1) / (k - 1))] for i in range(k)]


def _no_value(v: float | None) -> bool:
    return v is None or not math.isfinite(v)


def _agree(sql: float | None, stored: float | None, *, exact: bool, rel: float = 1e-9) -> bool:
    if _no_value(sql) or _no_value(stored):
        return _no_value(sql) and _no_value(stored)
    assert sql is not None and stored is not None
    if exact:
        return float(sql) == stored
    return math.isclose(float(sql), stored, rel_tol=rel, abs_tol=0.0)


def _run(con: duckdb.DuckDBPyConnection, d: MetricDefinition, sql: str) -> dict[str, float | None]:
    """The expression's rows as ``{subject: value}``."""
    cursor = con.execute(sql)
    rows = cursor.fetchall()
    columns = [c[0] for c in cursor.description or []]
    assert "value" in columns, f"metric {d.name!r}: the expression returns no 'value' column: {columns}"
    if d.subject:
        assert "subject" in columns, f"metric {d.name!r} has a subject but its expression returns none"
    else:
        assert "subject" not in columns, f"metric {d.name!r} has no subject but its expression returns one"
        assert len(rows) == 1, f"metric {d.name!r}: {len(rows)} rows for one window"
    out: dict[str, float | None] = {}
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        subject = str(record.get("subject", ""))
        assert subject not in out, f"metric {d.name!r}: subject {subject!r} returned twice"
        out[subject] = record["value"]
    return out


@pytest.mark.parametrize(
    ("sql", "stored", "exact", "agree"),
    [
        (None, None, False, True),
        (math.inf, None, False, True),  # DuckDB's double / 0
        (None, math.nan, False, True),
        (None, 0.0, False, False),
        (0.5, None, False, False),
        (0.5 * (1 + 1e-10), 0.5, False, True),
        (0.5 * (1 + 1e-8), 0.5, False, False),
        (3, 3.0, True, True),
        (3 + 1e-12, 3.0, True, False),
    ],
)
def test_agreement_rule(sql: float | None, stored: float | None, exact: bool, agree: bool) -> None:
    assert _agree(sql, stored, exact=exact) is agree


def test_every_metric_of_the_families_is_checked() -> None:
    for family in FAMILIES:
        assert CATALOG.by_family(family), f"no {family} metrics in the catalog"
    assert set(NOT_STANDALONE) <= set(DEFINITIONS), "NOT_STANDALONE names a metric not in the families"
    assert set(KNOWN_MISMATCHES) <= set(DEFINITIONS), "KNOWN_MISMATCHES names a metric not in the families"
    for d in DEFINITIONS.values():
        assert set(GRANULARITIES) & set(d.granularities), f"metric {d.name!r} has no hour or day windows"


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_expression_equals_stored_points(
    name: str, monitored: tuple[Workspace, duckdb.DuckDBPyConnection]
) -> None:
    if name in NOT_STANDALONE:
        pytest.skip(f"{name}: {NOT_STANDALONE[name]}")
    ws, con = monitored
    d = DEFINITIONS[name]
    mismatches: list[str] = []
    checked = 0
    for granularity in (g for g in GRANULARITIES if g in d.granularities):
        points = read_series(ws.store, name, granularity=granularity, slice="").to_pylist()
        windows = sorted({(p["window_start"], p["window_end"]) for p in points})
        assert windows, f"metric {name!r}: no stored {granularity} windows on the total slice"
        if granularity == "hour":
            windows = _spread(windows, HOUR_WINDOWS)
        for start, end in windows:
            macro = _substitute(IN_WINDOW, name, ws, start, end)
            con.execute(f"CREATE OR REPLACE TEMP MACRO in_window(t) AS ({macro})")
            got = _run(con, d, _substitute(d.expression, name, ws, start, end))
            want = {p["subject"]: p["value"] for p in points if p["window_start"] == start}
            for subject in sorted(set(got) | set(want)):
                sql_value, stored = got.get(subject), want.get(subject)
                checked += 1
                rel = RELATIVE_ACCURACY if name in BINNED else 1e-9
                if not _agree(sql_value, stored, exact=d.unit == "count", rel=rel):
                    mismatches.append(
                        f"{name} {granularity} window {start.isoformat()} subject {subject!r}: "
                        f"SQL {sql_value!r}, family {stored!r}"
                    )
    assert checked, f"metric {name!r}: nothing compared"
    if name in KNOWN_MISMATCHES:
        if not mismatches:
            pytest.fail(f"{name} now agrees with its family; remove it from KNOWN_MISMATCHES")
        pytest.xfail(f"{KNOWN_MISMATCHES[name]}: " + "; ".join(mismatches[:3]))
    assert not mismatches, f"{len(mismatches)} of {checked} values differ:\n" + "\n".join(mismatches[:20])
