"""Binned quantiles against numpy's exact ones, through a real engine (DuckDB via Ibis)."""

from __future__ import annotations

import ibis
import numpy as np
import pyarrow as pa
import pytest

from recops.monitors.quantiles import (
    BIN,
    COUNT,
    GAMMA,
    RELATIVE_ACCURACY,
    bin_key,
    read_quantiles,
    representative,
)

QS = {"p01": 0.01, "p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "max": 1.0, "min": 0.0}


def _binned(groups: dict[str, np.ndarray]) -> pa.Table:
    rows = pa.table(
        {
            "g": [g for g, values in groups.items() for _ in values],
            "x": np.concatenate(list(groups.values())),
        }
    )
    t = ibis.memtable(rows)
    t = t.mutate(**{BIN: bin_key(t.x)}).filter(ibis._[BIN].notnull())
    return t.group_by(["g", BIN]).aggregate(**{COUNT: t.count(), "s": t.x.sum()}).to_pyarrow()


def test_every_quantile_is_within_the_relative_accuracy_of_numpy() -> None:
    rng = np.random.default_rng(3)
    groups = {
        "latency": rng.lognormal(4.0, 0.8, 20_000),  # heavy-tailed milliseconds
        "scores": rng.beta(2, 5, 5_000),
        "logits": rng.normal(0.0, 2.0, 5_000),  # both signs
        "tiny": np.array([0.0, 0.0, 3.0]),
        "one": np.array([42.0]),
    }
    out = read_quantiles(_binned(groups), ["g"], QS, sums=["s"]).to_pylist()
    assert sorted(r["g"] for r in out) == sorted(groups)
    for row in out:
        values = groups[row["g"]]
        assert row["n"] == len(values)
        assert row["s"] == pytest.approx(values.sum(), rel=1e-12)
        for name, q in QS.items():
            exact = float(np.quantile(values, q))
            ordered = np.sort(values)
            position = q * (len(values) - 1)
            low = ordered[int(np.floor(position))]
            high = ordered[min(int(np.floor(position)) + 1, len(values) - 1)]
            # each order statistic within a of itself, so their interpolation within a of the larger
            bound = RELATIVE_ACCURACY * max(abs(low), abs(high))
            assert abs(row[name] - exact) <= bound + 1e-12, (row["g"], name, row[name], exact)


def test_bins_are_ordered_and_their_representatives_within_accuracy() -> None:
    values = np.array([-1e6, -3.0, -1e-9, 0.0, 1e-9, 0.004, 1.0, 250.0, 1e12])
    t = ibis.memtable(pa.table({"x": values}))
    keys = t.select(k=bin_key(t.x)).to_pyarrow()["k"].to_numpy()
    assert list(keys) == sorted(keys) and keys[3] == 0
    rel = np.abs(representative(keys) - values) / np.where(values == 0, 1.0, np.abs(values))
    assert rel.max() <= RELATIVE_ACCURACY * (1 + 1e-9)
    # a bin is (gamma^(b-1), gamma^b]: its upper edge belongs to it
    edge = GAMMA**10
    t = ibis.memtable(pa.table({"x": [edge * (1 + 1e-12), edge * (1 - 1e-12)]}))
    a, b = t.select(k=bin_key(t.x)).to_pyarrow()["k"].to_pylist()
    assert a == b + 1


def test_null_values_take_no_bin_and_no_groups_give_an_empty_table() -> None:
    t = ibis.memtable(pa.table({"x": pa.array([1.0, None], pa.float64())}))
    assert t.select(k=bin_key(t.x)).to_pyarrow()["k"].to_pylist()[1] is None
    empty = pa.table(
        {"g": pa.array([], pa.string()), BIN: pa.array([], pa.int64()), COUNT: pa.array([], pa.int64())}
    )
    out = read_quantiles(empty, ["g"], {"p50": 0.5})
    assert out.num_rows == 0 and out.column_names == ["g", "n", "p50"]
