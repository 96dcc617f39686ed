"""Every injected incident makes a monitor series cross its default threshold, inside the
incident's window; no series crosses during the benign events.

One simulated world with every incident kind (``SimConfig.default_incidents``) is
ingested and monitored with the defaults; the default thresholds come from the metric
catalog and were set before this test was written (see docs/metrics.md for each reason),
never from these incidents. The test prints the table incident → family → series.

A window that holds part of a harmful incident as well as part of a benign event (the
day a stale feature group starts at 22:00 is also the last day of a quiet deploy) crosses
because of the harmful one: such crossings are not counted against the benign event.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from recops.catalog import load_catalog
from recops.monitors import read_series, run_monitors
from recops.monitors.thresholds import Crossing, crossings
from recops.sim import SimConfig, World
from recops.workspace import Workspace
from tests.unit.monitors.conftest import build_world_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

# Which series each harmful incident is expected to trip: (metric, subject or None for any).
EXPECTED: dict[str, list[tuple[str, str | None]]] = {
    "stale_feature_group": [("stale_feature_share", "{feature_group}")],
    "upstream_schema_change": [("schema_changes", "{source}"), ("feature_drift_ratio", "{feature}")],
    "slow_metric_decay": [("ctr", None)],
    "bad_deploy_segment": [("ctr", None)],
    "latency_regression": [
        ("latency_p95_ms", "{stage}"),
        ("latency_p99_ms", None),
        ("latency_burn_rate", None),
    ],
    "late_arrivals": [("late_partitions", "{source}"), ("missing_partitions", "{source}")],
    "candidate_source_outage": [("candidate_source_share", "{candidate_source}")],
}


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[Crossing], Workspace]]:
    root = tmp_path_factory.mktemp("incidents") / "ws"
    # 40k requests a day: enough traffic that an hour of one surface holds the 1,000
    # requests a p99 needs. Two quiet weeks first, then the 28 days of default incidents:
    # a baseline of the same hour of the week needs two earlier weeks, as in production.
    incidents = SimConfig.default_incidents("2026-10-15", 28)
    world = build_world_workspace(
        root, SimConfig(seed=7, start="2026-10-01", days=42, requests_per_day=40_000, incidents=incidents)
    )
    ws = Workspace.open(root)
    run_monitors(ws.config, ws.lake)
    found = crossings(ws.store, load_catalog(ws.config.root), ws.config.slo, ws.config.zone)
    yield world, found, ws
    ws.close()


def _overlaps(c: Crossing, start: datetime, end: datetime) -> bool:
    return c.window_start < end and c.window_end > start


def _incident_window(incident: Any) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(incident["start"]), datetime.fromisoformat(incident["end"])


def _subject(template: str | None, entity: dict[str, Any]) -> str | None:
    return None if template is None else template.format(**entity)


def _table(
    world: World, found: list[Crossing], ws: Workspace
) -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    """The incident table, the incidents missed, and the crossings during benign events."""
    catalog = load_catalog(ws.config.root)
    table: list[tuple[str, ...]] = []
    missed: list[str] = []
    false_alarms: list[str] = []
    incidents = world.truth.to_json()["incidents"]
    harmful = [_incident_window(i) for i in incidents if not i["benign"]]
    for incident in incidents:
        start, end = _incident_window(incident)
        inside = [c for c in found if _overlaps(c, start, end)]
        if incident["benign"]:
            alarms = [c for c in inside if not any(_overlaps(c, *w) for w in harmful)]
            false_alarms += [
                f"{incident['kind']}: {c.metric}[{c.subject}|{c.slice}] {c.granularity} {c.window_start}"
                for c in alarms
            ]
            note = f"{len(alarms)} crossings ({len(inside) - len(alarms)} in windows shared with an incident)"
            table.append((incident["kind"], "benign", note, ""))
            continue
        wanted = EXPECTED[incident["kind"]]
        hits = [
            c
            for c in inside
            for metric, subject in wanted
            if c.metric == metric and (subject is None or c.subject == _subject(subject, incident["entity"]))
        ]
        if not hits:
            missed.append(incident["kind"])
            table.append((incident["kind"], incident["expected_family"], "MISSED", ""))
            continue
        first = min(hits, key=lambda c: c.window_end)
        series = f"{first.metric}[{first.subject or '-'}|{first.slice or 'all'}] {first.granularity}"
        family = catalog.get(first.metric).family
        table.append((incident["kind"], family, series, f"{first.value:.4g} ({first.threshold})"))
    print()
    print(f"{'incident':<26} {'family':<10} {'first series to cross':<62} value (threshold)")
    for row in table:
        print(f"{row[0]:<26} {row[1]:<10} {row[2]:<62} {row[3]}")
    return table, missed, false_alarms


def test_every_incident_crosses_inside_its_window(monitored: tuple[World, list[Crossing], Workspace]) -> None:
    _, missed, _ = _table(*monitored)
    assert not missed, f"incidents no series caught: {missed}"


def test_benign_events_cross_nothing(monitored: tuple[World, list[Crossing], Workspace]) -> None:
    _, _, false_alarms = _table(*monitored)
    assert not false_alarms, false_alarms[:20]


def test_drift_crosses_only_on_days_holding_an_incident(
    monitored: tuple[World, list[Crossing], Workspace],
) -> None:
    """All-traffic feature drift crosses on the days an incident changed a feature, and on
    no day after it: the days inside an incident are left out of the later days' reference
    (docs/decisions/0034-drift-reference.md). Prints each feature's ratio per day."""
    world, found, ws = monitored
    harmful = [_incident_window(i) for i in world.truth.to_json()["incidents"] if not i["benign"]]
    points = read_series(ws.store, "feature_drift_ratio", slice="", granularity="day").to_pylist()
    features = sorted({p["subject"] for p in points})
    days = sorted({p["window_start"] for p in points})
    ratio = {(p["subject"], p["window_start"]): p["value"] for p in points}
    print()
    print("day   " + " ".join(f"{f[:14]:>14}" for f in features))
    for day in days:
        cells = (ratio.get((f, day)) for f in features)
        print(f"{day:%m-%d} " + " ".join("             -" if v is None else f"{v:>14.3f}" for v in cells))
    drifted = [c for c in found if c.metric == "feature_drift_ratio" and c.slice == ""]
    assert drifted, "no incident drifted a feature"
    outside = [c for c in drifted if not any(_overlaps(c, *w) for w in harmful)]
    assert not outside, [(c.subject, c.window_start, c.value) for c in outside]
