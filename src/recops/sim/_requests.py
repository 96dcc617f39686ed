"""Requests: who asked, which version answered, what it saw (features), what it showed
(slates), how long it took; plus the click probability of every shown item.

The click model is explicit: ``P(click) = exam(surface, position) * sigmoid(relevance +
CLICK_BIAS) * m``, where ``m`` multiplies the incident effects active for the request
(a bad version in its segment, a slow decay, stale features, a source outage).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from recops.contract import CANDIDATE_TYPE, REQUESTS
from recops.sim import _arrow as A
from recops.sim import _slates
from recops.sim._features import Runs, group_values
from recops.sim._hashing import permute
from recops.sim._plan import SEGMENT_KEYS, Plan
from recops.sim._platform import (
    APP_VERSIONS,
    CANDIDATE_SOURCES,
    COUNTRIES,
    DEVICES,
    FALLBACK_SOURCE,
    POSITION_DECAY,
    REQUEST_FEATURES,
    REQUEST_STRING_FEATURES,
    SOURCE_MIX,
    STAGE_MEDIAN_MS,
    STAGE_SIGMA,
    STAGES,
    STATUSES,
    SURFACE_SHARES,
    SURFACES,
    Population,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

CLICK_BIAS = -3.6


@dataclass(frozen=True)
class Served:
    """What outcomes and the ground truth need from the requests.

    Attributes:
        ts: request times.
        request_ids: the request ids (string array).
        imp_request / imp_item / imp_position: one entry per shown item.
        p_click: its click probability (incident effects included).
        true_ctr: per model version, the expected CTR of its policy on this world's
            traffic with no incident but its own: ``{"overall": x, "by_segment": {...}}``.
        baseline_ctr: the expected CTR of the slates served, without incident effects.
    """

    ts: I64
    request_ids: pa.Array
    imp_request: I64
    imp_item: npt.NDArray[np.int32]
    imp_position: npt.NDArray[np.int32]
    p_click: F64
    true_ctr: dict[str, dict[str, Any]]
    baseline_ctr: float


def shown_per_surface(shown: int) -> tuple[int, ...]:
    """Slate size per surface (autoplay shows half)."""
    return (shown, max(1, shown // 2), shown)


def examination(surface: npt.NDArray[np.integer], position: npt.NDArray[np.integer]) -> F64:
    """Probability that the user looks at a slot (position bias)."""
    slots = int(position.max()) + 1 if len(position) else 1
    table = (1.0 + np.arange(slots))[None, :] ** -np.asarray(POSITION_DECAY)[:, None]
    return np.asarray(table[surface, position], dtype=np.float64)


def make_requests(
    plan: Plan, pop: Population, runs: dict[str, Runs], ts: I64, rng: np.random.Generator
) -> tuple[pa.Table, Served]:
    """The requests table and what the outcomes are drawn from."""
    cfg = plan.config
    n = len(ts)
    users = np.minimum(np.searchsorted(pop.user_cdf, rng.random(n), side="right"), pop.n_users - 1)
    drawn = np.searchsorted(np.cumsum(SURFACE_SHARES), rng.random(n) * sum(SURFACE_SHARES))
    surface = np.minimum(drawn, len(SURFACES) - 1).astype(np.int8)
    u = rng.random(n)
    status = np.where(u < cfg.error_rate, 2, np.where(u < cfg.error_rate + cfg.fallback_rate, 1, 0)).astype(
        np.int8
    )

    tl = plan.timeline
    segment = np.searchsorted(tl.times, ts, side="right") - 1
    in_canary = tl.canary[segment] >= 0
    treated = in_canary & (pop.canary_u[users] < tl.share[segment])
    version = np.where(treated, tl.canary[segment], tl.prod[segment])

    # Features: each group is served from its latest materialized run.
    feature_ts: dict[str, tuple[I64, B]] = {}
    expired: dict[str, B] = {}
    numeric: dict[str, F64] = {}
    strings: dict[str, tuple[tuple[str, ...], I64]] = {}
    for name, r in runs.items():
        idx = r.served(ts)
        missing = idx < 0
        safe = np.maximum(idx, 0)
        event = r.event_ms[safe]
        feature_ts[name] = (event, missing)
        expired[name] = missing | (ts - event > r.group.ttl_ms)
        if r.group.entity == "user":
            nums, strs = group_values(
                r.group, pop, users, r.number[safe], event,
                {k: v[safe] for k, v in r.scale.items()}, cfg.requests_per_day, plan.start_ms,
            )  # fmt: skip
            numeric.update(nums)
            strings.update(strs)

    # Slates.
    k = cfg.candidates_per_request
    shown = shown_per_surface(cfg.shown_per_request)
    items = np.zeros((n, k), dtype=np.int32)
    source = np.zeros((n, k), dtype=np.int8)
    score = np.full((n, k), np.nan)
    position = np.full((n, k), -1, dtype=np.int32)
    propensity = np.full((n, k), np.nan)
    rel = np.zeros((n, k), dtype=np.float32)

    def put(rows: I64, s: _slates.Slates) -> None:
        items[rows], source[rows], score[rows] = s.items, s.source, s.score
        position[rows], propensity[rows], rel[rows] = s.position, s.propensity, s.relevance

    outages = [
        (i.start_ms, i.end_ms, CANDIDATE_SOURCES.index(str(i.params["source"])))
        for i in plan.of_kind("candidate_source_outage")
    ]
    for s_code in range(len(SURFACES)):
        rows = np.nonzero((status == 0) & (surface == s_code))[0]
        if len(rows) == 0:
            continue
        src = _slates.draw_sources(surface[rows], ts[rows], k, outages, rng)
        its = _slates.draw_items(pop, users[rows], ts[rows], src, rng)
        relevance = _slates.relevance(pop, users[rows], ts[rows], its, _slates.source_boost(src), rng)
        put(rows, _slates.rank(its, src, relevance, shown[s_code], cfg.explore_rate, rng))
    for s_code in range(len(SURFACES)):
        rows = np.nonzero((status == 1) & (surface == s_code))[0]
        if len(rows):
            put(rows, _slates.fallback(pop, users[rows], ts[rows], k, shown[s_code], rng))
    has_slate = status != 2
    numeric["item_ctr_7d_mean"] = np.round(pop.item_ctr_base[items].mean(axis=1), 5)

    # Click model.
    imp_request, col = np.nonzero((position >= 0) & has_slate[:, None])
    imp_position = position[imp_request, col]
    p_base = examination(surface[imp_request], imp_position) / (
        1.0 + np.exp(-(rel[imp_request, col].astype(np.float64) + CLICK_BIAS))
    )
    factor = _click_factor(plan, pop, runs, ts, users, surface, status, version, expired)
    p_click = np.clip(p_base * factor[imp_request], 0.0, 1.0)
    true_ctr = _true_ctr(plan, pop, users, surface, status, imp_request, p_base)
    ok_imp = status[imp_request] == 0
    baseline = float(p_base[ok_imp].mean()) if ok_imp.any() else 0.0

    latency, total = _latency(plan, surface, status, ts, rng)
    # Ids are unique across worlds too (seed and start in the top bits), so a benchmark can
    # add a day simulated with another seed to a lake without key collisions.
    world = zlib.crc32(f"{cfg.seed}:{plan.start_ms}".encode()) & 0xFFFFFF
    counters = (np.uint64(world) << np.uint64(40)) | np.arange(n, dtype=np.uint64)
    request_ids = A.format_ids("req_", permute(counters, 64, cfg.seed * 7 + 1), 16)

    # Arrow.
    flat = has_slate
    counts = np.where(flat, k, 0)
    f_pos = position[flat].ravel()
    f_score = score[flat].ravel()
    f_prop = propensity[flat].ravel()
    candidates = pa.StructArray.from_arrays(
        [
            A.pick(pop.item_ids, items[flat].ravel()),
            A.pick(A.vocab((*CANDIDATE_SOURCES, FALLBACK_SOURCE)), source[flat].ravel()),
            A.floats(f_score, np.isnan(f_score)),
            pa.array(f_pos, type=pa.int32(), mask=f_pos < 0),
            A.floats(f_prop, np.isnan(f_prop)),
        ],
        fields=list(CANDIDATE_TYPE),
    )
    features = [name for name, _ in REQUEST_FEATURES]
    null_of = {name: expired[group] for name, group in REQUEST_FEATURES}
    null_of["item_ctr_7d_mean"] = expired["item_stats"] | ~has_slate
    table = pa.table(
        {
            "request_id": request_ids,
            "ts": A.times(ts),
            "surface": A.pick(A.vocab(SURFACES), surface),
            "user_id": A.pick(pop.user_ids, users),
            "model": A.pick(A.vocab([cfg.model]), np.zeros(n, dtype=np.int64)),
            "model_version": A.pick(A.vocab(plan.version_names), version),
            "status": A.pick(A.vocab(STATUSES), status),
            "latency_ms": A.floats(total),
            "stage_latency_ms": A.fixed_map(n, STAGES, [A.floats(latency[:, j]) for j in range(3)]),
            "context": _context(plan, pop, users, segment, in_canary, treated),
            "features": A.fixed_map(n, features, [A.floats(numeric[f], null_of[f]) for f in features]),
            "feature_strings": A.fixed_map(
                n,
                [name for name, _ in REQUEST_STRING_FEATURES],
                [
                    A.pick(A.vocab(strings[name][0]), strings[name][1], expired[group])
                    for name, group in REQUEST_STRING_FEATURES
                ],
            ),
            "feature_ts": A.fixed_map(
                n, list(feature_ts), [A.times(e, miss) for e, miss in feature_ts.values()]
            ),
            "candidates": pa.ListArray.from_arrays(A.offsets_of(counts), candidates),
        }
    ).cast(REQUESTS.schema)
    served = Served(
        ts=ts,
        request_ids=request_ids,
        imp_request=imp_request.astype(np.int64),
        imp_item=items[imp_request, col],
        imp_position=imp_position,
        p_click=p_click,
        true_ctr=true_ctr,
        baseline_ctr=baseline,
    )
    return table, served


def _segment_values(
    key: str, pop: Population, users: I64, surface: npt.NDArray[np.int8]
) -> tuple[npt.NDArray[np.integer], tuple[str, ...]]:
    if key == "device":
        return pop.device[users], DEVICES
    if key == "country":
        return pop.country[users], COUNTRIES
    return surface, SURFACES


def _click_factor(
    plan: Plan,
    pop: Population,
    runs: dict[str, Runs],
    ts: I64,
    users: I64,
    surface: npt.NDArray[np.int8],
    status: npt.NDArray[np.int8],
    version: I64,
    expired: dict[str, B],
) -> F64:
    """Product of the incident effects on each request's click probability."""
    factor = np.ones(len(ts))
    names = plan.version_names
    for inc in plan.of_kind("bad_deploy_segment"):
        v = names.index(next(m.version for m in plan.versions if m.incident_id == inc.id))
        values, vocab = _segment_values(str(inc.params["segment_key"]), pop, users, surface)
        hit = (version == v) & (values == vocab.index(str(inc.params["segment_value"])))
        factor[hit] *= 1.0 + float(inc.params["relative_change"])
    for inc in plan.of_kind("slow_metric_decay"):
        on = inc.active(ts)
        progress = (ts[on] - inc.start_ms) / max(inc.end_ms - inc.start_ms, 1)
        factor[on] *= 1.0 + float(inc.params["relative_change"]) * progress
    for inc in plan.of_kind("stale_feature_group"):
        on = expired[str(inc.params["group"])] & (ts >= inc.start_ms)
        factor[on] *= 1.0 + float(inc.params["ctr_relative_change"])
    for inc in plan.of_kind("candidate_source_outage"):
        code = CANDIDATE_SOURCES.index(str(inc.params["source"]))
        uses = np.asarray(SOURCE_MIX)[:, code] > 0
        on = inc.active(ts) & (status == 0) & uses[surface]
        factor[on] *= 1.0 + float(inc.params["relative_change"])
    for inc in plan.of_kind("upstream_schema_change"):
        feature = str(inc.params["feature"])
        r = runs[dict(REQUEST_FEATURES)[feature]]
        served = np.maximum(r.served(ts), 0)
        factor[r.scale[feature][served] != 1.0] *= 1.0 + float(inc.params["ctr_relative_change"])
    return factor


def _true_ctr(
    plan: Plan,
    pop: Population,
    users: I64,
    surface: npt.NDArray[np.int8],
    status: npt.NDArray[np.int8],
    imp_request: I64,
    p_base: F64,
) -> dict[str, dict[str, Any]]:
    """Expected CTR of each version's policy on this world's (ok-status) slates.

    A version differs from the others only by its segment effect, so the sums of click
    probabilities per segment are computed once and adjusted per version.
    """
    ok = status[imp_request] == 0
    req = imp_request[ok]
    p = p_base[ok]
    keys = {key: _segment_values(key, pop, users[req], surface[req]) for key in SEGMENT_KEYS}
    sums: dict[str, F64] = {
        k: np.asarray(np.bincount(v, weights=p, minlength=len(voc)), dtype=np.float64)
        for k, (v, voc) in keys.items()
    }
    counts = {k: np.bincount(v, minlength=len(voc)) for k, (v, voc) in keys.items()}
    effects: dict[str, tuple[str, int, float]] = {}
    for inc in plan.of_kind("bad_deploy_segment"):
        v = next(m.version for m in plan.versions if m.incident_id == inc.id)
        key = str(inc.params["segment_key"])
        effects[v] = (
            key,
            keys[key][1].index(str(inc.params["segment_value"])),
            float(inc.params["relative_change"]),
        )
    result: dict[str, dict[str, Any]] = {}
    for v in plan.version_names:
        adjusted = {k: s.copy() for k, s in sums.items()}
        if v in effects:
            key, value, change = effects[v]
            hit = keys[key][0] == value
            for k, (codes, vocab) in keys.items():
                adjusted[k] += change * np.bincount(codes[hit], weights=p[hit], minlength=len(vocab))
        by_segment = {
            k: {
                vocab[i]: round(float(adjusted[k][i] / counts[k][i]), 6)
                for i in range(len(vocab))
                if counts[k][i]
            }
            for k, (_, vocab) in keys.items()
        }
        overall = float(adjusted["device"].sum() / len(p)) if len(p) else 0.0
        result[v] = {"overall": round(overall, 6), "by_segment": by_segment}
    return result


def _latency(
    plan: Plan,
    surface: npt.NDArray[np.int8],
    status: npt.NDArray[np.int8],
    ts: I64,
    rng: np.random.Generator,
) -> tuple[F64, F64]:
    """Per-stage latencies (n x 3, ms) and the end-to-end latency."""
    n = len(ts)
    median = np.asarray(STAGE_MEDIAN_MS)[surface]
    median[:, 2] *= 0.5 + 0.5 * plan.config.candidates_per_request / 20
    stages = median * np.exp(rng.standard_normal((n, 3)) * np.asarray(STAGE_SIGMA))
    spike = rng.random((n, 3)) < 0.004
    stages[spike] += np.minimum(60.0 * (1.0 + rng.pareto(1.3, int(spike.sum()))), 5_000.0)
    fallback = status == 1
    stages[fallback, 0] = 150.0 + rng.exponential(15.0, int(fallback.sum()))
    stages[fallback, 2] = 0.5 + rng.exponential(0.5, int(fallback.sum()))
    error = status == 2
    stages[error, 2] = 400.0 + rng.exponential(40.0, int(error.sum()))
    for inc in plan.of_kind("latency_regression"):
        stage = STAGES.index(str(inc.params["stage"]))
        at = surface == SURFACES.index(str(inc.params["surface"]))
        on = at & inc.active(ts)
        base = stages[at & ~on & (status == 0), stage]
        if len(base) == 0 or not on.any():
            continue
        p99 = float(np.quantile(base, 0.99))
        # A monotone stretch of the tail: the p99 moves by exactly added_p99_ms.
        stages[on, stage] += float(inc.params["added_p99_ms"]) * stages[on, stage] / p99
    stages = np.round(stages, 3)
    total = np.round(stages.sum(axis=1) + 2.0 + rng.exponential(3.0, n), 3)
    return stages, total


def _context(plan: Plan, pop: Population, users: I64, segment: I64, in_canary: B, treated: B) -> pa.Array:
    """device, country, app_version, plus experiment and arm while a canary runs."""
    names = plan.version_names
    experiments = [f"{plan.config.model}-{v}-canary" for v in names]
    values = (*DEVICES, *COUNTRIES, *APP_VERSIONS, *experiments, "treatment", "control")
    base_country = len(DEVICES)
    base_app = base_country + len(COUNTRIES)
    base_exp = base_app + len(APP_VERSIONS)
    base_arm = base_exp + len(experiments)
    n = len(users)
    key_codes = np.broadcast_to(np.arange(5, dtype=np.int64), (n, 5))
    value_codes = np.stack(
        [
            pop.device[users].astype(np.int64),
            base_country + pop.country[users].astype(np.int64),
            base_app + pop.app_version[users].astype(np.int64),
            base_exp + np.maximum(plan.timeline.canary[segment], 0),
            base_arm + (~treated).astype(np.int64),
        ],
        axis=1,
    )
    keep = np.ones((n, 5), dtype=bool)
    keep[:, 3:] = in_canary[:, None]
    keys = A.pick(A.vocab(("device", "country", "app_version", "experiment", "arm")), key_codes[keep])
    return A.map_array(keep.sum(axis=1), keys, A.pick(A.vocab(values), value_codes[keep]))
