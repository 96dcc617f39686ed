"""Check: offline metrics non-inferior to the version now on the alias, within a margin each."""

from __future__ import annotations

from typing import Any

from recops.registry.entities import ModelVersion
from recops.respond.gates.result import CheckResult


def check_offline_metrics(
    candidate: ModelVersion, incumbent: ModelVersion | None, params: dict[str, Any]
) -> CheckResult:
    """Each metric of the incumbent must be matched: ``candidate >= incumbent - margin`` (or
    ``<= incumbent + margin`` for metrics in ``lower_is_better``).

    Parameters: ``margins`` (metric → absolute margin, default ``default_margin`` = 0),
    ``lower_is_better`` (metric names), ``metrics`` (only these; default all the incumbent's).
    """
    name = "offline_metrics"
    if incumbent is None:
        return CheckResult(name, "pass", "no version on the alias yet: nothing to be inferior to", {})
    margins = {str(k): float(v) for k, v in (params.get("margins") or {}).items()}
    default_margin = float(params.get("default_margin", 0.0))
    lower = set(params.get("lower_is_better") or ())
    wanted = list(params.get("metrics") or sorted(incumbent.metrics))
    rows: list[dict[str, Any]] = []
    worse: list[str] = []
    for metric in wanted:
        base = incumbent.metrics.get(metric)
        value = candidate.metrics.get(metric)
        margin = margins.get(metric, default_margin)
        if base is None:
            rows.append(
                {"metric": metric, "candidate": value, "incumbent": None, "ok": True, "note": "no baseline"}
            )
            continue
        if value is None:
            worse.append(f"{metric} (missing)")
            rows.append(
                {"metric": metric, "candidate": None, "incumbent": base, "margin": margin, "ok": False}
            )
            continue
        ok = value <= base + margin if metric in lower else value >= base - margin
        if not ok:
            worse.append(f"{metric} {value:.6g} vs {base:.6g} (margin {margin:g})")
        rows.append(
            {
                "metric": metric,
                "candidate": value,
                "incumbent": base,
                "margin": margin,
                "ok": ok,
                "lower_is_better": metric in lower,
            }
        )
    evidence = {"incumbent": incumbent.ref, "metrics": rows}
    if worse:
        return CheckResult(name, "fail", "inferior to " + incumbent.ref + ": " + "; ".join(worse), evidence)
    return CheckResult(name, "pass", f"non-inferior to {incumbent.ref} on {len(rows)} metric(s)", evidence)
