"""recops.sim: a simulated video-streaming recommendation platform with injectable
incidents, for the demo, tests and benchmarks (docs/simulator.md).

>>> from recops.sim import SimConfig, simulate
>>> world = simulate(SimConfig(seed=1, days=2, requests_per_day=500, incidents=[]))
>>> sorted(world.tables)
['arrivals', 'changes', 'feature_rows', 'outcomes', 'requests']
"""

from __future__ import annotations

from recops.sim.config import Incident as Incident
from recops.sim.config import SimConfig as SimConfig
from recops.sim.incidents import IncidentKind as IncidentKind
from recops.sim.incidents import incident_kinds as incident_kinds
from recops.sim.manifest import BrokenRecord as BrokenRecord
from recops.sim.manifest import KindManifest as KindManifest
from recops.sim.manifest import WriteManifest as WriteManifest
from recops.sim.truth import GroundTruth as GroundTruth
from recops.sim.truth import IncidentTruth as IncidentTruth
from recops.sim.world import World as World
from recops.sim.world import simulate as simulate

__all__ = [
    "BrokenRecord",
    "GroundTruth",
    "Incident",
    "IncidentKind",
    "IncidentTruth",
    "KindManifest",
    "SimConfig",
    "World",
    "WriteManifest",
    "incident_kinds",
    "simulate",
]
