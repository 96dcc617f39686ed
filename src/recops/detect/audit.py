"""People's actions on alerts, written to the registry's hash-chained audit log.

Acknowledging, resolving by hand and silencing are decisions someone answers for, so
besides the alert's own events they are appended to the one audit log recops keeps
(``recops registry verify`` checks its chain). The registry is imported on first use:
listing alerts or routing notifications does not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from recops.store import Store

ALERTS_LOCK = "alerts"


@contextmanager
def human_session(store: Store) -> Iterator[Session]:
    """A write session holding the audit log's lock, then the alerts lock (always this order)."""
    from recops.registry.audit import registry_session

    with registry_session(store) as session, store.lock(ALERTS_LOCK):
        yield session


def record(
    session: Session, *, actor: str, action: str, subject: str, payload: dict[str, Any], at: datetime
) -> None:
    """Append one entry (``alert.acknowledge``, ``alert.resolve``, ``alert.silence``...)."""
    from recops.registry.audit import append

    append(session, actor=actor, action=action, subject=subject, payload=payload, at=at)
