"""compare() and profile() end to end on real files, Arrow tables, stored profiles and the lake."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from recops.drift import Profile, Rules, compare, open_input, profile
from recops.drift.rules import DRIFT, INSUFFICIENT, MISSING, NO_DRIFT
from recops.errors import InvalidInput
from recops.workspace import Workspace


def window(seed: int, rows: int = 20_000, *, shift: float = 0.0, moved: float = 0.0) -> pa.Table:
    g = np.random.default_rng(seed)
    device = g.choice(["ios", "android", "web"], size=rows, p=[0.5, 0.3, 0.2])
    base = g.normal(size=rows)
    price = np.where(device == "web", base + shift, base)  # drift confined to the web segment
    country = np.where(g.random(rows) < moved, "fr", g.choice(["us", "de", "fr", "jp"], size=rows))
    clicks = g.poisson(2.0, rows).astype(np.int64)
    ratio = g.beta(2, 5, rows)
    ratio[g.random(rows) < 0.02] = np.nan
    return pa.table(
        {
            "price": price,
            "clicks": clicks,
            "ratio": pa.array(ratio, from_pandas=True),
            "country": country,
            "device": device,
            "ts": pa.array(np.arange(rows), pa.timestamp("s")),
        }
    )


def verdicts(report: object) -> dict[str, str]:
    return {c.column: c.verdict for c in report.columns}  # type: ignore[attr-defined]


def test_no_drift_between_two_samples_of_the_same_process() -> None:
    report = compare(window(1), window(2))
    assert set(verdicts(report).values()) == {NO_DRIFT}
    assert report.skipped == {"ts": "type timestamp[s] is not compared"}
    assert not report.drift_found


def test_a_shift_and_moved_traffic_are_found_and_nothing_else() -> None:
    report = compare(window(1), window(2, shift=2.0, moved=0.35))
    found = verdicts(report)
    assert found["price"] == DRIFT and found["country"] == DRIFT
    assert found["clicks"] == found["ratio"] == found["device"] == NO_DRIFT
    price = next(c for c in report.columns if c.column == "price")
    assert price.test == "wasserstein" and price.statistic is not None and price.statistic > 0.1
    assert {r.name for r in price.results} >= {"wasserstein", "null_rate", "ks", "psi", "jensenshannon"}


def test_drift_inside_one_segment_hides_in_the_total_but_not_per_segment() -> None:
    report = compare(window(1), window(2, shift=0.4), segment="device")
    assert verdicts(report)["price"] == NO_DRIFT  # 0.4 sd on a fifth of the rows: W ≈ 0.08 overall
    drifted = {(segment, column.column) for segment, column in report.drifted_segments}
    assert drifted == {("web", "price")}
    assert {s.value for s in report.segments} == {"ios", "android", "web"}
    assert all(c.column != "device" for c in report.columns)
    assert report.drift_found


def test_stored_profile_gives_the_same_verdicts_and_statistics(tmp_path: Path) -> None:
    reference, current = window(1), window(2, shift=2.0)
    direct = compare(reference, current, segment="device")
    stored = profile(reference, segment="device").save(tmp_path / "ref.json")
    again = compare(Profile.load(stored), current, segment="device")
    assert verdicts(again) == verdicts(direct)
    for a, b in zip(direct.columns, again.columns, strict=True):
        assert a.statistic == pytest.approx(b.statistic, rel=1e-12)
    drifted = [s.to_dict()["drifted"] for s in direct.segments]
    assert [s.to_dict()["drifted"] for s in again.segments] == drifted
    assert again.reference.startswith("profile of")


def test_profile_file_is_recognised_and_damaged_ones_refused(tmp_path: Path) -> None:
    path = profile(window(1)).save(tmp_path / "p.json")
    assert isinstance(open_input(str(path)), Profile)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "recops-drift-profile", "version": 1}')
    with pytest.raises(InvalidInput, match="damaged"):
        open_input(str(bad))


def test_profiles_of_windows_counted_against_one_reference_merge_exactly() -> None:
    reference = profile(window(1))
    whole = window(2, rows=30_000)
    halves = [compare(reference, whole.slice(0, 12_000)), compare(reference, whole.slice(12_000))]
    assert halves[0].reference_profile is not None
    from recops.drift.local import run
    from recops.drift.sources import ArrowSource

    parts = [run(reference.kinds(), reference, ArrowSource(whole.slice(a, n)), top_k=20)[1] for a, n in
             ((0, 12_000), (12_000, 18_000))]  # fmt: skip
    full = run(reference.kinds(), reference, ArrowSource(whole), top_k=20)[1]
    assert parts[0] is not None and parts[1] is not None and full is not None
    merged = parts[0].merge(parts[1])
    assert merged.rows == 30_000
    for name in full.columns:
        a, b = merged.columns[name].counts, full.columns[name].counts
        assert np.array_equal(a.counts, b.counts) and a.missing == b.missing
    assert compare(reference, merged).to_dict()["summary"] == compare(reference, full).to_dict()["summary"]


def test_missing_columns_and_type_changes_count_as_drift() -> None:
    current = window(2).drop_columns(["clicks"]).set_column(0, "price", pa.array(["x"] * 20_000))
    current = current.append_column("new_feature", pa.array(np.zeros(20_000)))
    report = compare(window(1), current)
    found = {c.column: (c.verdict, c.note) for c in report.columns}
    assert found["clicks"] == (MISSING, "not in the current window")
    assert found["price"] == (MISSING, "type changed to string")
    assert report.new_columns == ["new_feature"]
    assert report.drift_found


def test_columns_and_categorical_options() -> None:
    report = compare(window(1), window(2), columns=["clicks", "country"], categorical=["clicks"])
    kinds = [(c.column, c.kind) for c in report.columns]
    assert kinds == [("clicks", "categorical"), ("country", "categorical")]
    with pytest.raises(InvalidInput, match="no such column"):
        compare(window(1), window(2), columns=["nope"])
    with pytest.raises(InvalidInput, match="cannot compare ts"):
        compare(window(1), window(2), columns=["ts"])


def test_small_current_window_is_insufficient_data() -> None:
    report = compare(window(1), window(2, rows=50, shift=3.0))
    assert set(verdicts(report).values()) == {INSUFFICIENT}
    assert not report.drift_found


def test_exact_mode_matches_scipy_and_refuses_profiles() -> None:
    from scipy import stats

    reference, current = window(1, rows=3000), window(2, rows=2000, shift=0.5)
    report = compare(reference, current, exact=True, columns=["price"])
    ks_result = report.columns[0].result("ks")
    assert ks_result is not None
    expected = stats.ks_2samp(reference.column("price").to_numpy(), current.column("price").to_numpy())
    assert ks_result.value == pytest.approx(expected.statistic, abs=1e-12)
    with pytest.raises(InvalidInput, match="exact mode"):
        compare(profile(reference), current, exact=True)


def test_rules_choose_the_deciding_test_and_thresholds() -> None:
    rules = Rules(tests={"numeric": "ks", "categorical": "chisquare"}, thresholds={"ks": 0.5})
    report = compare(window(1), window(2, shift=2.0), rules=rules)
    price = next(c for c in report.columns if c.column == "price")
    assert price.test == "ks" and price.threshold == 0.5
    with pytest.raises(InvalidInput, match="does not apply"):
        Rules(tests={"categorical": "wasserstein"})


def test_files_folders_csv_and_jsonl(tmp_path: Path) -> None:
    reference, current = window(1, rows=5000), window(2, rows=5000, shift=2.0)
    folder = tmp_path / "ref"
    folder.mkdir()
    pq.write_table(reference.slice(0, 2500), folder / "a.parquet")
    pq.write_table(reference.slice(2500), folder / "b.parquet")
    pacsv.write_csv(current.drop_columns(["ts"]), tmp_path / "cur.csv")
    lines = current.drop_columns(["ts", "ratio"]).to_pylist()
    (tmp_path / "cur.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    by_csv = compare(str(folder), str(tmp_path / "cur.csv"), columns=["price", "clicks", "country"])
    by_json = compare(str(folder), str(tmp_path / "cur.jsonl"), columns=["price", "clicks", "country"])
    assert verdicts(by_csv) == verdicts(by_json) == {"price": DRIFT, "clicks": NO_DRIFT, "country": NO_DRIFT}
    with pytest.raises(InvalidInput, match="no such file"):
        open_input(str(tmp_path / "missing.parquet"))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InvalidInput, match="no rows to compare"):
        open_input(str(tmp_path / "empty.jsonl"))


def test_sql_over_the_lake(workspace: Workspace, tmp_path: Path) -> None:
    from recops.lake.sql import sandbox

    con = sandbox(workspace.lake, workspace.store)
    source = open_input("sql:SELECT 1.5 AS x UNION ALL SELECT 2.5", sql=lambda: con)
    assert source.read(["x"]).column("x").to_pylist() == [1.5, 2.5]  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="exactly one SELECT"):
        open_input("sql:CREATE TABLE t (x INT)", sql=lambda: con)
    with pytest.raises(InvalidInput, match="workspace"):
        open_input("sql:SELECT 1")


def test_report_serializes_to_json() -> None:
    report = compare(window(1), window(2, shift=2.0), segment="device")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["summary"]["drifted"] == ["price"]
    assert data["columns"][0]["tests"][0]["deciding"] is True
    assert data["rules"]["thresholds"]["wasserstein"] == 0.1


def test_profiles_with_different_binnings_do_not_merge() -> None:
    a, b = profile(window(1)), profile(window(2))
    with pytest.raises(InvalidInput, match="same reference"):
        a.merge(b)


def test_spark_inputs_are_recognised_without_importing_spark() -> None:
    from recops.drift import spark

    assert not spark.is_spark_input(window(1))
    assert not spark.is_spark_input("ref.parquet")


def test_constant_and_empty_columns() -> None:
    rows = 5000
    reference = pa.table({"k": np.full(rows, 3.0), "e": np.random.default_rng(1).normal(size=rows)})
    current = pa.table({"k": np.full(rows, 3.0), "e": pa.array([None] * rows, pa.float64())})
    found = {c.column: (c.verdict, c.note) for c in compare(reference, current).columns}
    assert found["k"] == (NO_DRIFT, "")
    assert found["e"] == (DRIFT, "null rate changed")  # every value went missing
