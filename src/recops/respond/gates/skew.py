"""Check: training/serving skew — the version's training data against recent serving features.

The reference is each local training dataset the version registered (Parquet, CSV or JSON
Lines); the current window is the ``features`` (and ``feature_strings``) of the lake's
requests over the last ``hours`` (default 24) before the newest request, a uniform sample of
at most ``sample`` rows. The drift engine (:func:`recops.drift.compare`, effect sizes with
fixed thresholds, decision 0021) judges each feature both sides have.
"""

from __future__ import annotations

from typing import Any

import pyarrow.dataset as pads

from recops.drift import compare
from recops.errors import InvalidInput
from recops.lake import Lake
from recops.lake.sqltext import literal, quote
from recops.registry.datasets import local_path
from recops.registry.entities import ModelVersion
from recops.respond.gates.result import CheckResult


def check_skew(lake: Lake, version: ModelVersion, params: dict[str, Any]) -> CheckResult:
    """Fails when any shared feature drifts between training and serving."""
    name = "skew"
    hours = float(params.get("hours", 24.0))
    sample = int(params.get("sample", 200_000))
    train = [d for d in version.datasets if d.role == "train"] or list(version.datasets)
    local = [(d, p) for d in train if (p := local_path(d.uri)) is not None and p.exists()]
    if not local:
        return CheckResult(name, "inconclusive", "no training dataset readable here (local files only)", {})
    con = lake.connect()
    try:
        numeric = {
            str(k)
            for (k,) in con.execute(
                "SELECT DISTINCT unnest(map_keys(features)) FROM (SELECT features FROM requests LIMIT 20000)"
            ).fetchall()
        }
        strings = {
            str(k)
            for (k,) in con.execute(
                "SELECT DISTINCT unnest(map_keys(feature_strings)) FROM "
                "(SELECT feature_strings FROM requests LIMIT 20000)"
            ).fetchall()
        }
        columns: list[str] = []
        evidence: dict[str, Any] = {"hours": hours, "datasets": {}}
        failed: list[str] = []
        judged = 0
        for dataset, path in local:
            try:
                report_cols = _columns_of(path)
            except InvalidInput as exc:
                evidence["datasets"][dataset.name or dataset.uri] = {"error": str(exc)}
                continue
            shared = sorted((numeric | strings) & set(report_cols))
            if not shared:
                evidence["datasets"][dataset.name or dataset.uri] = {"shared_features": []}
                continue
            columns = [
                f"features[{literal(k)}] AS {quote(k)}"
                if k in numeric
                else f"feature_strings[{literal(k)}] AS {quote(k)}"
                for k in shared
            ]
            current = con.execute(
                f"SELECT * FROM (SELECT {', '.join(columns)} FROM requests WHERE ts >= "
                f"(SELECT max(ts) FROM requests) - to_microseconds(CAST($us AS BIGINT))) "
                f"USING SAMPLE reservoir({sample} ROWS) REPEATABLE (7)",
                {"us": int(hours * 3600e6)},
            ).to_arrow_table()
            report = compare(path, current, columns=shared)
            rows = []
            for col in report.columns:
                rows.append(
                    {
                        "feature": col.column,
                        "verdict": col.verdict,
                        "test": col.test,
                        "statistic": col.statistic,
                        "threshold": col.threshold,
                    }
                )
                judged += 1
                if col.drifted:
                    failed.append(f"{col.column} ({dataset.name or dataset.uri})")
            evidence["datasets"][dataset.name or dataset.uri] = {"features": rows}
    finally:
        con.close()
    evidence["drifted"] = failed
    if failed:
        return CheckResult(name, "fail", "training/serving skew in " + ", ".join(failed), evidence)
    if judged == 0:
        return CheckResult(name, "inconclusive", "no feature shared by training data and serving", evidence)
    return CheckResult(name, "pass", f"{judged} feature(s) without training/serving skew", evidence)


def _columns_of(path: Any) -> list[str]:
    try:
        fmt = "parquet"
        text = str(path)
        if text.endswith((".csv", ".csv.gz")):
            fmt = "csv"
        elif text.endswith((".jsonl", ".json", ".jsonl.gz")):
            fmt = "json"
        return list(pads.dataset(path, format=fmt).schema.names)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
