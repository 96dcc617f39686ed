"""whylogs profiles and drift scores with their defaults on two Parquet files (bench/drift.py runs this).

Usage: python whylogs_run.py REF.parquet CUR.parquet CATEGORICAL,COLUMNS
Prints one JSON line: {"flagged": [...], "possible": [...], "version": ...}. A column
counts as flagged when whylogs calls it DRIFT (POSSIBLE_DRIFT is listed apart).
"""

from __future__ import annotations

import json
import sys

import pandas as pd


def main() -> None:
    import whylogs as why
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

    reference = why.log(pandas=pd.read_parquet(sys.argv[1])).view()
    current = why.log(pandas=pd.read_parquet(sys.argv[2])).view()
    scores = calculate_drift_scores(target_view=current, reference_view=reference, with_thresholds=True)
    flagged = [c for c, s in scores.items() if s and s.get("drift_category") == "DRIFT"]
    possible = [c for c, s in scores.items() if s and s.get("drift_category") == "POSSIBLE_DRIFT"]
    print(json.dumps({"flagged": sorted(flagged), "possible": sorted(possible), "version": why.__version__}))


if __name__ == "__main__":
    main()
