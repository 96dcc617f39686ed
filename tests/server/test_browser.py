"""The dashboard in a real browser: Playwright driving Debian's Chromium against uvicorn.

Every page linked from the navigation renders without console errors and every chart
draws its data points; from the overview, the diagnosis of the simulated bad deploy is
at most three clicks away and its top cause names the version and the segment.
Screenshots of the main pages go to ``test-artifacts/screenshots/`` (or
``$RECOPS_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from recops.detect.alerts import list_alerts, list_groups
from recops.workspace import Workspace
from tests.server.conftest import ServerWorld

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
ARTIFACTS = Path(os.environ.get("RECOPS_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


class Session:
    """A signed-in page that records console errors and uncaught exceptions."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path, wait_until="networkidle")

    def charts_drawn(self) -> dict[str, tuple[int, int]]:
        """Each chart on the page: (points in its data, points Plotly reports drawn)."""
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('script[data-chart]')]"
            ".every(s => document.getElementById(s.dataset.chart)?.dataset.drawn !== undefined)",
            timeout=20_000,
        )
        found: dict[str, tuple[int, int]] = {}
        for script in self.page.query_selector_all("script[data-chart]"):
            chart_id = script.get_attribute("data-chart")
            spec = json.loads(script.text_content() or "{}")
            expected = sum(
                len(t.get("x") or t.get("z") or t.get("values") or []) for t in spec.get("data", [])
            )
            div = self.page.query_selector(f"#{chart_id}")
            assert div is not None and div.query_selector(".main-svg") is not None, f"{chart_id} has no plot"
            found[str(chart_id)] = (expected, int(div.get_attribute("data-drawn") or -1))
        return found

    def shot(self, name: str) -> None:
        folder = ARTIFACTS / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.fixture
def session(live_server: str, server_world: ServerWorld) -> Iterator[Session]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        s = Session(page, live_server)
        s.goto("/")  # not signed in: sent to the sign-in page
        assert page.url.startswith(live_server + "/login")
        page.fill("input[name=token]", server_world.tokens["viewer"])
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.url == live_server + "/", page.url
        try:
            yield s
        finally:
            browser.close()


def test_every_page_in_the_navigation_renders_and_draws_its_charts(session: Session) -> None:
    links = session.page.eval_on_selector_all("header nav a", "els => els.map(e => e.getAttribute('href'))")
    assert len(links) >= 10
    charts = 0
    for path in links:
        session.goto(path)
        assert not session.errors, (path, session.errors)
        assert session.page.query_selector("main h1") is not None, f"{path} has no heading"
        for chart_id, (expected, drawn) in session.charts_drawn().items():
            assert expected > 0 and drawn == expected, (path, chart_id, expected, drawn)
            charts += 1
        session.shot("overview" if path == "/" else path.strip("/").replace("/", "-"))
    assert charts >= 10  # the overview's sparklines and the family pages' series at least


def _bad_deploy_group(world: ServerWorld) -> tuple[int, str, str]:
    """The first alert group detection raised inside the bad deploy (from the library)."""
    incident = next(i for i in world.truth["incidents"] if i["kind"] == "bad_deploy_segment")  # type: ignore[union-attr]
    start, end = (datetime.fromisoformat(incident[k].replace("Z", "+00:00")) for k in ("start", "end"))
    segment = f"{incident['entity']['segment']['key']}={incident['entity']['segment']['value']}"
    with Workspace.open(world.root) as ws:
        alerts = {a.id: a for a in list_alerts(ws.store)}
        groups = [
            g for g in list_groups(ws.store)
            if start <= g.first_data_time <= end and any(alerts[m].slice == segment for m in g.members)
        ]  # fmt: skip
    assert groups, "detection raised no alert on the bad deploy's segment in the test world"
    first = min(groups, key=lambda g: g.first_data_time)
    return first.id, str(incident["entity"]["model_version"]), segment


def test_the_bad_deploy_diagnosis_is_three_clicks_from_the_overview(
    session: Session, server_world: ServerWorld
) -> None:
    group_id, version, segment = _bad_deploy_group(server_world)
    page, clicks = session.page, 0
    link = f"main a[href='/alerts/groups/{group_id}']"
    if page.query_selector(link) is None:  # not among the overview's groups: through the alert list
        page.click("header nav a[href='/alerts']")
        page.wait_for_load_state("networkidle")
        clicks += 1
    page.click(link)
    page.wait_for_load_state("networkidle")
    clicks += 1
    assert clicks <= 3
    top = page.locator(".diagnosis .top-cause[data-rank='1']")
    parts = top.locator(".entity code").all_inner_texts()
    text = " ".join(parts)
    assert version in text and segment in text, parts
    assert not session.errors, session.errors
    session.shot("bad-deploy-diagnosis")
