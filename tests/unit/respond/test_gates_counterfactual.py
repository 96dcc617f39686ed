"""The counterfactual (SNIPS) estimate over simulated replicates whose truth is known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from recops.errors import InvalidInput
from recops.respond.gates.counterfactual import PROPENSITY_COLUMNS, read_propensities, snips
from recops.sim.counterfactual import (
    CounterfactualConfig,
    PolicySpec,
    Replicates,
    simulate_replicates,
    write_propensities,
)

REPLICATES = 200


def _run(config: CounterfactualConfig, seed: int) -> tuple[Replicates, list[tuple[float, float, float]]]:
    reps = simulate_replicates(config, REPLICATES, seed=seed)
    out = []
    for i in range(REPLICATES):
        e = snips(reps.request[i], reps.clicks[i], reps.logged[i], reps.candidate[i])
        out.append((e.ci_low, e.ci_high, float(reps.clicks[i].mean())))
    return reps, out


def test_snips_by_hand() -> None:
    request = np.array([0, 0, 1, 1])
    clicks = np.array([1.0, 0.0, 0.0, 1.0])
    logged = np.array([0.5, 0.5, 0.25, 0.5])
    cand = np.array([0.25, 0.5, 0.5, 0.5])
    w = cand / logged  # 0.5, 1, 2, 1
    est = (0.5 * 1 + 1 * 1) / w.sum()
    n_r = np.array([0.5, 1.0])
    d_r = np.array([1.5, 3.0])
    se = math.sqrt(((n_r - est * d_r) ** 2).sum()) / w.sum()
    out = snips(request, clicks, logged, cand)
    assert out.estimate == pytest.approx(est) and out.se == pytest.approx(se)
    assert out.ci_high - out.estimate == pytest.approx(1.959963984540054 * se)
    assert out.effective_sample_size == pytest.approx(w.sum() ** 2 / (w * w).sum())


@pytest.mark.slow
def test_the_interval_covers_the_true_candidate_ctr_in_at_least_90_percent() -> None:
    # a candidate with its own ranking noise and a flatter rotation: different propensities
    config = CounterfactualConfig(candidate=PolicySpec(sd=0.8, keep_top=0.4))
    reps, intervals = _run(config, seed=1)
    covered = [lo <= t <= hi for (lo, hi, _), t in zip(intervals, reps.true_candidate_ctr, strict=True)]
    assert np.mean(covered) >= 0.90


@pytest.mark.slow
def test_a_candidate_ten_percent_worse_is_flagged_in_at_least_90_percent() -> None:
    # At the boundary: a noisier, flatter candidate whose true CTR is 10-11 % below
    # production's on every replicate, logged over 8,000 requests (40,000 slots) each.
    config = CounterfactualConfig(requests=8000, candidate=PolicySpec(sd=1.2, keep_top=0.5))
    reps, intervals = _run(config, seed=2)
    gap = 1 - reps.true_candidate_ctr / reps.true_production_ctr
    assert np.all(gap >= 0.10) and np.all(gap <= 0.11)  # truly 10 % worse, not more than 11 %
    flagged = [hi < prod for lo, hi, prod in intervals]  # the gate's rule with max_relative_drop = 0
    assert np.mean(flagged) >= 0.90


@pytest.mark.slow
def test_an_equal_candidate_is_rarely_flagged() -> None:
    reps, intervals = _run(CounterfactualConfig(), seed=3)
    assert np.allclose(reps.true_candidate_ctr, reps.true_production_ctr, rtol=0.02)
    assert np.mean([hi < prod for lo, hi, prod in intervals]) <= 0.10


def test_propensity_file_round_trip(tmp_path: Path) -> None:
    reps = simulate_replicates(CounterfactualConfig(requests=50), 1, seed=4)
    path = write_propensities(reps, 0, tmp_path / "p.parquet")
    table = read_propensities(path)
    assert table.column_names == list(PROPENSITY_COLUMNS)
    assert table.column("propensity").to_pylist() == pytest.approx(list(reps.candidate[0]))
    pq.write_table(table.drop(["position"]), tmp_path / "bad.parquet")
    with pytest.raises(InvalidInput, match="position"):
        read_propensities(tmp_path / "bad.parquet")
