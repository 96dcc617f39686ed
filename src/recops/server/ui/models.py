"""Model pages: the registry's models, one model (versions, aliases, gates, live vs offline,
lineage, promote and rollback), and one version.

Everything shown comes from the registry library (``registry show`` / ``list`` / ``alias
history``); the live side of "live vs offline" is the monitors' stored points in the slice
``model_version=V``, handed to :func:`recops.registry.report.describe_version` through the
:class:`~recops.registry.report.LiveMetricsSource` hook the registry defines for this.
Promote and rollback post here and call the same functions as ``recops promote`` and
``recops rollback``, with the signed-in token as actor, which is what audits them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from recops.catalog import load_catalog
from recops.errors import NotFound, RecopsError
from recops.monitors.live import LIVE_GRANULARITY, StoredLiveMetrics
from recops.registry import aliases as alias_lib
from recops.registry import audit as audit_lib
from recops.registry.entities import LineageEdge, ModelVersion
from recops.registry.lineage import lineage_of, summarize_partitions
from recops.registry.report import VersionReport, describe_version
from recops.registry.versions import list_models, list_versions
from recops.respond.gates.promote import promote
from recops.respond.rollback import candidates, rollback
from recops.server.auth import require_page
from recops.server.tokens import Principal
from recops.server.ui.alerts import done, workspace
from recops.server.ui.charts import PALETTE, Chart, base_layout, figure, line_trace, local_time
from recops.server.ui.render import page

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal, Depends(require_page("viewer"))]
Operator = Annotated[Principal, Depends(require_page("operator"))]

#: The live metric drawn per version on the model page, when the monitors stored it.
PRIMARY = "ctr"


def live_summary(report: VersionReport) -> list[dict[str, Any]]:
    """Per metric: the live mean over the version's windows next to its offline value, if any."""
    offline = report.version.metrics
    rows = []
    for s in report.live or ():
        values = [v for _, v in s.points]
        match = next((k for k in (s.name, f"offline_{s.name}") if k in offline), None)
        rows.append({"metric": s.name, "unit": s.unit, "live": sum(values) / len(values) if values else None,
                     "windows": len(values), "offline_name": match,
                     "offline": offline.get(match) if match else None})  # fmt: skip
    return rows


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str
    href: str | None
    x: float
    y: float


NODE_W, NODE_H, COL_W, ROW_H, PAD = 200, 28, 240, 40, 16
COLUMNS = ("source", "dataset", "version", "alias")


def lineage_graph(edges: Iterable[LineageEdge], versions: Sequence[ModelVersion]) -> dict[str, Any]:
    """Nodes and edge paths of an inline SVG: sources → datasets → versions → aliases.

    Upstream partitions are folded into one node per source (a dataset is often built
    from hundreds of partitions); every version is a node even without recorded datasets.
    """
    datasets: dict[str, str] = {}
    for v in versions:
        for d in v.datasets:
            datasets[f"dataset:{d.digest or d.uri}"] = (d.name or d.uri.rsplit("/", 1)[-1]) + (
                f" ({d.digest[7:15]})" if d.digest and d.digest.startswith("sha256:") else ""
            )
    folded: set[tuple[str, str]] = set()
    ids: dict[str, tuple[str, str]] = {f"version:{v.ref}": ("version", v.ref) for v in versions}
    for e in edges:
        ends = []
        for node in (e.source, e.target):
            kind, _, rest = node.partition(":")
            if kind == "partition":
                node = "source:" + rest.split(":", 1)[0]
                ids[node] = ("source", node[7:])
            elif kind == "dataset":
                ids[node] = ("dataset", datasets.get(node, rest[:24]))
            else:
                ids[node] = (kind, rest)
            ends.append(node)
        folded.add((ends[0], ends[1]))
    used = [c for c in COLUMNS if any(k == c for k, _ in ids.values())]
    placed: dict[str, Node] = {}
    for col, kind in enumerate(used):
        members = sorted((n for n, (k, _) in ids.items() if k == kind), reverse=kind == "version")
        for row, node in enumerate(members):
            label = ids[node][1]
            href = f"/models/{label.replace('@', '/')}" if kind == "version" else None
            placed[node] = Node(node, label, kind, href, PAD + col * COL_W, PAD + row * ROW_H)
    paths = []
    for a, b in sorted(folded):
        s, t = placed[a], placed[b]
        x1, y1, x2, y2 = s.x + NODE_W, s.y + NODE_H / 2, t.x, t.y + NODE_H / 2
        mid = (x1 + x2) / 2
        paths.append(f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}")
    rows = max((sum(1 for n in placed.values() if n.kind == k) for k in used), default=0)
    return {
        "nodes": list(placed.values()),
        "paths": paths,
        "width": PAD * 2 + max(len(used) - 1, 0) * COL_W + NODE_W,
        "height": PAD * 2 + max(rows - 1, 0) * ROW_H + NODE_H,
        "node_w": NODE_W,
        "node_h": NODE_H,
    }


def gate_results(report: VersionReport) -> list[dict[str, Any]]:
    """The version's ``gate:<alias>`` validations, newest first, with each check's evidence."""
    out = []
    for v in reversed(report.validations):
        if not v.name.startswith("gate:"):
            continue
        checks = v.details.get("checks", []) if isinstance(v.details, dict) else []
        out.append({"result": v, "status": v.details.get("status") if v.details else None, "checks": checks})
    return out


def live_chart(model: str, reports: Sequence[VersionReport], zone: Any) -> Chart | None:
    """The primary live metric, one line per version over the windows it served."""
    traces = []
    for i, r in enumerate(sorted(reports, key=lambda r: r.version.created_at)):
        series = next((s for s in r.live or () if s.name == PRIMARY), None)
        if series is None or not series.points:
            continue
        x = [local_time(t, zone) for t, _ in series.points]
        traces.append(line_trace(x, [v for _, v in series.points], name=r.version.version,
                                 color=PALETTE[i % len(PALETTE)]))  # fmt: skip
    if not traces:
        return None
    for t in traces:
        t["mode"] = "lines+markers"
    layout = base_layout(title=f"live {PRIMARY} by version ({LIVE_GRANULARITY} windows, slice model_version)")
    return Chart(f"live-{model}", figure(traces, layout))


@router.get("/models")
def models_page(request: Request, _p: Viewer) -> Response:
    ws = workspace(request)
    named = alias_lib.aliases_by_version(ws.store)
    models = [
        {
            "name": m,
            "aliases": alias_lib.current_aliases(ws.store, m),
            "versions": list_versions(ws.store, m, limit=5),
        }
        for m in list_models(ws.store)
    ]
    return page(request, "models.html", {"models": models, "named": named})


@router.get("/models/{model}")
def model_page(request: Request, model: str, _p: Viewer) -> Response:
    ws = workspace(request)
    versions = list_versions(ws.store, model)
    if not versions:
        raise NotFound(f"no registered version of model {model!r}")
    live = StoredLiveMetrics(ws.store, load_catalog(ws.config.root))
    reports = [describe_version(ws.store, model, v.version, live=live) for v in versions]
    edges = [e for v in versions for e in lineage_of(ws.store, model, v.version).edges]
    aliases = alias_lib.current_aliases(ws.store, model)
    try:
        considered = candidates(ws.store, model, "production")
        rollback_problem = None
    except RecopsError as exc:
        considered, rollback_problem = [], str(exc)
    rows = [
        {"report": r, "gates": gate_results(r),
         "live": [m for m in live_summary(r) if m["offline_name"] or m["metric"] == PRIMARY]}
        for r in reports
    ]  # fmt: skip
    return page(
        request,
        "model.html",
        {"model": model, "rows": rows, "aliases": aliases,
         "history": alias_lib.alias_history(ws.store, model),
         "graph": lineage_graph(edges, versions), "chart": live_chart(model, reports, ws.config.zone),
         "candidates": considered, "rollback_problem": rollback_problem,
         "alias_names": sorted({a.alias for a in aliases} | {"production", "canary"})},
    )  # fmt: skip


@router.get("/models/{model}/{version}")
def version_page(request: Request, model: str, version: str, _p: Viewer) -> Response:
    ws = workspace(request)
    live = StoredLiveMetrics(ws.store, load_catalog(ws.config.root))
    report = describe_version(ws.store, model, version, live=live)
    lineage = lineage_of(ws.store, model, version)
    subject = report.version.ref
    entries = audit_lib.entries(ws.store, subject=subject, newest_first=True, limit=200)
    history = [e for e in alias_lib.alias_history(ws.store, model) if e.version == version]
    return page(
        request,
        "version.html",
        {"report": report, "v": report.version, "graph": lineage_graph(lineage.edges, [report.version]),
         "gates": gate_results(report), "live": live_summary(report), "audit": entries, "history": history,
         "chart": live_chart(f"{model}-{version}", [report], ws.config.zone),
         "upstream": {d.uri: summarize_partitions(d.upstream) for d in report.version.datasets}},
    )  # fmt: skip


@router.post("/models/{model}/promote")
def promote_form(
    request: Request,
    model: str,
    principal: Operator,
    version: Annotated[str, Form()],
    alias: Annotated[str, Form()] = "production",
    override: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """``recops promote MODEL@VERSION --to ALIAS [--override --reason ...]`` as the signed-in token."""
    ws = workspace(request)
    try:
        event, _gate = promote(
            ws.store, model, version, alias, override=override, reason=reason.strip() or None,
            actor=principal.actor,
        )  # fmt: skip
    except RecopsError as exc:
        return done(f"/models/{model}", f"not promoted: {exc}")
    if event is None:
        return done(f"/models/{model}", f"{model}:{alias} already names {version}; nothing changed")
    note = " (override, audited)" if event.override else ""
    return done(f"/models/{model}", f"{model}:{alias} → {version}{note}")


@router.post("/models/{model}/rollback")
def rollback_form(
    request: Request,
    model: str,
    principal: Operator,
    to: Annotated[str, Form()] = "",
    alias: Annotated[str, Form()] = "production",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """``recops rollback MODEL [--to V] [--alias A] [--reason ...]`` as the signed-in token."""
    ws = workspace(request)
    try:
        result = rollback(
            ws.store, ws.lake, model, to=to.strip() or None, alias=alias, reason=reason.strip() or None,
            actor=principal.actor,
        )  # fmt: skip
    except RecopsError as exc:
        return done(f"/models/{model}", f"not rolled back: {exc}")
    return done(
        f"/models/{model}",
        f"rolled back {model}:{result.alias} {result.from_version} → {result.to_version} "
        f"(audit #{result.audit_seq})",
    )
