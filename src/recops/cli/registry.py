"""``recops registry ...``: register, show, list, aliases, validations, verify, served, import."""

from __future__ import annotations

import json as jsonlib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, err_console, print_json, print_pairs, print_rows
from recops.errors import InvalidInput
from recops.registry import aliases as alias_lib
from recops.registry import audit as audit_lib
from recops.registry._canonical import iso, now, parse_time
from recops.registry.entities import ModelVersion, parse_ref
from recops.registry.lineage import summarize_partitions
from recops.registry.manifest import register_manifest
from recops.registry.mlflow_import import import_mlflow
from recops.registry.report import VersionReport, describe_version
from recops.registry.tracking import list_runs
from recops.registry.traffic import DEFAULT_GRACE, served_report
from recops.registry.verify import verify
from recops.registry.versions import list_versions, record_validation
from recops.workspace import Workspace

app = typer.Typer(
    help="Model registry: versions, lineage, aliases, validations and the audit log.", no_args_is_help=True
)
alias_app = typer.Typer(help="Aliases (production, canary, ...) and their history.", no_args_is_help=True)
app.add_typer(alias_app, name="alias")

LIVE_NONE = "live metrics: none stored for this version yet (`recops monitor run` computes them)"


@app.command("register")
def register_cmd(
    manifest: Annotated[
        Path, typer.Argument(help="YAML or JSON manifest (docs/registry.md).", show_default=False)
    ],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Register a model version from a manifest (for pipelines that are not Python).

    Local datasets are read and digested by recops; `code: capture` records the git
    state of the manifest's folder. Registering an existing MODEL@VERSION is refused.
    """
    with Workspace.open(workspace) as ws:
        version = register_manifest(ws.store, ws.lake, manifest)
    if json:
        print_json(version.to_dict())
    else:
        console.print(f"registered [bold]{version.ref}[/] ({version.record_digest})")


def _version_pairs(v: ModelVersion) -> list[tuple[str, Any]]:
    code = v.code
    code_text = None
    if code:
        state = (
            "dirty, diff " + (code.diff_digest or "?")
            if code.dirty
            else ("clean" if code.dirty is False else "")
        )
        code_text = f"{code.repo} @ {code.commit or '(no commit)'} {state}".strip()
    env = v.environment
    return [
        ("version", v.ref),
        ("artifact", v.artifact_uri),
        ("artifact digest", v.artifact_digest),
        ("created", f"{iso(v.created_at)} by {v.created_by} ({v.origin})"),
        ("code", code_text),
        ("environment", f"{env.digest} ({len(env.packages)} packages, python {env.python})" if env else None),
        ("run", v.run_id),
        ("record digest", v.record_digest),
        ("tags", v.tags or None),
    ]


def _print_report(report: VersionReport) -> None:
    v = report.version
    print_pairs(_version_pairs(v), title=v.ref)
    print_rows(
        [
            {
                "name": d.name,
                "role": d.role,
                "digest": d.digest,
                "rows": d.rows,
                "time range": f"{iso(d.time_min)} … {iso(d.time_max)}" if d.time_min else None,
                "uri": d.uri,
                "upstream": "; ".join(summarize_partitions(d.upstream)) or None,
            }
            for d in v.datasets
        ],
        ["name", "role", "digest", "rows", "time range", "uri", "upstream"],
        "datasets",
    )
    print_rows(
        [{"param": k, "value": p} for k, p in sorted(v.params.items())], ["param", "value"], "parameters"
    )
    print_rows(
        [{"metric": k, "value": f"{m:.6g}"} for k, m in sorted(v.metrics.items())],
        ["metric", "value"],
        "offline metrics",
    )
    print_rows(
        [
            {"check": r.name, "result": "passed" if r.passed else "FAILED", "at": iso(r.at), "by": r.actor,
             "origin": r.origin, "details": r.details or None}
            for r in report.validations
        ],
        ["check", "result", "at", "by", "origin", "details"],
        "validations",
    )  # fmt: skip
    print_rows(
        [{"alias": w.alias, "from": iso(w.start), "to": iso(w.end) or "now"} for w in report.windows],
        ["alias", "from", "to"],
        "production windows (alias history)",
    )
    if not report.live:
        console.print(f"[dim]{LIVE_NONE}[/]")
    else:
        for series in report.live:
            print_rows(
                [{"window": iso(t), "value": f"{x:.6g}"} for t, x in series.points],
                ["window", "value"],
                f"live: {series.name}",
            )


@app.command("show")
def show_cmd(
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION", show_default=False)],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """A version: lineage, offline metrics, validations and production windows."""
    model, version = parse_ref(ref)
    with Workspace.open(workspace) as ws:
        from recops.catalog import load_catalog
        from recops.monitors.live import StoredLiveMetrics

        live = StoredLiveMetrics(ws.store, load_catalog(ws.config.root))
        report = describe_version(ws.store, model, version, live=live)
    if json:
        print_json(report.to_dict())
    else:
        _print_report(report)


@app.command("list")
def list_cmd(
    model: Annotated[str | None, typer.Argument(help="Only this model.", show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="At most this many versions.")] = 50,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Registered versions, newest first, with the aliases naming them now."""
    with Workspace.open(workspace) as ws:
        versions = list_versions(ws.store, model, limit=limit)
        named = alias_lib.aliases_by_version(ws.store)
    rows: list[dict[str, Any]] = [
        {
            "ref": v.ref,
            "created_at": iso(v.created_at),
            "created_by": v.created_by,
            "origin": v.origin,
            "datasets": len(v.datasets),
            "aliases": named.get((v.model, v.version), []),
            "artifact_uri": v.artifact_uri,
        }
        for v in versions
    ]
    if json:
        print_json(rows)
    else:
        for r in rows:
            r["aliases"] = ", ".join(r["aliases"])
        print_rows(
            rows,
            ["ref", "created_at", "created_by", "origin", "datasets", "aliases", "artifact_uri"],
            "versions",
        )


@app.command("resolve")
def resolve_cmd(
    model: Annotated[str, typer.Argument(show_default=False)],
    alias: Annotated[str, typer.Argument(show_default=False)],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """The version an alias names now and its artifact URI (the serving lookup)."""
    with Workspace.open(workspace) as ws:
        version, uri = alias_lib.resolve_alias(ws.store, model, alias)
    if json:
        print_json({"model": model, "alias": alias, "version": version, "artifact_uri": uri})
    else:
        console.print(f"{model}:{alias} → [bold]{model}@{version}[/] {uri}")


@alias_app.command("set")
def alias_set_cmd(
    model: Annotated[str, typer.Argument(show_default=False)],
    alias: Annotated[str, typer.Argument(show_default=False)],
    version: Annotated[str, typer.Argument(show_default=False)],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history and the audit log).")] = None,
    at: Annotated[str | None, typer.Option(help="When it took effect (ISO 8601; default now).")] = None,
    override: Annotated[bool, typer.Option(help="The move bypasses a failed check; needs --reason.")] = False,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Point ALIAS of MODEL at VERSION."""
    with Workspace.open(workspace) as ws:
        event = alias_lib.set_alias(
            ws.store,
            model,
            alias,
            version,
            reason=reason,
            at=parse_time(at) if at else None,
            override=override,
        )
    if json:
        print_json(
            event.to_dict() if event else {"model": model, "alias": alias, "version": version, "moved": False}
        )
    elif event is None:
        console.print(f"{model}:{alias} already names {version}; nothing changed")
    else:
        console.print(f"{model}:{alias} → [bold]{version}[/] from {iso(event.at)}")


@alias_app.command("remove")
def alias_remove_cmd(
    model: Annotated[str, typer.Argument(show_default=False)],
    alias: Annotated[str, typer.Argument(show_default=False)],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    at: Annotated[str | None, typer.Option(help="When it took effect (ISO 8601; default now).")] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Stop ALIAS naming any version (the history keeps it)."""
    with Workspace.open(workspace) as ws:
        event = alias_lib.remove_alias(
            ws.store, model, alias, reason=reason, at=parse_time(at) if at else None
        )
    if json:
        print_json(event.to_dict())
    else:
        console.print(f"{model}:{alias} removed from {iso(event.at)}")


@alias_app.command("list")
def alias_list_cmd(
    model: Annotated[str, typer.Argument(show_default=False)],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Where each alias of MODEL points now."""
    with Workspace.open(workspace) as ws:
        states = alias_lib.current_aliases(ws.store, model)
    rows = [{"alias": s.alias, "version": s.version, "since": iso(s.since)} for s in states]
    if json:
        print_json(rows)
    else:
        print_rows(rows, ["alias", "version", "since"], f"aliases of {model}")


@alias_app.command("history")
def alias_history_cmd(
    model: Annotated[str, typer.Argument(show_default=False)],
    alias: Annotated[str | None, typer.Argument(help="Only this alias.", show_default=False)] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Every move of MODEL's aliases, in the order they took effect."""
    with Workspace.open(workspace) as ws:
        events = alias_lib.alias_history(ws.store, model, alias)
    rows = [e.to_dict() for e in events]
    if json:
        print_json(rows)
    else:
        for r in rows:
            r["version"] = r["version"] or "(removed)"
        print_rows(
            rows,
            ["at", "alias", "version", "actor", "reason", "override", "audit_seq"],
            f"alias history of {model}",
        )


@app.command("validate")
def validate_cmd(
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION", show_default=False)],
    check: Annotated[str, typer.Option("--check", help="Name of the check.", show_default=False)],
    passed: Annotated[bool, typer.Option("--passed/--failed", help="The result.", show_default=False)],
    details: Annotated[str | None, typer.Option(help="Details as a JSON object.")] = None,
    origin: Annotated[str, typer.Option(help="Where the result comes from (gate, ci, manual).")] = "manual",
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Attach a validation result to a version (append-only; audited)."""
    model, version = parse_ref(ref)
    parsed: dict[str, Any] = {}
    if details:
        try:
            loaded = jsonlib.loads(details)
        except ValueError as exc:
            raise InvalidInput(f"--details is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidInput("--details must be a JSON object")
        parsed = loaded
    with Workspace.open(workspace) as ws:
        result = record_validation(
            ws.store, model, version, name=check, passed=passed, details=parsed, origin=origin
        )
    if json:
        print_json(result.to_dict())
    else:
        console.print(f"{ref}: {check} {'passed' if passed else 'FAILED'} (audit entry #{result.audit_seq})")


@app.command("verify")
def verify_cmd(workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """Check the audit log's hash chain and the registry against it; exit 1 on any problem.

    Finds an edited entry, a deleted entry, a cut tail (the head is kept apart from the
    log), and versions, aliases or validations changed in the database behind the log.
    """
    with Workspace.open(workspace) as ws:
        report = verify(ws.store)
    if json:
        print_json(report.to_dict())
    elif report.ok:
        console.print(
            f"[green]ok[/]: {report.entries} audit entries chain to the head (#{report.head_seq}); "
            f"{report.versions} version(s) match their registration"
        )
    else:
        for p in report.problems:
            err_console.print(f"[bold red]{p.kind}[/]: {p.message}", highlight=False)
        err_console.print(f"{len(report.problems)} problem(s) in {report.entries} audit entries")
    if not report.ok:
        raise typer.Exit(1)


@app.command("served")
def served_cmd(
    model: Annotated[str, typer.Argument(show_default=False)],
    at: Annotated[str | None, typer.Option(help="The moment (ISO 8601; default now).")] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Compare the whole alias history with the request logs; exit 1 on findings."
        ),
    ] = False,
    aliases: Annotated[
        str | None, typer.Option(help="Aliases that route traffic, comma-separated (default: all).")
    ] = None,
    grace_minutes: Annotated[float, typer.Option(help="Lag tolerated between an alias move and serving.")] = (
        DEFAULT_GRACE.total_seconds() / 60
    ),
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Which version each alias named at a moment, and what the request logs say was served.

    With --check, flags versions that served traffic no alias named and alias moves that
    traffic never followed, over the whole history.
    """
    moment = parse_time(at) if at else None
    wanted = [a.strip() for a in aliases.split(",") if a.strip()] if aliases else None
    with Workspace.open(workspace) as ws:
        when = moment or now()
        out = served_report(
            ws.store,
            ws.lake,
            model,
            when,
            check=check,
            aliases=wanted,
            grace=timedelta(minutes=grace_minutes),
        )
    states, served = out["aliases"], out["traffic_around"]
    named = {s["version"] for s in states}
    report = out.get("check")
    if json:
        print_json(out)
    else:
        print_rows(states, ["alias", "version", "since", "actor"], f"{model} at {iso(when)}")
        if served:
            print_rows(
                [{"version": v, "requests (±30 min)": n, "named by alias": "yes" if v in named else "NO"}
                 for v, n in served.items()],
                ["version", "requests (±30 min)", "named by alias"],
                "served traffic",
            )  # fmt: skip
        if report is not None:
            if report["ok"]:
                console.print(
                    f"[green]traffic follows the aliases[/] ({report['requests']} requests checked)"
                )
            for f in report["findings"]:
                err_console.print(f"[bold red]{f['kind']}[/]: {f['message']}", highlight=False)
    if report is not None and not report["ok"]:
        raise typer.Exit(1)


@app.command("audit")
def audit_cmd(
    limit: Annotated[int, typer.Option(help="Newest entries to show.")] = 50,
    subject: Annotated[
        str | None, typer.Option(help="Only this subject, e.g. ranker@v13 or ranker:production.")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action; * matches anything (alias.*).")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """The audit log, newest first."""
    with Workspace.open(workspace) as ws:
        rows = [
            e.to_dict()
            for e in audit_lib.entries(
                ws.store, subject=subject, action=action, limit=limit, newest_first=True
            )
        ]
    if json:
        print_json(rows)
    else:
        for r in rows:
            r["hash"] = r["hash"][:12]
        print_rows(rows, ["seq", "at", "actor", "action", "subject", "payload", "hash"], "audit log")


@app.command("runs")
def runs_cmd(
    model: Annotated[str | None, typer.Argument(help="Only this model.", show_default=False)] = None,
    status: Annotated[str | None, typer.Option(help="running, failed or registered.")] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Training runs tracked by track_training, failed ones included."""
    with Workspace.open(workspace) as ws:
        runs = list_runs(ws.store, model, status=status)
    rows = [r.to_dict() for r in runs]
    if json:
        print_json(rows)
    else:
        print_rows(
            rows, ["run_id", "model", "status", "version", "started_at", "ended_at", "error"], "training runs"
        )


@app.command("import-mlflow")
def import_mlflow_cmd(
    tracking_uri: Annotated[
        str, typer.Option("--tracking-uri", help="http://HOST:PORT of MLflow.", show_default=False)
    ],
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Only this registered model (repeatable).")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Import registered models, versions, tags, aliases and datasets from MLflow's REST API.

    Running it again adds only what is new.
    """
    with Workspace.open(workspace) as ws:
        report = import_mlflow(ws.store, tracking_uri, models=model or None)
    if json:
        print_json(report.to_dict())
        return
    console.print(
        f"{len(report.models)} models: {len(report.added)} versions added, {len(report.skipped)} already "
        f"here, {len(report.not_ready)} not ready; {len(report.aliases_moved)} alias moves"
    )
    for ref in report.added:
        console.print(f"  + {ref}")
    for move in report.aliases_moved:
        console.print(f"  → {move}")
    for note in report.notes:
        err_console.print(f"[yellow]note[/]: {note}", highlight=False)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="registry")
