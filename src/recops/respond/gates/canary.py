"""Check: canary analysis, the canary version against the control over the same window.

Metrics judged (each as a *comparison*, Kayenta style):

* ``ctr`` overall and per slice (surface and each context key value): a ratio of sums with
  the users as units, so its variance is the user-level delta-method one; tested with the
  always-valid mSPRT read at every hour of the window (cumulative), so the same check can
  be run while the canary is still going without inflating false alarms. Slices share the
  level ``alpha`` by Bonferroni. A comparison *fails* when the always-valid interval of the
  difference lies wholly on the harmful side and the relative drop exceeds
  ``max_relative_drop`` — a segment-only regression fails its slice even when the overall
  CTR does not move.
* ``error_rate`` and ``fallback_rate``: two-proportion z tests (harmful: higher).
* ``latency_ms`` (per request) and ``watch_seconds`` (per play): Mann–Whitney U
  (harmful: candidate stochastically larger latency / smaller watch time, with the
  probability of superiority past ``min_effect`` from one half).

The score is the share of comparisons that pass (slices too small are skipped). The
verdict: ``fail`` when a critical comparison (``ctr`` by default) fails or the score is
under ``marginal_score``; ``marginal`` under ``pass_score``; ``inconclusive`` when either
side has fewer than ``min_impressions`` impressions; else ``pass``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from recops.respond.gates.canary_data import CanaryRequests
from recops.respond.gates.result import CheckResult
from recops.respond.gates.stats import mann_whitney, msprt, ratio_delta, two_proportions

DEFAULTS: dict[str, Any] = {
    "alpha": 0.05,
    "tau": 0.1,  # prior sd of the relative CTR effect in the mSPRT normal mixture
    "min_impressions": 2000,
    "min_slice_impressions": 1000,
    "max_relative_drop": 0.02,
    "max_rate_increase": 0.002,
    "min_effect": 0.02,
    "pass_score": 95.0,
    "marginal_score": 75.0,
    "critical": ["ctr"],
}


def _user_sums(c: CanaryRequests, mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.float64], ...]:
    users, inverse = np.unique(c.user[mask], return_inverse=True)
    clicks = np.bincount(inverse, weights=c.clicks[mask], minlength=users.size).astype(np.float64)
    imps = np.bincount(inverse, weights=c.impressions[mask], minlength=users.size).astype(np.float64)
    return clicks, imps


def ctr_comparison(
    c: CanaryRequests, mask: npt.NDArray[np.bool_], *, alpha: float, tau: float, max_drop: float
) -> dict[str, Any]:
    """CTR of candidate vs control on the requests in ``mask``: delta-method mSPRT over hourly looks."""
    diffs: list[float] = []
    variances: list[float] = []
    last: dict[str, Any] = {}
    hours = np.unique(c.hour[mask])
    for h in hours:
        look = mask & (c.hour <= h)
        sides = []
        for is_cand in (True, False):
            m = look & (c.candidate == is_cand)
            num, den = _user_sums(c, m)
            if num.size < 2 or den.sum() <= 0:
                break
            sides.append(ratio_delta(num, den))
        if len(sides) < 2:
            continue
        cand, ctrl = sides
        diffs.append(cand.value - ctrl.value)
        variances.append(cand.variance + ctrl.variance)
        last = {"candidate": cand, "control": ctrl}
    if not diffs:
        return {"status": "skipped", "reason": "no look with both sides"}
    cand, ctrl = last["candidate"], last["control"]
    tau2 = (tau * ctrl.value) ** 2 if ctrl.value > 0 else tau**2
    test = msprt(diffs, variances, tau2=tau2, alpha=alpha)
    rel = cand.value / ctrl.value - 1 if ctrl.value > 0 else math.nan
    harmful = test.ci_high < 0 and rel < -max_drop
    return {
        "status": "fail" if harmful else "pass",
        "control": ctrl.value,
        "candidate": cand.value,
        "relative_change": rel,
        "p_value": test.p_value,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "alpha": alpha,
        "looks": len(diffs),
        "control_impressions": ctrl.denominator,
        "candidate_impressions": cand.denominator,
        "control_users": ctrl.n,
        "candidate_users": cand.n,
    }


def check_canary(c: CanaryRequests, params: dict[str, Any], *, control: str, candidate: str) -> CheckResult:
    """Score the canary (see the module docstring)."""
    p = {**DEFAULTS, **params}
    alpha, tau = float(p["alpha"]), float(p["tau"])
    min_imps, min_slice = float(p["min_impressions"]), float(p["min_slice_impressions"])
    max_drop, critical = float(p["max_relative_drop"]), set(p["critical"])
    cand_imps = float(c.impressions[c.candidate].sum())
    ctrl_imps = float(c.impressions[~c.candidate].sum())
    base = {
        "control": control,
        "candidate": candidate,
        "candidate_impressions": cand_imps,
        "control_impressions": ctrl_imps,
        "min_impressions": min_imps,
    }
    if cand_imps < min_imps or ctrl_imps < min_imps:
        return CheckResult(
            "canary",
            "inconclusive",
            f"too little traffic: {cand_imps:.0f} canary and {ctrl_imps:.0f} control impressions "
            f"(need {min_imps:.0f} each)",
            base,
        )
    comparisons: list[dict[str, Any]] = []
    everything = np.ones(c.candidate.size, dtype=bool)
    comparisons.append(
        {
            "metric": "ctr",
            "slice": "(all)",
            **ctr_comparison(c, everything, alpha=alpha, tau=tau, max_drop=max_drop),
        }
    )
    slice_masks: list[tuple[str, npt.NDArray[np.bool_]]] = []
    skipped: list[str] = []
    for key, values in c.slices.items():
        for value in sorted({v for v in values if v is not None}, key=str):
            m = values == value
            ci, bi = c.impressions[m & c.candidate].sum(), c.impressions[m & ~c.candidate].sum()
            label = f"{key}={value}"
            if ci < min_slice or bi < min_slice:
                skipped.append(label)
            else:
                slice_masks.append((label, m))
    slice_alpha = alpha / max(1, len(slice_masks))
    for label, m in slice_masks:
        comparisons.append(
            {
                "metric": "ctr",
                "slice": label,
                **ctr_comparison(c, m, alpha=slice_alpha, tau=tau, max_drop=max_drop),
            }
        )
    for rate in ("error", "fallback"):
        x1 = float(np.count_nonzero(c.status[c.candidate] == rate))
        x0 = float(np.count_nonzero(c.status[~c.candidate] == rate))
        n1, n0 = float(c.candidate.sum()), float((~c.candidate).sum())
        t = two_proportions(x1, n1, x0, n0)
        bad = t.p_value < alpha and t.rate_candidate - t.rate_control > float(p["max_rate_increase"])
        comparisons.append(
            {
                "metric": f"{rate}_rate",
                "slice": "(all)",
                "status": "fail" if bad else "pass",
                "control": t.rate_control,
                "candidate": t.rate_candidate,
                "z": t.z,
                "p_value": t.p_value,
            }
        )
    for metric, a, b, worse_if_greater in (
        ("latency_ms", c.latency_ms[c.candidate], c.latency_ms[~c.candidate], True),
        ("watch_seconds", c.watch_candidate, c.watch_control, False),
    ):
        if a.size == 0 or b.size == 0:
            comparisons.append({"metric": metric, "slice": "(all)", "status": "skipped", "reason": "no data"})
            continue
        mw = mann_whitney(a, b)
        effect = mw.prob_greater - 0.5 if worse_if_greater else 0.5 - mw.prob_greater
        bad = mw.p_value < alpha and effect > float(p["min_effect"])
        comparisons.append(
            {
                "metric": metric,
                "slice": "(all)",
                "status": "fail" if bad else "pass",
                "control_median": mw.median_control,
                "candidate_median": mw.median_candidate,
                "prob_candidate_greater": mw.prob_greater,
                "p_value": mw.p_value,
            }
        )
    judged = [x for x in comparisons if x["status"] in ("pass", "fail")]
    failed = [x for x in judged if x["status"] == "fail"]
    score = 100.0 * (len(judged) - len(failed)) / len(judged) if judged else 0.0
    critical_failed = [x for x in failed if x["metric"] in critical]
    if critical_failed or score < float(p["marginal_score"]):
        status = "fail"
    elif score < float(p["pass_score"]):
        status = "marginal"
    else:
        status = "pass"
    names = [f"{x['metric']}[{x['slice']}]" for x in failed]
    summary = f"score {score:.0f}/100 over {len(judged)} comparisons" + (
        f"; failed: {', '.join(names)}" if names else ""
    )
    evidence = {
        **base,
        "score": score,
        "failed": names,
        "skipped_slices": skipped,
        "slice_alpha": slice_alpha,
        "comparisons": comparisons,
    }
    return CheckResult("canary", status, summary, evidence)
