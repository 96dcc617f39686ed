"""What the request logs say was served, against what the aliases said should be.

Two findings, per model, over the lake's ``requests`` (model, model_version, ts):

- ``unaliased_traffic``: a version served requests at times when no checked alias named
  it (a deploy the registry never heard of, a rollback that did not take);
- ``move_not_followed``: an alias named a version for a span in which the model served
  traffic but that version served none (a promotion that never reached serving).

``grace`` absorbs the delay between an alias move and the serving fleet following it:
traffic of a version up to ``grace`` before or after a span it is named in counts as
named, and a span is only checked from ``grace`` after its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from recops.errors import NotFound
from recops.lake import Lake
from recops.registry._canonical import iso, utc
from recops.registry.aliases import alias_history, served_at, windows
from recops.registry.entities import AliasWindow
from recops.store import Store

DEFAULT_GRACE = timedelta(minutes=15)
_FAR = datetime(9999, 1, 1)


@dataclass(frozen=True)
class TrafficFinding:
    """One disagreement between aliases and served traffic."""

    kind: str  # unaliased_traffic | move_not_followed
    model: str
    version: str
    alias: str | None
    start: datetime
    end: datetime | None
    requests: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "start": iso(self.start),
            "end": iso(self.end),
            "requests": self.requests,
            "message": self.message,
        }


@dataclass(frozen=True)
class TrafficReport:
    """Served traffic per version and the findings of :func:`check_traffic`."""

    model: str
    aliases: tuple[str, ...]
    requests: int
    by_version: dict[str, int]
    findings: tuple[TrafficFinding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "aliases": list(self.aliases),
            "requests": self.requests,
            "by_version": self.by_version,
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
        }


def _naive(value: datetime) -> datetime:
    return utc(value).replace(tzinfo=None)


def check_traffic(
    store: Store,
    lake: Lake,
    model: str,
    *,
    aliases: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> TrafficReport:
    """Compare the alias history of ``model`` with the versions its requests were served by.

    Args:
        store: the metadata store (alias history).
        lake: the lake (``requests`` view).
        model: the model.
        aliases: the aliases that route traffic (default: all the model ever had).
        start, end: only look at requests in [start, end).
        grace: tolerated lag between an alias move and serving following it.

    Raises:
        NotFound: the model has no alias history.
    """
    history = alias_history(store, model)
    if not history:
        raise NotFound(f"model {model!r} has no alias history to compare traffic with")
    checked = tuple(sorted(set(aliases) if aliases else {e.alias for e in history}))
    spans = [w for w in windows(history) if w.alias in checked]
    con = lake.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        where = ["model = $model"]
        params: dict[str, Any] = {"model": model}
        if start is not None:
            where.append("ts >= $start")
            params["start"] = _naive(start)
        if end is not None:
            where.append("ts < $end")
            params["end"] = _naive(end)
        con.execute(
            "CREATE TEMP TABLE r AS SELECT model_version AS version, timezone('UTC', ts) AS ts FROM requests "
            f"WHERE {' AND '.join(where)}",
            params,
        )
        by_version = {
            str(v): int(n)
            for v, n in con.execute("SELECT version, count(*) FROM r GROUP BY 1 ORDER BY 1").fetchall()
        }
        total = sum(by_version.values())
        con.register("spans", _spans_table(spans, grace))
        unaliased = con.execute(
            """
            SELECT version, count(*), min(ts), max(ts) FROM r
            WHERE NOT EXISTS (
                SELECT 1 FROM spans s WHERE s.version = r.version AND r.ts >= s.lo AND r.ts < s.hi
            )
            GROUP BY version ORDER BY min(ts)
            """
        ).fetchall()
        followed = con.execute(
            """
            SELECT s.i, count(r.ts) FILTER (WHERE r.version = s.version), count(r.ts)
            FROM spans s LEFT JOIN r ON r.ts >= s.check_from AND r.ts < s.check_to
            WHERE s.check_from < s.check_to
            GROUP BY s.i ORDER BY s.i
            """
        ).fetchall()
    finally:
        con.close()
    findings: list[TrafficFinding] = []
    for version, n, first, last in unaliased:
        findings.append(
            TrafficFinding(
                "unaliased_traffic",
                model,
                str(version),
                None,
                utc(first),
                utc(last),
                int(n),
                f"{model}@{version} served {n} requests between {iso(utc(first))} and {iso(utc(last))} "
                f"while no alias ({', '.join(checked)}) named it",
            )
        )
    for i, own, everyone in followed:
        w = spans[i]
        if own == 0 and everyone > 0:
            findings.append(
                TrafficFinding(
                    "move_not_followed",
                    model,
                    w.version,
                    w.alias,
                    w.start,
                    w.end,
                    0,
                    f"{model}:{w.alias} moved to {w.version} at {iso(w.start)} but {w.version} served none "
                    f"of the {everyone} requests until {iso(w.end) if w.end else 'now'}",
                )
            )
    findings.sort(key=lambda f: (f.start, f.kind))
    return TrafficReport(model, checked, total, by_version, tuple(findings))


def _spans_table(spans: Sequence[AliasWindow], grace: timedelta) -> pa.Table:
    lo, hi, check_from, check_to = [], [], [], []
    for w in spans:
        start = _naive(w.start)
        stop = _naive(w.end) if w.end else _FAR
        lo.append(start - grace)
        hi.append(stop + grace if w.end else _FAR)
        check_from.append(start + grace)
        check_to.append(stop)
    ts = pa.timestamp("us")
    return pa.table(
        {
            "i": pa.array(range(len(spans)), pa.int64()),
            "version": pa.array([w.version for w in spans], pa.string()),
            "lo": pa.array(lo, ts),
            "hi": pa.array(hi, ts),
            "check_from": pa.array(check_from, ts),
            "check_to": pa.array(check_to, ts),
        }
    )


def traffic_at(
    lake: Lake, model: str, at: datetime, *, around: timedelta = timedelta(minutes=30)
) -> dict[str, int]:
    """Requests per version in [at - around, at + around): what was actually served then."""
    con = lake.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            "SELECT model_version, count(*) FROM requests WHERE model = $model "
            "AND timezone('UTC', ts) >= $lo AND timezone('UTC', ts) < $hi GROUP BY 1 ORDER BY 2 DESC",
            {"model": model, "lo": _naive(at - around), "hi": _naive(at + around)},
        ).fetchall()
    finally:
        con.close()
    return {str(v): int(n) for v, n in rows}


def served_report(
    store: Store,
    lake: Lake,
    model: str,
    at: datetime,
    *,
    check: bool = False,
    aliases: Sequence[str] | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> dict[str, Any]:
    """What the aliases named at ``at``, what the requests say was served ±30 minutes, the
    versions served that no alias named, and (with ``check``) the whole-history traffic check."""
    states = served_at(store, model, at)
    traffic = traffic_at(lake, model, at)
    named = {s.version for s in states}
    out: dict[str, Any] = {
        "model": model,
        "at": iso(at),
        "aliases": [s.to_dict() for s in states],
        "traffic_around": traffic,
        "unaliased_around": sorted(v for v in traffic if v not in named),
    }
    if check:
        out["check"] = check_traffic(store, lake, model, aliases=aliases, grace=grace).to_dict()
    return out
