"""Monitored series and alert states in the Prometheus text exposition format (0.0.4).

:func:`render_prometheus` is what the server's ``/metrics`` will return;
:func:`write_prometheus` writes the same text to a file atomically, for node_exporter's
textfile collector (``--collector.textfile.directory``) until the server exists, via
``recops alerts export-prometheus FILE``. All are gauges, without sample timestamps, so
Prometheus stamps them at scrape time and never refuses an old window as out of bounds;
the data time is a series of its own.

Families:

* ``recops_series_value{metric,subject,slice,granularity}``: the newest stored value of
  every monitored series; ``recops_series_window_end_seconds`` the end of its window
  (Unix time) and ``recops_series_observations`` its ``n``.
* ``recops_alert{id,group,detector,metric,subject,slice,granularity,severity,state,silenced}``
  = 1 for every open alert (firing or acknowledged), like Prometheus's own ``ALERTS``;
  ``recops_alert_data_time_seconds{id}`` when it fired in data time.
* ``recops_alerts{state,severity}``: open alerts counted (0 when none), and
  ``recops_alert_groups{state}`` open groups.
* ``recops_outbox_pending{route}`` and ``recops_outbox_oldest_pending_seconds{route}``:
  notifications not yet delivered and how long the oldest has waited, to alert on the
  alerting itself.
* ``recops_export_timestamp_seconds``: when this text was made.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, func, select

from recops.detect.events import OPEN_STATES, SEVERITIES, now, utc
from recops.errors import InvalidInput
from recops.monitors.runner import last_beat
from recops.store import Store
from recops.store.tables import AlertGroupRow, AlertOutboxRow, AlertRow, MetricPointRow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    """A label value escaped as the text format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Family:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.samples: list[tuple[Mapping[str, str], float]] = []

    def add(self, labels: Mapping[str, str], value: float) -> None:
        self.samples.append((labels, value))

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in self.samples:
            text = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            yield (
                f"{self.name}{{{text}}} {format_value(value)}"
                if text
                else f"{self.name} {format_value(value)}"
            )


def render_prometheus(
    store: Store, *, granularities: Iterable[str] | None = None, at: datetime | None = None
) -> str:
    """The exposition text (module docstring); ``granularities`` limits the series exported."""
    when = utc(at) if at is not None else now()
    families = [
        *_series_families(store, list(granularities) if granularities is not None else None),
        *_alert_families(store),
        *_outbox_families(store, when),
    ]
    stamp = _Family("recops_export_timestamp_seconds", "When this exposition was generated (Unix time).")
    stamp.add({}, when.timestamp())
    families.append(stamp)
    beat = last_beat(store)
    if beat is not None:
        heartbeat = _Family(
            "recops_monitor_last_run_timestamp_seconds",
            "When `recops monitor run` last completed (Unix time): alert on its age.",
        )
        heartbeat.add({}, beat.timestamp())
        families.append(heartbeat)
    return "\n".join(line for f in families for line in f.lines()) + "\n"


def write_prometheus(
    store: Store, path: Path | str, *, granularities: Iterable[str] | None = None, at: datetime | None = None
) -> int:
    """Write :func:`render_prometheus` to ``path`` atomically; returns the number of samples.

    Raises:
        InvalidInput: ``path`` is a folder, or a file stands where its folder would be.
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(f"{target} is a folder: give the file to write, e.g. {target / 'recops.prom'}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidInput(f"cannot write {target}: a file stands where its folder would be") from None
    text = render_prometheus(store, granularities=granularities, at=at)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def _series_families(store: Store, granularities: list[str] | None) -> list[_Family]:
    t = MetricPointRow.__table__
    latest = select(
        t.c.metric, t.c.subject, t.c.slice, t.c.granularity, func.max(t.c.window_start).label("ws")
    )
    if granularities is not None:
        latest = latest.where(t.c.granularity.in_(granularities))
    sub = latest.group_by(t.c.metric, t.c.subject, t.c.slice, t.c.granularity).subquery()
    query = (
        select(t.c.metric, t.c.subject, t.c.slice, t.c.granularity, t.c.window_end, t.c.value, t.c.n)
        .join(
            sub,
            and_(
                t.c.metric == sub.c.metric,
                t.c.subject == sub.c.subject,
                t.c.slice == sub.c.slice,
                t.c.granularity == sub.c.granularity,
                t.c.window_start == sub.c.ws,
            ),
        )
        .order_by(t.c.metric, t.c.subject, t.c.slice, t.c.granularity)
    )
    value = _Family("recops_series_value", "Newest value of each monitored series (docs/metrics.md).")
    end = _Family("recops_series_window_end_seconds", "End of the window of that value (Unix time).")
    count = _Family("recops_series_observations", "Observations behind that value (n).")
    table = store.fetch_arrow(query)
    for row in table.to_pylist():
        labels = {k: str(row[k]) for k in ("metric", "subject", "slice", "granularity")}
        if row["value"] is not None:
            value.add(labels, float(row["value"]))
        end.add(labels, utc(row["window_end"]).timestamp())
        count.add(labels, float(row["n"] or 0))
    return [value, end, count]


def _alert_families(store: Store) -> list[_Family]:
    alert = _Family("recops_alert", "1 for every open recops alert (firing or acknowledged).")
    data_time = _Family("recops_alert_data_time_seconds", "Data time the open alert fired at (Unix time).")
    counts = _Family("recops_alerts", "Open alerts by state and severity.")
    groups = _Family("recops_alert_groups", "Open alert groups by state.")
    tally: Counter[tuple[str, str]] = Counter()
    with store.session() as session:
        rows = session.scalars(select(AlertRow).where(AlertRow.state.in_(OPEN_STATES)).order_by(AlertRow.id))
        for r in rows:
            labels = {
                "id": str(r.id),
                "group": f"g{r.group_id}",
                "detector": r.detector,
                "metric": r.metric,
                "subject": r.subject,
                "slice": r.slice,
                "granularity": r.granularity,
                "severity": r.severity,
                "state": r.state,
                "silenced": "true" if r.silence_id is not None else "false",
            }
            alert.add(labels, 1.0)
            data_time.add({"id": str(r.id)}, utc(r.data_time).timestamp())
            tally[(r.state, r.severity)] += 1
        group_tally = Counter(
            s
            for s in session.scalars(select(AlertGroupRow.state).where(AlertGroupRow.state.in_(OPEN_STATES)))
        )
    for state in OPEN_STATES:
        for severity in SEVERITIES:
            counts.add({"state": state, "severity": severity}, float(tally[(state, severity)]))
        groups.add({"state": state}, float(group_tally[state]))
    return [alert, data_time, counts, groups]


def _outbox_families(store: Store, at: datetime) -> list[_Family]:
    pending = _Family("recops_outbox_pending", "Notifications not yet delivered, by route.")
    oldest = _Family("recops_outbox_oldest_pending_seconds", "Age of the oldest undelivered notification.")
    with store.session() as session:
        rows = session.execute(
            select(AlertOutboxRow.route, func.count(), func.min(AlertOutboxRow.created_at))
            .where(AlertOutboxRow.state == "pending")
            .group_by(AlertOutboxRow.route)
            .order_by(AlertOutboxRow.route)
        ).all()
    for route, count, first in rows:
        pending.add({"route": route}, float(count))
        oldest.add({"route": route}, max(0.0, (at - utc(first)).total_seconds()))
    return [pending, oldest]
