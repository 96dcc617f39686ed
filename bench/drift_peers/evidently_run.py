"""Evidently's DataDriftPreset with its defaults on two Parquet files (bench/drift.py runs this).

Usage: python evidently_run.py REF.parquet CUR.parquet CATEGORICAL,COLUMNS
Prints one JSON line: {"flagged": [...], "version": ...}. Runs in Evidently's own venv.
"""

from __future__ import annotations

import json
import sys

import pandas as pd


def main() -> None:
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(sys.argv[1])
    current = pd.read_parquet(sys.argv[2])
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    flagged = []
    for test in snapshot.dict().get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith("ValueDrift") and test.get("status") == "FAIL":
            flagged.append(params["column"])
    print(json.dumps({"flagged": sorted(set(flagged)), "version": evidently.__version__}))


if __name__ == "__main__":
    main()
