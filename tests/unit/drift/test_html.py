"""The HTML report: self-contained, small at 50 columns, plots for every compared column."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from recops.drift import compare
from recops.drift.html import render, write_html


def wide(seed: int, rows: int = 20_000, shift: float = 0.0) -> pa.Table:
    g = np.random.default_rng(seed)
    columns: dict[str, object] = {f"n{i}": g.normal(shift if i < 5 else 0.0, 1.0, rows) for i in range(40)}
    for j in range(10):
        columns[f"c{j}"] = pa.array([f"v{v}" for v in g.zipf(1.3, rows) % (10 ** (1 + j % 4))])
    columns["device"] = g.choice(["ios", "android", "web"], rows)
    return pa.table(columns)


def test_fifty_column_report_is_small_self_contained_and_complete(tmp_path: Path) -> None:
    report = compare(wide(1), wide(2, shift=1.0), segment="device", exact=False)
    path = write_html(report, tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 1_000_000  # far under the 5 MB budget
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing fetched
    assert page.count("<details") == 50
    assert page.count("<details id=") == 50 and page.count(" open>") == 5  # the drifted ones open
    assert page.count("<svg") == 40 * 2 + 10
    assert "Segments of device" in page


def test_names_are_escaped() -> None:
    table = pa.table({"<b>x</b>": np.random.default_rng(0).normal(size=500)})
    page = render(compare(table, table))
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_chromium_loads_a_fifty_column_report_in_under_two_seconds(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    report = compare(wide(1).drop_columns(["device"]), wide(2, shift=1.0).drop_columns(["device"]))
    path = write_html(report, tmp_path / "r.html")
    with playwright.sync_playwright() as p:
        flags = ["--headless", "--no-sandbox", "--disable-gpu"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        elapsed = time.perf_counter() - started
        assert page.locator("details").count() == 50
        browser.close()
    assert elapsed < 2.0
