"""Auth for every write route of the API: 401 without or with a wrong token, 403 below its role,
the right role gets through (succeeding, or failing only on its input), and the audit log
names the token that wrote.

The write routes are read off the app itself (every POST, PUT, PATCH and DELETE under
/api), and the table below must cover exactly them: a new write route fails
``test_the_table_covers_every_write_route`` until it is given a role and an example.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from recops.registry import audit
from recops.server.tokens import ROLES
from recops.workspace import Workspace
from tests.records import request
from tests.server.conftest import ServerWorld, bearer, client_for, copy_world

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Row:
    """One write route: the least role it needs, and a request that is valid on the test world."""

    role: str
    url: str
    body: Any = field(default_factory=dict)
    audited: bool = True  # False only for POST routes that read (SQL, drift)
    optional: bool = False  # routes another module provides; skipped while absent


ROUTES: dict[tuple[str, str], Row] = {
    ("POST", "/api/ingest/{kind}"): Row(
        "ingest", "/api/ingest/requests", [request("auth-test-1", ts="2026-10-21T12:00:00Z")], optional=True
    ),
    ("POST", "/api/models/{model}/versions"): Row(
        "ingest",
        "/api/models/ranker/versions",
        {"version": "auth-1", "artifact_uri": "s3://models/ranker/auth-1", "artifact_digest": "sha256:00"},
    ),
    ("POST", "/api/models/{model}/versions/{version}/validations"): Row(
        "ingest", "/api/models/ranker/versions/v13/validations", {"name": "auth-check", "passed": True}
    ),
    ("PUT", "/api/models/{model}/aliases/{alias}"): Row(
        "operator", "/api/models/ranker/aliases/auth-alias", {"version": "v12", "reason": "auth test"}
    ),
    ("DELETE", "/api/models/{model}/aliases/{alias}"): Row(
        "operator", "/api/models/ranker/aliases/auth-alias", {"reason": "auth test"}
    ),
    ("POST", "/api/gate/check"): Row(
        "operator", "/api/gate/check", {"ref": "ranker@v13", "to": "production"}
    ),
    ("POST", "/api/promote"): Row(
        "operator",
        "/api/promote",
        {"ref": "ranker@v13", "to": "production", "override": True, "reason": "auth test"},
    ),
    ("POST", "/api/rollback"): Row("operator", "/api/rollback", {"model": "ranker", "reason": "auth test"}),
    ("POST", "/api/playbooks/{name}/run"): Row(
        "operator",
        "/api/playbooks/bad-deploy/run",
        {"params": {"alert": "1", "model": "ranker", "reason": "auth", "group": "1"}},
    ),
    ("POST", "/api/alerts/{target}/ack"): Row("operator", "/api/alerts/{firing}/ack", {"note": "auth test"}),
    ("POST", "/api/alerts/{target}/resolve"): Row(
        "operator", "/api/alerts/{firing}/resolve", {"note": "auth"}
    ),
    ("POST", "/api/silences"): Row(
        "operator", "/api/silences", {"metric": "ctr", "duration": "1h", "reason": "auth test"}
    ),
    ("POST", "/api/silences/{silence_id}/expire"): Row("operator", "/api/silences/1/expire"),
    ("POST", "/api/notifications/deliver"): Row("operator", "/api/notifications/deliver"),
    ("POST", "/api/incidents"): Row("operator", "/api/incidents", {"group": 1}),
    ("POST", "/api/incidents/{incident_id}/transition"): Row(
        "operator", "/api/incidents/1/transition", {"state": "mitigated"}
    ),
    ("POST", "/api/incidents/{incident_id}/notes"): Row(
        "operator", "/api/incidents/1/notes", {"note": "auth test"}
    ),
    ("POST", "/api/incidents/{incident_id}/actions"): Row(
        "operator", "/api/incidents/1/actions", {"title": "auth", "owner": "tests"}
    ),
    ("POST", "/api/actions/{action_id}/close"): Row("operator", "/api/actions/1/close"),
    ("POST", "/api/incidents/{incident_id}/postmortem"): Row("operator", "/api/incidents/1/postmortem"),
    ("POST", "/api/monitor/run"): Row("operator", "/api/monitor/run"),
    ("POST", "/api/tokens"): Row("admin", "/api/tokens", {"name": "auth-made", "role": "viewer"}),
    ("POST", "/api/tokens/{name}/revoke"): Row("admin", "/api/tokens/auth-made/revoke"),
    # Lake upkeep on values that change nothing (later rows read the lake); still audited.
    ("POST", "/api/lake/compact"): Row("admin", "/api/lake/compact", {"min_files": 1000}),
    ("POST", "/api/lake/retention"): Row("admin", "/api/lake/retention", {"days": 36500}),
    ("POST", "/api/lake/vacuum"): Row("admin", "/api/lake/vacuum", {"grace_minutes": 60}),
    # No MLflow server here: refused on its input (400), so it must write nothing. The
    # import from a real server, audited as the token, is in test_api_maintenance.py.
    ("POST", "/api/models/import/mlflow"): Row(
        "admin", "/api/models/import/mlflow", {"tracking_uri": "ftp://mlflow.example"}
    ),
    ("POST", "/api/sql"): Row("viewer", "/api/sql", {"query": "SELECT 1 AS one"}, audited=False),
    ("POST", "/api/drift"): Row(
        "viewer",
        "/api/drift",
        {
            "reference": "SELECT latency_ms FROM requests WHERE ts < '2026-10-02'",
            "current": "SELECT latency_ms FROM requests WHERE ts >= '2026-10-21'",
        },
        audited=False,
    ),
}


def write_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every write route under /api, from the router itself and the OpenAPI.

    FastAPI may keep included routers nested (``effective_route_contexts``); both shapes
    are walked, and the OpenAPI paths are added so neither view can hide a route.
    """
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for ctx in contexts:
            original = getattr(ctx, "original_route", ctx)
            path = getattr(ctx, "path", "")
            for method in getattr(original, "methods", None) or ():
                if method in WRITE_METHODS and path.startswith("/api/"):
                    found.add((method, path))
    for path, item in app.openapi()["paths"].items():
        for method in item:
            if method.upper() in WRITE_METHODS and path.startswith("/api/"):
                found.add((method.upper(), path))
    return found


def _present(client: TestClient, key: tuple[str, str]) -> None:
    if key not in write_routes(client.app):  # type: ignore[arg-type]
        pytest.skip(f"{key[0]} {key[1]} is not in the app yet (its module is written separately)")


def call(client: TestClient, key: tuple[str, str], headers: dict[str, str], firing: str = "g1") -> Any:
    """Send the row's example; ``{firing}`` in its URL names an alert group that fires."""
    row = ROUTES[key]
    return client.request(key[0], row.url.replace("{firing}", firing), headers=headers, json=row.body)


def below(role: str) -> list[str]:
    return list(ROLES[: ROLES.index(role)])


def test_the_table_covers_every_write_route(client: TestClient) -> None:
    found = write_routes(client.app)  # type: ignore[arg-type]
    required = {k for k, row in ROUTES.items() if not row.optional}
    assert found - set(ROUTES) == set(), "write routes without a row in ROUTES"
    assert required - found == set(), "rows in ROUTES for routes the app does not have"


@pytest.mark.parametrize("key", list(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_no_or_wrong_token_is_401(client: TestClient, key: tuple[str, str]) -> None:
    _present(client, key)
    for headers in (
        {},
        {"Authorization": "Bearer recops_not-a-real-token"},
        {"Authorization": "Bearer something-else"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = call(client, key, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize("key", list(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_a_role_below_the_routes_is_403(
    client: TestClient, server_world: ServerWorld, key: tuple[str, str]
) -> None:
    _present(client, key)
    for role in below(ROUTES[key].role):
        response = call(client, key, bearer(server_world, role))
        assert response.status_code == 403, (role, response.text)


def test_the_acceptance_points_of_the_issue() -> None:
    """Spelled out: a viewer cannot promote, roll back or ingest; ingest cannot promote or roll back."""
    for route in ("/api/promote", "/api/rollback"):
        assert ROUTES[("POST", route)].role == "operator"
    assert "viewer" in below(ROUTES[("POST", "/api/ingest/{kind}")].role)
    assert "viewer" in below(ROUTES[("POST", "/api/models/{model}/versions")].role)


@dataclass(frozen=True)
class Writable:
    client: TestClient
    firing: str  # an alert group with a firing alert, for ack and resolve


@pytest.fixture(scope="module")
def shared_writable(
    server_world: ServerWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Writable]:
    """One private copy for the whole table: the rows run in order and build on each other
    (an incident is opened before it is mitigated; a token created before it is revoked).

    The simulated weeks' alerts are all resolved, so the dead man's switch is asked about a
    moment two days after the data stopped: it raises firing alerts to acknowledge.
    """
    from recops.detect.alerts import list_alerts
    from recops.detect.deadman import check_deadman
    from recops.registry._canonical import now

    root = copy_world(server_world.root, tmp_path_factory.mktemp("auth") / "ws")
    with Workspace.open(root) as ws:
        check_deadman(ws.store, ws.config, at=now() + timedelta(days=2))
        firing = list_alerts(ws.store, state="firing")
    assert firing, "the dead man's switch raised nothing"
    for client in client_for(Path(root)):
        yield Writable(client, f"g{firing[0].group_id}")


@pytest.mark.parametrize("key", list(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_the_right_role_gets_through_and_is_audited(
    shared_writable: Writable, server_world: ServerWorld, key: tuple[str, str]
) -> None:
    client = shared_writable.client
    _present(client, key)
    row = ROUTES[key]
    ws: Workspace = client.app.state.workspace  # type: ignore[attr-defined]
    last = audit.entries(ws.store, limit=1, newest_first=True)
    before = last[0].seq if last else 0
    response = call(client, key, bearer(server_world, row.role), shared_writable.firing)
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500, response.text
    if response.status_code >= 300:
        # Refused on its input (a 4xx with the library's reason): it must have written nothing.
        assert audit.entries(ws.store, after=before) == [], response.text
        return
    written = audit.entries(ws.store, after=before)
    if row.audited:
        assert written, f"{key} wrote without an audit entry"
        assert {e.actor for e in written} == {f"token:test-{row.role}"}
    else:
        assert written == []
