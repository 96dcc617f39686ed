"""The tradeoff table of a playbook's hotfix options, from the workspace's own history.

Every figure is measured in the lake, never assumed:

* ``rollback``: the version production would return to (the rollback target, see
  :mod:`recops.respond.rollback`) over its last production window, against the version
  on production now over its current window;
* ``fallback``: requests served the fallback (``status = 'fallback'``) against those the
  model served (``status = 'ok'``) over the last 7 days of requests in the lake;
* ``stale_vs_fresh`` (``--param group=NAME``): requests served the feature group within
  its TTL (``[feature_groups.NAME] ttl_hours`` in recops.toml) against those served it
  past its TTL, over the same 7 days: what repairing the group brings back.

Rates are per impression (distinct request/item pairs, as the ``ctr`` metric counts them)
with a 95% interval that treats the request as the unit: the impressions of one request
are not independent (one viewer, one slate), so a binomial interval over impressions
would be too narrow. The interval is the delta-method one of a ratio of per-request sums
(:func:`recops.respond.gates.stats.ratio_delta`, the canary gate's estimator); latency
is the median end-to-end ``latency_ms``. Time to apply
is the sum of the playbook's step estimates, and the median of its past runs when any.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from recops.config import Config
from recops.errors import InvalidInput, NotFound
from recops.lake import Lake
from recops.registry._canonical import iso, utc
from recops.registry.aliases import resolve_alias, version_windows
from recops.registry.versions import list_models
from recops.respond.gates.stats import ratio_delta
from recops.respond.playbooks import Option, Playbook, past_minutes
from recops.respond.rollback import candidates
from recops.store import Store

Z95 = 1.959963984540054
RECENT = timedelta(days=7)

_SQL = """
WITH r AS (SELECT request_id, latency_ms FROM requests WHERE {where}),
o AS (
  SELECT DISTINCT request_id, item_id, event FROM outcomes
  WHERE event IN ('impression', 'click', 'play') AND request_id IN (SELECT request_id FROM r)
),
pair AS (
  SELECT request_id, bool_or(event = 'click') AS clicked, bool_or(event = 'play') AS played
  FROM o GROUP BY request_id, item_id HAVING bool_or(event = 'impression')
),
per AS (
  SELECT request_id, count(*) AS impressions, count(*) FILTER (clicked) AS clicks,
         count(*) FILTER (played) AS plays
  FROM pair GROUP BY request_id
)
SELECT (SELECT count(*) FROM r), (SELECT quantile_cont(latency_ms, 0.5) FROM r),
       (SELECT list(impressions ORDER BY request_id) FROM per),
       (SELECT list(clicks ORDER BY request_id) FROM per),
       (SELECT list(plays ORDER BY request_id) FROM per)
"""


@dataclass(frozen=True)
class Rate:
    """A per-impression rate over requests and its request-clustered 95% interval."""

    value: float | None
    ci95: tuple[float, float] | None

    @classmethod
    def of(cls, events: npt.NDArray[np.float64], impressions: npt.NDArray[np.float64]) -> Rate:
        total = float(impressions.sum())
        if total <= 0:
            return cls(None, None)
        value = float(events.sum()) / total
        if impressions.size < 2:
            return cls(value, None)
        half = Z95 * math.sqrt(ratio_delta(events, impressions).variance)
        return cls(value, (max(0.0, value - half), min(1.0, value + half)))

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": list(self.ci95) if self.ci95 else None}


@dataclass(frozen=True)
class Measured:
    """Rates over one set of requests."""

    label: str
    requests: int
    impressions: int
    clicks: int
    plays: int
    latency_p50_ms: float | None
    ctr: Rate
    play_rate: Rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "requests": self.requests,
            "impressions": self.impressions,
            "ctr": self.ctr.to_dict(),
            "play_rate": self.play_rate.to_dict(),
            "latency_p50_ms": self.latency_p50_ms,
        }


def measure(lake: Lake, label: str, where: str, params: list[Any]) -> Measured:
    con = lake.connect()
    try:
        row = con.execute(_SQL.format(where=where), params).fetchone()
    finally:
        con.close()
    assert row is not None
    impressions, clicks, plays = (np.asarray(row[i] or [], dtype=np.float64) for i in (2, 3, 4))
    return Measured(
        label,
        int(row[0]),
        int(impressions.sum()),
        int(clicks.sum()),
        int(plays.sum()),
        _float(row[1]),
        Rate.of(clicks, impressions),
        Rate.of(plays, impressions),
    )


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def lake_end(lake: Lake) -> datetime:
    """The time of the latest request in the lake (the "now" of a replayed world)."""
    con = lake.connect()
    try:
        row = con.execute("SELECT epoch_us(max(ts)) FROM requests").fetchone()
    finally:
        con.close()
    if row is None or row[0] is None:
        raise NotFound("the lake has no requests yet")
    return datetime.fromtimestamp(int(row[0]) / 1e6, tz=utc(datetime.now()).tzinfo) + timedelta(
        microseconds=1
    )


@dataclass(frozen=True)
class Tradeoff:
    """One option: what it would bring, at what cost."""

    option: Option
    now: Measured | None
    then: Measured | None
    basis: str
    minutes_planned: float
    minutes_past: float | None
    past_runs: int

    def change(self, metric: str) -> float | None:
        """The option's rate minus the current one (absolute, per impression)."""
        if self.now is None or self.then is None:
            return None
        a, b = self.now.to_dict()[metric]["value"], self.then.to_dict()[metric]["value"]
        return None if a is None or b is None else float(b - a)

    def to_dict(self) -> dict[str, Any]:
        return {
            "option": self.option.name,
            "kind": self.option.kind,
            "basis": self.basis,
            "now": self.now.to_dict() if self.now else None,
            "with_option": self.then.to_dict() if self.then else None,
            "ctr_change": self.change("ctr"),
            "play_rate_change": self.change("play_rate"),
            "latency_p50_change_ms": (
                self.then.latency_p50_ms - self.now.latency_p50_ms
                if self.now
                and self.then
                and self.now.latency_p50_ms is not None
                and self.then.latency_p50_ms is not None
                else None
            ),
            "minutes_planned": self.minutes_planned,
            "minutes_past_median": self.minutes_past,
            "past_runs": self.past_runs,
            "loses": self.option.loses,
        }


def _model(store: Store, params: dict[str, str]) -> str:
    if "model" in params:
        return params["model"]
    models = list_models(store)
    if len(models) != 1:
        raise InvalidInput(f"pass --param model=NAME (registered: {', '.join(models) or 'none'})")
    return models[0]


def rollback_pair(store: Store, lake: Lake, params: dict[str, str]) -> tuple[Measured, Measured, str]:
    model = _model(store, params)
    alias = params.get("alias", "production")
    current = resolve_alias(store, model, alias)[0]
    considered = candidates(store, model, alias)
    if not considered:
        raise NotFound(f"{model}:{alias} has no earlier version to roll back to")
    target = next((c for c in considered if c.eligible), considered[0])
    cur_w = max(
        (w for w in version_windows(store, model, current) if w.alias == alias), key=lambda w: w.start
    )
    end = lake_end(lake)
    where = "model_version = ? AND ts >= ? AND ts < ?"
    now_m = measure(lake, f"{model}@{current} since {iso(cur_w.start)}", where, [current, cur_w.start, end])
    w = target.window
    w_end = w.end or end
    label = f"{model}@{target.version} {iso(w.start)} to {iso(w_end)}"
    then_m = measure(lake, label, where, [target.version, w.start, w_end])
    basis = (
        f"{target.version} over its last {alias} window ({target.why()}) vs {current} over its current one"
    )
    return now_m, then_m, basis


def fallback_pair(lake: Lake) -> tuple[Measured, Measured, str]:
    end = lake_end(lake)
    start = end - RECENT
    where = "status = ? AND ts >= ? AND ts < ?"
    model = measure(lake, "model-served (status ok)", where, ["ok", start, end])
    fallback = measure(lake, "fallback-served", where, ["fallback", start, end])
    return model, fallback, f"requests {iso(start)} to {iso(end)}: fallback-served vs model-served"


def stale_pair(lake: Lake, config: Config, params: dict[str, str]) -> tuple[Measured, Measured, str]:
    group = params.get("group")
    if not group:
        raise InvalidInput("the stale_vs_fresh option needs --param group=FEATURE_GROUP")
    fg = config.feature_groups.get(group)
    if fg is None:
        raise InvalidInput(f"no [feature_groups.{group}] in recops.toml (its TTL decides what is stale)")
    end = lake_end(lake)
    start = end - RECENT
    age = "(epoch(ts) - epoch(feature_ts[?])) / 3600.0"
    base = "ts >= ? AND ts < ? AND feature_ts[?] IS NOT NULL"
    stale = measure(
        lake,
        f"{group} served past its TTL",
        f"{base} AND {age} > ?",
        [start, end, group, group, fg.ttl_hours],
    )
    fresh = measure(
        lake, f"{group} served fresh", f"{base} AND {age} <= ?", [start, end, group, group, fg.ttl_hours]
    )
    return stale, fresh, f"requests {iso(start)} to {iso(end)}: TTL {fg.ttl_hours:g} h"


def tradeoffs(
    store: Store, lake: Lake, config: Config, pb: Playbook, params: dict[str, str]
) -> list[Tradeoff]:
    """The tradeoff of each of the playbook's options."""
    past, n = past_minutes(store, pb.name)
    out = []
    for o in pb.options:
        if o.kind == "rollback":
            now_m, then_m, basis = rollback_pair(store, lake, params)
        elif o.kind == "fallback":
            now_m, then_m, basis = fallback_pair(lake)
        else:
            now_m, then_m, basis = stale_pair(lake, config, params)
        out.append(Tradeoff(o, now_m, then_m, basis, pb.planned_minutes, past, n))
    return out
