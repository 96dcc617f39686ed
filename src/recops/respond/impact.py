"""An incident's impact against its baseline, computed from the lake.

The incident window is [start, mitigation) (the resolution when never mitigated; while
the incident is open, up to the newest request in the lake, or now if that is earlier: the
data's clock, not the wall clock, since ingest runs behind): while it lasted the harm was
being done. The requests affected are the requests in
the window, only those served by the implicated version when the cause is a model
version. The baseline is the same measure over the same hours one day earlier (CTR has
a strong daily cycle), all requests (a new version had no traffic then); when the lake
has no request that day, the window of equal length just before the start:

* CTR and play rate are per impression (distinct request/item pairs impressed; a
  clicked or played pair counts once), as the catalog's ``ctr`` metric counts them;
* clicks lost = baseline CTR × impressions in the window − clicks in the window, and
  plays lost likewise; negative values mean the window did better than its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recops.lake import Lake
from recops.registry._canonical import iso, now
from recops.respond.incidents import Incident

DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SQL = """
WITH r AS (
  SELECT request_id FROM requests WHERE ts >= ? AND ts < ? {version}
), imp AS (
  SELECT DISTINCT o.request_id, o.item_id FROM outcomes o JOIN r USING (request_id)
  WHERE o.event = 'impression'
), ev AS (
  SELECT DISTINCT o.request_id, o.item_id, o.event FROM outcomes o JOIN r USING (request_id)
  WHERE o.event IN ('click', 'play')
)
SELECT
  (SELECT count(*) FROM r),
  (SELECT count(*) FROM imp),
  (SELECT count(*) FROM imp JOIN ev USING (request_id, item_id) WHERE ev.event = 'click'),
  (SELECT count(*) FROM imp JOIN ev USING (request_id, item_id) WHERE ev.event = 'play')
"""


@dataclass(frozen=True)
class Counts:
    """Requests, impressions, clicked and played impressions over one window."""

    requests: int
    impressions: int
    clicks: int
    plays: int

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None

    @property
    def play_rate(self) -> float | None:
        return self.plays / self.impressions if self.impressions else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "plays": self.plays,
            "ctr": self.ctr,
            "play_rate": self.play_rate,
        }


def counts(lake: Lake, start: datetime, end: datetime, version: str | None = None) -> Counts:
    """Counts over [start, end), of one model version's requests when given."""
    sql = _SQL.format(version="AND model_version = ?" if version else "")
    params: list[Any] = [start, end] + ([version] if version else [])
    con = lake.connect()
    try:
        row = con.execute(sql, params).fetchone()
    finally:
        con.close()
    assert row is not None
    return Counts(*(int(x) for x in row))


@dataclass(frozen=True)
class Impact:
    """The incident's impact."""

    start: datetime
    end: datetime
    during: Counts
    baseline: Counts

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def _lost(self, rate: float | None, got: int) -> float | None:
        return None if rate is None else rate * self.during.impressions - got

    @property
    def clicks_lost(self) -> float | None:
        return self._lost(self.baseline.ctr, self.during.clicks)

    @property
    def plays_lost(self) -> float | None:
        return self._lost(self.baseline.play_rate, self.during.plays)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "duration_s": self.duration_s,
            "requests_affected": self.during.requests,
            "during": self.during.to_dict(),
            "baseline": self.baseline.to_dict(),
            "clicks_lost": self.clicks_lost,
            "plays_lost": self.plays_lost,
        }


def data_end(lake: Lake) -> datetime | None:
    """Just after the newest request in the lake (an exclusive end), or None when there is none."""
    con = lake.connect()
    try:
        row = con.execute("SELECT epoch_us(max(ts)) FROM requests").fetchone()  # no tz objects: no pytz
    finally:
        con.close()
    return None if row is None or row[0] is None else EPOCH + timedelta(microseconds=row[0] + 1)


def impact(lake: Lake, inc: Incident) -> Impact:
    """The incident's impact (see the module docstring)."""
    start = inc.started_at
    end = inc.mitigated_at or inc.resolved_at
    if end is None:
        newest = data_end(lake)
        end = now() if newest is None else max(start, min(now(), newest))
    during = counts(lake, start, end, inc.version)
    baseline = counts(lake, start - DAY, end - DAY)
    if baseline.requests == 0:
        baseline = counts(lake, start - (end - start), start)
    return Impact(start, end, during, baseline)
