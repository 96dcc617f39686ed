"""Counter-based randomness: values that depend only on (entity, moment, salt).

A feature value of a user as of a materialization run must be the same number whether it
is read from the feature row or from a request that was served from that run; hashing the
identifiers gives that without keeping per-entity state.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def mix64(x: U64) -> U64:
    """The splitmix64 finalizer, applied element-wise (wrapping uint64 arithmetic)."""
    z = x.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def hash_keys(*parts: npt.NDArray[np.integer] | int) -> U64:
    """One well-mixed uint64 per row from several integer columns (broadcast)."""
    acc: U64 = np.zeros(1, dtype=np.uint64)
    for part in parts:
        column = np.asarray(part).astype(np.uint64)
        acc = mix64(acc * _GOLDEN + column + _GOLDEN)
    return acc


def hash_uniform(*parts: npt.NDArray[np.integer] | int) -> F64:
    """Uniform numbers in [0, 1) determined by the integer key columns."""
    return (hash_keys(*parts) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def hash_normal(*parts: npt.NDArray[np.integer] | int) -> F64:
    """Standard normal numbers determined by the integer key columns (Box-Muller)."""
    u1 = hash_uniform(*parts, 0x51)
    u2 = hash_uniform(*parts, 0x52)
    radius: F64 = np.sqrt(-2.0 * np.log1p(-u1))
    return radius * np.cos(2.0 * np.pi * u2)


def permute(values: npt.NDArray[np.integer], bits: int, salt: int) -> U64:
    """A bijection of ``bits``-bit integers: distinct inputs give distinct outputs.

    Used to turn counters into ids that look random but can never collide.
    """
    mask = np.uint64((1 << bits) - 1)
    half = np.uint64(bits // 2)
    x = (values.astype(np.uint64) + np.uint64(salt & ((1 << bits) - 1))) & mask
    for multiplier in (0x9E3779B97F4A7C15, 0xD6E8FEB86659FD93):
        x = (x * np.uint64(multiplier)) & mask
        x ^= x >> half
    return x
