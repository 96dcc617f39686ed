"""``registry verify``: the audit chain, then the registry tables checked against it.

The chain (:func:`recops.registry.audit.verify_chain`) shows edited, deleted and cut
entries. The cross-checks then show registry rows changed behind the log's back: a
version whose stored record no longer hashes to the digest its registration entry
holds, alias history or current aliases that disagree with the logged moves, and
validation results that differ from their entries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recops.registry._canonical import iso, loads, utc
from recops.registry.audit import Problem, verify_chain
from recops.registry.versions import entities_of
from recops.store import Store
from recops.store.tables import (
    AuditEntryRow,
    RegistryAliasEventRow,
    RegistryAliasRow,
    RegistryValidationRow,
    RegistryVersionRow,
)


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`."""

    entries: int
    head_seq: int | None
    versions: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "versions": self.versions,
            "problems": [p.to_dict() for p in self.problems],
        }


def verify(store: Store) -> VerifyReport:
    """Check the audit chain and the registry against it; nothing is changed."""
    with store.session() as session:
        chain = verify_chain(session)
        problems = list(chain.problems)
        logged = _logged(session)
        versions = _check_versions(session, logged, problems)
        _check_aliases(session, logged, problems)
        _check_validations(session, logged, problems)
    return VerifyReport(chain.entries, chain.head_seq, versions, tuple(problems))


def _logged(session: Session) -> dict[int, tuple[str, str, dict[str, Any]]]:
    rows = session.execute(
        select(AuditEntryRow.seq, AuditEntryRow.action, AuditEntryRow.subject, AuditEntryRow.payload).where(
            AuditEntryRow.action.like("version.%")
            | AuditEntryRow.action.like("alias.%")
            | AuditEntryRow.action.like("validation.%")
        )
    )
    out: dict[int, tuple[str, str, dict[str, Any]]] = {}
    for seq, action, subject, payload in rows:
        try:
            out[seq] = (action, subject, loads(payload))
        except ValueError:
            continue  # an edited entry; the chain check names it
    return out


def _check_versions(
    session: Session, logged: dict[int, tuple[str, str, dict[str, Any]]], problems: list[Problem]
) -> int:
    registered = {subject: (seq, p) for seq, (a, subject, p) in logged.items() if a == "version.register"}
    rows = list(session.scalars(select(RegistryVersionRow).order_by(RegistryVersionRow.id)))
    seen: set[str] = set()
    for start in range(0, len(rows), 500):
        for v in entities_of(session, rows[start : start + 500]):
            ref = v.ref
            seen.add(ref)
            entry = registered.get(ref)
            recomputed = v.compute_digest()
            if recomputed != v.record_digest:
                problems.append(
                    Problem(
                        "version_changed",
                        entry[0] if entry else None,
                        f"{ref} was changed in the database: its lineage, parameters, metrics or digests no "
                        "longer match its record digest",
                    )
                )
            if entry is None:
                problems.append(
                    Problem("version_unregistered", None, f"{ref} has no registration entry in the audit log")
                )
            elif entry[1].get("record_digest") != v.record_digest and recomputed == v.record_digest:
                problems.append(
                    Problem(
                        "version_changed",
                        entry[0],
                        f"{ref} differs from what audit entry #{entry[0]} registered (record digest "
                        f"{v.record_digest} ≠ {entry[1].get('record_digest')})",
                    )
                )
    for ref, (seq, _payload) in sorted(registered.items(), key=lambda kv: kv[1][0]):
        if ref not in seen:
            problems.append(
                Problem(
                    "version_deleted", seq, f"{ref} (registered in entry #{seq}) is missing from the registry"
                )
            )
    return len(rows)


def _check_aliases(
    session: Session, logged: dict[int, tuple[str, str, dict[str, Any]]], problems: list[Problem]
) -> None:
    history = list(
        session.scalars(
            select(RegistryAliasEventRow).order_by(RegistryAliasEventRow.at, RegistryAliasEventRow.id)
        )
    )
    with_rows: set[int] = set()
    last: dict[tuple[str, str], RegistryAliasEventRow] = {}
    for h in history:
        with_rows.add(h.audit_seq)
        last[(h.model, h.alias)] = h
        entry = logged.get(h.audit_seq)
        where = f"{h.model}:{h.alias} → {h.version or '(removed)'} at {iso(utc(h.at))}"
        if entry is None or not entry[0].startswith("alias."):
            problems.append(Problem("alias_history", None, f"alias move {where} has no audit entry"))
            continue
        p = entry[2]
        if (p.get("model"), p.get("alias"), p.get("version"), p.get("at")) != (
            h.model,
            h.alias,
            h.version,
            iso(utc(h.at)),
        ):
            problems.append(
                Problem(
                    "alias_history",
                    h.audit_seq,
                    f"alias move {where} differs from audit entry #{h.audit_seq}",
                )
            )
    for seq, (action, subject, _p) in sorted(logged.items()):
        if action.startswith("alias.") and seq not in with_rows:
            problems.append(
                Problem(
                    "alias_history",
                    seq,
                    f"alias move of {subject} in entry #{seq} is missing from the history",
                )
            )
    current = {(r.model, r.alias): r.version for r in session.scalars(select(RegistryAliasRow))}
    expected = {k: h.version for k, h in last.items() if h.version is not None}
    for key in sorted(set(current) | set(expected)):
        if current.get(key) != expected.get(key):
            problems.append(
                Problem(
                    "alias_current",
                    None,
                    f"alias {key[0]}:{key[1]} points to {current.get(key) or 'nothing'} but its history says "
                    f"{expected.get(key) or 'nothing'}",
                )
            )


def _check_validations(
    session: Session, logged: dict[int, tuple[str, str, dict[str, Any]]], problems: list[Problem]
) -> None:
    refs = {
        i: f"{m}@{v}"
        for i, m, v in session.execute(
            select(RegistryVersionRow.id, RegistryVersionRow.model, RegistryVersionRow.version)
        )
    }
    counts: dict[int, int] = defaultdict(int)
    for r in session.scalars(select(RegistryValidationRow).order_by(RegistryValidationRow.id)):
        counts[r.audit_seq] += 1
        entry = logged.get(r.audit_seq)
        ref = refs.get(r.version_id, f"version #{r.version_id}")
        if entry is None or entry[0] != "validation.record":
            problems.append(Problem("validation", None, f"validation {r.name!r} of {ref} has no audit entry"))
            continue
        p = entry[2]
        if (entry[1], p.get("name"), p.get("passed"), p.get("details")) != (
            ref,
            r.name,
            r.passed,
            loads(r.details),
        ):
            problems.append(
                Problem(
                    "validation",
                    r.audit_seq,
                    f"validation {r.name!r} of {ref} differs from audit entry #{r.audit_seq}",
                )
            )
    for seq, (action, subject, p) in sorted(logged.items()):
        if action == "validation.record" and seq not in counts:
            problems.append(
                Problem(
                    "validation", seq, f"validation {p.get('name')!r} of {subject} (entry #{seq}) is missing"
                )
            )
