"""``/api/gate/check``, ``/api/promote``, ``/api/rollback``, ``/api/playbooks``: responding to a bad deploy.

All writes here need an operator token. Promote and rollback audit themselves with the
token as actor; a gate check records its result as a ``gate:<alias>`` validation with
the token as actor; a playbook run is recorded in ``playbook_runs`` and, since that table
is not the audit log, also appended to the audit log here (``playbook.run``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recops.errors import InvalidInput
from recops.registry._canonical import now, parse_time
from recops.registry.entities import check_alias_name, parse_ref
from recops.respond.gates.promote import promote as promote_version
from recops.respond.gates.result import Period
from recops.respond.gates.run import run_gate
from recops.server.api._common import AUTH_RESPONSES, WS, Operator, Viewer, audit_write, reply
from recops.server.tokens import Principal
from recops.workspace import ENV_VAR, Workspace

router = APIRouter(tags=["respond"], responses=AUTH_RESPONSES)

# A playbook step's command is split like a shell line after its {placeholders} are
# filled, so a value with spaces or quotes would add arguments; API callers get plain values.
SAFE_PARAM = re.compile(r"^[A-Za-z0-9_.:@=,+/%-]*$")
STEP_TIMEOUT_SECONDS = 600.0


class GateCheckIn(BaseModel):
    ref: str = Field(description="MODEL@VERSION to check.", examples=["ranker@v13"])
    to: str = Field(description="Target alias, e.g. production.")
    canary_from: str | None = Field(default=None, description="Canary window start (ISO 8601, naive = UTC).")
    canary_to: str | None = Field(default=None, description="Canary window end.")


class PromoteIn(BaseModel):
    ref: str = Field(description="MODEL@VERSION to promote.", examples=["ranker@v13"])
    to: str = Field(description="Alias to move, e.g. production.")
    override: bool = Field(
        default=False, description="Move even though the gate did not pass; needs a reason."
    )
    reason: str | None = Field(default=None, description="Why (kept in the history and the audit log).")
    at: str | None = Field(default=None, description="When it took effect (ISO 8601; default now).")


class RollbackIn(BaseModel):
    model: str
    to: str | None = Field(default=None, description="Target version (default: the last good one).")
    alias: str = "production"
    reason: str | None = None


class PlaybookRunIn(BaseModel):
    dry_run: bool = Field(default=True, description="Only show what would run (the default over HTTP).")
    params: dict[str, str] = Field(default_factory=dict, description="Values for the steps' {placeholders}.")
    incident: int | None = Field(default=None, description="Record the run on this incident.")


@router.post("/gate/check", summary="Run the deployment gate for a version (operator)")
def gate_check(body: GateCheckIn, ws: WS, principal: Operator) -> JSONResponse:
    """Run the gate policy (gates.yaml) for MODEL@VERSION → alias and record the result.

    ``passed`` false is an answer, not an error (200). The result is stored as the
    validation ``gate:<alias>`` with the token as actor (audited), which promote reads.
    """
    model, version = parse_ref(body.ref)
    check_alias_name(body.to)
    if (body.canary_from is None) != (body.canary_to is None):
        raise InvalidInput("give both canary_from and canary_to, or neither")
    window = None
    if body.canary_from and body.canary_to:
        window = Period(parse_time(body.canary_from), parse_time(body.canary_to))
        if window.end <= window.start:
            raise InvalidInput("canary_to must be after canary_from")
    report, stored = run_gate(
        ws.store, ws.lake, ws.config, model, version, body.to, canary_window=window, actor=principal.actor
    )
    assert stored is not None  # recorded: run_gate stores the result unless told not to
    return reply({**report.to_json(), "audit_seq": stored.audit_seq})


@router.post(
    "/promote",
    summary="Move an alias to a version behind its gate (operator)",
    responses={409: {"description": "The gate did not pass (or never ran) and there is no override."}},
)
def promote(body: PromoteIn, ws: WS, principal: Operator) -> JSONResponse:
    """Point the alias at MODEL@VERSION if its latest ``gate:<alias>`` result passed.

    ``override: true`` moves it anyway and needs a non-empty ``reason``; the override and
    its reason are audited with the token as actor.
    """
    model, version = parse_ref(body.ref)
    event, gate = promote_version(
        ws.store, model, version, body.to, override=body.override, reason=body.reason, actor=principal.actor,
        at=parse_time(body.at) if body.at else None,
    )  # fmt: skip
    return reply(
        {"model": model, "alias": body.to, "version": version, "moved": event is not None,
         "event": event.to_dict() if event else None, "gate": gate.to_dict() if gate else None}
    )  # fmt: skip


@router.post("/rollback", summary="Move the serving alias back to the last good version (operator)")
def rollback(body: RollbackIn, ws: WS, principal: Operator) -> JSONResponse:
    """The last version that passed its gates and had no attributed alert over its last window.

    Audited with the token as actor and recorded as a ``rollback`` change in the lake; the
    alias lookup (`GET /api/models/{model}/aliases/{alias}`) returns the new version at once.
    """
    from recops.respond.rollback import rollback as run

    result = run(
        ws.store, ws.lake, body.model, to=body.to, alias=body.alias, reason=body.reason, actor=principal.actor
    )
    return reply(result.to_dict())


@router.get("/playbooks", summary="Every playbook, built-in and the workspace's")
def playbooks(ws: WS, _p: Viewer) -> JSONResponse:
    """`recops playbook list --json`."""
    from recops.respond.playbooks import load_playbooks

    return reply([b.to_dict() for b in load_playbooks(ws.config.root).values()])


@router.get("/playbooks/{name}", summary="A playbook with the tradeoffs of its hotfix options")
def playbook(
    name: str,
    ws: WS,
    _p: Viewer,
    param: Annotated[list[str] | None, Query(description="KEY=VALUE for the options (repeatable).")] = None,
) -> JSONResponse:
    """Steps, and each option's measured tradeoff from this workspace's history (a read)."""
    from recops.respond.playbooks import get_playbook
    from recops.respond.playbooks.tradeoffs import tradeoffs

    params = _params(dict(_pair(p) for p in param or []))
    pb = get_playbook(ws.config.root, name)
    table = [t.to_dict() for t in tradeoffs(ws.store, ws.lake, ws.config, pb, params)]
    return reply({**pb.to_dict(), "tradeoffs": table})


@router.get("/playbook-runs", summary="Recorded playbook runs")
def playbook_runs(ws: WS, _p: Viewer, playbook: str | None = Query(None)) -> JSONResponse:
    """Runs and dry runs, oldest first, with each step's outcome."""
    from recops.respond.playbooks import runs

    return reply(runs(ws.store, playbook))


@router.post("/playbooks/{name}/run", summary="Run a playbook (operator; dry run by default)")
def run_playbook(name: str, ws: WS, principal: Operator, body: PlaybookRunIn | None = None) -> JSONResponse:
    """Run the playbook's recops steps in order, stopping at the first failure; manual steps are listed.

    ``dry_run`` (the default) shows exactly what would run and changes nothing but the
    run record. A real run executes each step as the `recops` command in a separate
    process on this workspace, acting as the token (so each step audits under it).
    """
    from recops.respond.playbooks import get_playbook, plan, record_run

    body = body or PlaybookRunIn()
    params = _params(body.params)
    started = now()
    pb = get_playbook(ws.config.root, name)
    steps = plan(pb, params)
    if not body.dry_run:
        _execute(ws, principal, steps)
    run_id = record_run(
        ws.store, pb, steps, dry_run=body.dry_run, started_at=started, incident_id=body.incident,
        actor=principal.actor,
    )  # fmt: skip
    ok = not any(s.get("ok") is False for s in steps)
    seq = audit_write(
        ws, principal, "playbook.run", f"playbook:{pb.name}",
        {"run_id": run_id, "dry_run": body.dry_run, "ok": ok, "incident_id": body.incident, "params": params},
    )  # fmt: skip
    return reply(
        {
            "run_id": run_id,
            "playbook": pb.name,
            "dry_run": body.dry_run,
            "ok": ok,
            "steps": steps,
            "audit_seq": seq,
        }
    )


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise InvalidInput(f"param takes KEY=VALUE, got {item!r}")
    return key, value


def _params(params: dict[str, str]) -> dict[str, str]:
    for key, value in params.items():
        if not SAFE_PARAM.match(value):
            raise InvalidInput(f"param {key}: letters, digits and _.:@=,+/%- only (no spaces or quotes)")
    return params


def _execute(ws: Workspace, principal: Principal, steps: list[dict[str, Any]]) -> None:
    """Run each ``run`` step as ``recops ...`` in a child process; mark outcomes in ``steps``.

    A child process rather than an in-process call: the command line lives above the
    server, and a child also keeps a step's failure or exit from touching the server.
    """
    from recops.respond.playbooks import argv

    env = {**os.environ, ENV_VAR: str(ws.config.root), "RECOPS_ACTOR": principal.actor}
    for s in steps:
        if s["action"] != "run":
            s["outcome"] = "manual: not run by recops"
            continue
        try:
            done = subprocess.run(
                [sys.executable, "-m", "recops.cli", *argv(s["command"])],
                env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_SECONDS, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            s["ok"], s["outcome"] = False, f"timed out after {STEP_TIMEOUT_SECONDS:g} s"
            break
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        s["ok"] = done.returncode == 0
        s["outcome"] = "ok" if s["ok"] else f"exit {done.returncode}: {message[-1] if message else ''}"
        if not s["ok"]:
            break
