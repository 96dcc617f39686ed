"""Small simulated worlds shared by the simulator tests (generated once per session)."""

from __future__ import annotations

import pytest

from recops.sim import Incident, SimConfig, World, simulate

# Every incident kind once, one after another, in 16 days of 4,000 requests a day.
INCIDENTS = (
    Incident("no_effect_deploy", "2026-10-03T10:00", 48),
    Incident("stale_feature_group", "2026-10-05T06:00", 10),
    Incident("traffic_spike", "2026-10-05T19:00", 4),
    Incident("upstream_schema_change", "2026-10-06T08:00", 24),
    Incident("config_change", "2026-10-07T12:00", 1),
    Incident("latency_regression", "2026-10-07T16:00", 8),
    Incident("holiday", "2026-10-08T00:00", 24),
    Incident("late_arrivals", "2026-10-09T06:00", 8),
    Incident("candidate_source_outage", "2026-10-09T16:00", 6),
    Incident("bad_deploy_segment", "2026-10-10T10:00", 96),
    Incident("slow_metric_decay", "2026-10-14T12:00", 60),
)
INCIDENT_CONFIG = SimConfig(seed=11, days=16, requests_per_day=4_000, incidents=INCIDENTS)


@pytest.fixture(scope="session")
def incident_world() -> World:
    """16 days with one incident of every kind."""
    return simulate(INCIDENT_CONFIG)


@pytest.fixture(scope="session")
def small_world() -> World:
    """3 healthy days of 400 requests a day."""
    return simulate(SimConfig(seed=5, days=3, requests_per_day=400, incidents=[]))
