"""The drift engine gives the same counts, statistics and verdicts on DuckDB and on Spark.

Both sides are Ibis tables over the same Parquet files: DuckDB hands the local engine
whole columns, Spark counts the current window partition by partition with
``mapInArrow`` and merges. Counts must be equal exactly and statistics within 1e-9
relative (floating-point sums in a different order are all that may differ).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recops.drift import DriftReport, compare, sketches
from recops.drift.counts import CategoricalCounts, NumericCounts

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("recops-drift-conformance")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def window(seed: int, rows: int, *, shift: float = 0.0, moved: float = 0.0) -> pa.Table:
    g = np.random.default_rng(seed)
    device = g.choice(["ios", "android", "web"], size=rows, p=[0.5, 0.3, 0.2])
    heavy = g.standard_t(3, rows) + np.where(device == "web", shift, 0.0)
    counts = np.where(g.random(rows) < 0.5, 0, g.poisson(3, rows)).astype(np.int64)
    ratio = g.beta(2, 5, rows) * (1 + shift / 4)
    ratio[g.random(rows) < 0.02] = np.nan
    item = np.where(g.random(rows) < moved, "new", np.char.add("i", (g.zipf(1.3, rows) % 500).astype(str)))
    item_arr = pa.array(item).to_pylist()
    for i in range(0, rows, 97):
        item_arr[i] = None
    return pa.table(
        {
            "heavy": heavy,
            "counts": counts,
            "ratio": pa.array(ratio, from_pandas=True),
            "item": pa.array(item_arr, pa.string()),
            "flag": g.random(rows) < 0.3,
            "device": device,
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("drift-engines")
    ref, cur = root / "ref", root / "cur"
    ref.mkdir()
    cur.mkdir()
    reference, current = window(1, 30_000), window(2, 24_000, shift=0.8, moved=0.3)
    for i in range(3):  # several files, so Spark has several partitions to merge
        pq.write_table(reference.slice(i * 10_000, 10_000), ref / f"part-{i}.parquet")
        pq.write_table(current.slice(i * 8_000, 8_000), cur / f"part-{i}.parquet")
    return ref, cur


def tables(con: Any, ref: Path, cur: Path) -> tuple[Any, Any]:
    return con.read_parquet(str(ref / "*.parquet")), con.read_parquet(str(cur / "*.parquet"))


def duckdb_report(ref: Path, cur: Path, **options: Any) -> DriftReport:
    import ibis

    return compare(*tables(ibis.duckdb.connect(), ref, cur), **options)


def spark_report(spark: Any, ref: Path, cur: Path, **options: Any) -> DriftReport:
    import ibis

    return compare(*tables(ibis.pyspark.connect(spark), ref, cur), **options)


def assert_same(a: DriftReport, b: DriftReport) -> None:
    assert [(c.column, c.verdict) for c in a.columns] == [(c.column, c.verdict) for c in b.columns]
    for name, pair in a.pairs.items():
        other = b.pairs[name]
        assert pair.binning == other.binning
        for mine, theirs in ((pair.reference, other.reference), (pair.current, other.current)):
            assert (mine.rows, mine.missing) == (theirs.rows, theirs.missing)
            assert np.array_equal(mine.counts, theirs.counts)
            if isinstance(mine, NumericCounts):
                assert isinstance(theirs, NumericCounts)
                assert np.allclose(mine.tails, theirs.tails, rtol=1e-9, atol=0)
                assert (mine.minimum, mine.maximum) == (theirs.minimum, theirs.maximum)
            else:
                assert isinstance(mine, CategoricalCounts) and isinstance(theirs, CategoricalCounts)
                assert mine.other == theirs.other
                assert mine.distinct == theirs.distinct  # CPC after a union: the same bytes
    for mine_col, their_col in zip(a.columns, b.columns, strict=True):
        for x, y in zip(mine_col.results, their_col.results, strict=True):
            assert (x.name, x.status) == (y.name, y.status)
            if x.value is None or y.value is None or math.isinf(x.value):
                assert x.value == y.value
            else:
                assert x.value == pytest.approx(y.value, rel=1e-9, abs=1e-15)


def test_same_counts_statistics_and_verdicts(spark: Any, data: tuple[Path, Path]) -> None:
    ref, cur = data
    local, distributed = duckdb_report(ref, cur), spark_report(spark, ref, cur)
    assert local.drifted and [c.column for c in local.drifted] == [c.column for c in distributed.drifted]
    assert_same(local, distributed)


def test_same_per_segment(spark: Any, data: tuple[Path, Path]) -> None:
    ref, cur = data
    local = duckdb_report(ref, cur, segment="device")
    distributed = spark_report(spark, ref, cur, segment="device")
    assert local.drifted_segments
    assert [(s, c.column) for s, c in local.drifted_segments] == [
        (s, c.column) for s, c in distributed.drifted_segments
    ]
    for mine, theirs in zip(local.segments, distributed.segments, strict=True):
        assert (mine.value, mine.reference_rows, mine.current_rows) == (
            theirs.value, theirs.reference_rows, theirs.current_rows,
        )  # fmt: skip
        for x, y in zip(mine.columns, theirs.columns, strict=True):
            assert x.verdict == y.verdict
            assert (x.statistic is None) == (y.statistic is None)
            if x.statistic is not None and y.statistic is not None and math.isfinite(x.statistic):
                assert x.statistic == pytest.approx(y.statistic, rel=1e-9, abs=1e-15)


def test_sketch_mode_on_spark_keeps_the_verdicts(
    spark: Any, data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above EXACT_ROWS Spark bins the reference from merged KLL sketches: same verdicts."""
    from recops.drift import spark as spark_engine

    ref, cur = data
    local = duckdb_report(ref, cur)
    monkeypatch.setattr(spark_engine, "EXACT_ROWS", 0)
    sketched = spark_report(spark, ref, cur)
    assert [(c.column, c.verdict) for c in local.columns] == [(c.column, c.verdict) for c in sketched.columns]
    values = np.sort(pq.read_table(ref, columns=["heavy"]).column("heavy").to_numpy())
    edges = sketched.pairs["heavy"].binning.edges  # type: ignore[union-attr]
    ranks = np.searchsorted(values, edges, side="left") / len(values)
    levels = np.arange(1, 100)[: len(ranks)] / 100
    assert np.max(np.abs(ranks - levels)) <= sketches.kll_rank_error() + 1 / len(values)
    for mine, theirs in zip(local.columns, sketched.columns, strict=True):
        if mine.statistic is not None and theirs.statistic is not None:
            assert theirs.statistic == pytest.approx(mine.statistic, rel=0.1, abs=0.01)
