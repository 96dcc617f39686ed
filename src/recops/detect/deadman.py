"""The dead man's switch: alert when data stops reaching recops, or monitoring stops.

Detectors judge the data they see; they cannot see data that never came. This check
looks at two clocks against the wall clock:

* per record kind (requests, outcomes, arrivals), when the last batch of it was
  committed to the lake (by files, the SDK or HTTP): older than ``[detection]
  data_silence_minutes`` (arrivals: at least the longest configured source period plus
  its allowed delay, since a daily source is quiet for a day by design) raises a
  ``page`` alert ``data_silence`` about that kind. A kind that never arrived is not
  judged: a workspace without arrivals is not broken;
* when ``recops monitor run`` last completed: older than ``monitor_silence_minutes``
  raises a ``page`` alert ``monitor_silence``.

``recops monitor run`` runs the data check; ``recops alerts deadman`` runs both and is
meant for a separate schedule (cron, the server's scheduler), because a stopped monitor
cannot report that it stopped. For the case where nothing recops runs at all, the
Prometheus export carries ``recops_monitor_last_run_timestamp_seconds`` for an
``absent()``/age rule in Alertmanager. A condition that ends (data flows again) resolves
its alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from recops.config import Config
from recops.detect.alerts import Alert, AlertSignal, Clear, record_timeline
from recops.detect.grouping import GroupingRules
from recops.monitors.runner import last_beat
from recops.store import Store
from recops.store.tables import LakeBatchRow

DETECTOR = "deadman"
WATCHED_KINDS = ("requests", "outcomes", "arrivals")
_PERIOD_MINUTES = {"hourly": 60.0, "daily": 24 * 60.0}


@dataclass(frozen=True)
class Silence:
    """One clock the switch watches: how long it has been quiet against its limit."""

    metric: str
    subject: str
    last: datetime | None
    limit_minutes: float
    at: datetime

    @property
    def quiet_minutes(self) -> float | None:
        return None if self.last is None else (self.at - self.last) / timedelta(minutes=1)

    @property
    def tripped(self) -> bool:
        quiet = self.quiet_minutes
        return quiet is not None and quiet > self.limit_minutes

    def signal(self) -> AlertSignal:
        quiet = self.quiet_minutes or 0.0
        what = f"no new {self.subject}" if self.metric == "data_silence" else "no completed monitor run"
        return AlertSignal(
            detector=DETECTOR,
            metric=self.metric,
            severity="page",
            data_time=self.at,
            subject=self.subject,
            subject_kind="record kind" if self.metric == "data_silence" else "job",
            summary=f"{what} for {quiet:.0f} minutes (limit {self.limit_minutes:.0f})",
            evidence=self.to_json(),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": DETECTOR,
            "metric": self.metric,
            "subject": self.subject,
            "last": self.last.isoformat() if self.last else None,
            "quiet_minutes": self.quiet_minutes,
            "limit_minutes": self.limit_minutes,
            "tripped": self.tripped,
        }


def arrivals_limit(config: Config) -> float:
    """The silence allowed for arrivals: the data limit, or a whole source period plus its delay."""
    periods = [_PERIOD_MINUTES[s.schedule] + s.max_delay_minutes for s in config.sources.values()]
    return max([config.detection.data_silence_minutes, *periods])


def silences(
    store: Store, config: Config, *, at: datetime | None = None, monitor: bool = True
) -> list[Silence]:
    """The clocks the switch watches, measured at ``at`` (default now)."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    with store.session() as session:
        rows = session.execute(
            select(LakeBatchRow.kind, func.max(LakeBatchRow.committed_at))
            .where(LakeBatchRow.state == "committed", LakeBatchRow.origin != "compaction")
            .group_by(LakeBatchRow.kind)
        ).all()
    last_commit = {kind: _utc(last) for kind, last in rows if last is not None}
    out: list[Silence] = []
    for kind in WATCHED_KINDS:
        if kind not in last_commit:
            continue
        limit = arrivals_limit(config) if kind == "arrivals" else config.detection.data_silence_minutes
        out.append(Silence("data_silence", kind, last_commit[kind], limit, when))
    if monitor:
        beat = last_beat(store)
        if beat is not None:
            out.append(
                Silence(
                    "monitor_silence", "monitor run", beat, config.detection.monitor_silence_minutes, when
                )
            )
    return out


def check_deadman(
    store: Store, config: Config, *, at: datetime | None = None, monitor: bool = True
) -> tuple[list[Silence], list[Alert], list[Alert]]:
    """Measure the clocks, raise an alert for each tripped one and resolve the recovered ones.

    Returns:
        The clocks measured, the alerts raised or updated, and the alerts resolved.
    """
    measured = silences(store, config, at=at, monitor=monitor)
    steps: list[AlertSignal | Clear] = []
    for silence in measured:
        signal = silence.signal()
        steps.append(signal if silence.tripped else Clear(signal.dedup_key(), silence.at))
    if not steps:
        return measured, [], []
    raised, resolved = record_timeline(store, steps, rules=GroupingRules.for_workspace(config), at=at)
    return measured, raised, resolved


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
