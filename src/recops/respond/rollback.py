"""Roll a model's serving alias back to the last version that was good in production.

"Good" has two parts, both read from the workspace's own records:

* it **passed its gates**: its latest ``gate:<alias>`` validation (written by
  ``recops gate check``) has ``passed=True``;
* it was **healthy** over its last window on the alias: no alert attributed to it
  overlapped that window. An alert is attributed to version ``v`` when its slice is
  ``model_version=v`` or its group's cause is ``model_version:v``, unless its metric is
  about upstream data (arrival, quality, freshness and drift metrics show in every
  version's slice; rolling the model back would not fix them).
  Any alert counts whatever its state now (a resolved alert still fired while the version
  served).

A rollback moves the alias (audited by the registry, with the reason), appends a
``rollback`` audit entry with the evidence for the choice, and ingests a ``changes``
record of kind ``rollback`` through the normal ingest path, so the change is validated
like any other record and shows up in diagnosis and incident timelines. The serving
lookup (:func:`recops.registry.aliases.resolve_alias`) reads the alias row with no
cache, so it returns the new version at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import pyarrow as pa

from recops.catalog import load_catalog
from recops.detect.alerts import Alert, AlertGroup, list_alerts, list_groups
from recops.errors import InvalidInput, NotFound
from recops.ingest import ingest_table
from recops.lake import Lake
from recops.registry import audit
from recops.registry._canonical import iso, now, utc
from recops.registry.aliases import alias_history, resolve_alias, set_alias, windows
from recops.registry.entities import AliasWindow
from recops.registry.versions import default_actor, get_version, validations
from recops.store import Store


@dataclass(frozen=True)
class Candidate:
    """One version considered as a rollback target, with why it was (not) chosen."""

    version: str
    window: AliasWindow
    gates_passed: bool | None  # None: no gate result recorded for the alias
    alerts: tuple[int, ...]  # ids of alerts attributed to it over the window

    @property
    def eligible(self) -> bool:
        return self.gates_passed is True and not self.alerts

    def why(self) -> str:
        if self.gates_passed is None:
            return "no gate result"
        if not self.gates_passed:
            return "failed its gates"
        if self.alerts:
            return f"{len(self.alerts)} alert(s) attributed over its last window"
        return "passed its gates and was healthy"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "window": self.window.to_dict(),
            "gates_passed": self.gates_passed,
            "alerts": list(self.alerts),
            "eligible": self.eligible,
            "why": self.why(),
        }


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did."""

    model: str
    alias: str
    from_version: str
    to_version: str
    at: datetime
    actor: str
    reason: str
    audit_seq: int
    change_rows: int
    candidates: list[Candidate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "at": iso(self.at),
            "actor": self.actor,
            "reason": self.reason,
            "audit_seq": self.audit_seq,
            "change_rows": self.change_rows,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def gates_passed(store: Store, model: str, version: str, alias: str) -> bool | None:
    """The ``passed`` flag of the version's latest ``gate:<alias>`` validation (None: none)."""
    name = f"gate:{alias}"
    results = [v for v in validations(store, model, version) if v.name == name]
    return results[-1].passed if results else None


#: Metric families about the data upstream of the model: a stale feature group, a late
#: source or a drifted feature shows in every version's slice, and rolling the model back
#: would not fix it.
DATA_FAMILIES = frozenset({"arrival", "quality", "freshness", "drift"})


@cache
def _data_metrics() -> frozenset[str]:
    return frozenset(d.name for d in load_catalog(None) if d.family in DATA_FAMILIES)


def attributed(alert: Alert, group: AlertGroup | None, version: str) -> bool:
    """True when the alert is about ``version`` (its slice, or its group's cause) and its
    metric is not about upstream data."""
    if alert.metric in _data_metrics():
        return False
    return alert.model_version == version or (group is not None and group.cause == f"model_version:{version}")


def _overlaps(alert: Alert, start: datetime, end: datetime | None) -> bool:
    """The alert's data span meets [start, end): from its first data time to its resolution
    (or its last data time once closed; still open means it extends to now)."""
    if end is not None and utc(alert.data_time) >= utc(end):
        return False
    if alert.open and alert.resolved_data_time is None:
        return True
    return utc(alert.resolved_data_time or alert.last_data_time) >= utc(start)


def alerts_for(store: Store, version: str, start: datetime, end: datetime | None) -> list[Alert]:
    """Alerts attributed to ``version`` whose data span overlaps [start, end)."""
    groups = {g.id: g for g in list_groups(store)}
    return [
        a
        for a in list_alerts(store)
        if attributed(a, groups.get(a.group_id), version) and _overlaps(a, start, end)
    ]


def candidates(store: Store, model: str, alias: str = "production") -> list[Candidate]:
    """Every earlier version of the alias, most recent window first, with its verdict.

    Each version is judged on its LAST window on the alias (a version served twice is
    judged by its latest stint). The version the alias names now is not a candidate.
    """
    history = alias_history(store, model, alias)
    if not history:
        raise NotFound(f"model {model!r} has no alias {alias!r} history")
    current = resolve_alias(store, model, alias)[0]
    seen: set[str] = {current}
    out: list[Candidate] = []
    for w in sorted(windows(history), key=lambda w: w.start, reverse=True):
        if w.version in seen:
            continue
        seen.add(w.version)
        ids = tuple(a.id for a in alerts_for(store, w.version, w.start, w.end))
        out.append(Candidate(w.version, w, gates_passed(store, model, w.version, alias), ids))
    return out


def choose_target(store: Store, model: str, alias: str = "production") -> tuple[str, list[Candidate]]:
    """The most recent eligible version and every candidate considered.

    Raises:
        NotFound: no earlier version passed its gates and was healthy.
    """
    considered = candidates(store, model, alias)
    for c in considered:
        if c.eligible:
            return c.version, considered
    detail = "; ".join(f"{c.version}: {c.why()}" for c in considered) or "no earlier version on the alias"
    raise NotFound(f"no version of {model!r} to roll {alias!r} back to ({detail}); pass --to VERSION")


def change_record(model: str, version: str, at: datetime, actor: str, description: str) -> pa.Table:
    """The contract ``changes`` record of a rollback."""
    return pa.table(
        {
            "ts": pa.array([utc(at)], pa.timestamp("us", tz="UTC")),
            "kind": ["rollback"],
            "target": [model],
            "version": [version],
            "actor": [actor],
            "description": [description],
        }
    )


def rollback(
    store: Store,
    lake: Lake,
    model: str,
    *,
    to: str | None = None,
    alias: str = "production",
    reason: str | None = None,
    actor: str | None = None,
    at: datetime | None = None,
) -> RollbackResult:
    """Move ``alias`` of ``model`` back to ``to`` or to the last good version.

    Args:
        store: the metadata store.
        lake: the workspace lake the ``rollback`` change record is ingested into.
        model: model name.
        to: an explicit target version (an operator's choice; still must be registered).
        alias: the serving alias (default ``production``).
        reason: why; kept in the alias history, the audit log and the change record.
        actor: who (default $RECOPS_ACTOR or the login name).
        at: when the move takes effect (default now; not in the future).

    Raises:
        NotFound: no such model/alias/version, or no eligible target.
        InvalidInput: the target is the version the alias already names.
    """
    who = actor or default_actor()
    when = utc(at) if at is not None else now()
    current = resolve_alias(store, model, alias)[0]
    if to is None:
        target, considered = choose_target(store, model, alias)
    else:
        get_version(store, model, to)
        target, considered = to, candidates(store, model, alias)
    if target == current:
        raise InvalidInput(f"{model}:{alias} already names {target}")
    why = reason or f"rollback of {model}@{current}"
    set_alias(store, model, alias, target, actor=who, reason=why, at=when)
    with audit.registry_session(store) as session:
        entry = audit.append(
            session,
            actor=who,
            action="rollback",
            subject=f"{model}:{alias}",
            payload={
                "from": current,
                "to": target,
                "reason": why,
                "explicit": to is not None,
                "candidates": [c.to_dict() for c in considered],
            },
            at=when,
        )
    description = f"{alias}: {current} -> {target}; {why}"
    record = change_record(model, target, when, who, description)
    report = ingest_table(lake, "changes", record, origin="recops")
    if report.rows_stored + report.rows_duplicate != 1:
        raise InvalidInput(f"the rollback change record was not stored: {report.to_dict()}")
    return RollbackResult(
        model, alias, current, target, when, who, why, entry.seq, report.rows_stored, considered
    )
