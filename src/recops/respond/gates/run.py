"""Run a gate policy for ``MODEL@VERSION → ALIAS`` and record the result on the version.

The result is stored with :func:`recops.registry.versions.record_validation` as the
validation named ``gate:<alias>`` (origin ``gate``) whose ``passed`` flag is the verdict and
whose details are every check's evidence; ``promote`` and ``rollback`` read it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recops.config import Config
from recops.errors import NotFound
from recops.lake import Lake
from recops.registry.aliases import resolve_alias
from recops.registry.entities import ModelVersion, ValidationResult
from recops.registry.versions import get_version, record_validation, validations
from recops.respond.gates.canary import check_canary
from recops.respond.gates.canary_data import CanaryRequests, read_canary, served_window
from recops.respond.gates.counterfactual import check_counterfactual
from recops.respond.gates.latency import check_latency
from recops.respond.gates.lineage import check_lineage
from recops.respond.gates.offline import check_offline_metrics
from recops.respond.gates.policy import GatePolicy, load_policy
from recops.respond.gates.result import CheckResult, Period
from recops.respond.gates.skew import check_skew
from recops.respond.gates.training_data import check_training_data
from recops.store import Store


def gate_name(alias: str) -> str:
    """The validation name a gate result is stored under."""
    return f"gate:{alias}"


@dataclass
class GateReport:
    """The outcome of one gate run."""

    model: str
    version: str
    alias: str
    policy: GatePolicy
    control: str | None
    canary_window: Period | None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst status: fail > inconclusive > marginal > pass."""
        order = ("pass", "marginal", "inconclusive", "fail")
        return max((c.status for c in self.checks), key=order.index, default="inconclusive")

    @property
    def passed(self) -> bool:
        ok = {"pass", "marginal"} if self.policy.allow_marginal else {"pass"}
        return bool(self.checks) and all(c.status in ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _finite(
            {
                "model": self.model,
                "version": self.version,
                "alias": self.alias,
                "status": self.status,
                "passed": self.passed,
                "control": self.control,
                "canary_window": self.canary_window.to_json() if self.canary_window else None,
                "policy": self.policy.to_json(),
                "checks": [c.to_json() for c in self.checks],
            }
        )
        return out


def _finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become None (the audit log's canonical JSON refuses them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _incumbent(store: Store, model: str, alias: str) -> ModelVersion | None:
    try:
        version, _ = resolve_alias(store, model, alias)
    except NotFound:
        return None
    return get_version(store, model, version)


def run_gate(
    store: Store,
    lake: Lake,
    config: Config,
    model: str,
    version: str,
    alias: str,
    *,
    canary_window: Period | None = None,
    propensities: Path | None = None,
    policy: GatePolicy | None = None,
    record: bool = True,
    actor: str | None = None,
) -> tuple[GateReport, ValidationResult | None]:
    """Run every check of the policy and (by default) record the result on the version.

    The control of the canary and latency checks is the version now on ``alias`` (or the
    canary check's ``control`` parameter); the canary window defaults to the span during
    which both versions served requests. The stored result and its audit entry name
    ``actor`` as who ran the check (default: $RECOPS_ACTOR or the login name), as every
    validation names its author.

    Raises:
        NotFound: no such version.
        ConfigError: a bad policy file.
    """
    candidate = get_version(store, model, version)
    policy = policy or load_policy(config.root, model, alias)
    checks = dict(policy.checks)
    if propensities is not None and "counterfactual" not in checks:
        checks["counterfactual"] = {}
    incumbent = _incumbent(store, model, alias)
    control = str(checks.get("canary", {}).get("control") or (incumbent.version if incumbent else "")) or None
    report = GateReport(model, version, alias, policy, control, canary_window)
    canary_data: CanaryRequests | None = None
    canary_problem = ""
    if {"canary", "latency"} & set(checks):
        if control is None or control == version:
            canary_problem = f"no control version (alias {alias!r} names {control or 'nothing'})"
        else:
            try:
                window = canary_window or served_window(lake, model, version, control)
                report.canary_window = window
                canary_data = read_canary(lake, model, version, control, window, config.monitors.context_keys)
            except NotFound as exc:
                canary_problem = str(exc)
    for name, params in checks.items():
        if name == "lineage":
            result = check_lineage(candidate, params)
        elif name == "offline_metrics":
            result = check_offline_metrics(candidate, incumbent, params)
        elif name == "training_data":
            result = check_training_data(candidate, validations(store, model, version), params)
        elif name == "skew":
            result = check_skew(lake, candidate, params)
        elif name in ("canary", "latency") and canary_data is None:
            result = CheckResult(name, "inconclusive", canary_problem, {})
        elif name == "canary":
            assert canary_data is not None and control is not None
            result = check_canary(canary_data, params, control=control, candidate=version)
        elif name == "latency":
            assert canary_data is not None
            result = check_latency(canary_data, params, config.slo)
        else:  # counterfactual
            result = check_counterfactual(lake, propensities, canary_window, params)
        report.checks.append(result)
    stored = None
    if record:
        stored = record_validation(
            store,
            model,
            version,
            name=gate_name(alias),
            passed=report.passed,
            details=report.to_json(),
            origin="gate",
            actor=actor,
        )
    return report, stored
