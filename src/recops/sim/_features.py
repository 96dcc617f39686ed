"""The feature store: materialization runs per feature group, the values they carry,
and the feature rows they write.

A value is a pure function of (entity, run), so a request served from a run sees exactly
what the run's feature row holds for that entity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from recops.contract import FEATURE_ROWS
from recops.sim import _arrow as A
from recops.sim._clock import DAY, MINUTE
from recops.sim._hashing import hash_normal, hash_uniform
from recops.sim._plan import Plan
from recops.sim._platform import DEVICES, FEATURE_GROUPS, GENRES, FeatureGroup, Population

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Runs:
    """The materialization runs of one group, sorted by time.

    Attributes:
        number: run number k (event time = offset + k * every).
        event_ms: as-of time of the run's values.
        materialized_ms: when its rows reached the online store.
        scale: per feature, a multiplier per run (upstream unit changes).
    """

    group: FeatureGroup
    number: I64
    event_ms: I64
    materialized_ms: I64
    scale: dict[str, F64]

    def served(self, ts: I64) -> I64:
        """Index of the run served at each time (-1: none materialized yet)."""
        return np.searchsorted(self.materialized_ms, ts, side="right").astype(np.int64) - 1


def make_runs(plan: Plan, rng: np.random.Generator) -> dict[str, Runs]:
    """Every group's runs from before the start to the end, minus stalled ones."""
    runs: dict[str, Runs] = {}
    for group in FEATURE_GROUPS:
        first = (plan.start_ms - 2 * group.every_ms - group.offset_ms) // group.every_ms
        last = (plan.end_ms - group.offset_ms) // group.every_ms
        number = np.arange(first, last + 1, dtype=np.int64)
        event = group.offset_ms + number * group.every_ms
        keep = np.ones(len(number), dtype=bool)
        for incident in plan.of_kind("stale_feature_group"):
            if incident.params["group"] == group.name:
                keep &= ~incident.active(event)
        lag = rng.lognormal(np.log(group.lag_median_ms), 0.35, len(number))
        lag_ms = np.clip(lag, 30_000, group.every_ms // 2).astype(np.int64)
        scale = {name: np.ones(len(number)) for name in group.numeric}
        for incident in plan.of_kind("upstream_schema_change"):
            feature = str(incident.params["feature"])
            if feature in scale:
                scale[feature][incident.active(event)] *= float(incident.params["scale"])
        runs[group.name] = Runs(
            group,
            number[keep],
            event[keep],
            event[keep] + lag_ms[keep],
            {name: values[keep] for name, values in scale.items()},
        )
    return runs


def group_values(
    group: FeatureGroup,
    pop: Population,
    entity: I64,
    number: I64,
    event_ms: I64,
    scale: dict[str, F64] | None,
    requests_per_day: int,
    start_ms: int,
) -> tuple[dict[str, F64], dict[str, tuple[tuple[str, ...], I64]]]:
    """Numeric values and string codes of ``group`` for entities as of their runs.

    Returns:
        (name -> float array, name -> (vocabulary, code array)).
    """
    salt = {"user_profile": 1, "item_stats": 2, "session_context": 3}[group.name]

    def normal(j: int) -> F64:
        return hash_normal(entity, number, salt * 16 + j)

    numeric: dict[str, F64]
    strings: dict[str, tuple[tuple[str, ...], I64]]
    if group.name == "user_profile":
        tenure = np.floor(pop.tenure0[entity] + (event_ms - start_ms) / DAY)
        sessions = np.round(pop.sessions_base[entity] * np.exp(0.25 * normal(1)))
        watch = np.round(sessions * 34.0 * np.exp(0.35 * normal(2)), 1)
        numeric = {"user_tenure_days": tenure, "sessions_7d": sessions, "watch_minutes_7d": watch}
        strings = {"preferred_genre": (GENRES, pop.genre_pref[entity].astype(np.int64))}
    elif group.name == "item_stats":
        share = np.where(
            entity < pop.n_base,
            np.diff(pop.pop_cdf, prepend=0.0)[np.minimum(entity, pop.n_base - 1)],
            0.4 / pop.n_base,
        )
        numeric = {
            "item_ctr_7d": np.round(pop.item_ctr_base[entity] * np.exp(0.12 * normal(1)), 5),
            "item_plays_24h": np.round(requests_per_day * 0.6 * share * np.exp(0.3 * normal(2))),
            "item_age_days": np.round((event_ms - pop.item_release_ms[entity]) / DAY, 2),
        }
        strings = {"genre": (GENRES, pop.item_genre[entity].astype(np.int64))}
    else:
        u = hash_uniform(entity, number, salt * 16 + 3)
        numeric = {
            "session_depth": np.floor(-np.log1p(-u) / 0.45),
            "session_watch_minutes": np.round(22.0 * np.exp(0.9 * normal(4)), 2),
        }
        strings = {"last_device": (DEVICES, pop.device[entity].astype(np.int64))}
    if scale is not None:
        for name, factor in scale.items():
            numeric[name] = numeric[name] * factor
    return numeric, strings


def feature_rows(plan: Plan, pop: Population, runs: dict[str, Runs], rng: np.random.Generator) -> pa.Table:
    """The feature rows materialized during the world, sorted by materialized_at."""
    rpd = plan.config.requests_per_day
    per_run = {
        "user_profile": int(np.clip(rpd * 0.1, 50, 100_000)),
        "item_stats": int(np.clip(rpd * 0.02, 50, 20_000)),
        "session_context": int(np.clip(rpd * 0.005, 20, 5_000)),
    }
    tables = []
    for group in FEATURE_GROUPS:
        r = runs[group.name]
        inside = np.nonzero((r.materialized_ms >= plan.start_ms) & (r.materialized_ms < plan.end_ms))[0]
        if len(inside) == 0:
            continue
        run_pos = np.repeat(inside, per_run[group.name])
        if group.entity == "user":
            entity = np.searchsorted(pop.user_cdf, rng.random(len(run_pos)), side="right")
            entity = np.minimum(entity, pop.n_users - 1).astype(np.int64)
        else:
            released = pop.n_base + np.searchsorted(pop.new_release_ms, r.event_ms[run_pos], side="right")
            entity = (rng.random(len(run_pos)) * released).astype(np.int64)
        pair = np.unique(run_pos.astype(np.int64) * (1 << 32) + entity)
        run_pos, entity = pair >> 32, pair & ((1 << 32) - 1)
        event = r.event_ms[run_pos]
        numeric, strings = group_values(
            group, pop, entity, r.number[run_pos], event,
            {k: v[run_pos] for k, v in r.scale.items()}, rpd, plan.start_ms,
        )  # fmt: skip
        # Within a run, rows reach the store over a few seconds.
        materialized = r.materialized_ms[run_pos] + rng.integers(0, 5 * MINUTE // 60, len(run_pos))
        ids = pop.user_ids if group.entity == "user" else pop.item_ids
        n = len(run_pos)
        tables.append(
            pa.table(
                {
                    "feature_group": A.pick(A.vocab([group.name]), np.zeros(n, dtype=np.int64)),
                    "entity_id": A.pick(ids, entity),
                    "event_ts": A.times(event),
                    "materialized_at": A.times(materialized),
                    "values": A.fixed_map(n, list(numeric), [A.floats(v) for v in numeric.values()]),
                    "value_strings": A.fixed_map(
                        n, list(strings), [A.pick(A.vocab(v), c) for v, c in strings.values()]
                    ),
                }
            )
        )
    schema = FEATURE_ROWS.schema
    if not tables:
        return schema.empty_table()
    table = pa.concat_tables([t.cast(schema) for t in tables])
    return table.take(pa.array(np.argsort(table["materialized_at"].to_numpy().view(np.int64), kind="stable")))
