"""Time helpers: the simulator works in integer epoch milliseconds (UTC) throughout.

Every time in a simulated world is a whole millisecond, so both JSON time forms of the
contract (an RFC 3339 string or a number of epoch milliseconds) carry it without loss.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

I64 = npt.NDArray[np.int64]


def local_midnight_ms(day: str | date, tz: ZoneInfo) -> int:
    """Epoch ms of local midnight of ``day`` in ``tz``."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return to_ms(datetime(d.year, d.month, d.day, tzinfo=tz))


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return round(moment.timestamp() * 1000)


def parse_instant(value: str | datetime, tz: ZoneInfo) -> int:
    """Parse an ISO 8601 time to epoch ms; a naive time is read in ``tz``.

    Raises:
        ValueError: if ``value`` is not an ISO 8601 date or time.
    """
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return to_ms(moment)


def rfc3339(ms: int) -> str:
    """An RFC 3339 UTC string (``Z``), with milliseconds only when they are not zero."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))
    spec = "seconds" if ms % SECOND == 0 else "milliseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def utc_date(ms: int) -> str:
    """The UTC date of an instant, ``YYYY-MM-DD``."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))).date().isoformat()


def utc_hour_label(ms: int) -> str:
    """The hourly partition label of an instant, ``YYYY-MM-DDTHH``."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))
    return moment.strftime("%Y-%m-%dT%H")


def next_local_hour(ms: int, hour: int, tz: ZoneInfo) -> int:
    """The first instant at or after ``ms`` whose local wall clock reads ``hour``:00."""
    moment = datetime.fromtimestamp(ms / 1000, tz)
    candidate = moment.replace(hour=hour, minute=0, second=0, microsecond=0)
    while to_ms(candidate) < ms:
        candidate = (candidate + timedelta(days=1)).replace(hour=hour)
    return to_ms(candidate)


def ceil_to(ms: int, step: int) -> int:
    """Round ``ms`` up to a multiple of ``step``."""
    return -(-ms // step) * step
