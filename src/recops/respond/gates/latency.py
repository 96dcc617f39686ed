"""Check: the latency budget, from the canary (or shadow) requests of the candidate."""

from __future__ import annotations

from typing import Any

import numpy as np

from recops.respond.gates.canary_data import CanaryRequests
from recops.respond.gates.result import CheckResult


def check_latency(c: CanaryRequests, params: dict[str, Any], slo: dict[str, float]) -> CheckResult:
    """The candidate's end-to-end p99 must stay under ``max_p99_ms`` (default the workspace's
    ``[slo] latency_p99_ms``) and within ``max_p99_increase_ms`` (default 25) of the control's
    p99 over the same window; fewer than ``min_requests`` (default 500) is inconclusive."""
    budget = float(params.get("max_p99_ms", slo.get("latency_p99_ms", 250.0)))
    increase = float(params.get("max_p99_increase_ms", 25.0))
    min_requests = int(params.get("min_requests", 500))
    cand, ctrl = c.latency_ms[c.candidate], c.latency_ms[~c.candidate]
    evidence: dict[str, Any] = {
        "budget_p99_ms": budget,
        "max_p99_increase_ms": increase,
        "candidate_requests": int(cand.size),
        "control_requests": int(ctrl.size),
    }
    if cand.size < min_requests:
        return CheckResult(
            "latency", "inconclusive", f"{cand.size} canary requests (< {min_requests})", evidence
        )
    p99 = float(np.quantile(cand, 0.99))
    base = float(np.quantile(ctrl, 0.99)) if ctrl.size else None
    evidence.update(
        {"candidate_p99_ms": p99, "control_p99_ms": base, "candidate_p50_ms": float(np.median(cand))}
    )
    problems = []
    if p99 > budget:
        problems.append(f"p99 {p99:.1f} ms over the {budget:.0f} ms budget")
    if base is not None and p99 - base > increase:
        problems.append(f"p99 {p99 - base:+.1f} ms against the control (max +{increase:.0f})")
    if problems:
        return CheckResult("latency", "fail", "; ".join(problems), evidence)
    return CheckResult("latency", "pass", f"p99 {p99:.1f} ms within budget", evidence)
