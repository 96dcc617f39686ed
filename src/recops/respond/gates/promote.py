"""Promotion behind the gate: move an alias to a version only when its latest
``gate:<alias>`` validation passed, or with an audited override that gives a reason."""

from __future__ import annotations

from datetime import datetime

from recops.errors import CheckFailed, InvalidInput
from recops.registry.aliases import set_alias
from recops.registry.entities import AliasEvent, ValidationResult, check_alias_name
from recops.registry.versions import validations
from recops.respond.gates.run import gate_name
from recops.store import Store


def latest_gate(store: Store, model: str, version: str, alias: str) -> ValidationResult | None:
    """The newest ``gate:<alias>`` validation of the version, if any."""
    found = [v for v in validations(store, model, version) if v.name == gate_name(alias)]
    return found[-1] if found else None


def promote(
    store: Store,
    model: str,
    version: str,
    alias: str,
    *,
    override: bool = False,
    reason: str | None = None,
    actor: str | None = None,
    at: datetime | None = None,
) -> tuple[AliasEvent | None, ValidationResult | None]:
    """Point ``alias`` at ``model@version`` if its gate passed.

    An override moves the alias anyway; it needs a non-empty reason and is recorded in the
    alias history and the audit log as ``alias.override`` with that reason.

    Raises:
        InvalidInput: an invalid alias name, an override without a reason, or a reason
            without an override.
        CheckFailed: the gate did not pass (or never ran) and there is no override.
        NotFound: no such version.
    """
    check_alias_name(alias)
    if override and not (reason and reason.strip()):
        raise InvalidInput("--override needs a non-empty --reason (it is audited)")
    gate = latest_gate(store, model, version, alias)
    passed = gate is not None and gate.passed
    if not passed and not override:
        why = "never ran" if gate is None else f"did not pass (audit entry #{gate.audit_seq})"
        raise CheckFailed(
            f"{model}@{version}: gate {gate_name(alias)} {why}; run `recops gate check {model}@{version} "
            f"--to {alias}`, or promote with --override --reason TEXT"
        )
    event = set_alias(
        store, model, alias, version, actor=actor, reason=reason, at=at, override=override and not passed
    )
    return event, gate
