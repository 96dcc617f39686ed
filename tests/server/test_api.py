"""The REST API answers what the library answers: every expectation here is the library's own result.

Reads run on the shared world (``client``); writes on a private copy (``writable_client``).
Responses are parsed as strict JSON (NaN or Infinity would fail the parse).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recops.detect import alerts as alert_lib
from recops.detect.events import jsonable
from recops.diagnose.diagnose import diagnose_alert
from recops.diagnose.trace import trace_request
from recops.lake.sql import run_sql, sandbox
from recops.monitors import read_series
from recops.registry import audit
from recops.registry._canonical import iso
from recops.registry.aliases import current_aliases, resolve_alias
from recops.registry.entities import AuditEntry
from recops.registry.report import describe_version
from recops.registry.versions import list_models, list_versions, validations
from recops.respond.gates.promote import latest_gate
from recops.respond.incidents import get_incident
from recops.respond.playbooks import get_playbook, plan, runs
from recops.server.app import create_app
from recops.server.scheduler import Scheduler
from recops.workspace import Workspace
from tests.server.conftest import ServerWorld, bearer


def _refuse(constant: str) -> Any:
    raise AssertionError(f"not strict JSON: {constant}")


def strict(response: Any) -> Any:
    """The body, refusing NaN and infinities (which JSON does not have)."""
    return json.loads(response.text, parse_constant=_refuse)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return strict(response)


def workspace_of(client: TestClient) -> Workspace:
    ws: Workspace = client.app.state.workspace  # type: ignore[attr-defined]
    return ws


@pytest.fixture
def viewer(server_world: ServerWorld) -> dict[str, str]:
    return bearer(server_world, "viewer")


@pytest.fixture
def operator(server_world: ServerWorld) -> dict[str, str]:
    return bearer(server_world, "operator")


def audit_by(ws: Workspace, actor: str, after: int) -> list[AuditEntry]:
    return [e for e in audit.entries(ws.store, after=after) if e.actor == actor]


def head(ws: Workspace) -> int:
    last = audit.entries(ws.store, limit=1, newest_first=True)
    return last[0].seq if last else 0


# --- reads on the shared world ---------------------------------------------------------


def test_alias_lookup_equals_resolve_alias(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    checked = 0
    for model in list_models(ws.store):
        for state in current_aliases(ws.store, model):
            version, uri = resolve_alias(ws.store, model, state.alias)
            body = ok(client.get(f"/api/models/{model}/aliases/{state.alias}", headers=viewer))
            assert body == {
                "model": model,
                "alias": state.alias,
                "version": version,
                "artifact_uri": uri,
                "since": iso(state.since),
            }
            checked += 1
    assert checked >= 2  # the simulated world has production and canary


def test_unknown_alias_is_404_with_the_library_message(client: TestClient, viewer: dict[str, str]) -> None:
    model = list_models(workspace_of(client).store)[0]
    response = client.get(f"/api/models/{model}/aliases/no-such-alias", headers=viewer)
    assert response.status_code == 404
    assert strict(response)["error"] == "NotFound"


def test_reads_need_a_token(client: TestClient) -> None:
    assert client.get("/api/models").status_code == 401
    assert client.get("/api/versions", headers={"Authorization": "Bearer recops_nope"}).status_code == 401


def test_models_and_versions_match_the_registry(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    models = ok(client.get("/api/models", headers=viewer))
    assert [m["model"] for m in models] == list_models(ws.store)
    versions = ok(client.get("/api/versions", headers=viewer, params={"limit": 500}))
    assert [v["ref"] for v in versions] == [v.ref for v in list_versions(ws.store, limit=500)]
    first = list_versions(ws.store, limit=1)[0]
    shown = ok(client.get(f"/api/models/{first.model}/versions/{first.version}", headers=viewer))
    assert shown == jsonable(describe_version(ws.store, first.model, first.version).to_dict())
    listed = ok(client.get(f"/api/models/{first.model}/versions/{first.version}/validations", headers=viewer))
    assert listed == jsonable([v.to_dict() for v in validations(ws.store, first.model, first.version)])


def test_alerts_and_groups_match_the_alert_library(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    alerts = ok(client.get("/api/alerts", headers=viewer, params={"limit": 10_000}))
    assert [a["id"] for a in alerts] == [a.id for a in alert_lib.list_alerts(ws.store, limit=10_000)]
    resolved = ok(client.get("/api/alerts", headers=viewer, params={"state": "resolved", "limit": 10_000}))
    assert {a["id"] for a in resolved} == {a.id for a in alert_lib.list_alerts(ws.store, state="resolved")}
    groups = ok(client.get("/api/alert-groups", headers=viewer))
    library_groups = alert_lib.list_groups(ws.store, limit=100)
    assert [g["id"] for g in groups] == [g.id for g in library_groups]
    group = library_groups[0]
    shown = ok(client.get(f"/api/alerts/g{group.id}", headers=viewer))
    assert [a["id"] for a in shown["alerts"]] == [
        a.id for a in alert_lib.list_alerts(ws.store, group_id=group.id)
    ]
    assert len(shown["events"]) == len(alert_lib.events_of(ws.store, group_id=group.id))
    one = alert_lib.list_alerts(ws.store, limit=1)[0]
    assert ok(client.get(f"/api/alerts/{one.id}", headers=viewer))["id"] == one.id
    assert client.get("/api/alerts?state=bogus", headers=viewer).status_code == 400


def test_series_is_the_stored_series(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    body = ok(client.get("/api/series", headers=viewer, params={"metric": "ctr", "granularity": "day"}))
    table = read_series(ws.store, "ctr", slice="", granularity="day")
    assert table.num_rows > 0
    assert [p["value"] for p in body["points"]] == jsonable(table["value"].to_pylist())
    assert [p["window_start"] for p in body["points"]] == jsonable(table["window_start"].to_pylist())
    last = ok(
        client.get("/api/series", headers=viewer, params={"metric": "ctr", "granularity": "day", "last": 2})
    )
    assert last["points"] == body["points"][-2:]


def test_sql_is_the_recops_sql_sandbox(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    query = "SELECT surface, count(*) AS n FROM requests GROUP BY surface ORDER BY surface"
    body = ok(client.post("/api/sql", headers=viewer, json={"query": query}))
    con = sandbox(ws.lake, ws.store, query=query)
    try:
        direct = run_sql(
            con, query, max_rows=ws.config.sql_max_rows, timeout_seconds=ws.config.sql_timeout_seconds
        )
    finally:
        con.close()
    assert body["columns"] == direct.table.column_names
    assert body["rows"] == [[r[c] for c in body["columns"]] for r in direct.table.to_pylist()]
    assert body["truncated"] is False
    capped = ok(client.post("/api/sql", headers=viewer, json={"query": query, "max_rows": 1}))
    assert len(capped["rows"]) == 1 and capped["truncated"] is True
    for refused in (
        "DELETE FROM requests",
        "SELECT * FROM api_tokens",
        "SELECT * FROM read_csv('/etc/passwd')",
    ):
        response = client.post("/api/sql", headers=viewer, json={"query": refused})
        assert response.status_code == 400, refused


def test_audit_listing_is_the_audit_log(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    body = ok(client.get("/api/audit", headers=viewer, params={"limit": 5}))
    assert body == jsonable([e.to_dict() for e in audit.entries(ws.store, limit=5, newest_first=True)])
    tokens = ok(client.get("/api/audit", headers=viewer, params={"action": "token.*", "limit": 100}))
    assert tokens and all(e["action"].startswith("token.") for e in tokens)
    assert ok(client.get("/api/audit/verify", headers=viewer))["ok"] is True


def test_trace_is_the_library_trace(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    rows = ok(
        client.post(
            "/api/sql", headers=viewer, json={"query": "SELECT request_id FROM requests ORDER BY ts LIMIT 1"}
        )
    )["rows"]
    request_id = rows[0][0]
    body = ok(client.get(f"/api/trace/{request_id}", headers=viewer))
    assert body == jsonable(trace_request(ws.config, ws.lake, request_id).to_json())
    assert client.get("/api/trace/req_does_not_exist", headers=viewer).status_code == 404


def test_diagnose_alert_is_the_library_diagnosis(client: TestClient, viewer: dict[str, str]) -> None:
    ws = workspace_of(client)
    group = next(g for g in alert_lib.list_groups(ws.store) if g.cause.startswith("feature_group:"))
    alert = alert_lib.list_alerts(ws.store, group_id=group.id)[-1]
    body = ok(client.get(f"/api/diagnose/alert/{alert.id}", headers=viewer))
    expected = jsonable(diagnose_alert(ws.store, ws.lake, ws.config, alert.id).to_json())
    for timing in ("seconds", "timings"):
        body.pop(timing, None)
        expected.pop(timing, None)
    assert body == expected
    assert body["hypotheses"], "a diagnosis ranks at least one hypothesis"


def test_openlineage_events_are_the_exporters(client: TestClient, viewer: dict[str, str]) -> None:
    from recops.registry.lineage import lineage_of
    from recops.registry.openlineage_export import openlineage_events, to_json_lines

    ws = workspace_of(client)
    version = list_versions(ws.store, limit=1)[0]
    response = client.get(
        f"/api/models/{version.model}/versions/{version.version}/openlineage", headers=viewer
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    events = openlineage_events(lineage_of(ws.store, version.model, version.version).version)
    assert [json.loads(line)["eventType"] for line in response.text.splitlines()] == [
        json.loads(line)["eventType"] for line in to_json_lines(events).splitlines()
    ]


def test_drift_of_two_lake_windows_is_the_drift_engines(client: TestClient, viewer: dict[str, str]) -> None:
    from recops import drift as engine

    ws = workspace_of(client)
    reference = "SELECT latency_ms, surface FROM requests WHERE ts < '2026-10-03'"
    current = "SELECT latency_ms, surface FROM requests WHERE ts >= '2026-10-14' AND ts < '2026-10-15'"
    body = ok(client.post("/api/drift", headers=viewer, json={"reference": reference, "current": current}))
    cons = [sandbox(ws.lake, ws.store, query=q) for q in (reference, current)]
    try:
        ref = engine.open_input("sql:" + reference, sql=lambda: cons[0])
        cur = engine.open_input("sql:" + current, sql=lambda: cons[1])
        expected = jsonable(engine.compare(ref, cur).to_dict())
    finally:
        for con in cons:
            con.close()
    assert [(c["column"], c["verdict"]) for c in body["columns"]] == [
        (c["column"], c["verdict"]) for c in expected["columns"]
    ]
    assert body["summary"] == expected["summary"]
    refused = client.post(
        "/api/drift", headers=viewer, json={"reference": "DELETE FROM requests", "current": current}
    )
    assert refused.status_code == 400


def test_catalog_and_scheduler(client: TestClient, viewer: dict[str, str], server_world: ServerWorld) -> None:
    from recops.catalog import load_catalog

    ws = workspace_of(client)
    names = [d["name"] for d in ok(client.get("/api/metrics/catalog", headers=viewer))]
    assert names == [d.name for d in load_catalog(ws.config.root)]
    assert ok(client.get("/api/metrics/catalog/ctr", headers=viewer))["name"] == "ctr"
    assert client.get("/api/metrics/catalog/no_such_metric", headers=viewer).status_code == 400
    assert ok(client.get("/api/scheduler", headers=viewer)) == {"enabled": False}
    # A scheduler that was never started (no lifespan: the TestClient is not entered).
    scheduled = TestClient(
        create_app(ws, scheduler=Scheduler(ws, period_seconds=123.0)), base_url="http://127.0.0.1"
    )
    status = ok(scheduled.get("/api/scheduler", headers=viewer))
    assert status["enabled"] is True and status["period_seconds"] == 123.0 and status["runs"] == 0


def test_openapi_documents_every_api_route(client: TestClient) -> None:
    spec = ok(client.get("/api/openapi.json"))
    operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method, op in item.items()
    ]
    assert len(operations) > 40
    for path, method, op in operations:
        assert op.get("summary"), f"{method} {path} has no summary"
        assert op.get("description"), f"{method} {path} has no description"
        if path != "/api/openapi.json":
            assert "401" in op["responses"], f"{method} {path} does not document 401"


# --- writes on a private copy ----------------------------------------------------------


@pytest.fixture
def wc(writable_client: TestClient) -> TestClient:
    return writable_client


def test_rollback_is_visible_to_the_alias_lookup_at_once(wc: TestClient, operator: dict[str, str]) -> None:
    ws = workspace_of(wc)
    model = list_models(ws.store)[0]
    production, _ = resolve_alias(ws.store, model, "production")
    other = next(v.version for v in list_versions(ws.store, model) if v.version != production)
    start = head(ws)
    # Promote the other version: behind its gate if that passed, else with an audited override.
    gate = latest_gate(ws.store, model, other, "production")
    plain = wc.post("/api/promote", headers=operator, json={"ref": f"{model}@{other}", "to": "production"})
    if gate is not None and gate.passed:
        assert ok(plain)["moved"] is True
    else:
        assert plain.status_code == 409, plain.text
        no_reason = wc.post(
            "/api/promote",
            headers=operator,
            json={"ref": f"{model}@{other}", "to": "production", "override": True},
        )
        assert no_reason.status_code == 400
        forced = {"ref": f"{model}@{other}", "to": "production", "override": True, "reason": "api test"}
        assert ok(wc.post("/api/promote", headers=operator, json=forced))["event"]["override"] is True
    lookup = ok(wc.get(f"/api/models/{model}/aliases/production", headers=operator))
    assert lookup["version"] == other == resolve_alias(ws.store, model, "production")[0]
    result = ok(wc.post("/api/rollback", headers=operator, json={"model": model, "reason": "api test"}))
    assert result["from_version"] == other and result["actor"] == "token:test-operator"
    lookup = ok(wc.get(f"/api/models/{model}/aliases/production", headers=operator))
    assert lookup["version"] == result["to_version"] == resolve_alias(ws.store, model, "production")[0]
    actions = [e.action for e in audit_by(ws, "token:test-operator", start)]
    assert actions[-1] == "rollback" and actions[0] in ("alias.set", "alias.override")


def test_gate_check_records_its_result_as_the_token(wc: TestClient, operator: dict[str, str]) -> None:
    ws = workspace_of(wc)
    version = list_versions(ws.store, limit=1)[0]
    body = ok(wc.post("/api/gate/check", headers=operator, json={"ref": version.ref, "to": "production"}))
    stored = validations(ws.store, version.model, version.version)[-1]
    assert stored.name == "gate:production" and stored.actor == "token:test-operator"
    assert stored.passed is body["passed"] and stored.audit_seq == body["audit_seq"]


def test_register_version_and_validations(wc: TestClient, server_world: ServerWorld) -> None:
    ws = workspace_of(wc)
    ingest = bearer(server_world, "ingest")
    model = list_models(ws.store)[0]
    version = {
        "version": "api-1",
        "artifact_uri": f"s3://models/{model}/api-1",
        "artifact_digest": "sha256:" + "ab" * 32,
        "datasets": [{"uri": "s3://data/train/", "rows": 10, "digest": "sha256:" + "cd" * 32}],
        "params": {"lr": 0.1},
        "metrics": {"offline_ctr": 0.04},
    }
    made = ok(wc.post(f"/api/models/{model}/versions", headers=ingest, json=version), 201)
    assert made["created_by"] == "token:test-ingest" and made["origin"] == "api"
    assert ok(wc.get(f"/api/models/{model}/versions/api-1", headers=ingest)) == jsonable(
        describe_version(ws.store, model, "api-1").to_dict()
    )
    assert wc.post(f"/api/models/{model}/versions", headers=ingest, json=version).status_code == 409
    local = {**version, "version": "api-2", "artifact_uri": "/etc/passwd"}
    assert wc.post(f"/api/models/{model}/versions", headers=ingest, json=local).status_code == 400
    check = {"name": "offline-eval", "passed": True, "details": {"ndcg": 0.4}, "origin": "ci"}
    recorded = ok(wc.post(f"/api/models/{model}/versions/api-1/validations", headers=ingest, json=check), 201)
    assert recorded["actor"] == "token:test-ingest"
    forged = {"name": "gate:production", "passed": True}
    assert (
        wc.post(f"/api/models/{model}/versions/api-1/validations", headers=ingest, json=forged).status_code
        == 400
    )
    actions = {e.action for e in audit_by(ws, "token:test-ingest", 0)}
    assert {"version.register", "validation.record"} <= actions


def test_set_and_remove_an_alias(wc: TestClient, operator: dict[str, str]) -> None:
    ws = workspace_of(wc)
    version = list_versions(ws.store, limit=1)[0]
    path = f"/api/models/{version.model}/aliases/shadow"
    set_ = ok(wc.put(path, headers=operator, json={"version": version.version, "reason": "api test"}))
    assert set_["moved"] is True and ok(wc.get(path, headers=operator))["version"] == version.version
    again = ok(wc.put(path, headers=operator, json={"version": version.version}))
    assert again["moved"] is False
    removed = ok(wc.request("DELETE", path, headers=operator, json={"reason": "done"}))
    assert removed["version"] is None and removed["actor"] == "token:test-operator"
    assert wc.get(path, headers=operator).status_code == 404


def test_incident_from_open_to_postmortem(wc: TestClient, operator: dict[str, str]) -> None:
    ws = workspace_of(wc)
    group = alert_lib.list_groups(ws.store)[-1]
    start = head(ws)
    opened = ok(wc.post("/api/incidents", headers=operator, json={"group": group.id}), 201)
    assert opened["group_id"] == group.id and opened["opened_by"] == "token:test-operator"
    ident = opened["id"]
    mitigated = ok(
        wc.post(f"/api/incidents/{ident}/transition", headers=operator, json={"state": "mitigated"})
    )
    assert mitigated["state"] == get_incident(ws.store, ident).state == "mitigated"
    assert (
        wc.post(f"/api/incidents/{ident}/transition", headers=operator, json={"state": "open"}).status_code
        == 400
    )
    ok(wc.post(f"/api/incidents/{ident}/notes", headers=operator, json={"note": "looked at the group"}), 201)
    assert wc.post(f"/api/incidents/{ident}/notes", headers=operator, json={"note": " "}).status_code == 400
    action = ok(
        wc.post(f"/api/incidents/{ident}/actions", headers=operator, json={"title": "t", "owner": "o"}), 201
    )
    closed = ok(wc.post(f"/api/actions/{action['id']}/close", headers=operator, json={"note": "n"}))
    assert closed["state"] == "closed" and closed["closed_by"] == "token:test-operator"
    pm = ok(wc.post(f"/api/incidents/{ident}/postmortem", headers=operator, json={}))
    with open(pm["path"], encoding="utf-8") as handle:
        assert handle.read() == pm["markdown"]
    shown = ok(wc.get(f"/api/incidents/{ident}", headers=operator))
    assert shown["state"] == "mitigated" and any(a["id"] == action["id"] for a in shown["actions"])
    actions = [e.action for e in audit_by(ws, "token:test-operator", start)]
    assert actions == [
        "incident.open",
        "incident.mitigate",
        "incident.note",
        "incident.action.add",
        "incident.action.close",
        "incident.postmortem",
    ]


def test_silences_and_acting_on_resolved_alerts(wc: TestClient, operator: dict[str, str]) -> None:
    ws = workspace_of(wc)
    made = ok(
        wc.post(
            "/api/silences", headers=operator, json={"metric": "ctr", "duration": "2h", "reason": "api test"}
        ),
        201,
    )
    assert made["created_by"] == "token:test-operator" and made["active"] is True
    listed = ok(wc.get("/api/silences", headers=operator))
    assert made["id"] in [s["id"] for s in listed]
    ended = ok(wc.post(f"/api/silences/{made['id']}/expire", headers=operator))
    assert ended["removed_by"] == "token:test-operator"
    assert made["id"] not in [s["id"] for s in ok(wc.get("/api/silences", headers=operator))]
    assert (
        wc.post(
            "/api/silences", headers=operator, json={"metric": "x", "duration": "soon", "reason": "r"}
        ).status_code
        == 400
    )
    resolved = alert_lib.list_alerts(ws.store, state="resolved", limit=1)[0]
    assert wc.post(f"/api/alerts/{resolved.id}/ack", headers=operator, json={}).status_code == 409
    assert wc.post(f"/api/alerts/{resolved.id}/resolve", headers=operator).status_code == 409


def test_playbook_dry_run_plans_and_records_without_running(wc: TestClient, operator: dict[str, str]) -> None:
    ws = workspace_of(wc)
    params = {"alert": "1", "model": "ranker", "reason": "api-test", "group": "1"}
    body = ok(wc.post("/api/playbooks/bad-deploy/run", headers=operator, json={"params": params}))
    assert body["dry_run"] is True
    assert body["steps"] == plan(get_playbook(ws.config.root, "bad-deploy"), params)
    assert all("outcome" not in s for s in body["steps"])  # nothing ran
    assert body["run_id"] in [r["id"] for r in runs(ws.store, "bad-deploy")]
    spaced = wc.post(
        "/api/playbooks/bad-deploy/run", headers=operator, json={"params": {**params, "reason": "a --to v1"}}
    )
    assert spaced.status_code == 400
    assert audit_by(ws, "token:test-operator", 0)[-1].action == "playbook.run"


def test_tokens_are_managed_by_admins(wc: TestClient, server_world: ServerWorld) -> None:
    admin = bearer(server_world, "admin")
    made = ok(wc.post("/api/tokens", headers=admin, json={"name": "grafana", "role": "viewer"}), 201)
    fresh = {"Authorization": f"Bearer {made['token']}"}
    assert wc.get("/api/models", headers=fresh).status_code == 200
    listed = ok(wc.get("/api/tokens", headers=admin))
    assert "grafana" in [t["name"] for t in listed]
    assert made["token"] not in json.dumps(listed)
    assert wc.post("/api/tokens", headers=admin, json={"name": "x", "role": "root"}).status_code == 400
    ok(wc.post("/api/tokens/grafana/revoke", headers=admin))
    assert wc.get("/api/models", headers=fresh).status_code == 401
    actions = [e.action for e in audit_by(workspace_of(wc), "token:test-admin", 0)]
    assert actions == ["token.create", "token.revoke"]
