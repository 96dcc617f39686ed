"""Alert groups: one cause makes one group, not fifty alerts' worth of pages.

Each alert gets *cause keys* from its subject and slice, strongest first:

1. ``feature_group:G``: the subject is a feature group, or a feature that
   :class:`GroupingRules` maps to group ``G`` (a mapping passed in, e.g. from the
   feature store's catalog; or a feature named ``G.x``, ``G:x`` or ``G__x`` for a
   configured group ``G``): every feature of a stale group lands together;
2. ``source:S``: the subject is an upstream source;
3. ``model_version:V``: the slice is ``model_version=V``: every metric of one bad deploy;
4. ``stage:S``: the subject is a serving stage: its latency percentiles and burn rates;
5. ``series:M`` (or ``series:M/subject``): the metric, in any slice: one metric moving in
   every slice of the traffic is one problem;
6. ``slice:K=V``: the alert is in a slice other than a model version's: several metrics
   moving in one segment at once (CTR and play rate on ``device=android_tv`` after a deploy
   that hurt that device) are one problem. Weakest, so that a group of one alert is named
   after its metric, not its segment.

A new alert joins an open group (firing or acknowledged) that shares any of its keys and
whose data-time span, widened by ``proximity`` (2 hours by default) on both sides,
contains the alert's data time; if several qualify, the one sharing the strongest key
(then the oldest). Otherwise it opens a new group whose ``cause`` is its strongest key.
Joining adds the alert's keys to the group's, so a deploy that moves CTR overall and in
its own ``model_version`` slice, then play rate in that slice, is one group. A group is
firing while any member fires, acknowledged while all open members are acknowledged, and
resolved when every member is; a resolved group never reopens (a recurrence opens a new
one).

Groups are what people are told about on group-scoped routes (Slack and PagerDuty by
default): :func:`sync_groups` compares each changed group with what was last sent and
records one ``opened``, ``updated`` (new members, higher severity, or firing again after
an acknowledgement), ``acknowledged`` or ``resolved`` event, so a detection pass that
adds 30 members to a group sends one update, not 30. Silenced members do not count: a
group whose open members are all silenced says nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from recops.config import Config
from recops.detect.events import OPEN_STATES, record_group_event, severity_rank, utc
from recops.store.tables import AlertEventRow, AlertGroupRow, AlertRow

if TYPE_CHECKING:
    from recops.lake import Lake

DEFAULT_PROXIMITY = timedelta(hours=2)
_FEATURE_SEPARATORS = (".", ":", "__", "/")


def subject_kind_name(text: str) -> str:
    """A catalog ``subject`` description as a kind: ``feature group`` → ``feature_group``,
    ``stage ("" = end to end)`` → ``stage``."""
    return text.split("(", 1)[0].strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True)
class GroupingRules:
    """How alerts are grouped (see the module docstring).

    Attributes:
        feature_groups: feature name → the feature group it is served from.
        known_groups: configured feature group names (``[feature_groups]`` in recops.toml),
            for features named after their group (``user_profile.age``).
        feature_group_of: a function for anything else; returns None when unknown.
        proximity: how far in data time a member may be from the group's span.
    """

    feature_groups: Mapping[str, str] = field(default_factory=dict)
    known_groups: tuple[str, ...] = ()
    feature_group_of: Callable[[str], str | None] | None = None
    proximity: timedelta = DEFAULT_PROXIMITY

    @classmethod
    def for_workspace(
        cls,
        config: Config,
        feature_groups: Mapping[str, str] | None = None,
        proximity: timedelta = DEFAULT_PROXIMITY,
        *,
        lake: Lake | None = None,
    ) -> GroupingRules:
        """Rules knowing the configured feature groups (``[feature_groups]`` in recops.toml)
        and, optionally, a feature → group mapping such as :func:`feature_groups_from_lake`,
        or the ``lake`` to read that mapping from when a feature alert first needs it."""
        return cls(
            feature_groups=dict(feature_groups or {}),
            known_groups=tuple(config.feature_groups),
            feature_group_of=lake_feature_groups(lake) if lake is not None else None,
            proximity=proximity,
        )

    def group_of(self, feature: str) -> str | None:
        """The feature group of ``feature``, or None."""
        if feature in self.feature_groups:
            return self.feature_groups[feature]
        for group in self.known_groups:
            if any(feature.startswith(group + sep) for sep in _FEATURE_SEPARATORS):
                return group
        return self.feature_group_of(feature) if self.feature_group_of else None


def cause_keys(
    rules: GroupingRules, *, metric: str, subject: str, subject_kind: str, slice: str
) -> list[str]:
    """The alert's cause keys, strongest first (rules 1–6 of the module docstring)."""
    kind = subject_kind_name(subject_kind)
    keys: list[str] = []
    if subject:
        if kind == "feature_group":
            keys.append(f"feature_group:{subject}")
        elif kind in ("feature", ""):
            group = rules.group_of(subject)
            if group is not None:
                keys.append(f"feature_group:{group}")
        if kind == "source":
            keys.append(f"source:{subject}")
    if slice.startswith("model_version="):
        keys.append(f"model_version:{slice.split('=', 1)[1]}")
    if subject and kind == "stage":
        keys.append(f"stage:{subject}")
    keys.append(f"series:{metric}/{subject}" if subject else f"series:{metric}")
    if slice and not slice.startswith("model_version="):
        keys.append(f"slice:{slice}")
    return keys


def _keys_of(group: AlertGroupRow) -> list[str]:
    return list(json.loads(group.cause_keys or "[]"))


def assign_group(
    session: Session,
    alert: AlertRow,
    keys: list[str],
    rules: GroupingRules,
    at: datetime,
    *,
    candidates: list[AlertGroupRow] | None = None,
) -> AlertGroupRow:
    """Put a new alert into the open group it belongs to, or open one (module docstring).

    ``candidates`` are the open groups, when the caller keeps them (a detection pass);
    the joined group's data-time span is extended at once so later alerts of the same
    pass see it.
    """
    data_time = utc(alert.data_time)
    best: tuple[int, int, AlertGroupRow] | None = None
    if candidates is None:
        candidates = list(session.scalars(select(AlertGroupRow).where(AlertGroupRow.state.in_(OPEN_STATES))))
    for group in candidates:
        if group.state not in OPEN_STATES:
            continue
        lo = utc(group.first_data_time) - rules.proximity
        hi = utc(group.last_data_time) + rules.proximity
        if not lo <= data_time <= hi:
            continue
        shared = set(_keys_of(group))
        ranks = [i for i, k in enumerate(keys) if k in shared]
        if ranks and (best is None or (ranks[0], group.id) < best[:2]):
            best = (ranks[0], group.id, group)
    if best is not None:
        group = best[2]
        group.cause_keys = json.dumps(_keys_of(group) + [k for k in keys if k not in _keys_of(group)])
        extend_span(group, data_time)
    else:
        group = AlertGroupRow(
            uid=uuid.uuid4().hex,
            cause=keys[0],
            cause_keys=json.dumps(keys),
            state="firing",
            severity=alert.severity,
            first_data_time=data_time,
            last_data_time=data_time,
            raised_at=at,
            updated_at=at,
            notified_members=0,
            dirty=True,
            seq=0,
        )
        session.add(group)
        session.flush()
    alert.group_id = group.id
    return group


def extend_span(group: AlertGroupRow, data_time: datetime) -> None:
    """Widen the group's data-time span to ``data_time`` (exact values come from :func:`refresh_group`)."""
    group.first_data_time = min(utc(group.first_data_time), data_time)
    group.last_data_time = max(utc(group.last_data_time), data_time)


def members_of(session: Session, group: AlertGroupRow) -> list[AlertRow]:
    return list(session.scalars(select(AlertRow).where(AlertRow.group_id == group.id).order_by(AlertRow.id)))


def refresh_group(session: Session, group: AlertGroupRow, at: datetime) -> None:
    """Recompute a group's state, severity and data-time span from its members."""
    session.flush()
    members = members_of(session, group)
    if not members:
        return
    open_members = [m for m in members if m.state in OPEN_STATES]
    if any(m.state == "firing" for m in open_members):
        state = "firing"
    elif open_members:
        state = "acknowledged"
    else:
        state = "resolved"
    pool = open_members or members
    severity = max((m.severity for m in pool), key=severity_rank)
    first = min(utc(m.data_time) for m in members)
    last = max(utc(m.last_data_time) for m in members)
    if (state, severity, utc(group.first_data_time), utc(group.last_data_time)) != (
        group.state,
        group.severity,
        first,
        last,
    ):
        group.updated_at = at
    if state == "resolved" and group.state != "resolved":
        group.resolved_at = at
    group.state, group.severity = state, severity
    group.first_data_time, group.last_data_time = first, last
    group.dirty = True


def sync_groups(session: Session, at: datetime) -> list[AlertEventRow]:
    """Record one event per changed group since its last notification (module docstring)."""
    events: list[AlertEventRow] = []
    for group in session.scalars(select(AlertGroupRow).where(AlertGroupRow.dirty.is_(True))).all():
        members = members_of(session, group)
        visible = [m for m in members if m.silence_id is None]
        visible_open = [m for m in visible if m.state in OPEN_STATES]
        kind: str | None = None
        severity = max((m.severity for m in visible_open), key=severity_rank) if visible_open else None
        state = None
        if visible_open:
            state = "firing" if any(m.state == "firing" for m in visible_open) else "acknowledged"
        if group.notified_state is None:
            kind = "opened" if visible_open else None
        elif group.notified_state == "resolved":
            kind = None
        elif group.state == "resolved":
            kind = "resolved"
            severity, state = group.severity, "resolved"
        elif visible_open and state != group.notified_state:
            kind = "acknowledged" if state == "acknowledged" else "updated"
        elif visible_open and (
            len(visible) > group.notified_members
            or severity_rank(severity) > severity_rank(group.notified_severity)
        ):
            kind = "updated"
        if kind is not None and state is not None and severity is not None:
            events.append(record_group_event(session, group, members, kind, at=at, severity=severity))
            group.notified_state = state
            group.notified_severity = severity
            group.notified_members = len(visible)
        group.dirty = False
    return events


def lake_feature_groups(lake: Lake) -> Callable[[str], str | None]:
    """Feature → group from the lake's feature rows (:func:`feature_groups_from_lake`), read
    once, when the first feature alert asks: a pass that raises nothing reads nothing."""
    mapping: dict[str, str] | None = None

    def group_of(feature: str) -> str | None:
        nonlocal mapping
        if mapping is None:
            mapping = feature_groups_from_lake(lake)
        return mapping.get(feature)

    return group_of


def feature_groups_from_lake(lake: Lake, *, since: datetime | None = None) -> dict[str, str]:
    """Feature name → feature group, from the keys of the feature rows in the lake.

    A request feature named like a materialized one (``sessions_7d`` in ``user_profile``
    rows) belongs to that group; a name found in two groups is left out (ambiguous), and
    derived features (``item_ctr_7d_mean``) need the mapping or a function from the
    caller. ``since`` limits the scan to rows materialized from then on (a day or two is
    plenty: groups rarely change their columns).
    """
    where = "WHERE materialized_at >= $since" if since is not None else ""
    sql = f"""
        SELECT feature, min(feature_group) AS feature_group
        FROM (
            SELECT DISTINCT feature_group, unnest(map_keys("values")) AS feature
            FROM feature_rows {where}
            UNION
            SELECT DISTINCT feature_group, unnest(map_keys(value_strings)) AS feature
            FROM feature_rows {where}
        )
        GROUP BY feature
        HAVING count(DISTINCT feature_group) = 1
    """
    con = lake.connect()
    try:
        rows = con.execute(sql, {"since": since} if since is not None else {}).fetchall()
    finally:
        con.close()
    return {str(feature): str(group) for feature, group in rows}
