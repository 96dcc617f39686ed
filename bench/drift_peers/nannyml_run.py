"""NannyML's univariate drift with its defaults on two Parquet files (bench/drift.py runs this).

Usage: python nannyml_run.py REF.parquet CUR.parquet CATEGORICAL,COLUMNS
Prints one JSON line: {"flagged": [...], "version": ...}. NannyML splits each window
into its default chunks and derives thresholds from the reference chunks; a column
counts as flagged when any method alerts on any chunk of the current window.
"""

from __future__ import annotations

import json
import sys

import pandas as pd


def main() -> None:
    import nannyml as nml

    reference = pd.read_parquet(sys.argv[1])
    current = pd.read_parquet(sys.argv[2])
    categorical = [c for c in sys.argv[3].split(",") if c]
    calculator = nml.UnivariateDriftCalculator(
        column_names=list(reference.columns), treat_as_categorical=categorical
    )
    calculator.fit(reference)
    results = calculator.calculate(current).filter(period="analysis").to_df()
    flagged = set()
    for column in reference.columns:
        if column not in results.columns.get_level_values(0):
            continue
        block = results[column]
        for method in block.columns.get_level_values(0).unique():
            if "alert" in block[method].columns and bool(block[method]["alert"].any()):
                flagged.add(column)
    print(json.dumps({"flagged": sorted(flagged), "version": nml.__version__}))


if __name__ == "__main__":
    main()
