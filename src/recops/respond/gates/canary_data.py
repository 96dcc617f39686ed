"""Read a canary window from the lake: one row per request of the canary and control versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from recops.errors import NotFound
from recops.lake import Lake
from recops.lake.sqltext import literal
from recops.respond.gates.result import Period


@dataclass(frozen=True)
class CanaryRequests:
    """Per-request columns (numpy) of both versions over the window.

    ``candidate`` is True for the canary version's requests; ``slices`` maps a slice key
    (``surface`` and each context key) to its value per request.
    """

    candidate: npt.NDArray[np.bool_]
    user: npt.NDArray[np.int64]
    hour: npt.NDArray[np.int64]
    status: npt.NDArray[np.object_]
    latency_ms: npt.NDArray[np.float64]
    impressions: npt.NDArray[np.float64]
    clicks: npt.NDArray[np.float64]
    slices: dict[str, npt.NDArray[np.object_]]
    watch_candidate: npt.NDArray[np.float64]
    watch_control: npt.NDArray[np.float64]


def served_window(lake: Lake, model: str, candidate: str, control: str) -> Period:
    """The canary phase of ``candidate``: from its ``canary`` change record to the model's next
    change (deploy, rollback or another canary); without such a record, the span during which
    both versions served requests.

    Raises:
        NotFound: neither a canary record nor a span where both versions served.
    """
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    con = lake.connect()
    try:
        canary = con.execute(
            "SELECT epoch_us(min(ts)) FROM changes WHERE kind = 'canary' AND target = $m AND version = $a",
            {"m": model, "a": candidate},
        ).fetchone()
        if canary is not None and canary[0] is not None:
            start = int(canary[0])
            nxt = con.execute(
                "SELECT epoch_us(min(ts)) FROM changes WHERE target = $m "
                "AND kind IN ('canary', 'deploy', 'rollback') AND epoch_us(ts) > $s",
                {"m": model, "s": start},
            ).fetchone()
            last = con.execute(
                "SELECT epoch_us(max(ts)) FROM requests WHERE model = $m AND model_version = $a",
                {"m": model, "a": candidate},
            ).fetchone()
            end = int(nxt[0]) if nxt is not None and nxt[0] is not None else None
            if end is None and last is not None and last[0] is not None:
                end = int(last[0]) + 1
            if end is not None and end > start:
                return Period(epoch + timedelta(microseconds=start), epoch + timedelta(microseconds=end))
        rows = {
            str(v): (lo, hi)
            for v, lo, hi in con.execute(
                "SELECT model_version, epoch_us(min(ts)), epoch_us(max(ts)) FROM requests WHERE model = $m "
                "AND model_version IN ($a, $b) GROUP BY ALL",
                {"m": model, "a": candidate, "b": control},
            ).fetchall()
        }
    finally:
        con.close()
    if candidate not in rows or control not in rows:
        raise NotFound(f"{model}@{candidate} and {model}@{control} did not both serve requests in the lake")
    lo = max(int(rows[candidate][0]), int(rows[control][0]))
    hi = min(int(rows[candidate][1]), int(rows[control][1]))
    if hi <= lo:
        raise NotFound(f"{model}@{candidate} and {model}@{control} never served side by side")
    return Period(epoch + timedelta(microseconds=lo), epoch + timedelta(microseconds=hi + 1))


def read_canary(
    lake: Lake, model: str, candidate: str, control: str, window: Period, context_keys: tuple[str, ...]
) -> CanaryRequests:
    """Requests of both versions in ``window`` with their outcomes (within a day of the window)."""
    ctx = "".join(f', r.context[{literal(k)}] AS "ctx_{i}"' for i, k in enumerate(context_keys))
    params = {"m": model, "a": candidate, "b": control, "start": window.start, "end": window.end}
    con = lake.connect()
    try:
        table = con.execute(
            "WITH o AS (SELECT request_id, count(*) FILTER (WHERE event = 'impression') AS imps, "
            "count(*) FILTER (WHERE event = 'click') AS clicks FROM outcomes "
            "WHERE ts >= $start AND ts < $end + INTERVAL 1 DAY GROUP BY request_id) "
            "SELECT r.model_version = $a AS cand, r.user_id, "
            "CAST(floor(epoch(r.ts - $start) / 3600) AS BIGINT) AS hour, r.status, r.latency_ms, "
            f"coalesce(o.imps, 0) AS imps, coalesce(o.clicks, 0) AS clicks, r.surface{ctx} "
            "FROM requests r LEFT JOIN o USING (request_id) WHERE r.model = $m "
            "AND r.model_version IN ($a, $b) AND r.ts >= $start AND r.ts < $end",
            params,
        ).to_arrow_table()
        watch = con.execute(
            "SELECT r.model_version = $a AS cand, o.value FROM outcomes o JOIN requests r USING (request_id) "
            "WHERE o.event = 'play' AND o.value IS NOT NULL AND r.model = $m AND r.model_version IN ($a, $b) "
            "AND r.ts >= $start AND r.ts < $end AND o.ts < $end + INTERVAL 1 DAY",
            params,
        ).fetchnumpy()
    finally:
        con.close()

    def col(name: str) -> npt.NDArray[np.generic]:
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False))

    _, users = np.unique(col("user_id").astype(str), return_inverse=True)
    slices = {"surface": col("surface").astype(object)}
    for i, k in enumerate(context_keys):
        slices[k] = col(f"ctx_{i}").astype(object)
    wc = np.asarray(watch["cand"], dtype=bool)
    wv = np.asarray(watch["value"], dtype=np.float64)
    return CanaryRequests(
        candidate=col("cand").astype(bool),
        user=users.astype(np.int64),
        hour=col("hour").astype(np.int64),
        status=col("status").astype(object),
        latency_ms=col("latency_ms").astype(np.float64),
        impressions=col("imps").astype(np.float64),
        clicks=col("clicks").astype(np.float64),
        slices=slices,
        watch_candidate=wv[wc],
        watch_control=wv[~wc],
    )
