"""The catalog as Markdown: the generated part of docs/metrics.md.

``python -m recops.catalog.reference docs/metrics.md`` rewrites the text between the
markers from the built-in catalog; ``--check`` only says whether it is up to date (a test
runs the same comparison).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from recops.catalog.definitions import FAMILIES, MetricDefinition, builtin_definitions

BEGIN = "<!-- BEGIN GENERATED: python -m recops.catalog.reference docs/metrics.md -->"
END = "<!-- END GENERATED -->"

FAMILY_TITLES = {
    "arrival": "Arrival: upstream data landing on schedule",
    "quality": "Quality: declarative checks",
    "drift": "Drift: features over time and against training",
    "freshness": "Freshness: feature age at serve time and materialization",
    "metrics": "Metrics: model and business metrics",
    "latency": "Latency: serving SLIs and error budgets",
}


def threshold_text(definition: MetricDefinition) -> str:
    """The default threshold in words ("" when none)."""
    if definition.threshold is None:
        return ""
    return definition.threshold.describe(definition.slo)


def render_reference(definitions: Iterable[MetricDefinition]) -> str:
    """A summary table, then one section per metric, grouped by family."""
    items = list(definitions)
    lines = ["| metric | family | unit | direction | default threshold |", "|---|---|---|---|---|"]
    for d in items:
        threshold = threshold_text(d) or "—"
        lines.append(f"| [`{d.name}`](#{d.name}) | {d.family} | {d.unit} | {d.direction} | {threshold} |")
    for family in FAMILIES:
        members = [d for d in items if d.family == family]
        if not members:
            continue
        lines += ["", f"### {FAMILY_TITLES[family]}"]
        for d in members:
            lines += ["", *_section(d)]
    return "\n".join(lines) + "\n"


def _section(d: MetricDefinition) -> list[str]:
    facts = [
        f"unit `{d.unit}`",
        f"direction `{d.direction}`",
        f"subject: {d.subject}" if d.subject else "no subject",
        f"slices: {', '.join(d.slices)}" if d.slices else "no slices",
        f"windows: {', '.join(d.granularities)}",
        f"owner: {d.owner}",
    ]
    if d.labels:
        facts.append("carries label completeness")
    out = [f"#### {d.name}", "", f"**{d.title}.** {' · '.join(facts)}", "", d.why, ""]
    threshold = threshold_text(d)
    slo = f" SLO: `[slo] {d.slo}`." if d.slo else ""
    if threshold:
        out.append(f"*Default threshold:* {threshold}.{slo} {d.threshold_reason}".rstrip())
    else:
        out.append(f"*No default threshold.*{slo} {d.threshold_reason}".rstrip())
    out += ["", "```sql", d.expression.rstrip(), "```"]
    return out


def splice(document: str, generated: str) -> str:
    """``document`` with the text between the markers replaced by ``generated``."""
    try:
        head, rest = document.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the document lacks the markers {BEGIN!r} and {END!r}") from None
    return f"{head}{BEGIN}\n\n{generated}\n{END}{tail}"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) != 1:
        sys.stderr.write("usage: python -m recops.catalog.reference [--check] docs/metrics.md\n")
        return 2
    path = Path(paths[0])
    current = path.read_text(encoding="utf-8")
    updated = splice(current, render_reference(builtin_definitions()))
    if check:
        if updated != current:
            sys.stderr.write(f"{path} is out of date; run python -m recops.catalog.reference {path}\n")
            return 1
        return 0
    if updated != current:
        path.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
