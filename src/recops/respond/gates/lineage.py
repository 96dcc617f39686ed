"""Check: the version's lineage is complete (artifact, data, code and environment digests)."""

from __future__ import annotations

from typing import Any

from recops.registry.entities import ModelVersion
from recops.respond.gates.result import CheckResult


def check_lineage(version: ModelVersion, params: dict[str, Any]) -> CheckResult:
    """Fails when any of the digests a reproduction needs is missing.

    Parameters: ``allow_dirty`` (default false): accept code with uncommitted changes when
    their diff digest is recorded.
    """
    allow_dirty = bool(params.get("allow_dirty", False))
    missing: list[str] = []
    if not version.artifact_digest:
        missing.append("artifact digest")
    if not version.datasets:
        missing.append("training datasets")
    missing += [f"digest of dataset {d.name or d.uri}" for d in version.datasets if not d.digest]
    code = version.code
    if code is None or not code.commit:
        missing.append("code commit")
    elif code.dirty and not (allow_dirty and code.diff_digest):
        missing.append("clean code (uncommitted changes)" if not allow_dirty else "diff digest of dirty code")
    if version.environment is None or not version.environment.digest:
        missing.append("environment digest")
    evidence = {
        "artifact_digest": version.artifact_digest,
        "datasets": {d.name or d.uri: d.digest for d in version.datasets},
        "code_commit": code.commit if code else None,
        "code_dirty": code.dirty if code else None,
        "environment_digest": version.environment.digest if version.environment else None,
        "missing": missing,
    }
    if missing:
        return CheckResult("lineage", "fail", "missing: " + ", ".join(missing), evidence)
    return CheckResult("lineage", "pass", "artifact, data, code and environment digests present", evidence)
