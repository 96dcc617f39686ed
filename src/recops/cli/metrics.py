"""``recops metrics list | explain NAME``: the metric catalog, built-in and the workspace's own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.markup import escape
from rich.syntax import Syntax

from recops.catalog import FAMILIES, Catalog, MetricDefinition, load_catalog
from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json, print_pairs, print_table
from recops.config import CONFIG_FILE, load_config
from recops.errors import ConfigError, WorkspaceNotFound
from recops.workspace import ENV_VAR, find_root

app = typer.Typer(
    help="The metric catalog: what each metric means, how it is computed, its threshold, SLO and owner.",
    no_args_is_help=True,
)

FamilyOption = Annotated[
    str | None,
    typer.Option("--family", "-f", help=f"Only this family ({', '.join(FAMILIES)}).", show_default=False),
]


def _root(workspace: str | None) -> Path | None:
    """The workspace whose ``metrics/*.yaml`` count; none (built-ins only) outside one.

    A workspace named explicitly (--workspace or $RECOPS_WORKSPACE) must exist; when the
    current folder is simply not in a workspace the built-in catalog is still useful.
    """
    try:
        return find_root(workspace)
    except WorkspaceNotFound:
        if workspace is not None or os.environ.get(ENV_VAR):
            raise
        return None


def _slo_targets(root: Path | None) -> dict[str, float]:
    """The workspace's ``[slo]`` targets, or none when there is no readable config."""
    if root is None:
        return {}
    try:
        return dict(load_config(root / CONFIG_FILE).slo)
    except ConfigError:
        return {}  # `recops config validate` reports it; the catalog does not depend on it


def _threshold(d: MetricDefinition, slo: dict[str, float]) -> str:
    if d.threshold is None:
        return ""
    return d.threshold.describe(d.slo, slo.get(d.slo) if d.slo else None)


@app.command("list")
def list_cmd(
    family: FamilyOption = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Every metric: name, family, unit, direction and default threshold.

    Built-in metrics plus the workspace's metrics/*.yaml (a user definition with a
    built-in's name overrides it). With --json, every field of every definition.
    """
    root = _root(workspace)
    catalog: Catalog = load_catalog(root)
    definitions = catalog.by_family(family) if family is not None else list(catalog)
    if json:
        print_json([d.to_dict() for d in definitions])
        return
    slo = _slo_targets(root)
    columns: dict[str, list[str]] = {
        "name": [],
        "family": [],
        "unit": [],
        "direction": [],
        "threshold": [],
        "origin": [],
    }
    for d in definitions:
        columns["name"].append(d.name)
        columns["family"].append(d.family)
        columns["unit"].append(d.unit)
        columns["direction"].append(d.direction)
        columns["threshold"].append(_threshold(d, slo))
        columns["origin"].append(d.origin if d.origin == "builtin" else _relative(d.origin, root))
    if all(o == "builtin" for o in columns["origin"]):
        del columns["origin"]
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    print_table(table, title=f"metrics ({len(definitions)})")


@app.command("explain")
def explain_cmd(
    name: Annotated[str, typer.Argument(help="Metric name (see `recops metrics list`).", show_default=False)],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Everything about one metric: meaning, expression, slices, threshold and why, SLO, owner."""
    root = _root(workspace)
    definition = load_catalog(root).get(name)
    slo = _slo_targets(root)
    if json:
        out: dict[str, Any] = definition.to_dict()
        out["slo_target"] = slo.get(definition.slo) if definition.slo else None
        print_json(out)
        return
    d = definition
    slo_text = None
    if d.slo:
        slo_text = f"slo.{d.slo}" + (f" = {slo[d.slo]:g} in {CONFIG_FILE}" if d.slo in slo else "")
    print_pairs(
        [
            ("name", d.name),
            ("family", d.family),
            ("unit", d.unit),
            ("direction", d.direction),
            ("subject", d.subject or "(none)"),
            ("slices", ", ".join(d.slices) or "(all traffic only)"),
            ("windows", ", ".join(d.granularities)),
            ("threshold", _threshold(d, slo) or "(none)"),
            ("slo", slo_text),
            ("owner", d.owner),
            ("labels", "yes: carries label completeness" if d.labels else "no"),
            ("defined in", d.origin if d.origin == "builtin" else _relative(d.origin, root)),
        ],
        title=f"{d.name}: {d.title}",
    )
    console.print(f"\n[bold]Why it matters[/]\n{escape(d.why)}")
    if d.threshold_reason:
        heading = "Why this threshold" if d.threshold else "Why no threshold"
        console.print(f"\n[bold]{heading}[/]\n{escape(d.threshold_reason)}")
    console.print("\n[bold]Expression[/]")
    console.print(Syntax(d.expression, "sql", word_wrap=True, theme="ansi_dark", background_color="default"))


def _relative(origin: str, root: Path | None) -> str:
    if root is None:
        return origin
    try:
        return str(Path(origin).relative_to(root))
    except ValueError:
        return origin


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="metrics")
