"""An incident's timeline, assembled from the store and the lake (nothing typed by hand).

Entries, each with a data time, a kind and a line of text:

* ``change``: every change record in the lake in the incident's span (deploys, canaries,
  rollbacks, config, feature pipelines...);
* ``alias``: every move of the model's aliases (registry history), with actor and reason;
* ``gate``: the gate results (``gate:<alias>`` validations) of the implicated version;
* ``alert``: each alert of the incident's group (or attributed to the implicated
  version) at its data time, and ``acknowledged`` / ``resolved`` lifecycle events;
* ``arrival``: partitions of the implicated source that landed in the span;
* ``incident``: the incident's own transitions (opened, mitigated, resolved);
* ``playbook``: playbook runs recorded against the incident.

The span is [start − 1 day, end + 1 hour], end being the resolution (else now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from recops.detect.alerts import Alert, events_of, list_alerts
from recops.lake import Lake
from recops.registry._canonical import iso, now, utc
from recops.registry.aliases import alias_history
from recops.registry.versions import validations
from recops.respond.incidents import Incident, events
from recops.respond.rollback import alerts_for
from recops.store import Store
from recops.store.tables import PlaybookRunRow

BEFORE = timedelta(days=1)
AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Entry:
    """One line of a timeline."""

    at: datetime
    kind: str
    text: str
    actor: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": iso(self.at), "kind": self.kind, "text": self.text, "actor": self.actor}


def span(inc: Incident) -> tuple[datetime, datetime]:
    end = inc.resolved_at or now()
    return inc.started_at - BEFORE, end + AFTER


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, tz=utc(now()).tzinfo)


def _lake_rows(lake: Lake, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    con = lake.connect()
    try:
        return con.execute(sql, params).fetchall()
    except Exception as exc:  # a lake without that kind yet has no view for it
        if "does not exist" in str(exc):
            return []
        raise
    finally:
        con.close()


def change_entries(lake: Lake, lo: datetime, hi: datetime) -> list[Entry]:
    rows = _lake_rows(
        lake,
        "SELECT epoch_us(ts), kind, target, version, actor, description FROM changes "
        "WHERE ts >= ? AND ts <= ? ORDER BY ts",
        [lo, hi],
    )
    out = []
    for us, kind, target, version, actor, description in rows:
        what = f"{target}@{version}" if version else str(target)
        text = f"change {kind}: {what}" + (f" ({description})" if description else "")
        out.append(Entry(_from_us(int(us)), "change", text, actor or ""))
    return out


def arrival_entries(lake: Lake, source: str, lo: datetime, hi: datetime) -> list[Entry]:
    rows = _lake_rows(
        lake,
        "SELECT epoch_us(landed_at), partition, row_count FROM arrivals "
        "WHERE source = ? AND landed_at >= ? AND landed_at <= ? ORDER BY landed_at",
        [source, lo, hi],
    )
    return [Entry(_from_us(int(us)), "arrival", f"{source} {p} landed ({n} rows)") for us, p, n in rows]


def _alerts(store: Store, inc: Incident, lo: datetime, hi: datetime) -> list[Alert]:
    found: dict[int, Alert] = {}
    if inc.group_id is not None:
        found.update((a.id, a) for a in list_alerts(store, group_id=inc.group_id))
    if inc.version is not None:
        found.update((a.id, a) for a in alerts_for(store, inc.version, lo, hi))
    return sorted(found.values(), key=lambda a: (a.data_time, a.id))


def alert_entries(store: Store, inc: Incident, lo: datetime, hi: datetime) -> list[Entry]:
    """Alert raises and lifecycle events; the slices of one series at one time make one entry."""
    seen: dict[tuple[datetime, str, str, str], list[int]] = {}
    first: dict[tuple[datetime, str, str, str], tuple[str, str]] = {}
    for a in _alerts(store, inc, lo, hi):
        happenings = [(utc(a.data_time), "raised", "")]
        for e in events_of(store, alert_id=a.id):
            if e.kind in ("acknowledged", "resolved"):
                when = utc(e.data_time) if e.data_time is not None else utc(e.at)
                happenings.append((when, e.kind, e.actor))
        for when, kind, actor in happenings:
            key = (when, kind, a.metric, a.subject)
            seen.setdefault(key, []).append(a.id)
            first.setdefault(key, (f"[{a.severity}] {a.summary}" if kind == "raised" else "", actor))
    out = []
    for key, ids in seen.items():
        when, kind, metric, subject = key
        summary, actor = first[key]
        more = f" (+{len(ids) - 1} slices)" if len(ids) > 1 else ""
        what = summary if kind == "raised" else f"{metric} {subject}".strip()
        out.append(Entry(when, "alert", f"alert {ids[0]}{more} {kind}: {what}", actor))
    return out


def registry_entries(store: Store, inc: Incident, lo: datetime, hi: datetime) -> list[Entry]:
    if not inc.model:
        return []
    out = []
    for e in alias_history(store, inc.model):
        if lo <= e.at <= hi:
            target = e.version or "(removed)"
            why = f": {e.reason}" if e.reason else ""
            flag = " [override]" if e.override else ""
            out.append(Entry(e.at, "alias", f"{inc.model}:{e.alias} -> {target}{flag}{why}", e.actor))
    if inc.version is not None:
        for v in validations(store, inc.model, inc.version):
            if v.name.startswith("gate:"):
                verdict = "passed" if v.passed else "failed"
                out.append(Entry(v.at, "gate", f"{inc.model}@{inc.version} {v.name} {verdict}", v.actor))
    return out


def incident_entries(store: Store, inc: Incident) -> list[Entry]:
    out = [
        Entry(
            e["at"], "incident", f"incident {e['kind']}" + (f": {e['note']}" if e["note"] else ""), e["actor"]
        )
        for e in events(store, inc.id)
    ]
    query = select(PlaybookRunRow).where(PlaybookRunRow.incident_id == inc.id).order_by(PlaybookRunRow.id)
    with store.session() as session:
        for r in session.scalars(query):
            mode = "dry run" if r.dry_run else ("ok" if r.ok else "failed")
            out.append(Entry(utc(r.started_at), "playbook", f"playbook {r.playbook} ({mode})", r.actor))
    return out


def timeline(store: Store, lake: Lake, inc: Incident) -> list[Entry]:
    """Every entry of the incident's timeline, in time order."""
    lo, hi = span(inc)
    out = change_entries(lake, lo, hi)
    out += alert_entries(store, inc, lo, hi)
    out += registry_entries(store, inc, lo, hi)
    out += incident_entries(store, inc)
    if inc.cause.startswith("source:"):
        out += arrival_entries(lake, inc.cause.split(":", 1)[1], lo, hi)
    return sorted(out, key=lambda e: e.at)
