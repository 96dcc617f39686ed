"""Diagnoses of alerts computed once and kept in the store.

A diagnosis reads tens of thousands of points and takes seconds; the pages and API that
show it are opened again and again while an incident is worked. So the diagnosis of an
alert is stored with the alert's ``updated_at`` it was computed for, served from the
store while the alert is unchanged, and recomputed when the alert changes (new windows,
resolution) or on request. The server's scheduler and the demo diagnose each alert
group's first alert right after detection, so the page is ready before anyone opens it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from recops.config import Config
from recops.detect.alerts import get_alert, list_alerts, list_groups
from recops.diagnose.diagnose import diagnose_alert
from recops.errors import RecopsError
from recops.lake import Lake
from recops.registry._canonical import utc
from recops.store import Store
from recops.store.tables import AlertDiagnosisRow


def stored_diagnosis(
    store: Store, lake: Lake, config: Config, alert_id: int, *, refresh: bool = False
) -> dict[str, Any]:
    """The diagnosis JSON of ``alert_id`` (``Diagnosis.to_json()`` plus ``computed_at``, ``seconds``).

    Raises:
        NotFound: no such alert, or nothing stored in its windows (as ``diagnose_alert``).
    """
    alert = get_alert(store, alert_id)
    if not refresh:
        with store.session() as session:
            row = session.get(AlertDiagnosisRow, alert_id)
            if row is not None and utc(row.alert_updated_at) == utc(alert.updated_at):
                return _with_meta(json.loads(row.body), row.computed_at, row.seconds)
    started = time.perf_counter()
    body = diagnose_alert(store, lake, config, alert_id).to_json()
    seconds = round(time.perf_counter() - started, 3)
    computed = datetime.now(UTC)
    with store.session() as session:
        session.merge(
            AlertDiagnosisRow(
                alert_id=alert_id, alert_updated_at=alert.updated_at, computed_at=computed,
                seconds=seconds, body=json.dumps(body, allow_nan=False),
            )
        )  # fmt: skip
    return _with_meta(body, computed, seconds)


def _with_meta(body: dict[str, Any], computed_at: datetime, seconds: float) -> dict[str, Any]:
    return body | {"computed_at": utc(computed_at).isoformat(), "seconds": seconds}


def diagnose_groups(
    store: Store,
    lake: Lake,
    config: Config,
    *,
    state: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, str | None]:
    """Diagnose the first alert of every group (``state`` filters) not diagnosed in its current state.

    Returns:
        group id → None when diagnosed (or already fresh), else why it could not be.
    """
    groups = list_groups(store, state=state)
    outcome: dict[int, str | None] = {}
    for i, group in enumerate(groups):
        members = list_alerts(store, group_id=group.id)
        if members:
            first = min(members, key=lambda a: (a.data_time, a.id))
            try:
                stored_diagnosis(store, lake, config, first.id)
                outcome[group.id] = None
            except RecopsError as exc:
                outcome[group.id] = str(exc)
        if progress is not None:
            progress(i + 1, len(groups))
    return outcome
