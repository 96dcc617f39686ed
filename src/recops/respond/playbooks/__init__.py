"""Playbooks: YAML runbooks keyed by alert kind or symptom, built in and per workspace.

A playbook has a name, the symptoms it answers (alert cause kinds such as
``model_version`` or ``feature_group``, or metric names), an owner, ordered steps (a
title, the ``recops`` command the step runs when it has one, with ``{placeholders}``
filled from ``--param key=value``, and the minutes it is expected to take), hotfix
options (``rollback``, ``fallback``, ``stale_vs_fresh``: their tradeoffs are computed
from the workspace's history by :mod:`recops.respond.playbooks.tradeoffs`) and the action
items a post-mortem should track. Built-ins live in ``builtin/*.yaml``; a workspace's
``playbooks/*.yaml`` with the same name replaces a built-in.

Runs (and dry runs) are recorded in ``playbook_runs`` with each step's outcome, so the
time a playbook takes is learnt from its own past runs.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any

import yaml
from sqlalchemy import select

from recops.errors import ConfigError, InvalidInput, NotFound
from recops.registry._canonical import iso, now, utc
from recops.registry.versions import default_actor
from recops.store import Store
from recops.store.tables import PlaybookRunRow

BUILTIN = Path(__file__).parent / "builtin"
OPTION_KINDS = ("rollback", "fallback", "stale_vs_fresh")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Step:
    title: str
    run: str | None
    minutes: float

    def command(self, params: dict[str, str]) -> str | None:
        """The command with its placeholders filled.

        Raises:
            InvalidInput: a placeholder has no value.
        """
        if self.run is None:
            return None
        missing = sorted(set(_PLACEHOLDER.findall(self.run)) - set(params))
        if missing:
            raise InvalidInput(f"step {self.title!r} needs --param {', '.join(f'{m}=...' for m in missing)}")
        return _PLACEHOLDER.sub(lambda m: params[m.group(1)], self.run)

    @property
    def is_recops(self) -> bool:
        return self.run is not None and self.run.startswith("recops ")


@dataclass(frozen=True)
class Option:
    name: str
    kind: str
    loses: str


@dataclass(frozen=True)
class Playbook:
    name: str
    title: str
    symptoms: tuple[str, ...]
    owner: str
    steps: tuple[Step, ...]
    options: tuple[Option, ...]
    actions: tuple[dict[str, str], ...]
    origin: str = "builtin"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def planned_minutes(self) -> float:
        return sum(s.minutes for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "symptoms": list(self.symptoms),
            "owner": self.owner,
            "origin": self.origin,
            "steps": [{"title": s.title, "run": s.run, "minutes": s.minutes} for s in self.steps],
            "options": [{"name": o.name, "kind": o.kind, "loses": o.loses} for o in self.options],
            "actions": list(self.actions),
        }


def parse(data: Any, origin: str) -> Playbook:
    """A playbook from its YAML mapping.

    Raises:
        ConfigError: a missing or malformed field.
    """
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigError(f"{origin}: a playbook is a mapping with a name")
    try:
        steps = tuple(
            Step(str(s["title"]), s.get("run"), float(s.get("minutes", 0))) for s in data.get("steps", [])
        )
        options = tuple(
            Option(str(o["name"]), str(o["kind"]), str(o.get("loses", ""))) for o in data.get("options", [])
        )
        actions = tuple({"title": str(a["title"]), "owner": str(a["owner"])} for a in data.get("actions", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: malformed playbook {data['name']!r}: {exc}") from None
    for o in options:
        if o.kind not in OPTION_KINDS:
            raise ConfigError(f"{origin}: option {o.name!r} kind must be one of {', '.join(OPTION_KINDS)}")
    return Playbook(
        data["name"], str(data.get("title", data["name"])), tuple(str(s) for s in data.get("symptoms", [])),
        str(data.get("owner", "")), steps, options, actions, origin,
    )  # fmt: skip


def load_playbooks(root: Path | None = None) -> dict[str, Playbook]:
    """Built-in playbooks, then the workspace's ``playbooks/*.yaml`` (same name overrides)."""
    out: dict[str, Playbook] = {}
    folders = [(BUILTIN, "builtin")] + ([(root / "playbooks", "workspace")] if root is not None else [])
    for folder, origin in folders:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML: {exc}") from None
            pb = parse(data, origin if origin == "builtin" else str(path))
            out[pb.name] = pb
    return out


def get_playbook(root: Path | None, name: str) -> Playbook:
    """A playbook by name, or the first whose symptoms include ``name``.

    Raises:
        NotFound: none matches.
    """
    books = load_playbooks(root)
    if name in books:
        return books[name]
    for pb in books.values():
        if name in pb.symptoms:
            return pb
    raise NotFound(f"no playbook {name!r} (known: {', '.join(sorted(books))})")


def plan(pb: Playbook, params: dict[str, str]) -> list[dict[str, Any]]:
    """Exactly what a run would do, step by step."""
    out = []
    for i, s in enumerate(pb.steps, 1):
        cmd = s.command(params)
        action = "run" if s.is_recops else ("manual" if cmd is None else "manual (not a recops command)")
        out.append({"step": i, "title": s.title, "command": cmd, "action": action, "minutes": s.minutes})
    return out


def argv(command: str) -> list[str]:
    """The arguments after ``recops`` of a step's command."""
    return shlex.split(command)[1:]


def record_run(
    store: Store,
    pb: Playbook,
    steps: list[dict[str, Any]],
    *,
    dry_run: bool,
    started_at: datetime,
    incident_id: int | None = None,
    actor: str | None = None,
) -> int:
    """Store a run (the incident's timeline shows it); returns its id."""
    who = actor or default_actor()
    ok = all(s.get("ok", True) for s in steps)
    with store.session() as session:
        row = PlaybookRunRow(
            playbook=pb.name, incident_id=incident_id, dry_run=dry_run, started_at=utc(started_at),
            finished_at=now(), actor=who, ok=ok, steps=json.dumps(steps, sort_keys=True, default=str),
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def past_minutes(store: Store, name: str) -> tuple[float | None, int]:
    """The median duration in minutes of the playbook's past real runs, and their number."""
    query = select(PlaybookRunRow).where(PlaybookRunRow.playbook == name, PlaybookRunRow.dry_run.is_(False))
    with store.session() as session:
        spans = [
            (utc(r.finished_at) - utc(r.started_at)).total_seconds() / 60
            for r in session.scalars(query)
            if r.finished_at is not None
        ]
    return (median(spans) if spans else None), len(spans)


def runs(store: Store, name: str | None = None) -> list[dict[str, Any]]:
    """Recorded runs, oldest first."""
    query = select(PlaybookRunRow).order_by(PlaybookRunRow.id)
    if name is not None:
        query = query.where(PlaybookRunRow.playbook == name)
    with store.session() as session:
        return [
            {
                "id": r.id, "playbook": r.playbook, "incident_id": r.incident_id, "dry_run": r.dry_run,
                "started_at": iso(utc(r.started_at)), "ok": r.ok, "steps": json.loads(r.steps),
            }
            for r in session.scalars(query)
        ]  # fmt: skip
