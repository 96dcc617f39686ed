"""Counterfactual CTR of a candidate before any live traffic: self-normalized IPS.

Item-position model: the logged policy showed item ``i`` at position ``k`` with probability
``p0(i, k)`` (the request log's ``propensity``) and the candidate would have with ``p1(i, k)``
(a Parquet file ``request_id, item_id, position, propensity`` the training pipeline writes).
Under a click model where P(click) depends on the request, the item and the position only,
the candidate's CTR per impression is estimated by

    ĈTR = Σ w·c / Σ w,   w = p1 / p0

(self-normalized inverse propensity scoring; unbiased as n grows, far less variable than
plain IPS). Its interval uses the delta-method variance of a ratio with the request as the
unit — ``Σ_r (N_r − ĈTR·D_r)² / (Σ_r D_r)²`` with N_r, D_r the request's weighted clicks
and weights — so slots of one request are not taken as independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from recops.errors import InvalidInput
from recops.lake import Lake
from recops.respond.gates.result import CheckResult, Period

PROPENSITY_COLUMNS = ("request_id", "item_id", "position", "propensity")


@dataclass(frozen=True)
class Snips:
    """A self-normalized IPS estimate with its (1 − alpha) normal interval."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    requests: int
    slots: int
    effective_sample_size: float


def snips(
    request: npt.NDArray[np.int64],
    clicks: npt.NDArray[np.float64],
    logged: npt.NDArray[np.float64],
    candidate: npt.NDArray[np.float64],
    *,
    alpha: float = 0.05,
) -> Snips:
    """SNIPS over logged slots (one row per shown item), clustered by request code.

    Args:
        request: a dense integer code of each slot's request (0..R-1).
        clicks: 1 when the slot was clicked.
        logged: the logging policy's propensity of the slot (> 0).
        candidate: the candidate's propensity of the same item at the same position (>= 0).
        alpha: 1 − confidence.

    Raises:
        ValueError: no slot, a non-positive logged propensity or no candidate mass.
    """
    if request.size == 0:
        raise ValueError("no logged slot")
    if np.any(logged <= 0):
        raise ValueError("logged propensities must be positive")
    w = candidate / logged
    total = float(w.sum())
    if total <= 0:
        raise ValueError("the candidate gives no probability to any logged slot")
    est = float((w * clicks).sum() / total)
    n_req = int(request.max()) + 1
    num = np.bincount(request, weights=w * clicks, minlength=n_req)
    den = np.bincount(request, weights=w, minlength=n_req)
    var = float(((num - est * den) ** 2).sum() / total**2)
    se = math.sqrt(var)
    zq = NormalDist().inv_cdf(1 - alpha / 2)
    ess = total**2 / float((w * w).sum())
    return Snips(est, est - zq * se, est + zq * se, se, int(np.count_nonzero(den)), int(request.size), ess)


def read_propensities(path: Path) -> Any:
    """The candidate's propensities file as an Arrow table (columns checked).

    Raises:
        InvalidInput: unreadable, or a column missing.
    """
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read propensities {path}: {exc}") from None
    missing = [c for c in PROPENSITY_COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidInput(f"propensities {path} lack column(s) {', '.join(missing)}")
    return table.select(list(PROPENSITY_COLUMNS))


def check_counterfactual(
    lake: Lake,
    propensities: Path | None,
    window: Period | None,
    params: dict[str, Any],
) -> CheckResult:
    """Candidate SNIPS CTR against the production policy's observed CTR on the same slots.

    Fails when the interval's upper end is below the production CTR (the candidate is
    significantly worse); passes when its lower end is at or above ``(1 − margin)`` times the
    production CTR (non-inferior within ``margin``, default 0.05); inconclusive otherwise (or
    without a propensities file, or with fewer than ``min_slots`` matching slots).
    """
    name = "counterfactual"
    if propensities is None:
        return CheckResult(name, "inconclusive", "no --propensities file given", {})
    alpha = float(params.get("alpha", 0.05))
    margin = float(params.get("margin", 0.05))
    min_slots = int(params.get("min_slots", 1000))
    table = read_propensities(propensities)
    con = lake.connect()
    try:
        con.register("cand_props", table)
        where, args = ("", {})
        if window is not None:
            where, args = " AND c.ts >= $start AND c.ts < $end", {"start": window.start, "end": window.end}
        rows = con.execute(
            "WITH clicks AS (SELECT request_id, item_id, count(*) AS n FROM outcomes "
            "WHERE event = 'click' GROUP BY ALL) "
            "SELECT c.request_id, coalesce(k.n, 0) > 0 AS clicked, c.propensity AS logged, "
            "coalesce(p.propensity, 0.0) AS candidate FROM candidates c "
            "LEFT JOIN cand_props p ON p.request_id = c.request_id AND p.item_id = c.item_id "
            "AND p.position = c.position "
            "LEFT JOIN clicks k ON k.request_id = c.request_id AND k.item_id = c.item_id "
            f"WHERE c.position IS NOT NULL AND c.propensity > 0 AND c.request_id IN "
            f"(SELECT DISTINCT request_id FROM cand_props){where}",
            args,
        ).to_arrow_table()
    finally:
        con.close()
    if rows.num_rows < min_slots:
        return CheckResult(
            name,
            "inconclusive",
            f"{rows.num_rows} logged slots match the file (< {min_slots})",
            {"slots": rows.num_rows, "min_slots": min_slots},
        )
    _, codes = np.unique(rows.column("request_id").to_numpy(zero_copy_only=False), return_inverse=True)
    clicks = rows.column("clicked").to_numpy(zero_copy_only=False).astype(np.float64)
    est = snips(
        codes.astype(np.int64),
        clicks,
        rows.column("logged").to_numpy(zero_copy_only=False).astype(np.float64),
        rows.column("candidate").to_numpy(zero_copy_only=False).astype(np.float64),
        alpha=alpha,
    )
    production = float(clicks.mean())
    bar = production * (1 - margin)
    status = "fail" if est.ci_high < production else ("pass" if est.ci_low >= bar else "inconclusive")
    evidence = {
        "candidate_ctr": est.estimate,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "confidence": 1 - alpha,
        "production_ctr": production,
        "bar": bar,
        "margin": margin,
        "slots": est.slots,
        "requests": est.requests,
        "effective_sample_size": est.effective_sample_size,
    }
    summary = (
        f"candidate CTR {est.estimate:.4%} [{est.ci_low:.4%}, {est.ci_high:.4%}] vs production "
        f"{production:.4%} (non-inferiority bar {bar:.4%})"
    )
    return CheckResult(name, status, summary, evidence)
