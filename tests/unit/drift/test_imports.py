"""The drift engine stays light: no Spark or Ibis on the DuckDB path, nothing at CLI start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def modules_after(statement: str, names: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statement}; print(sorted(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip())  # type: ignore[no-any-return]


def test_the_engine_imports_neither_spark_nor_ibis() -> None:
    heavy = ("pyspark", "ibis", "scipy", "pandas", "datasketches", "pyarrow.dataset")
    assert modules_after("import recops.drift", heavy) == []


def test_the_cli_loads_the_engine_only_when_drift_runs() -> None:
    assert modules_after("import recops.cli.main", ("recops.drift", "datasketches")) == []


def test_comparing_files_does_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow's conversions (``to_numpy``, ``pa.array``) import pandas when it is installed, about
    0.2 s of a million-row comparison: the engine reads Arrow buffers itself (``columnar``)."""
    g = np.random.default_rng(0)
    paths = []
    for name, shift in (("ref", 0.0), ("cur", 0.5)):
        x = g.normal(shift, 1.0, 3_000)
        table = pa.table(
            {
                "x": pa.array(x, mask=g.random(3_000) < 0.05),
                "n": g.poisson(3, 3_000),
                "c": pa.array(g.choice(["a", "b", None], 3_000).tolist(), pa.string()),
                "flag": pa.array(g.random(3_000) < 0.3),
                "device": pa.array(g.choice(["ios", "web"], 3_000).tolist(), pa.string()),
            }
        )
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=1_000)
        paths.append(str(path))
    profile = tmp_path / "ref.profile.json"
    statement = (
        "import recops.drift as d; "
        f"report = d.compare({paths[0]!r}, {paths[1]!r}, segment='device', keep_sketches=True); "
        f"report.reference_profile.save({str(profile)!r}); "
        f"assert [c.column for c in d.compare({str(profile)!r}, {paths[1]!r}).drifted] == ['x']"
    )
    assert modules_after(statement, ("pandas", "recops.drift.spark")) == []
