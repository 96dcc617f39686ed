"""The drift engine stays light: no Spark or Ibis on the DuckDB path, nothing at CLI start."""

from __future__ import annotations

import subprocess
import sys


def modules_after(statement: str, names: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statement}; print(sorted(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip())  # type: ignore[no-any-return]


def test_the_engine_imports_neither_spark_nor_ibis() -> None:
    heavy = ("pyspark", "ibis", "scipy", "pandas", "datasketches", "pyarrow.dataset")
    assert modules_after("import recops.drift", heavy) == []


def test_the_cli_loads_the_engine_only_when_drift_runs() -> None:
    assert modules_after("import recops.cli.main", ("recops.drift", "datasketches")) == []
