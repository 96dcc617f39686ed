"""The lineage graph: upstream partitions → datasets → model versions → aliases.

Forward (:func:`lineage_of`) answers "where did MODEL@VERSION come from"; reverse
(:func:`reverse_lineage`) answers "which versions, and which of them serving now, were
trained on this dataset, source or partition" (impact analysis for a bad partition).
Partitions match by label, or by time when both are time labels (``2026-10-01`` covers
the hourly ``2026-10-01T13``), since sources differ in granularity.

Importing this module does not import SQLAlchemy: the forward lineage reads in plain SQL
(:mod:`recops.registry.reads`), so ``recops trace`` shows a registered version's lineage
without the ORM; the reverse lineage imports it when it runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recops.errors import InvalidInput
from recops.lake import Lake
from recops.registry._canonical import utc
from recops.registry.datasets import local_path
from recops.registry.entities import AliasWindow, LineageEdge, ModelVersion, UpstreamPartition
from recops.registry.reads import alias_history, get_version, windows
from recops.store import Store

_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def partition_interval(label: str) -> tuple[datetime, datetime] | None:
    """The UTC [start, end) a partition label covers (hour, day or month), else None."""
    text = label.removeprefix("date=")
    try:
        if _HOUR.match(text):
            start = datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            return start, start + timedelta(hours=1)
        if _DAY.match(text):
            start = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return start, start + timedelta(days=1)
        if _MONTH.match(text):
            start = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
            end = (
                start.replace(year=start.year + 1, month=1)
                if start.month == 12
                else start.replace(month=start.month + 1)
            )
            return start, end
    except ValueError:
        return None
    return None


def partitions_match(a: str, b: str) -> bool:
    """Equal labels, or time labels whose spans overlap."""
    if a == b:
        return True
    ia, ib = partition_interval(a), partition_interval(b)
    return ia is not None and ib is not None and ia[0] < ib[1] and ib[0] < ia[1]


def upstream_partitions(
    lake: Lake, sources: Iterable[str], time_min: datetime | None, time_max: datetime | None
) -> list[UpstreamPartition]:
    """The partitions of ``sources`` (per the lake's ``arrivals``) that cover [time_min, time_max].

    Raises:
        InvalidInput: without a time range, or for a source with no arrivals in the lake.
    """
    wanted = sorted(set(sources))
    if not wanted:
        return []
    if time_min is None or time_max is None:
        raise InvalidInput(
            "deriving upstream partitions needs the dataset's event-time range (a time column)"
        )
    lo, hi = utc(time_min), utc(time_max)
    con = lake.connect()
    try:
        placeholders = ", ".join("?" for _ in wanted)
        rows = con.execute(
            f"SELECT DISTINCT source, partition FROM arrivals WHERE source IN ({placeholders})", wanted
        ).fetchall()
    finally:
        con.close()
    found = {s for s, _ in rows}
    missing = [s for s in wanted if s not in found]
    if missing:
        raise InvalidInput(f"no arrivals of {', '.join(missing)} in the lake (ingest arrivals first)")
    out: list[UpstreamPartition] = []
    for source, partition in rows:
        span = partition_interval(partition)
        if span is not None and span[0] <= hi and span[1] > lo:
            out.append(UpstreamPartition(source, partition))
    return sorted(out)


@dataclass(frozen=True)
class VersionLineage:
    """Where a version came from and where it went."""

    version: ModelVersion
    aliases_now: tuple[str, ...]
    windows: tuple[AliasWindow, ...]
    edges: tuple[LineageEdge, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.version.ref,
            "version": self.version.to_dict(),
            "aliases_now": list(self.aliases_now),
            "windows": [w.to_dict() for w in self.windows],
            "edges": [e.to_dict() for e in self.edges],
        }


def dataset_node(digest: str | None, uri: str) -> str:
    return f"dataset:{digest or uri}"


def lineage_of(store: Store, model: str, version: str) -> VersionLineage:
    """The lineage of ``model@version``: datasets with their upstream partitions, code, aliases.

    Raises:
        NotFound: no such version.
    """
    v = get_version(store, model, version)
    history = alias_history(store, model)
    spans = tuple(w for w in windows(history) if w.version == version)
    now_names = tuple(sorted(w.alias for w in spans if w.end is None))
    node = f"version:{v.ref}"
    edges: list[LineageEdge] = []
    for d in v.datasets:
        dnode = dataset_node(d.digest, d.uri)
        edges.extend(LineageEdge(f"partition:{p}", dnode, "built_from") for p in d.upstream)
        edges.append(LineageEdge(dnode, node, "trained_on"))
    edges.extend(LineageEdge(node, f"alias:{model}:{a}", "named_by") for a in now_names)
    return VersionLineage(v, now_names, spans, tuple(edges))


@dataclass(frozen=True)
class ReverseHit:
    """A version trained on the target, through one of its datasets."""

    model: str
    version: str
    dataset: str
    uri: str
    digest: str | None
    matched: tuple[str, ...]
    aliases_now: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "model": self.model,
            "version": self.version,
            "dataset": self.dataset,
            "uri": self.uri,
            "digest": self.digest,
            "matched": list(self.matched),
            "aliases_now": list(self.aliases_now),
            "serving_now": bool(self.aliases_now),
        }


@dataclass(frozen=True)
class ReverseLineage:
    """Everything trained on ``target`` (``kind``: dataset, source or partition)."""

    target: str
    kind: str
    hits: tuple[ReverseHit, ...]

    @property
    def serving(self) -> tuple[ReverseHit, ...]:
        return tuple(h for h in self.hits if h.aliases_now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "versions": len({h.ref for h in self.hits}),
            "serving_now": sorted({h.ref for h in self.serving}),
            "hits": [h.to_dict() for h in self.hits],
        }


def reverse_lineage(store: Store, target: str) -> ReverseLineage:
    """Which versions were trained on ``target``, and which of them hold an alias now.

    ``target`` is tried as a dataset first (digest, digest prefix of 8+ hex digits, URI,
    local path or dataset name), then as ``SOURCE`` or ``SOURCE:PARTITION``.

    Raises:
        InvalidInput: an empty target.
    """
    from recops.registry.aliases import aliases_by_version

    target = target.strip()
    if not target:
        raise InvalidInput("name a dataset, a source or SOURCE:PARTITION")
    named = aliases_by_version(store)
    with store.session() as session:
        hits = _dataset_hits(session, target)
        kind = "dataset"
        if not hits:
            source, _, partition = target.partition(":")
            kind = "partition" if partition else "source"
            hits = _upstream_hits(session, source, partition or None)
    out = [
        ReverseHit(m, ver, name, uri, digest, matched, tuple(named.get((m, ver), ())))
        for m, ver, name, uri, digest, matched in hits
    ]
    out.sort(key=lambda h: (not h.aliases_now, h.model, h.version, h.dataset))
    return ReverseLineage(target, kind, tuple(out))


_Hit = tuple[str, str, str, str, str | None, tuple[str, ...]]


def _dataset_hits(session: Any, target: str) -> list[_Hit]:
    from sqlalchemy import or_, select

    from recops.store.tables import RegistryInputRow, RegistryVersionRow

    conditions = [
        RegistryInputRow.digest == target,
        RegistryInputRow.uri == target,
        RegistryInputRow.name == target,
    ]
    hexpart = target.removeprefix("sha256:")
    if re.fullmatch(r"[0-9a-f]{8,64}", hexpart):
        conditions.append(RegistryInputRow.digest.like(f"sha256:{hexpart}%"))
    path = local_path(target)
    if path is not None and path.exists():
        conditions.append(RegistryInputRow.uri == path.resolve().as_uri())
    rows = session.execute(
        select(
            RegistryVersionRow.model,
            RegistryVersionRow.version,
            RegistryInputRow.name,
            RegistryInputRow.uri,
            RegistryInputRow.digest,
        )
        .join(RegistryInputRow, RegistryInputRow.version_id == RegistryVersionRow.id)
        .where(or_(*conditions))
    )
    return [(m, v, n, u, d, ("dataset",)) for m, v, n, u, d in rows]


def _upstream_hits(session: Any, source: str, partition: str | None) -> list[_Hit]:
    from sqlalchemy import select

    from recops.store.tables import RegistryInputRow, RegistryUpstreamRow, RegistryVersionRow

    rows = session.execute(
        select(
            RegistryVersionRow.model,
            RegistryVersionRow.version,
            RegistryInputRow.name,
            RegistryInputRow.uri,
            RegistryInputRow.digest,
            RegistryUpstreamRow.partition,
        )
        .join(RegistryInputRow, RegistryInputRow.version_id == RegistryVersionRow.id)
        .join(RegistryUpstreamRow, RegistryUpstreamRow.input_id == RegistryInputRow.id)
        .where(RegistryUpstreamRow.source == source)
    )
    grouped: dict[tuple[str, str, str, str, str | None], list[str]] = {}
    for m, v, n, u, d, p in rows:
        if partition is None or partitions_match(partition, p):
            grouped.setdefault((m, v, n, u, d), []).append(f"{source}:{p}")
    return [(*key, tuple(sorted(parts))) for key, parts in grouped.items()]


def summarize_partitions(partitions: Sequence[UpstreamPartition], *, limit: int = 6) -> list[str]:
    """Per source, the partitions listed, or first … last (n) when there are many."""
    by_source: dict[str, list[str]] = {}
    for p in sorted(partitions):
        by_source.setdefault(p.source, []).append(p.partition)
    out = []
    for source, parts in by_source.items():
        if len(parts) <= limit:
            out.append(f"{source}: {', '.join(parts)}")
        else:
            out.append(f"{source}: {parts[0]} … {parts[-1]} ({len(parts)} partitions)")
    return out
