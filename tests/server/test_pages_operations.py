"""The operations pages (models, alerts, diagnosis, incidents, trace, SQL) against the library.

Every expectation is read from the library over the same workspace, never typed in:
the group page lists the members ``list_alerts`` reports and puts ``diagnose_alert``'s
top hypothesis first; the SQL page returns what ``run_sql`` returns in the same sandbox.
Writes go through a private copy of the world (``writable_client``).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from recops.detect.alerts import AlertSignal, list_alerts, list_groups, raise_or_update
from recops.diagnose.diagnose import diagnose_alert, diagnose_metric
from recops.lake.sql import run_sql, sandbox
from recops.registry import audit
from recops.registry.aliases import resolve_alias
from recops.registry.versions import list_models, list_versions
from recops.server.auth import csrf_token
from recops.workspace import Workspace

from .conftest import ServerWorld


def sign_in(client: TestClient, world: ServerWorld, role: str) -> str:
    """Sign in through the form (so the session cookie is set); returns the CSRF token of the session."""
    token = world.tokens[role]
    r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    return csrf_token(token)


def text(page: str) -> str:
    """The page's visible text, tags removed, whitespace folded."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def top_cause_block(page: str) -> str:
    found = re.search(r'<div class="top-cause" data-rank="1">(.*?)</div>', page, flags=re.S)
    assert found, "the diagnosis has no top cause"
    return text(found.group(1))


def flash(response_location: str) -> str:
    return parse_qs(urlsplit(response_location).query)["flash"][0]


def utc(text_time: str) -> datetime:
    return datetime.fromisoformat(text_time.replace("Z", "+00:00")).astimezone(UTC)


def test_models_pages_list_the_registry(client: TestClient, server_world: ServerWorld) -> None:
    sign_in(client, server_world, "viewer")
    with Workspace.open(server_world.root) as ws:
        models = list_models(ws.store)
        versions = {m: list_versions(ws.store, m) for m in models}
    assert models
    listing = text(client.get("/models").text)
    for m in models:
        assert m in listing
    model = models[0]
    page = client.get(f"/models/{model}")
    assert page.status_code == 200
    for v in versions[model]:
        assert f'href="/models/{model}/{v.version}"' in page.text
    assert "<svg" in page.text and 'data-node="version:' in page.text  # the lineage graph
    one = versions[model][0]
    detail = client.get(f"/models/{model}/{one.version}")
    assert detail.status_code == 200
    body = text(detail.text)
    assert one.artifact_uri in body and one.record_digest in body
    for name in one.metrics:
        assert name in body


def test_group_page_lists_members_and_shows_the_diagnosis(
    client: TestClient, server_world: ServerWorld
) -> None:
    sign_in(client, server_world, "viewer")
    with Workspace.open(server_world.root) as ws:
        group = list_groups(ws.store)[0]
        members = list_alerts(ws.store, group_id=group.id)
        first = min(members, key=lambda a: (a.data_time, a.id))
        diagnosis = diagnose_alert(ws.store, ws.lake, ws.config, first.id)
    page = client.get(f"/alerts/groups/{group.id}")
    assert page.status_code == 200
    shown = {int(x) for x in re.findall(r'<tr class="member" data-alert="(\d+)">', page.text)}
    assert shown == {a.id for a in members}
    assert diagnosis.findings, "the library found no cause for this group; pick another world"
    top = diagnosis.findings[0]
    block = top_cause_block(page.text)
    assert top.sentence in block
    for key, value in top.entity.items():
        if isinstance(value, str) and key != "ts":
            assert f"{key}={value}" in block
    # The top cause comes before every other ranked hypothesis on the page.
    assert (
        page.text.index('data-rank="1"') < page.text.find('data-rank="2"') or 'data-rank="2"' not in page.text
    )


def test_alert_page_and_lists(client: TestClient, server_world: ServerWorld) -> None:
    sign_in(client, server_world, "viewer")
    with Workspace.open(server_world.root) as ws:
        alerts = list_alerts(ws.store)
        pages = list_alerts(ws.store, state="resolved")
    listing = client.get("/alerts", params={"state": "resolved"})
    assert listing.status_code == 200
    assert {int(x) for x in re.findall(r'href="/alerts/(\d+)"', listing.text)} == {a.id for a in pages}
    one = alerts[-1]
    page = client.get(f"/alerts/{one.id}")
    assert page.status_code == 200
    assert one.summary in text(page.text)
    assert 'id="diagnosis"' in page.text
    assert client.get("/alerts/999999").status_code == 404


def test_bad_deploy_group_names_version_and_segment(client: TestClient, server_world: ServerWorld) -> None:
    """The issue's acceptance: the group raised for the simulated bad deploy shows its cause.

    The group is the one whose data time falls in the incident and whose alerts are
    about the deployed version or the segment; if detection raised none in this world,
    the test says so instead of passing quietly.
    """
    truth = next(i for i in server_world.truth["incidents"] if i["kind"] == "bad_deploy_segment")  # type: ignore[union-attr]
    version = truth["entity"]["model_version"]
    segment = f"{truth['entity']['segment']['key']}={truth['entity']['segment']['value']}"
    start, end = utc(truth["start"]), utc(truth["end"])
    with Workspace.open(server_world.root) as ws:
        candidates = []
        for g in list_groups(ws.store):
            if not start <= g.first_data_time <= end:
                continue
            members = list_alerts(ws.store, group_id=g.id)
            about = {g.cause, *(a.slice for a in members)}
            if any(version in x or segment in x for x in about):
                candidates.append(g)
    if not candidates:
        pytest.skip(
            f"detection raised no alert group for the bad deploy of {version} in {segment} in this world"
        )
    sign_in(client, server_world, "viewer")
    block = top_cause_block(client.get(f"/alerts/groups/{candidates[-1].id}").text)
    assert version in block and segment in block


def test_diagnose_page_ranks_like_the_library(client: TestClient, server_world: ServerWorld) -> None:
    """/diagnose over the bad deploy's first two full days in its segment: the page's top is the library's."""
    truth = next(i for i in server_world.truth["incidents"] if i["kind"] == "bad_deploy_segment")  # type: ignore[union-attr]
    deploy = next(c for c in truth["changes"] if c["kind"] == "deploy")
    lo = utc(deploy["ts"]).replace(hour=0, minute=0, second=0, microsecond=0)
    hi = min(lo + timedelta(days=2), utc(truth["end"]))
    segment = f"{truth['entity']['segment']['key']}={truth['entity']['segment']['value']}"
    metric = truth["effect"]["metric"]
    with Workspace.open(server_world.root) as ws:
        expected = diagnose_metric(ws.store, ws.lake, ws.config, metric, lo, hi, slice=segment)
    sign_in(client, server_world, "viewer")
    page = client.get(
        "/diagnose", params={"metric": metric, "from": lo.isoformat(), "to": hi.isoformat(), "slice": segment}
    )
    assert page.status_code == 200
    assert expected.findings
    block = top_cause_block(page.text)
    assert expected.findings[0].sentence in block
    if expected.findings[0].entity.get("model_version") == truth["entity"]["model_version"]:
        assert f"model_version={truth['entity']['model_version']}" in block and f"segment={segment}" in block


def test_sql_page_refuses_writes_and_returns_rows(client: TestClient, server_world: ServerWorld) -> None:
    sign_in(client, server_world, "viewer")
    refused = client.get("/sql", params={"q": "DELETE FROM requests"})
    assert refused.status_code == 200
    assert re.search(r'class="error"[^>]*>[^<]*refused[^<]*read-only', refused.text)
    query = "SELECT request_id, surface FROM requests ORDER BY request_id LIMIT 5"
    with Workspace.open(server_world.root) as ws:
        expected = run_sql(sandbox(ws.lake, ws.store, query=query), query, max_rows=100, timeout_seconds=30)
    page = client.get("/sql", params={"q": query})
    assert page.status_code == 200
    for row in expected.table.to_pylist():
        assert f'href="/trace?request_id={row["request_id"]}"' in page.text
    assert "truncated" not in text(page.text)


def test_trace_page_shows_the_request(client: TestClient, server_world: ServerWorld) -> None:
    sign_in(client, server_world, "viewer")
    query = "SELECT request_id, model, model_version, surface FROM requests ORDER BY ts DESC LIMIT 1"
    with Workspace.open(server_world.root) as ws:
        row = run_sql(sandbox(ws.lake, ws.store, query=query), query, max_rows=1, timeout_seconds=30).table
    request_id, model, version, surface = (row.column(i)[0].as_py() for i in range(4))
    page = client.get("/trace", params={"request_id": request_id})
    assert page.status_code == 200
    assert f'href="/models/{model}/{version}"' in page.text
    body = text(page.text)
    assert request_id in body and surface in body and "Stage latencies" in body
    missing = client.get("/trace", params={"request_id": "req_does_not_exist"})
    assert missing.status_code == 200 and "no request" in text(missing.text)


def test_post_without_csrf_is_forbidden(writable_client: TestClient, server_world: ServerWorld) -> None:
    sign_in(writable_client, server_world, "operator")
    r = writable_client.post("/models/ranker/rollback", data={"reason": "x"}, follow_redirects=False)
    assert r.status_code == 403


def test_viewer_cannot_roll_back(
    writable_client: TestClient, server_world: ServerWorld, writable_root: Path
) -> None:
    csrf = sign_in(writable_client, server_world, "viewer")
    with Workspace.open(writable_root) as ws:
        model = list_models(ws.store)[0]
        before = resolve_alias(ws.store, model, "production")
    r = writable_client.post(f"/models/{model}/rollback", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403
    with Workspace.open(writable_root) as ws:
        assert resolve_alias(ws.store, model, "production") == before


def _firing_alert(root: Path) -> int:
    """A firing alert in the private copy (the simulated weeks end with every alert resolved)."""
    with Workspace.open(root) as ws:
        alert = raise_or_update(
            ws.store,
            AlertSignal(detector="threshold", metric="ctr", severity="page", data_time=datetime.now(UTC),
                        slice="surface=home_row", granularity="hour", summary="ctr fell (test)"),
        )  # fmt: skip
    return alert.id


def test_operator_ack_is_audited(
    writable_client: TestClient, server_world: ServerWorld, writable_root: Path
) -> None:
    alert_id = _firing_alert(writable_root)
    csrf = sign_in(writable_client, server_world, "operator")
    r = writable_client.post(
        f"/alerts/{alert_id}/ack", data={"csrf": csrf, "note": "looking"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert flash(r.headers["location"]).startswith("acknowledged")
    with Workspace.open(writable_root) as ws:
        entries = audit.entries(ws.store, subject=f"alert:{alert_id}", action="alert.acknowledge")
        state = next(a for a in list_alerts(ws.store) if a.id == alert_id).state
    assert [e.actor for e in entries] == ["token:test-operator"]
    assert state == "acknowledged"
    shown = writable_client.get(r.headers["location"])
    assert shown.status_code == 200 and "token:test-operator" in text(shown.text)


def test_operator_rollback_moves_the_alias(
    writable_client: TestClient, server_world: ServerWorld, writable_root: Path
) -> None:
    with Workspace.open(writable_root) as ws:
        model = list_models(ws.store)[0]
        current, _ = resolve_alias(ws.store, model, "production")
        other = next(v.version for v in list_versions(ws.store, model) if v.version != current)
    csrf = sign_in(writable_client, server_world, "operator")
    r = writable_client.post(
        f"/models/{model}/rollback",
        data={"csrf": csrf, "to": other, "reason": "test"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "rolled back" in flash(r.headers["location"])
    with Workspace.open(writable_root) as ws:
        assert resolve_alias(ws.store, model, "production")[0] == other
        entry = audit.entries(ws.store, action="rollback", newest_first=True, limit=1)[0]
    assert entry.actor == "token:test-operator" and entry.payload["to"] == other


def test_incident_from_group(
    writable_client: TestClient, server_world: ServerWorld, writable_root: Path
) -> None:
    with Workspace.open(writable_root) as ws:
        group = list_groups(ws.store)[-1]
    csrf = sign_in(writable_client, server_world, "operator")
    r = writable_client.post("/incidents", data={"csrf": csrf, "group_id": group.id}, follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    incident_id = int(re.search(r"/incidents/(\d+)", location).group(1))  # type: ignore[union-attr]
    page = writable_client.get(location)
    assert page.status_code == 200
    body: Any = text(page.text)
    assert "Timeline" in body and "Post-mortem" in body and "incident opened" in body
    assert f"g{group.id}" in body
    r = writable_client.post(
        f"/incidents/{incident_id}/actions",
        data={"csrf": csrf, "title": "add a gate", "owner": "ml-team"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "add a gate" in text(writable_client.get(f"/incidents/{incident_id}").text)
    listing = writable_client.get("/incidents")
    assert f'href="/incidents/{incident_id}"' in listing.text
    with Workspace.open(writable_root) as ws:
        actors = {e.actor for e in audit.entries(ws.store, subject=f"incident:{incident_id}")}
    assert actors == {"token:test-operator"}
