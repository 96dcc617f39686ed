"""Gate policies: which checks a version must pass before a model's alias moves to it.

The workspace's ``gates.yaml`` (beside ``recops.toml``) maps a model (or ``"*"`` for any
model) to target aliases, each with its checks and their parameters::

    ranker:
      production:
        allow_marginal: false
        checks:
          lineage: {}
          offline_metrics: {margins: {ndcg_at_10: 0.005}, lower_is_better: [logloss]}
          canary: {min_impressions: 2000, max_relative_drop: 0.02}
          latency: {max_p99_ms: 400, max_p99_increase_ms: 25}

Without the file, or without an entry for the model and alias, :data:`DEFAULT_CHECKS` apply
with their default parameters. Errors name the key and the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recops.errors import ConfigError

POLICY_FILE = "gates.yaml"
KNOWN_CHECKS = ("lineage", "offline_metrics", "training_data", "skew", "canary", "counterfactual", "latency")
DEFAULT_CHECKS = ("lineage", "offline_metrics", "training_data", "canary", "latency")


@dataclass(frozen=True)
class GatePolicy:
    """The checks for one model and target alias, in run order, with their parameters."""

    model: str
    alias: str
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    allow_marginal: bool = False
    source: str = "defaults"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "checks": self.checks,
            "allow_marginal": self.allow_marginal,
            "source": self.source,
        }


def default_policy(model: str, alias: str) -> GatePolicy:
    return GatePolicy(model, alias, {name: {} for name in DEFAULT_CHECKS})


def load_policy(root: Path, model: str, alias: str, *, path: Path | None = None) -> GatePolicy:
    """The policy for ``model`` → ``alias`` from ``root/gates.yaml`` (or ``path``).

    Raises:
        ConfigError: unreadable YAML, a wrong shape or an unknown check (naming key and file).
    """
    file = path or root / POLICY_FILE
    if not file.exists():
        if path is not None:
            raise ConfigError("gate policy file not found", path=str(file))
        return default_policy(model, alias)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the gate policy: {exc}", path=str(file)) from None
    if data is None:
        return default_policy(model, alias)
    if not isinstance(data, dict):
        raise ConfigError("must map model names to aliases", path=str(file))
    entry = data.get(model, data.get("*"))
    key_model = model if model in data else "*"
    if entry is None:
        return default_policy(model, alias)
    if not isinstance(entry, dict):
        raise ConfigError("must map alias names to policies", key=key_model, path=str(file))
    body = entry.get(alias)
    if body is None:
        return default_policy(model, alias)
    key = f"{key_model}.{alias}"
    if not isinstance(body, dict):
        raise ConfigError("must be a mapping with 'checks'", key=key, path=str(file))
    unknown = sorted(set(body) - {"checks", "allow_marginal"})
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(unknown)}", key=key, path=str(file))
    allow = body.get("allow_marginal", False)
    if not isinstance(allow, bool):
        raise ConfigError("must be true or false", key=f"{key}.allow_marginal", path=str(file))
    raw = body.get("checks")
    checks: dict[str, dict[str, Any]]
    if raw is None:
        checks = {name: {} for name in DEFAULT_CHECKS}
    elif not isinstance(raw, dict) or not raw:
        raise ConfigError("must map check names to parameters", key=f"{key}.checks", path=str(file))
    else:
        checks = {}
        for name, params in raw.items():
            if name not in KNOWN_CHECKS:
                raise ConfigError(
                    f"unknown check {name!r}; known: {', '.join(KNOWN_CHECKS)}",
                    key=f"{key}.checks.{name}",
                    path=str(file),
                )
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise ConfigError("parameters must be a mapping", key=f"{key}.checks.{name}", path=str(file))
            checks[str(name)] = dict(params)
    return GatePolicy(model, alias, checks, allow, str(file))


def number(params: dict[str, Any], name: str, default: float, *, check: str) -> float:
    """A numeric parameter of a check, or ConfigError naming it."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"must be a number, got {value!r}", key=f"checks.{check}.{name}", path=POLICY_FILE)
    return float(value)
