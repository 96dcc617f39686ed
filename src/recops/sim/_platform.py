"""The static parts of the simulated platform: vocabularies, feature groups, upstream
sources, and the user population and catalog drawn once per seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from recops.sim._arrow import format_ids
from recops.sim._clock import DAY, HOUR, MINUTE
from recops.sim._hashing import permute

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]

GENRES = (
    "drama", "comedy", "documentary", "kids", "action", "thriller",
    "romance", "sci_fi", "animation", "reality", "crime", "sports",
)  # fmt: skip
DEVICES = ("tv", "android_tv", "ios", "android", "web", "fire_tv")
DEVICE_SHARES = (0.22, 0.14, 0.20, 0.24, 0.12, 0.08)
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "JP", "CA", "MX", "ES")
COUNTRY_SHARES = (0.34, 0.09, 0.08, 0.07, 0.11, 0.12, 0.05, 0.05, 0.05, 0.04)
APP_VERSIONS = ("8.3.1", "8.4.0", "8.5.2")
APP_VERSION_SHARES = (0.12, 0.33, 0.55)

SURFACES = ("home_row", "autoplay", "search")
SURFACE_SHARES = (0.58, 0.24, 0.18)
# Examination probability of each slot (position bias): slot 0 of autoplay is played
# automatically, a search results page is read top-down.
POSITION_DECAY = (0.85, 1.6, 1.1)
POSITION_TOP = (1.0, 1.0, 1.0)

CANDIDATE_SOURCES = ("collaborative", "trending", "continue_watching", "new_releases", "search_match")
FALLBACK_SOURCE = "popular_fallback"
# Per surface, the share of candidate slots each source fills (rows follow SURFACES).
SOURCE_MIX = (
    (0.45, 0.20, 0.15, 0.20, 0.00),
    (0.40, 0.15, 0.35, 0.10, 0.00),
    (0.15, 0.15, 0.00, 0.00, 0.70),
)
# How much more relevant (logit) a source's proposals are on average.
SOURCE_BOOST = (0.30, 0.00, 0.60, -0.10, 0.40)
FALLBACK_BOOST = -0.20

STAGES = ("candidate_generation", "feature_fetch", "ranking")
# Median stage latency in ms per surface (rows follow SURFACES), and log-sd per stage.
STAGE_MEDIAN_MS = ((22.0, 9.0, 30.0), (15.0, 9.0, 18.0), (40.0, 9.0, 28.0))
STAGE_SIGMA = (0.35, 0.45, 0.30)
STAGE_SERVICE = {
    "candidate_generation": "candidate-service",
    "feature_fetch": "feature-service",
    "ranking": "ranking-service",
}

EVENTS = ("impression", "click", "play", "complete", "like", "dislike", "add_to_list")

STATUSES = ("ok", "fallback", "error")


@dataclass(frozen=True)
class FeatureGroup:
    """A feature group of the simulated feature store.

    Runs happen at ``offset_ms + k * every_ms``; each run's rows reach the online store
    ``lag`` later; a value older than ``ttl_ms`` is no longer served (null).
    """

    name: str
    entity: str
    every_ms: int
    offset_ms: int
    ttl_ms: int
    lag_median_ms: int
    numeric: tuple[str, ...]
    strings: tuple[str, ...]

    @property
    def schedule(self) -> str:
        return "daily" if self.every_ms == DAY else f"every {self.every_ms // HOUR}h"


FEATURE_GROUPS = (
    FeatureGroup(
        "user_profile", "user", DAY, 2 * HOUR, 36 * HOUR, 20 * MINUTE,
        ("user_tenure_days", "sessions_7d", "watch_minutes_7d"), ("preferred_genre",),
    ),
    FeatureGroup(
        "item_stats", "item", 6 * HOUR, 30 * MINUTE, 12 * HOUR, 8 * MINUTE,
        ("item_ctr_7d", "item_plays_24h", "item_age_days"), ("genre",),
    ),
    FeatureGroup(
        "session_context", "user", HOUR, 0, 2 * HOUR, 3 * MINUTE,
        ("session_depth", "session_watch_minutes"), ("last_device",),
    ),
)  # fmt: skip
GROUP_BY_NAME = {g.name: g for g in FEATURE_GROUPS}

# Request-level features: name -> feature group it is served from.
REQUEST_FEATURES = (
    ("user_tenure_days", "user_profile"),
    ("sessions_7d", "user_profile"),
    ("watch_minutes_7d", "user_profile"),
    ("session_depth", "session_context"),
    ("session_watch_minutes", "session_context"),
    ("item_ctr_7d_mean", "item_stats"),
)
REQUEST_STRING_FEATURES = (("preferred_genre", "user_profile"),)


@dataclass(frozen=True)
class UpstreamSource:
    """An upstream dataset whose partitions land in the lake on a schedule."""

    name: str
    hourly: bool
    delay_median_ms: int
    tolerance_ms: int
    bytes_per_row: int
    schema: tuple[tuple[str, str], ...]

    @property
    def period_ms(self) -> int:
        return HOUR if self.hourly else DAY


SOURCES = (
    UpstreamSource(
        "play_events", True, 12 * MINUTE, HOUR, 180,
        (("event_id", "string"), ("user_id", "string"), ("item_id", "string"),
         ("event_ts", "timestamp[us, tz=UTC]"), ("device", "string"),
         ("watch_duration", "double")),
    ),
    UpstreamSource(
        "catalog", False, 2 * HOUR, 2 * HOUR, 1400,
        (("item_id", "string"), ("title", "string"), ("genre", "string"),
         ("runtime_seconds", "int32"), ("release_date", "date32")),
    ),
    UpstreamSource(
        "user_profiles", False, 3 * HOUR, 2 * HOUR, 600,
        (("user_id", "string"), ("country", "string"), ("signup_date", "date32"),
         ("plan", "string")),
    ),
)  # fmt: skip
SOURCE_BY_NAME = {s.name: s for s in SOURCES}


@dataclass(frozen=True)
class Population:
    """Users and catalog items, with what the generators need to sample them.

    Base items (index < ``n_base``) are ordered by popularity rank; new releases
    (index >= ``n_base``) are ordered by release time.
    """

    user_ids: pa.Array
    user_cdf: F64
    device: I8
    country: I8
    app_version: I8
    genre_pref: I8
    genre_second: I8
    tenure0: F64
    sessions_base: F64
    canary_u: F64
    item_ids: pa.Array
    n_base: int
    item_genre: I8
    item_quality: F64
    item_runtime_s: I64
    item_release_ms: I64
    item_ctr_base: F64
    pop_cdf: F64
    trend_cdf: F64
    genre_items: I32
    genre_cdf: F64

    @property
    def n_users(self) -> int:
        return len(self.user_cdf)

    @property
    def n_items(self) -> int:
        return len(self.item_genre)

    @property
    def new_release_ms(self) -> I64:
        return self.item_release_ms[self.n_base :]


def _categorical(rng: np.random.Generator, shares: tuple[float, ...], n: int) -> I8:
    cdf = np.cumsum(shares) / np.sum(shares)
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(shares) - 1).astype(np.int8)


def _cdf(weights: F64) -> F64:
    cdf = np.cumsum(weights)
    return np.asarray(cdf / cdf[-1], dtype=np.float64)


def make_population(
    rng: np.random.Generator,
    *,
    seed: int,
    n_users: int,
    n_base_items: int,
    new_items_per_day: float,
    start_ms: int,
    end_ms: int,
) -> Population:
    """Draw users and the catalog."""
    salt = seed & 0xFFFFFFFF
    user_ids = format_ids("u_", permute(np.arange(n_users), 40, salt * 31 + 7), 10)
    activity = rng.lognormal(0.0, 1.1, n_users)
    genre_pref = (np.minimum(rng.zipf(1.6, n_users), len(GENRES)) - 1).astype(np.int8)
    genre_pref = ((genre_pref + rng.integers(0, len(GENRES), n_users)) % len(GENRES)).astype(np.int8)
    genre_second = ((genre_pref + rng.integers(1, len(GENRES), n_users)) % len(GENRES)).astype(np.int8)

    new_start = start_ms - 30 * DAY
    n_new = max(1, round(new_items_per_day * (end_ms - new_start) / DAY))
    n_items = n_base_items + n_new
    item_ids = format_ids("it", permute(np.arange(n_items), 26, salt * 17 + 3), 8, base=10)
    item_genre = rng.integers(0, len(GENRES), n_items).astype(np.int8)
    item_genre[: len(GENRES)] = np.arange(len(GENRES), dtype=np.int8)  # every genre has items
    quality = rng.normal(0.0, 0.55, n_items)
    movie = rng.random(n_items) < 0.4
    runtime = np.where(movie, rng.normal(6300, 1200, n_items), rng.normal(2600, 700, n_items))
    release = np.empty(n_items, dtype=np.int64)
    release[:n_base_items] = start_ms - (30 * DAY + rng.exponential(900 * DAY, n_base_items)).astype(np.int64)
    release[n_base_items:] = np.sort(rng.integers(new_start, end_ms, n_new))
    ranks = np.arange(1, n_base_items + 1, dtype=np.float64)

    by_genre = np.argsort(item_genre[:n_base_items], kind="stable").astype(np.int32)
    weights = ranks[by_genre] ** -1.0
    genre_of = item_genre[by_genre].astype(np.int64)
    totals = np.bincount(genre_of, weights=weights, minlength=len(GENRES))
    within = np.cumsum(weights) - np.concatenate([[0.0], np.cumsum(totals)[:-1]])[genre_of]
    genre_cdf = genre_of + within / totals[genre_of]

    return Population(
        user_ids=user_ids,
        user_cdf=_cdf(activity),
        device=_categorical(rng, DEVICE_SHARES, n_users),
        country=_categorical(rng, COUNTRY_SHARES, n_users),
        app_version=_categorical(rng, APP_VERSION_SHARES, n_users),
        genre_pref=genre_pref,
        genre_second=genre_second,
        tenure0=rng.lognormal(np.log(420.0), 0.9, n_users),
        sessions_base=np.clip(activity * 4.0, 0.3, 60.0),
        canary_u=rng.random(n_users),
        item_ids=item_ids,
        n_base=n_base_items,
        item_genre=item_genre,
        item_quality=quality,
        item_runtime_s=np.clip(runtime, 600, 12_000).astype(np.int64),
        item_release_ms=release,
        item_ctr_base=0.35 / (1.0 + np.exp(-(quality - 3.0))),
        pop_cdf=_cdf(ranks**-1.05),
        trend_cdf=_cdf(ranks**-1.4),
        genre_items=by_genre,
        genre_cdf=genre_cdf,
    )
