"""Candidate generation, relevance, and the serving policy that turns scores into slates.

The policy is epsilon-greedy per slot: slot p shows the p-th best scored candidate, except
that with probability ``explore_rate`` it shows a candidate drawn uniformly from the ones
ranked below the slate. The logged propensity of a shown item at its position is
therefore exact: ``1 - explore_rate`` for a greedy slot, ``explore_rate / M`` for an
explored one (M = candidates not in the greedy slate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recops.sim._clock import DAY
from recops.sim._hashing import hash_uniform
from recops.sim._platform import (
    CANDIDATE_SOURCES,
    FALLBACK_BOOST,
    GENRES,
    SOURCE_BOOST,
    SOURCE_MIX,
    Population,
)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
B = npt.NDArray[np.bool_]

FALLBACK_CODE = len(CANDIDATE_SOURCES)
SCORE_NOISE = 0.8  # the ranker's error on the relevance logit
RELEVANCE_NOISE = 0.5  # user x item taste nobody observes


@dataclass(frozen=True)
class Slates:
    """Scored candidate lists, one row per request, columns in logged order.

    ``score``/``propensity`` are NaN and ``position`` is -1 where the contract's value
    is null.
    """

    items: I32
    source: I8
    score: F64
    position: I32
    propensity: F64
    relevance: F32


def draw_sources(
    surface: I8,
    ts: I64,
    k: int,
    outages: list[tuple[int, int, int]],
    rng: np.random.Generator,
) -> I8:
    """Which source fills each candidate slot; an outage's slots go to the other sources."""
    mix = np.array(SOURCE_MIX)
    cdf = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    u = rng.random((len(surface), k))
    src = (u[:, :, None] >= cdf[surface][:, None, :]).sum(axis=2).astype(np.int8)
    for start, end, down in outages:
        rows = np.nonzero((ts >= start) & (ts < end))[0]
        hit = src[rows] == down
        if not hit.any():
            continue
        rest = mix.copy()
        rest[:, down] = 0.0
        rest_cdf = np.cumsum(rest / rest.sum(axis=1, keepdims=True), axis=1)
        r, c = np.nonzero(hit)
        redraw = (rng.random(len(r))[:, None] >= rest_cdf[surface[rows[r]]]).sum(axis=1)
        src[rows[r], c] = redraw.astype(np.int8)
    return np.asarray(np.minimum(src, len(CANDIDATE_SOURCES) - 1), dtype=np.int8)


def _genre_draw(pop: Population, genre: I64, u: F64) -> I32:
    idx = np.searchsorted(pop.genre_cdf, genre + u, side="right")
    return pop.genre_items[np.minimum(idx, len(pop.genre_items) - 1)]


def _cdf_draw(cdf: F64, u: F64) -> I32:
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).astype(np.int32)


def draw_items(pop: Population, users: I64, ts: I64, src: I8, rng: np.random.Generator) -> I32:
    """One item per candidate slot, from the slot's source; no item twice in a row."""
    m, k = src.shape
    items = np.empty((m, k), dtype=np.int32)
    new_ms = pop.new_release_ms
    for code, name in enumerate(CANDIDATE_SOURCES):
        r, c = np.nonzero(src == code)
        if len(r) == 0:
            continue
        user = users[r]
        u = rng.random(len(r))
        if name == "collaborative":
            pick = rng.random(len(r))
            genre = np.where(
                pick < 0.7, pop.genre_pref[user],
                np.where(pick < 0.85, pop.genre_second[user], rng.integers(0, len(GENRES), len(r))),
            ).astype(np.int64)  # fmt: skip
            chosen = _genre_draw(pop, genre, u)
        elif name == "continue_watching":
            slot = rng.integers(0, 12, len(r))
            h = hash_uniform(user, slot, 0x77)
            own = hash_uniform(user, slot, 0x78) < 0.6
            genre = np.where(own, pop.genre_pref[user], (h * 7919).astype(np.int64) % len(GENRES))
            chosen = _genre_draw(pop, genre.astype(np.int64), h)
        elif name == "search_match":
            genre = np.where(
                rng.random(len(r)) < 0.4, pop.genre_pref[user], rng.integers(0, len(GENRES), len(r))
            ).astype(np.int64)
            chosen = _genre_draw(pop, genre, u)
        else:  # trending and new_releases: recent releases when there are any
            when = ts[r]
            lo = np.searchsorted(new_ms, when - (21 if name == "new_releases" else 14) * DAY)
            hi = np.searchsorted(new_ms, when, side="right")
            recent = (hi > lo) & ((rng.random(len(r)) < 0.25) | (name == "new_releases"))
            chosen = _cdf_draw(pop.trend_cdf, u)
            fresh = pop.n_base + lo + (u * (hi - lo)).astype(np.int64)
            chosen = np.where(recent, fresh, chosen).astype(np.int32)
        items[r, c] = chosen
    _dedupe(items, pop.n_base, rng)
    return items


def _dedupe(items: I32, n_choices: int, rng: np.random.Generator) -> None:
    """Replace repeated items within a row by uniformly drawn catalog items, in place."""
    ordered = np.sort(items, axis=1)
    active = np.nonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))[0]
    del ordered
    for _ in range(100):
        block = items[active]
        order = np.argsort(block, axis=1, kind="stable")
        ranked = np.take_along_axis(block, order, axis=1)
        repeat = np.zeros(ranked.shape, dtype=bool)
        repeat[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
        r, c = np.nonzero(repeat)
        if len(r) == 0:
            return
        items[active[r], order[r, c]] = rng.integers(0, n_choices, len(r))
        active = active[np.unique(r)]
    raise RuntimeError("could not draw distinct candidates")  # pragma: no cover


def relevance(pop: Population, users: I64, ts: I64, items: I32, boost: F64, rng: np.random.Generator) -> F32:
    """True relevance logit of each candidate for its user (the click model's input)."""
    user = users[:, None]
    genre = pop.item_genre[items]
    rel = pop.item_quality[items].astype(np.float32)
    rel += 0.9 * (genre == pop.genre_pref[user])
    rel += 0.35 * (genre == pop.genre_second[user])
    rel += boost.astype(np.float32)
    rel += 0.3 * ((ts[:, None] - pop.item_release_ms[items]) < 7 * DAY)
    rel += rng.standard_normal(items.shape, dtype=np.float32) * np.float32(RELEVANCE_NOISE)
    return rel


def rank(
    items: I32,
    src: I8,
    rel: F32,
    shown: int,
    explore_rate: float,
    rng: np.random.Generator,
) -> Slates:
    """Score, rank and fill ``shown`` slots with the epsilon-greedy policy."""
    m, k = items.shape
    logit = rel + rng.standard_normal((m, k), dtype=np.float32) * np.float32(SCORE_NOISE)
    order = np.argsort(-logit, axis=1, kind="stable")
    tail = k - shown
    slots = np.broadcast_to(np.arange(shown), (m, shown))
    explore = np.zeros((m, shown), dtype=bool)
    if tail > 0 and explore_rate > 0:
        explore = rng.random((m, shown)) < explore_rate
        explore &= np.cumsum(explore, axis=1) <= tail
        tail_order = np.argsort(rng.random((m, tail)), axis=1)
        nth = np.clip(np.cumsum(explore, axis=1) - 1, 0, tail - 1)
        slots = np.where(explore, shown + np.take_along_axis(tail_order, nth, axis=1), slots)
    # Everything below is in ranked (logged) order.
    position = np.full((m, k), -1, dtype=np.int32)
    propensity = np.full((m, k), np.nan)
    row = np.arange(m)[:, None]
    position[row, slots] = np.arange(shown, dtype=np.int32)
    propensity[row, slots] = np.where(explore, explore_rate / max(tail, 1), 1.0 - explore_rate)
    score = 1.0 / (1.0 + np.exp(-(np.take_along_axis(logit, order, axis=1).astype(np.float64) - 3.0)))
    return Slates(
        items=np.take_along_axis(items, order, axis=1),
        source=np.take_along_axis(src, order, axis=1),
        score=np.round(score, 6),
        position=position,
        propensity=propensity,
        relevance=np.take_along_axis(rel, order, axis=1),
    )


def fallback(pop: Population, users: I64, ts: I64, k: int, shown: int, rng: np.random.Generator) -> Slates:
    """The degraded path: the most popular items, unscored, in popularity order."""
    m = len(users)
    items = np.broadcast_to(np.arange(k, dtype=np.int32), (m, k)).copy()
    rel = relevance(pop, users, ts, items, np.full((1, 1), FALLBACK_BOOST), rng)
    position = np.broadcast_to(np.where(np.arange(k) < shown, np.arange(k), -1), (m, k))
    return Slates(
        items=items,
        source=np.full((m, k), FALLBACK_CODE, dtype=np.int8),
        score=np.full((m, k), np.nan),
        position=position.astype(np.int32),
        propensity=np.where(position >= 0, 1.0, np.nan),
        relevance=rel,
    )


def source_boost(src: I8) -> F64:
    """Relevance bonus of each slot's source."""
    return np.asarray((*SOURCE_BOOST, FALLBACK_BOOST))[src]
