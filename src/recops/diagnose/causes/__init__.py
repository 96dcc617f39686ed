"""Root-cause hypotheses, one module per kind of cause.

:data:`CAUSES` is the ordered tuple a diagnosis runs; each member is a function
``(ctx, found) -> list[Hypothesis]`` (:data:`~recops.diagnose.causes.base.Cause`), ``found``
holding what the members before it returned. Changes come last because they link to the
hypotheses about what they touched. Adding a kind of cause: one module, one line here,
one test (docs/diagnosis.md).
"""

from __future__ import annotations

from recops.diagnose.causes import arrivals, candidates, drift, freshness, latency, serving
from recops.diagnose.causes import changes as changes_module
from recops.diagnose.causes.arrivals import late_arrivals, schema_changes
from recops.diagnose.causes.base import LAYERS, Cause, Context, Hypothesis, Move, make, rank
from recops.diagnose.causes.candidates import candidate_sources
from recops.diagnose.causes.changes import changes
from recops.diagnose.causes.decay import model_decay
from recops.diagnose.causes.drift import drifted_features
from recops.diagnose.causes.freshness import stale_feature_groups
from recops.diagnose.causes.latency import stage_latency
from recops.diagnose.causes.serving import serving_rates
from recops.diagnose.causes.slices import slices

CAUSES: tuple[Cause, ...] = (
    slices,
    stale_feature_groups,
    drifted_features,
    late_arrivals,
    schema_changes,
    stage_latency,
    serving_rates,
    candidate_sources,
    model_decay,
    changes,
)

#: The hour series the built-in causes read (the moved metric's series are always read).
HOUR_SERIES: frozenset[str] = frozenset(
    m for module in (freshness, arrivals, latency, serving, candidates, changes_module) for m in module.READS
)
#: The day series they read (drift ratios; the moved metric's for slow trends).
DAY_SERIES: frozenset[str] = frozenset(drift.DAY_READS)

__all__ = [
    "CAUSES",
    "DAY_SERIES",
    "HOUR_SERIES",
    "LAYERS",
    "Cause",
    "Context",
    "Hypothesis",
    "Move",
    "make",
    "rank",
]
