"""Check: the training data is fresh and passed its data-quality validations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from recops.registry.entities import ModelVersion, ValidationResult
from recops.respond.gates.result import CheckResult


def check_training_data(
    version: ModelVersion, validations: list[ValidationResult], params: dict[str, Any]
) -> CheckResult:
    """Fresh: every training dataset's newest event is at most ``max_age_hours`` (default 72)
    older than the version's registration. Quality: the latest validation of the version
    whose name starts with ``quality_prefix`` (default ``data_quality``) passed, when there is
    one; ``require_quality: true`` makes a missing one inconclusive.
    """
    name = "training_data"
    max_age = timedelta(hours=float(params.get("max_age_hours", 72.0)))
    prefix = str(params.get("quality_prefix", "data_quality"))
    require_quality = bool(params.get("require_quality", False))
    train = [d for d in version.datasets if d.role == "train"] or list(version.datasets)
    ages: dict[str, float | None] = {}
    stale: list[str] = []
    unknown: list[str] = []
    for d in train:
        label = d.name or d.uri
        if d.time_max is None:
            ages[label] = None
            unknown.append(label)
            continue
        age = version.created_at - d.time_max
        ages[label] = age.total_seconds() / 3600
        if age > max_age:
            stale.append(f"{label} ({age.total_seconds() / 3600:.1f} h old)")
    latest: dict[str, ValidationResult] = {}
    for v in validations:
        if v.name.startswith(prefix):
            latest[v.name] = v
    failed = [n for n, v in latest.items() if not v.passed]
    evidence: dict[str, Any] = {
        "age_hours": ages,
        "max_age_hours": max_age.total_seconds() / 3600,
        "quality_validations": {n: v.passed for n, v in latest.items()},
    }
    if not train:
        return CheckResult(name, "fail", "no training dataset registered", evidence)
    if stale or failed:
        parts = [f"stale: {', '.join(stale)}"] if stale else []
        parts += [f"quality failed: {', '.join(failed)}"] if failed else []
        return CheckResult(name, "fail", "; ".join(parts), evidence)
    if unknown:
        return CheckResult(name, "inconclusive", f"no event-time range for {', '.join(unknown)}", evidence)
    if require_quality and not latest:
        return CheckResult(name, "inconclusive", f"no {prefix}* validation recorded", evidence)
    return CheckResult(
        name, "pass", "training data fresh" + (" and quality passed" if latest else ""), evidence
    )
