"""A post-mortem in Markdown, written from an incident's own records.

Sections: summary, impact (:mod:`recops.respond.impact`), timeline
(:mod:`recops.respond.timeline`), root cause (the diagnosis of the group's first alert,
:func:`recops.diagnose.diagnose.diagnose_alert`), detection and response, what would have
caught it earlier, and action items.

"What would have caught it earlier" is derived from the facts, not typed: for a model
version that reached production with passing gates, the gates did not check the metric
in the slice that moved; a detection later than one window after the start means the
first monitor to fire was not the most direct one. The first post-mortem of an incident
turns each of those findings into an open action item owned by ``owner`` (the operator,
else whoever opened the incident); items stay tracked until closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from recops.config import Config
from recops.detect.alerts import list_alerts
from recops.diagnose.diagnose import diagnose_alert
from recops.errors import RecopsError
from recops.lake import Lake
from recops.registry._canonical import iso
from recops.registry.versions import validations
from recops.respond.impact import Impact, impact
from recops.respond.incidents import Action, Incident, actions, add_action, get_incident
from recops.respond.timeline import Entry, timeline
from recops.store import Store

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class PostMortem:
    """A post-mortem: its facts and its Markdown."""

    incident: Incident
    impact: Impact
    timeline: list[Entry]
    root_cause: list[dict[str, Any]]
    earlier: list[str]
    actions: list[Action]
    markdown: str = field(repr=False, default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident.to_dict(),
            "impact": self.impact.to_dict(),
            "timeline": [e.to_dict() for e in self.timeline],
            "root_cause": self.root_cause,
            "what_would_have_caught_it_earlier": self.earlier,
            "actions": [a.to_dict() for a in self.actions],
        }


def root_cause(store: Store, lake: Lake, config: Config, inc: Incident, top: int = 3) -> list[dict[str, Any]]:
    """The best hypotheses of the diagnosis of the incident's first alert (empty without one)."""
    if inc.group_id is None:
        return []
    alerts = sorted(list_alerts(store, group_id=inc.group_id), key=lambda a: (a.data_time, a.id))
    if not alerts:
        return []
    try:
        d = diagnose_alert(store, lake, config, alerts[0].id)
    except RecopsError as exc:
        return [{"kind": "undetermined", "sentence": f"diagnosis failed: {exc}", "score": 0.0}]
    return [
        {"kind": h.kind, "entity": dict(h.entity), "score": h.score, "sentence": h.sentence}
        for h in d.findings[:top]
    ]


def earlier(store: Store, inc: Incident, causes: list[dict[str, Any]]) -> list[str]:
    """Findings on what would have caught the incident earlier."""
    out: list[str] = []
    slices = [h["entity"] for h in causes if h.get("kind") == "slice" and h.get("entity")]
    if inc.model and inc.version:
        gates = [v for v in validations(store, inc.model, inc.version) if v.name.startswith("gate:")]
        passed = [v.name for v in gates if v.passed]
        where = (
            ", ".join(f"{k}={v}" for s in slices for k, v in s.items() if isinstance(v, str)) or "per segment"
        )
        if passed:
            out.append(
                f"{inc.model}@{inc.version} passed {', '.join(passed)}: no gate checks the metric {where}"
            )
        elif not gates:
            out.append(f"{inc.model}@{inc.version} reached production with no gate result at all")
    ttd = inc.time_to_detect()
    if ttd is not None and ttd > WINDOW:
        kind, _, name = inc.cause.partition(":")
        subject = f"{kind} {name}" if name else "this cause"
        out.append(
            f"detection took {_span(ttd)} (more than one {_span(WINDOW)} window): "
            f"no monitor on {subject} fires on its first window"
        )
    if inc.mitigated_at is None:
        out.append("the incident was never mitigated: no playbook step was run")
    return out


def _span(d: timedelta | None) -> str:
    if d is None:
        return "-"
    minutes = int(d.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "-" if x is None else format(x, fmt)


def render(pm: PostMortem) -> str:
    """The Markdown document."""
    inc, imp = pm.incident, pm.impact
    lines = [
        f"# Post-mortem: incident {inc.id}: {inc.title}",
        "",
        "## Summary",
        "",
        f"- State: {inc.state}; severity {inc.severity}; cause `{inc.cause or 'unknown'}`"
        + (f"; model {inc.model}" if inc.model else ""),
        f"- Started: {iso(inc.started_at)}",
        f"- Detected: {iso(inc.detected_at)} (time to detect {_span(inc.time_to_detect())})",
        f"- Mitigated: {iso(inc.mitigated_at)} (time to mitigate {_span(inc.time_to_mitigate())})",
        f"- Resolved: {iso(inc.resolved_at)}",
        "",
        "## Impact",
        "",
        f"Window {iso(imp.start)} to {iso(imp.end)} ({_span(imp.end - imp.start)}), "
        "against the same hours one day earlier.",
        "",
        "| measure | during | baseline |",
        "|---|---|---|",
        f"| requests | {imp.during.requests} | {imp.baseline.requests} |",
        f"| impressions | {imp.during.impressions} | {imp.baseline.impressions} |",
        f"| CTR | {_num(imp.during.ctr)} | {_num(imp.baseline.ctr)} |",
        f"| play rate | {_num(imp.during.play_rate)} | {_num(imp.baseline.play_rate)} |",
        "",
        f"- Requests affected: {imp.during.requests}",
        f"- Clicks lost: {_num(imp.clicks_lost, '.1f')}",
        f"- Plays lost: {_num(imp.plays_lost, '.1f')}",
        "",
        "## Timeline",
        "",
        "| time (UTC) | kind | what | who |",
        "|---|---|---|---|",
    ]
    lines += [f"| {iso(e.at)} | {e.kind} | {e.text.replace('|', '/')} | {e.actor} |" for e in pm.timeline]
    lines += ["", "## Root cause", ""]
    if pm.root_cause:
        lines += [
            f"{i}. ({h['kind']}, score {h['score']:.2f}) {h['sentence']}"
            for i, h in enumerate(pm.root_cause, 1)
        ]
    else:
        lines.append("No diagnosed cause (no alert to diagnose).")
    lines += [
        "",
        "## Detection and response",
        "",
        f"- Time to detect: {_span(inc.time_to_detect())}.",
        f"- Time to mitigate: {_span(inc.time_to_mitigate())}.",
        f"- Playbook: {inc.playbook or 'none recorded'}.",
        "",
        "## What would have caught it earlier",
        "",
    ]
    lines += [f"- {x}" for x in pm.earlier] or ["- Nothing found: detection came within one window."]
    lines += ["", "## Action items", "", "| id | action | owner | state |", "|---|---|---|---|"]
    lines += [f"| {a.id} | {a.title} | {a.owner} | {a.state} |" for a in pm.actions]
    return "\n".join(lines) + "\n"


def postmortem(
    store: Store, lake: Lake, config: Config, incident_id: int, *, owner: str | None = None
) -> PostMortem:
    """Build the post-mortem of an incident; the first one seeds its action items."""
    inc = get_incident(store, incident_id)
    causes = root_cause(store, lake, config, inc)
    found = earlier(store, inc, causes)
    if not actions(store, incident_id=inc.id):
        for text in found:
            add_action(store, inc.id, f"Close the gap: {text}", owner or inc.opened_by)
    pm = PostMortem(
        inc, impact(lake, inc), timeline(store, lake, inc), causes, found, actions(store, incident_id=inc.id)
    )
    return PostMortem(pm.incident, pm.impact, pm.timeline, pm.root_cause, pm.earlier, pm.actions, render(pm))
