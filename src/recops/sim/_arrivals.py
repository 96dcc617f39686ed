"""Arrivals: partitions of the upstream sources landing in the lake.

Partitions are UTC hours (``2026-10-01T13``) or UTC days (``2026-10-01``); each is
expected ``delay_median_ms`` after it closes and is late past ``tolerance_ms`` more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from recops.contract import ARRIVALS
from recops.sim import _arrow as A
from recops.sim._clock import DAY, HOUR, utc_date, utc_hour_label
from recops.sim._plan import Plan
from recops.sim._platform import SOURCES, Population

I64 = npt.NDArray[np.int64]


@dataclass
class ArrivalFacts:
    """What the ground truth needs to know about injected arrival problems.

    Attributes:
        late: incident id -> (partitions due during it, of which missing, first due time).
        schema_first_landed: incident id -> landing time of the first changed partition.
    """

    late: dict[str, tuple[list[str], list[str], int | None]] = field(default_factory=dict)
    schema_first_landed: dict[str, int] = field(default_factory=dict)


def make_arrivals(
    plan: Plan, pop: Population, request_ts: I64, rng: np.random.Generator
) -> tuple[pa.Table, ArrivalFacts]:
    """The arrivals table (sorted by landed_at) and facts about injected problems."""
    facts = ArrivalFacts()
    tables = []
    n_days = max(1, (plan.end_ms - plan.start_ms) // DAY)
    for source in SOURCES:
        period = source.period_ms
        first = plan.start_ms // period * period
        part = np.arange(first, plan.end_ms, period, dtype=np.int64)
        closes = part + period
        expected = closes + source.delay_median_ms
        landed = closes + rng.lognormal(np.log(source.delay_median_ms), 0.3, len(part)).astype(np.int64)
        keep = np.ones(len(part), dtype=bool)
        rows: npt.NDArray[Any]
        if source.name == "play_events":
            hourly = np.bincount((request_ts - first) // HOUR, minlength=len(part))[: len(part)]
            rows = np.round(hourly * 3.2 * rng.lognormal(0.0, 0.05, len(part)))
        elif source.name == "catalog":
            rows = pop.n_base + np.searchsorted(pop.new_release_ms, closes, side="right")
        else:
            growth = 0.95 + 0.05 * (part - plan.start_ms) / (n_days * DAY)
            rows = np.round(pop.n_users * growth)
        row_count = np.maximum(rows, 0).astype(np.int64)
        byte_count = np.round(row_count * source.bytes_per_row * rng.lognormal(0.0, 0.02, len(part))).astype(
            np.int64
        )
        labels = [utc_hour_label(int(p)) if source.hourly else utc_date(int(p)) for p in part]

        for inc in plan.of_kind("late_arrivals"):
            if inc.params["source"] != source.name:
                continue
            due = np.nonzero(inc.active(expected))[0]
            landed[due] += (
                float(inc.params["delay_hours"]) * HOUR * (1.0 + 0.15 * rng.random(len(due)))
            ).astype(np.int64)
            n_missing = round(float(inc.params["missing_share"]) * len(due))
            if float(inc.params["missing_share"]) > 0 and len(due) >= 2:
                n_missing = max(1, n_missing)
            missing = np.sort(rng.choice(due, size=min(n_missing, len(due)), replace=False))
            keep[missing] = False
            facts.late[inc.id] = (
                [labels[i] for i in due],
                [labels[i] for i in missing],
                int(expected[due[0]]) if len(due) else None,
            )

        columns = dict(source.schema)
        types = {name: np.zeros(len(part), dtype=np.int64) for name in columns}
        vocab = sorted({t for t in columns.values()} | {"int64", "double", "string"})
        for inc in plan.of_kind("upstream_schema_change"):
            column = str(inc.params["column"])
            if inc.params["source"] != source.name or column not in columns:
                continue
            changed = inc.active(part)
            types[column][changed] = 1
            vocab = sorted(set(vocab) | {str(inc.params["to_type"])})
            landed_changed = landed[changed & keep & (landed < plan.end_ms)]
            if len(landed_changed):
                facts.schema_first_landed[inc.id] = int(landed_changed.min())
        kept = keep & (landed < plan.end_ms)
        idx = np.nonzero(kept)[0]
        n = len(idx)
        type_columns = []
        for name, base_type in columns.items():
            new_type = base_type
            for inc in plan.of_kind("upstream_schema_change"):
                if inc.params["source"] == source.name and inc.params["column"] == name:
                    new_type = str(inc.params["to_type"])
            codes = np.where(types[name][idx] == 1, vocab.index(new_type), vocab.index(base_type))
            type_columns.append(A.pick(A.vocab(vocab), codes))
        tables.append(
            pa.table(
                {
                    "source": A.pick(A.vocab([source.name]), np.zeros(n, dtype=np.int64)),
                    "partition": pa.array([labels[i] for i in idx], pa.string()),
                    "landed_at": A.times(landed[idx]),
                    "row_count": pa.array(row_count[idx], pa.int64()),
                    "bytes": pa.array(byte_count[idx], pa.int64()),
                    "schema": A.fixed_map(n, list(columns), type_columns),
                }
            ).cast(ARRIVALS.schema)
        )
    table = pa.concat_tables(tables)
    order = np.argsort(table["landed_at"].to_numpy().view(np.int64), kind="stable")
    return table.take(pa.array(order)), facts
