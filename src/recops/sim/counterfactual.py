"""Logged data for off-policy evaluation, with the candidate's true CTR known by construction.

Each request has ``items`` candidates with attractiveness ``a_i`` and ``slots`` shown
positions examined with probability ``θ_k = (1 + k) ** -position_decay``; a shown item is
clicked with probability ``θ_k · a_i`` (the item-position click model). A policy ranks the
candidates by a noisy score (noise ``sd``) and then rotates the ranking by a random shift
``s`` drawn from ``q`` (``q[0] = keep_top``, the rest uniform), so an item ranked ``ρ`` lands
at position ``(ρ + s) mod items`` with probability ``q[(k − ρ) mod items]`` — exact
propensities, with every item reachable at every position.

The production policy is logged (its propensities, its clicks); the candidate policy's
propensity of each logged item at its logged position is what its training pipeline would
write (:func:`write_propensities`), and its true CTR per impression on the same requests,
``mean_r Σ_i Σ_k π1(i, k) θ_k a_i / slots``, is computed exactly. Everything is vectorized
over replicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PolicySpec:
    """A rank-then-rotate policy: score noise ``sd`` (0: rank by true attractiveness) and the
    probability ``keep_top`` of showing the ranking unrotated."""

    sd: float
    keep_top: float = 0.6


@dataclass(frozen=True)
class CounterfactualConfig:
    """Size and click model of each replicate."""

    requests: int = 4000
    items: int = 10
    slots: int = 5
    position_decay: float = 0.7
    attractiveness_mean: float = -1.2
    attractiveness_sd: float = 1.0
    production: PolicySpec = PolicySpec(sd=0.5)
    candidate: PolicySpec = PolicySpec(sd=0.5)


@dataclass(frozen=True)
class Replicates:
    """``R`` replicates of logged slots, each array shaped (R, requests * slots).

    Attributes:
        request: request code of each slot (0..requests-1, same in every replicate).
        item: item index within its request (0..items-1).
        position: shown position (0..slots-1).
        clicks: 1.0 when clicked.
        logged: the production policy's propensity of the slot.
        candidate: the candidate policy's propensity of the same item at the same position.
        true_candidate_ctr: (R,) the candidate's exact expected CTR on each replicate's requests.
        true_production_ctr: (R,) the production policy's, likewise.
    """

    request: I64
    item: I64
    position: I64
    clicks: F64
    logged: F64
    candidate: F64
    true_candidate_ctr: F64
    true_production_ctr: F64


def _shift_probs(items: int, keep_top: float) -> F64:
    q = np.full(items, (1.0 - keep_top) / (items - 1))
    q[0] = keep_top
    return q


def _ranks(rng: np.random.Generator, logit: F64, sd: float) -> I64:
    score = logit + rng.normal(0.0, sd, logit.shape) if sd > 0 else logit
    order = np.argsort(-score, axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(logit.shape[-1]), axis=-1)
    return ranks.astype(np.int64)


def _marginals(ranks: I64, q: F64, slots: int) -> F64:
    """π(i, k) for every item and shown position: shape (..., items, slots)."""
    items = ranks.shape[-1]
    k = np.arange(slots)
    out: F64 = q[(k[None, None, None, :] - ranks[..., None]) % items]
    return out


def simulate_replicates(config: CounterfactualConfig, replicates: int, seed: int = 0) -> Replicates:
    """``replicates`` independent logged data sets with exact propensities and true CTRs."""
    rng = np.random.default_rng(seed)
    c = config
    shape = (replicates, c.requests, c.items)
    logit = rng.normal(c.attractiveness_mean, c.attractiveness_sd, shape)
    attract = 1.0 / (1.0 + np.exp(-logit))
    theta = (1.0 + np.arange(c.slots)) ** -c.position_decay
    q0, q1 = _shift_probs(c.items, c.production.keep_top), _shift_probs(c.items, c.candidate.keep_top)
    rank0, rank1 = _ranks(rng, logit, c.production.sd), _ranks(rng, logit, c.candidate.sd)
    pi0, pi1 = _marginals(rank0, q0, c.slots), _marginals(rank1, q1, c.slots)
    value = attract[..., None] * theta  # (R, n, items, slots)
    true0 = (pi0 * value).sum(axis=(2, 3)).mean(axis=1) / c.slots
    true1 = (pi1 * value).sum(axis=(2, 3)).mean(axis=1) / c.slots
    shift = rng.choice(c.items, size=(replicates, c.requests), p=q0)
    # The item shown at position k is the one ranked (k - shift) mod items.
    wanted_rank = (np.arange(c.slots)[None, None, :] - shift[..., None]) % c.items  # (R, n, slots)
    by_rank = np.argsort(rank0, axis=-1)  # item at each rank
    item = np.take_along_axis(by_rank, wanted_rank, axis=-1)
    pos = np.broadcast_to(np.arange(c.slots), item.shape)
    p_click = np.take_along_axis(attract, item, axis=-1) * theta
    clicks = (rng.random(p_click.shape) < p_click).astype(np.float64)
    logged = q0[(pos - np.take_along_axis(rank0, item, axis=-1)) % c.items]
    cand = q1[(pos - np.take_along_axis(rank1, item, axis=-1)) % c.items]
    request = np.broadcast_to(np.arange(c.requests)[None, :, None], item.shape)
    flat = (replicates, c.requests * c.slots)
    return Replicates(
        request=request.reshape(flat).astype(np.int64),
        item=item.reshape(flat).astype(np.int64),
        position=np.ascontiguousarray(pos).reshape(flat).astype(np.int64),
        clicks=clicks.reshape(flat),
        logged=logged.reshape(flat),
        candidate=cand.reshape(flat),
        true_candidate_ctr=true1,
        true_production_ctr=true0,
    )


def write_propensities(reps: Replicates, index: int, path: Path, *, prefix: str = "cf") -> Path:
    """Write replicate ``index``'s candidate propensities in the gate's format:
    ``request_id, item_id, position, propensity`` (ids ``{prefix}-r<request>`` and
    ``{prefix}-i<request>-<item>``)."""
    req = reps.request[index]
    table = pa.table(
        {
            "request_id": pa.array([f"{prefix}-r{r}" for r in req], pa.string()),
            "item_id": pa.array([f"{prefix}-i{r}-{i}" for r, i in zip(req, reps.item[index], strict=True)]),
            "position": pa.array(reps.position[index], pa.int32()),
            "propensity": pa.array(reps.candidate[index], pa.float64()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
