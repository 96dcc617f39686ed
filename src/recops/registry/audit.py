"""The append-only, hash-chained audit log and its separately kept head.

Entry ``n`` stores ``hash_n = sha256(canonical [n, at, actor, action, subject, payload,
hash_{n-1}])``; the first entry chains to :data:`GENESIS`. After every append the head
row (``audit_head``, a different table) is set to ``(n, hash_n)``. :func:`verify_chain`
walks the log and reports, by sequence number, an entry whose content no longer matches
its hash (edited), a gap in the numbering (deleted) and a head that points past the last
entry (a cut tail). Writers append inside :func:`registry_session`, which holds the
store's cross-process ``registry`` lock, so the chain never forks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recops.registry._canonical import canonical_json, iso, loads, now, utc
from recops.registry.entities import AuditEntry
from recops.store import Store
from recops.store.tables import AuditEntryRow, AuditHeadRow

CHAIN = "registry"
GENESIS = "0" * 64
LOCK = "registry"


@contextmanager
def registry_session(store: Store) -> Iterator[Session]:
    """A write session holding the registry lock: audit appends in it are serialized."""
    with store.lock(LOCK), store.session() as session:
        yield session


def entry_hash(
    seq: int, at: datetime, actor: str, action: str, subject: str, payload: str, prev_hash: str
) -> str:
    """The hash that chains entry ``seq`` to its predecessor."""
    text = canonical_json([seq, iso(at), actor, action, subject, payload, prev_hash])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any],
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry and move the head. Call inside :func:`registry_session`.

    Args:
        session: the registry write session.
        actor: who did it.
        action: what, e.g. ``version.register``, ``alias.set``, ``validation.record``.
        subject: what it is about, e.g. ``ranker@v13`` or ``ranker:production``.
        payload: the facts, JSON-able.
        at: when (default: now).

    Returns:
        The stored entry.
    """
    when = utc(at) if at is not None else now()
    head = session.get(AuditHeadRow, CHAIN)
    seq = (head.seq if head else 0) + 1
    prev = head.hash if head else GENESIS
    text = canonical_json(payload)
    digest = entry_hash(seq, when, actor, action, subject, text, prev)
    session.add(
        AuditEntryRow(
            seq=seq,
            at=when,
            actor=actor,
            action=action,
            subject=subject,
            payload=text,
            prev_hash=prev,
            hash=digest,
        )
    )
    if head is None:
        session.add(AuditHeadRow(chain=CHAIN, seq=seq, hash=digest, updated_at=when))
    else:
        head.seq, head.hash, head.updated_at = seq, digest, when
    session.flush()
    return AuditEntry(seq, when, actor, action, subject, payload, prev, digest)


def entry(row: AuditEntryRow) -> AuditEntry:
    """The domain object of an audit row."""
    return AuditEntry(
        seq=row.seq,
        at=utc(row.at),
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        payload=loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def entries(
    store: Store,
    *,
    subject: str | None = None,
    action: str | None = None,
    after: int = 0,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[AuditEntry]:
    """Read audit entries, oldest first (or newest first), optionally filtered."""
    query = select(AuditEntryRow).where(AuditEntryRow.seq > after)
    if subject is not None:
        query = query.where(AuditEntryRow.subject == subject)
    if action is not None:
        query = query.where(AuditEntryRow.action.like(action.replace("*", "%")))
    query = query.order_by(AuditEntryRow.seq.desc() if newest_first else AuditEntryRow.seq)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [entry(r) for r in session.scalars(query)]


@dataclass(frozen=True)
class Problem:
    """One thing ``verify`` found wrong.

    Attributes:
        kind: ``edited``, ``deleted``, ``cut_tail``, ``head``, ``relinked``, or a
            registry cross-check (``version_changed``, ``version_unregistered``,
            ``version_deleted``, ``alias_history``, ``alias_current``, ``validation``).
        seq: the audit entry concerned (first of a range), if any.
        message: a sentence naming it.
    """

    kind: str
    seq: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_chain` saw: entry count, the head and the problems."""

    entries: int
    last_seq: int
    head_seq: int | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole log and the head; report edited, deleted and missing-tail entries."""
    problems: list[Problem] = []
    expected, prev, count, last_seq, last_hash = 1, GENESIS, 0, 0, GENESIS
    rows = session.execute(
        select(
            AuditEntryRow.seq,
            AuditEntryRow.at,
            AuditEntryRow.actor,
            AuditEntryRow.action,
            AuditEntryRow.subject,
            AuditEntryRow.payload,
            AuditEntryRow.prev_hash,
            AuditEntryRow.hash,
        ).order_by(AuditEntryRow.seq)
    )
    for seq, at, actor, action, subject, payload, prev_hash, stored in rows:
        count += 1
        gap = seq > expected
        if gap:
            problems.append(_missing(expected, seq - 1, "deleted", f"before entry #{seq}"))
        recomputed = entry_hash(seq, utc(at), actor, action, subject, payload, prev_hash)
        if recomputed != stored:
            problems.append(
                Problem("edited", seq, f"entry #{seq} ({action} {subject}) was edited: its content no "
                        "longer matches its hash")
            )  # fmt: skip
        elif not gap and prev_hash != prev:
            # The entry is intact but does not chain to the one stored before it: that one
            # was rewritten together with its hash.
            problems.append(
                Problem("edited", seq - 1, f"entry #{seq - 1} was edited and re-hashed: entry #{seq} "
                        "no longer chains to it")
            )  # fmt: skip
        prev, expected, last_seq, last_hash = stored, seq + 1, seq, stored
    head = session.get(AuditHeadRow, CHAIN)
    head_seq = head.seq if head else None
    if head is None:
        if count:
            problems.append(Problem("head", None, "the audit head is missing although the log has entries"))
    elif head.seq > last_seq:
        where = f"after entry #{last_seq}: the head says the log ends at #{head.seq} (tail cut)"
        problems.append(_missing(last_seq + 1, head.seq, "cut_tail", where))
    elif head.seq < last_seq:
        message = f"entries #{head.seq + 1}–#{last_seq} were added without moving the head (at #{head.seq})"
        problems.append(Problem("head", head.seq + 1, message))
    elif head.hash != last_hash:
        problems.append(
            Problem("edited", last_seq, f"entry #{last_seq} does not match the head's hash (edited, or the "
                    "head was altered)")
        )  # fmt: skip
    return ChainReport(count, last_seq, head_seq, tuple(problems))


def _missing(first: int, last: int, kind: str, where: str) -> Problem:
    what = f"entry #{first} is" if first == last else f"entries #{first}–#{last} are"
    return Problem(kind, first, f"{what} missing ({'deleted' if kind == 'deleted' else 'cut'}) {where}")


def count_entries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)
