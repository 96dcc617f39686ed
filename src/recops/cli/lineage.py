"""``recops lineage``: where a model version came from, or what was trained on a source."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.tree import Tree

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json
from recops.errors import InvalidInput
from recops.registry._canonical import iso
from recops.registry.entities import parse_ref
from recops.registry.lineage import (
    ReverseLineage,
    VersionLineage,
    lineage_of,
    reverse_lineage,
    summarize_partitions,
)
from recops.workspace import Workspace


class Format(StrEnum):
    tree = "tree"
    json = "json"
    openlineage = "openlineage"


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)


def lineage(
    ref: Annotated[
        str | None,
        typer.Argument(metavar="MODEL@VERSION", help="The version to trace.", show_default=False),
    ] = None,
    reverse: Annotated[
        str | None,
        typer.Option(
            "--reverse",
            metavar="DATASET_OR_SOURCE[:PARTITION]",
            help="Impact analysis: versions trained on this dataset, source or partition.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="tree, json or openlineage (run events).")
    ] = Format.tree,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write OpenLineage JSON lines to this file.")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Lineage graph: upstream partitions → datasets → MODEL@VERSION → aliases.

    `recops lineage ranker@v13` prints the tree; `--format openlineage` emits OpenLineage
    run events (JSON lines). `recops lineage --reverse play_events:2026-10-03` lists the
    versions trained on that partition and flags those that hold an alias now.
    """
    if (ref is None) == (reverse is None):
        raise InvalidInput("give MODEL@VERSION or --reverse DATASET_OR_SOURCE[:PARTITION] (one of them)")
    if json:
        fmt = Format.json
    with Workspace.open(workspace) as ws:
        if reverse is not None:
            if fmt is Format.openlineage:
                raise InvalidInput("--format openlineage describes one version; drop --reverse")
            result = reverse_lineage(ws.store, reverse)
            if fmt is Format.json:
                print_json(result.to_dict())
            else:
                _print_reverse(result)
            return
        assert ref is not None
        model, version = parse_ref(ref)
        graph = lineage_of(ws.store, model, version)
    if fmt is Format.openlineage:
        from recops.registry.openlineage_export import openlineage_events, to_json_lines

        text = to_json_lines(openlineage_events(graph.version))
        if output is not None:
            output.write_text(text, encoding="utf-8")
            console.print(f"{text.count(chr(10))} OpenLineage events written to {output}")
        else:
            sys.stdout.write(text)
    elif fmt is Format.json:
        print_json(graph.to_dict())
    else:
        _print_tree(graph)


def _print_tree(graph: VersionLineage) -> None:
    v = graph.version
    root = Tree(f"[bold]{v.ref}[/]  {v.artifact_uri}  {v.artifact_digest or ''}")
    data = root.add("datasets" if v.datasets else "datasets: none recorded")
    for d in v.datasets:
        span = f"  {iso(d.time_min)} … {iso(d.time_max)}" if d.time_min else ""
        rows = f"  {d.rows:,} rows" if d.rows is not None else ""
        node = data.add(
            f"[bold]{d.name}[/] ({d.role})  {d.digest or 'no digest'}{rows}{span}\n[dim]{d.uri}[/]"
        )
        for line in summarize_partitions(d.upstream):
            node.add(f"upstream {line}")
    if v.code:
        c = v.code
        dirty = " [yellow]dirty[/] " + (c.diff_digest or "") if c.dirty else ""
        root.add(f"code  {c.repo} @ {c.commit or '(no commit)'}{dirty}")
    if v.environment:
        e = v.environment
        root.add(f"environment  {e.digest} ({len(e.packages)} packages, python {e.python})")
    aliases = root.add("aliases")
    for w in graph.windows:
        end = "[green]now[/]" if w.end is None else iso(w.end)
        aliases.add(f"{w.alias}: {iso(w.start)} → {end}")
    console.print(root)


def _print_reverse(result: ReverseLineage) -> None:
    if not result.hits:
        console.print(f"no registered version was trained on {result.target} ({result.kind})")
        return
    root = Tree(f"[bold]{result.target}[/] ({result.kind}): {len({h.ref for h in result.hits})} version(s)")
    for h in result.hits:
        flag = f"  [bold red]serving now: {', '.join(h.aliases_now)}[/]" if h.aliases_now else ""
        node = root.add(f"[bold]{h.ref}[/]{flag}")
        matched = ", ".join(h.matched[:6]) + (f" … ({len(h.matched)})" if len(h.matched) > 6 else "")
        node.add(f"via {h.dataset} {h.digest or h.uri}: {matched}")
    console.print(root)
