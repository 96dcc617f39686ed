"""The HTML report: self-contained, small at 50 columns, plots for every compared column."""

from __future__ import annotations

import re
import shutil
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
#: How many of the given SVG elements are laid out with a size and have marks in them.
DRAWN = """plots => plots.filter(
    p => p.getBoundingClientRect().width > 0 && p.querySelector('path, rect, polyline')
).length"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_chromium_renders_a_fifty_column_report_from_the_file_alone(tmp_path: Path) -> None:
    """How fast it loads is measured by bench/drift.py, not here (no timed unit tests)."""
    playwright = pytest.importorskip("playwright.sync_api")
    report = compare(wide(1).drop_columns(["device"]), wide(2, shift=1.0).drop_columns(["device"]))
    path = write_html(report, tmp_path / "r.html")
    assert path.stat().st_size < 5_000_000
    page_text = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page_text)  # no http(s) references
    with playwright.sync_playwright() as p:
        flags = ["--headless", "--no-sandbox", "--disable-gpu"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        page = browser.new_page()
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri(), wait_until="load")
        sections = page.locator("details").count()
        opened = page.locator("details[open]").count()
        plots = page.locator("svg").count()
        drawn = page.locator("details[open] svg").evaluate_all(DRAWN)
        browser.close()
    assert requests == [path.as_uri()]  # the page fetched nothing beyond itself
    assert errors == []
    assert sections == 50 and opened == 5  # one section per column, the drifted ones open
    assert plots == 40 * 2 + 10  # numeric columns: CDF and deciles; categorical: shares
    assert drawn == 5 * 2  # the five drifted (numeric) columns' plots are laid out and drawn
