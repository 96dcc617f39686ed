"""Deterministic sampling by request id."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from recops.sdk import LoggerStats, OutcomeLogger, RequestLogger, keep, read_spool_file


def test_keep_is_deterministic_and_follows_the_documented_rule() -> None:
    ids = [f"req-{i}" for i in range(20_000)]
    for rate in (0.0, 0.01, 0.3, 0.5, 1.0):
        kept = [keep(i, rate) for i in ids]
        assert kept == [keep(i, rate) for i in ids]
        assert kept == [zlib.crc32(i.encode()) < rate * 2**32 for i in ids]
        assert abs(sum(kept) / len(ids) - rate) < 0.01
    assert keep("r", 1.0) and not keep("r", 0.0)
    # a lower rate keeps a subset of what a higher rate keeps
    assert all(keep(i, 0.5) for i in ids if keep(i, 0.1))
    assert keep("é-1", 0.5) == (zlib.crc32("é-1".encode()) < 2**31)


def test_keep_refuses_a_rate_outside_0_1() -> None:
    for rate in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="sample rate"):
            keep("r", rate)


def test_loggers_keep_the_same_requests_and_their_outcomes(tmp_path: Path) -> None:
    ids = [f"req-{i}" for i in range(500)]
    with RequestLogger(tmp_path / "requests", sample_rate=0.3) as requests:
        for i in ids:
            requests.log(
                request_id=i,
                surface="s",
                user_id="u",
                model="m",
                model_version="v",
                status="ok",
                latency_ms=1.0,
                candidates=[],
            )
    with OutcomeLogger(tmp_path / "outcomes", sample_rate=0.3) as outcomes:
        for i in ids:
            outcomes.log(request_id=i, item_id="a", event="click")
    expected = sorted(i for i in ids if keep(i, 0.3))
    n = len(expected)
    assert requests.stats == LoggerStats(logged=n, sampled_out=500 - n, written=n, files=1)
    assert outcomes.stats.sampled_out == 500 - n
    for folder in ("requests", "outcomes"):
        table = read_spool_file(next((tmp_path / folder).glob("*.parquet")))
        assert sorted(table.column("request_id").to_pylist()) == expected
