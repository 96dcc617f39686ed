"""The overview and the family pages, against what the library says about the same world.

Expected values are computed here from the library (alerts, groups, crossings, stored
series) and compared with what the pages show and embed; the charts' JSON is parsed out
of the page exactly as static/recops.js reads it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from recops.catalog import load_catalog
from recops.detect.alerts import AlertSignal, list_alerts, list_groups, record_signals
from recops.detect.plan import slo_targets
from recops.monitors.series import read_series
from recops.monitors.thresholds import crossings
from recops.respond.incidents import list_incidents
from recops.server.ui.charts import Chart, to_script_json
from recops.workspace import Workspace
from tests.server.conftest import ServerWorld, client_for

FAMILIES = ("arrival", "quality", "features", "model", "serving")
# The stage each catalog family belongs to, written out independently of the server's
# table; serving also owns the request-level failure rates.
STAGE_OF_FAMILY = {
    "arrival": "arrival",
    "quality": "quality",
    "drift": "features",
    "freshness": "features",
    "metrics": "model",
    "latency": "serving",
}
SERVING_RATES = {"error_rate", "fallback_rate", "empty_slate_rate"}
CHART = re.compile(r'<script type="application/json" data-chart="([^"]+)">(.*?)</script>', re.S)
CARD = re.compile(
    r'data-stage="([a-z]+)" data-state="([a-z]+)"\s+data-open-alerts="(\d+)" data-crossings="(\d+)"'
)


def sign_in(client: TestClient, world: ServerWorld, role: str = "viewer") -> None:
    response = client.post("/login", data={"token": world.tokens[role], "next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    assert "recops_session" in response.cookies or client.cookies.get("recops_session")


@pytest.fixture
def viewer(client: TestClient, server_world: ServerWorld) -> TestClient:
    sign_in(client, server_world)
    return client


@pytest.fixture
def world_ws(server_world: ServerWorld) -> Iterator[Workspace]:
    ws = Workspace.open(server_world.root)
    try:
        yield ws
    finally:
        ws.close()


def charts_of(page: str) -> dict[str, dict[str, Any]]:
    return {chart_id: json.loads(text) for chart_id, text in CHART.findall(page)}


def stage_of(metric: str, catalog: Any) -> str:
    if metric in SERVING_RATES:
        return "serving"
    if metric in catalog:
        return STAGE_OF_FAMILY[catalog.get(metric).family]
    return "arrival"  # the dead man's switch: data stopped coming


def newest_day(ws: Workspace) -> datetime:
    """The newest daily window, from the stored series themselves."""
    starts = read_series(ws.store, "requests", subject="", slice="", granularity="day")["window_start"]
    return max(starts.to_pylist()).astimezone(UTC)


def expected_states(ws: Workspace) -> dict[str, tuple[str, int, int]]:
    catalog = load_catalog(ws.config.root)
    day = newest_day(ws)
    opened: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for alert in list_alerts(ws.store, state="open"):
        opened[stage_of(alert.metric, catalog)].append(alert.severity)
    crossed = {f: 0 for f in FAMILIES}
    found = crossings(
        ws.store,
        catalog,
        slo_targets(ws.config),
        ws.config.zone,
        start=day,
        end=day + timedelta(days=1),
        granularity="day",
    )
    for c in found:
        crossed[stage_of(c.metric, catalog)] += 1
    out = {}
    for f in FAMILIES:
        state = "bad" if "page" in opened[f] else "warn" if opened[f] or crossed[f] else "ok"
        out[f] = (state, len(opened[f]), crossed[f])
    return out


# ─── sign-in ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("path", ["/", "/family/model", "/family/features?granularity=hour"])
def test_pages_without_a_session_redirect_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.path == "/login"
    assert parse_qs(target.query)["next"] == [path]


def test_unknown_family_is_404(viewer: TestClient) -> None:
    response = viewer.get("/family/nope")
    assert response.status_code == 404
    assert "arrival, quality, features, model, serving" in response.text


# ─── overview ─────────────────────────────────────────────────────────────────────────


def test_overview_stage_cards_match_the_library(viewer: TestClient, world_ws: Workspace) -> None:
    response = viewer.get("/")
    assert response.status_code == 200
    page = response.text
    assert '<script src="/static/plotly/plotly.min.js"></script>' in page
    cards = {stage: (state, int(n), int(c)) for stage, state, n, c in CARD.findall(page)}
    assert list(cards) == list(FAMILIES)
    assert cards == expected_states(world_ws)
    for stage in FAMILIES:
        assert f'href="/family/{stage}"' in page
    # Each stage draws its sparklines from the daily all-traffic series.
    sparks = {k: v for k, v in charts_of(page).items() if k.startswith("spark-")}
    assert len(sparks) >= 10
    ctr = read_series(world_ws.store, "ctr", subject="", slice="", granularity="day")
    day = newest_day(world_ws)
    recent = [t for t in ctr["window_start"].to_pylist() if t > day - timedelta(days=28)]
    assert len(sparks["spark-model-0"]["data"][0]["x"]) == len(recent)


def test_overview_lists_alert_groups_and_incidents_from_the_library(
    viewer: TestClient, world_ws: Workspace
) -> None:
    page = viewer.get("/").text
    groups = list_groups(world_ws.store, state="open") or list_groups(world_ws.store, limit=8)
    assert groups, "the test world raises alerts"
    listed = [int(g) for g in re.findall(r'<tr data-group="(\d+)">', page)]
    assert listed == [g.id for g in groups]
    for g in groups:
        assert f'href="/alerts/groups/{g.id}"' in page
        assert html.escape(g.cause) in page
    heading = "Open alert groups" if list_groups(world_ws.store, state="open") else "Recent alert groups"
    assert heading in page
    incidents = list_incidents(world_ws.store, state="active") or list_incidents(world_ws.store)[:8]
    assert [int(i) for i in re.findall(r'<tr data-incident="(\d+)">', page)] == [i.id for i in incidents]


def test_overview_turns_bad_and_warn_with_open_alerts(writable_root: Path, server_world: ServerWorld) -> None:
    """Open alerts decide a stage's state: a page makes serving bad, a ticket makes model warn."""
    with Workspace.open(writable_root) as ws:
        at = newest_day(ws) + timedelta(days=1)
        record_signals(
            ws.store,
            [
                AlertSignal(
                    detector="threshold",
                    metric="error_rate",
                    severity="page",
                    data_time=at,
                    granularity="hour",
                    summary="error_rate is 0.2, past 0.01",
                ),
                AlertSignal(
                    detector="seasonal",
                    metric="ctr",
                    severity="ticket",
                    data_time=at,
                    granularity="hour",
                    slice="device=android_tv",
                    summary="ctr in device=android_tv fell",
                ),
            ],
        )
        expected = expected_states(ws)
        open_groups = list_groups(ws.store, state="open")
    assert expected["serving"][0] == "bad" and expected["model"][0] == "warn"
    for client in client_for(writable_root):
        sign_in(client, server_world)
        page = client.get("/").text
        cards = {stage: (state, int(n), int(c)) for stage, state, n, c in CARD.findall(page)}
        assert cards == expected
        assert "Open alert groups" in page
        assert [int(g) for g in re.findall(r'<tr data-group="(\d+)">', page)] == [g.id for g in open_groups]


# ─── family pages ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("granularity", ["day", "hour"])
def test_family_pages_render_every_metric_with_a_diagnose_link(
    viewer: TestClient, world_ws: Workspace, family: str, granularity: str
) -> None:
    response = viewer.get(f"/family/{family}?granularity={granularity}")
    assert response.status_code == 200
    page = response.text
    assert '<script src="/static/plotly/plotly.min.js"></script>' in page
    catalog = load_catalog(world_ws.config.root)
    metrics = [d.name for d in catalog if stage_of(d.name, catalog) == family]
    assert re.findall(r'<section class="card panel" id="metric-([a-z0-9_]+)"', page) == metrics
    day = newest_day(world_ws)
    for name in metrics:
        links = re.findall(rf'<h3><a href="([^"]+)"[^>]*>{name}</a></h3>', page)
        assert len(links) == 1
        query = parse_qs(urlsplit(html.unescape(links[0])).query)
        assert query["metric"] == [name]
        assert query["from"] == [day.astimezone(world_ws.config.zone).strftime("%Y-%m-%dT%H:%M")]
        assert query["to"] == [
            (day + timedelta(days=1)).astimezone(world_ws.config.zone).strftime("%Y-%m-%dT%H:%M")
        ]
    for chart in charts_of(page).values():
        assert chart["data"], "every embedded chart has traces"


@pytest.mark.parametrize(
    ("metric", "granularity", "slice_", "days"),
    [
        ("ctr", "day", "", 42),
        ("ctr", "hour", "", 14),
        ("play_rate", "day", "device=android_tv", 42),
        ("latency_p95_ms", "hour", "", 14),
    ],
)
def test_charts_embed_the_stored_points(
    viewer: TestClient, world_ws: Workspace, metric: str, granularity: str, slice_: str, days: int
) -> None:
    family = "model" if metric != "latency_p95_ms" else "serving"
    page = viewer.get(f"/family/{family}", params={"granularity": granularity, "slice": slice_}).text
    table = read_series(world_ws.store, metric, subject="", slice=slice_, granularity=granularity)
    starts = table["window_start"].to_pylist()
    end = max(starts) + (timedelta(days=1) if granularity == "day" else timedelta(hours=1))
    values = [
        v for t, v in zip(starts, table["value"].to_pylist(), strict=True) if t >= end - timedelta(days=days)
    ]
    chart = charts_of(page)[f"chart-{metric}"]
    names = {t.get("name"): t for t in chart["data"]}
    main = names[metric] if metric in names else names["all"]
    assert len(main["x"]) == len(values) > 0
    assert main["y"] == pytest.approx(values)
    panel = re.search(rf'id="metric-{metric}"[^>]*data-points="(\d+)"', page)
    assert panel is not None and int(panel.group(1)) >= len(values)
    if slice_:
        assert f'<option value="{slice_}" selected>' in page


def test_thresholds_and_alert_markers(viewer: TestClient, world_ws: Workspace) -> None:
    """stale_feature_share: its static threshold as a line, its all-traffic alerts as markers."""
    page = viewer.get("/family/features").text
    chart = charts_of(page)["chart-stale_feature_share"]
    catalog = load_catalog(world_ws.config.root)
    level = catalog.get("stale_feature_share").threshold_value(slo_targets(world_ws.config))
    assert [s["y0"] for s in chart["layout"]["shapes"]] == [level]
    day = newest_day(world_ws)
    start = day + timedelta(days=1) - timedelta(days=42)
    alerts = [
        a
        for a in list_alerts(world_ws.store, metric="stale_feature_share")
        if a.slice == "" and a.data_time > start
    ]
    markers = [t for t in chart["data"] if t.get("name") == "alerts"]
    assert alerts, "the stale feature group incident raises alerts"
    assert len(markers) == 1 and len(markers[0]["x"]) == len(alerts)
    assert {f"alert {a.id} " in " ".join(markers[0]["text"]) for a in alerts} == {True}


def test_features_page_heatmap_and_freshness(viewer: TestClient, world_ws: Workspace) -> None:
    page = viewer.get("/family/features").text
    drift = read_series(world_ws.store, "feature_drift_ratio", slice="", granularity="day")
    features = set(drift["subject"].to_pylist())
    heat = charts_of(page)["chart-drift-heatmap"]["data"][0]
    assert heat["type"] == "heatmap" and set(heat["y"]) == features
    days = {
        t.astimezone(world_ws.config.zone).strftime("%Y-%m-%d") for t in drift["window_start"].to_pylist()
    }
    assert set(heat["x"]) == days and all(len(row) == len(days) for row in heat["z"])
    rows = re.findall(r'<tr data-group="([^"]+)">', page)
    assert set(world_ws.config.feature_groups) <= set(rows)
    bars = charts_of(page)["chart-freshness"]["data"]
    ttl = next(b for b in bars if b["name"] == "TTL (h)")
    assert dict(zip(ttl["x"], ttl["y"], strict=True)) == {
        g: c.ttl_hours for g, c in world_ws.config.feature_groups.items()
    }


def test_slice_selector_lists_the_stored_slices(viewer: TestClient, world_ws: Workspace) -> None:
    page = viewer.get("/family/model").text
    options = re.findall(r'<option value="([^"]*)"', page.split('name="slice"')[1].split("</select>")[0])
    stored = set(read_series(world_ws.store, "ctr", subject="", granularity="day")["slice"].to_pylist())
    assert set(options) == stored and options[0] == ""


# ─── embedding ────────────────────────────────────────────────────────────────────────


def test_chart_json_cannot_close_its_script_element() -> None:
    hostile = "</script><script>alert(1)</script><!-- & \u2028"
    chart = Chart("c1", {"data": [{"name": hostile, "x": ["a"], "y": [float("nan")]}], "layout": {}})
    embedded = chart.__html__()
    body = embedded.split('data-chart="c1">', 1)[1].rsplit("</script>", 1)[0]
    assert "<" not in body and ">" not in body and "\u2028" not in body
    decoded = json.loads(body)
    assert decoded["data"][0]["name"] == hostile
    assert decoded["data"][0]["y"] == [None]  # NaN is not JSON
    assert json.loads(to_script_json({"a": "</script>"})) == {"a": "</script>"}
    assert chart.points == 1
