"""Aliases (``production``, ``canary``, any name) with their full history.

``registry_aliases`` holds where each alias points now, one row keyed by (model, alias),
so the serving lookup :func:`lookup_alias` is one primary-key read and nothing is
cached. ``registry_alias_history`` holds every move with the time it took effect; the
history is append-only and in time order per alias, which is what :func:`served_at`
and the production windows read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, text

from recops.errors import InvalidInput, NotFound
from recops.registry import audit
from recops.registry._canonical import iso, now, utc
from recops.registry.entities import (
    AliasEvent,
    AliasState,
    AliasWindow,
    check_alias_name,
    check_model_name,
)
from recops.registry.reads import LATEST
from recops.registry.reads import alias_history as alias_history
from recops.registry.reads import windows as windows
from recops.registry.versions import default_actor, find_version_row
from recops.store import Store
from recops.store.tables import RegistryAliasEventRow, RegistryAliasRow

# Clock skew tolerated for a move dated slightly in the future.
FUTURE_SLACK = timedelta(minutes=5)

_RESOLVE = select(RegistryAliasRow.version, RegistryAliasRow.artifact_uri, RegistryAliasRow.moved_at).where(
    RegistryAliasRow.model == bindparam("model"), RegistryAliasRow.alias == bindparam("alias")
)


@dataclass(frozen=True)
class AliasTarget:
    """What an alias names now: the version, its artifact URI, and since when it has named it."""

    version: str
    artifact_uri: str
    since: datetime


def lookup_alias(store: Store, model: str, alias: str) -> AliasTarget:
    """The version an alias names now, its artifact URI and when the alias moved to it.

    One primary-key query on ``registry_aliases`` (the row carries ``moved_at``), so the
    three answers always belong together even while the alias is being moved; no cache,
    so a move is visible to the next call.

    Raises:
        NotFound: the model has no such alias.
    """
    with store.engine.connect() as conn:
        row = conn.execute(_RESOLVE, {"model": model, "alias": alias}).first()
    if row is None:
        raise _no_alias(model, alias, bool(store.read(LATEST, {"model": model, "limit": 1})))
    return AliasTarget(str(row[0]), str(row[1]), utc(row[2]))


def _no_alias(model: str, alias: str, registered: bool) -> NotFound:
    """The error for a missing alias: of an unknown model, say so (a typo in its name, often)."""
    if not registered:
        return NotFound(f"no model {model!r} in the registry (`recops registry list` shows them)")
    return NotFound(f"model {model!r} has no alias {alias!r}")


def resolve_alias(store: Store, model: str, alias: str) -> tuple[str, str]:
    """The version an alias names now and its artifact URI: :func:`lookup_alias` without the time.

    Raises:
        NotFound: the model has no such alias.
    """
    target = lookup_alias(store, model, alias)
    return target.version, target.artifact_uri


def set_alias(
    store: Store,
    model: str,
    alias: str,
    version: str,
    *,
    actor: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
    override: bool = False,
) -> AliasEvent | None:
    """Point ``alias`` at ``model@version`` from ``at`` (default now) on; audited.

    Args:
        store: the metadata store.
        model: model name.
        alias: alias name.
        version: a registered version.
        actor: who (default: $RECOPS_ACTOR or the login name).
        reason: why, kept in the history and the audit log.
        at: when the move took effect; not before the alias's last move, not in the future.
        override: the move bypassed a failed check (a gate); needs a reason.

    Returns:
        The history event, or None when the alias already names that version.

    Raises:
        NotFound: no such version.
        InvalidInput: bad names, an out-of-order time, or an override without a reason.
    """
    check_model_name(model)
    check_alias_name(alias)
    if override and not (reason and reason.strip()):
        raise InvalidInput("an override needs a reason")
    return _move(store, model, alias, version, actor=actor, reason=reason, at=at, override=override)


def remove_alias(
    store: Store,
    model: str,
    alias: str,
    *,
    actor: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> AliasEvent:
    """Stop ``alias`` naming any version (kept in the history; audited).

    Raises:
        NotFound: the alias does not exist now.
        InvalidInput: an out-of-order time.
    """
    check_model_name(model)
    check_alias_name(alias)
    event = _move(store, model, alias, None, actor=actor, reason=reason, at=at, override=False)
    assert event is not None
    return event


def _move(
    store: Store,
    model: str,
    alias: str,
    version: str | None,
    *,
    actor: str | None,
    reason: str | None,
    at: datetime | None,
    override: bool,
) -> AliasEvent | None:
    who = actor or default_actor()
    if at is not None and utc(at) > now() + FUTURE_SLACK:
        raise InvalidInput(f"an alias move cannot be dated in the future ({iso(utc(at))})")
    with audit.registry_session(store) as session:
        recorded = now()  # under the lock, so concurrent moves are dated in the order they happen
        when = utc(at) if at is not None else recorded
        current = session.get(RegistryAliasRow, (model, alias))
        artifact_uri = None
        if version is not None:
            artifact_uri = find_version_row(session, model, version).artifact_uri
            if current is not None and current.version == version:
                return None
        elif current is None:
            registered = session.execute(text(LATEST), {"model": model, "limit": 1}).first() is not None
            raise _no_alias(model, alias, registered)
        last = session.scalars(
            select(RegistryAliasEventRow.at)
            .where(RegistryAliasEventRow.model == model, RegistryAliasEventRow.alias == alias)
            .order_by(RegistryAliasEventRow.at.desc(), RegistryAliasEventRow.id.desc())
            .limit(1)
        ).first()
        if last is not None and when < utc(last):
            raise InvalidInput(
                f"{model}:{alias} last moved at {iso(utc(last))}; alias history is append-only, "
                f"so a move cannot be dated before it ({iso(when)})"
            )
        action = "alias.remove" if version is None else ("alias.override" if override else "alias.set")
        entry = audit.append(
            session,
            actor=who,
            action=action,
            subject=f"{model}:{alias}",
            payload={
                "model": model,
                "alias": alias,
                "version": version,
                "previous": current.version if current else None,
                "at": iso(when),
                "reason": reason,
                "override": override,
            },
            at=recorded,
        )
        session.add(
            RegistryAliasEventRow(
                model=model,
                alias=alias,
                version=version,
                at=when,
                recorded_at=recorded,
                actor=who,
                reason=reason,
                override=override,
                audit_seq=entry.seq,
            )
        )
        if version is None:
            assert current is not None
            session.delete(current)
        elif current is None:
            assert artifact_uri is not None
            session.add(
                RegistryAliasRow(
                    model=model, alias=alias, version=version, artifact_uri=artifact_uri, moved_at=when
                )
            )
        else:
            assert artifact_uri is not None
            current.version, current.artifact_uri, current.moved_at = version, artifact_uri, when
    return AliasEvent(model, alias, version, when, recorded, who, reason, override, entry.seq)


def current_aliases(store: Store, model: str) -> list[AliasState]:
    """Where each alias of ``model`` points now."""
    query = select(RegistryAliasRow).where(RegistryAliasRow.model == model).order_by(RegistryAliasRow.alias)
    with store.session() as session:
        return [AliasState(r.alias, r.version, utc(r.moved_at), "") for r in session.scalars(query)]


def aliases_by_version(store: Store) -> dict[tuple[str, str], list[str]]:
    """(model, version) -> the aliases naming it now, for every model."""
    out: dict[tuple[str, str], list[str]] = {}
    with store.session() as session:
        rows = session.execute(
            select(RegistryAliasRow.model, RegistryAliasRow.version, RegistryAliasRow.alias).order_by(
                RegistryAliasRow.alias
            )
        )
        for model, version, alias in rows:
            out.setdefault((model, version), []).append(alias)
    return out


def states_at(events: Sequence[AliasEvent], at: datetime) -> list[AliasState]:
    """Where each alias pointed at ``at``, from its history (events in time order)."""
    latest: dict[str, AliasEvent] = {}
    for e in events:
        if e.at <= at:
            latest[e.alias] = e
    return [
        AliasState(a, e.version, e.at, e.actor) for a, e in sorted(latest.items()) if e.version is not None
    ]


def served_at(store: Store, model: str, at: datetime) -> list[AliasState]:
    """Which version each alias of ``model`` named at ``at``.

    Raises:
        NotFound: the model has no alias history at all.
    """
    events = alias_history(store, model)
    if not events:
        raise NotFound(f"model {model!r} has no alias history")
    return states_at(events, utc(at))


def version_windows(store: Store, model: str, version: str) -> list[AliasWindow]:
    """The production (and other alias) windows of one version."""
    return [w for w in windows(alias_history(store, model)) if w.version == version]
