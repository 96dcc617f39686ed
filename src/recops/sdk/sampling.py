"""Deterministic sampling by request id.

A request is kept or dropped the same way every time, in every process and by every
logger (requests and their outcomes alike), so a sampled request keeps all its outcomes.
The rule is simple enough to reproduce in any language: keep when the CRC-32 (IEEE, as
in zlib) of the id's UTF-8 bytes is below ``rate × 2**32``.
"""

from __future__ import annotations

import zlib

#: ``2**32``: the number of distinct CRC-32 values.
CRC_SPACE = 1 << 32


def threshold(rate: float) -> int:
    """Return the CRC-32 threshold below which an id is kept at ``rate``.

    Args:
        rate: the share of request ids to keep, in [0, 1].

    Returns:
        An integer in [0, 2**32].

    Raises:
        ValueError: if ``rate`` is not a number in [0, 1].
    """
    if not 0.0 <= rate <= 1.0:  # also refuses NaN
        raise ValueError(f"sample rate must be in [0, 1], got {rate!r}")
    return int(rate * CRC_SPACE)


def keep(request_id: str, rate: float) -> bool:
    """Tell whether the request ``request_id`` is in the sample kept at ``rate``.

    The same id and rate always give the same answer, and the kept ids at a lower rate
    are a subset of those kept at a higher rate.

    Args:
        request_id: the request's id (a non-string is sampled by its ``str()``).
        rate: the share of requests to keep, in [0, 1].

    Returns:
        True when the request is kept.

    Raises:
        ValueError: if ``rate`` is not a number in [0, 1].

    Example:
        >>> keep("r-1", 1.0), keep("r-1", 0.0)
        (True, False)
        >>> keep("r-1", 0.5) == keep("r-1", 0.5)
        True
    """
    return crc(request_id) < threshold(rate)


def crc(request_id: object) -> int:
    """Return the CRC-32 of the id's UTF-8 bytes (of its ``str()`` if not a string)."""
    text = request_id if isinstance(request_id, str) else str(request_id)
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))
