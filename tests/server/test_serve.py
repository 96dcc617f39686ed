"""The server's frame: binding, sign-in, CSRF, /metrics, /healthz, the scheduler, the CLI."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.errors import InvalidInput
from recops.ingest import ingest_files
from recops.monitors.series import read_series
from recops.server.app import create_app
from recops.server.auth import COOKIE, csrf_token
from recops.server.scheduler import Scheduler
from recops.server.serve import check_bind, is_loopback
from recops.server.tokens import create_token
from recops.workspace import Workspace
from tests.records import request, write_jsonl


@pytest.fixture
def app_client(workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(workspace), base_url="http://127.0.0.1") as client:
        yield client


def test_loopback_binds_always_and_other_binds_only_once_a_token_exists(workspace: Workspace) -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.1.2.3")] == [
        True, True, True, False, False,
    ]  # fmt: skip
    check_bind(workspace, "127.0.0.1")
    with pytest.raises(InvalidInput, match=r"refusing to listen on 0\.0\.0\.0: no API token exists"):
        check_bind(workspace, "0.0.0.0")
    create_token(workspace.store, "admin", "admin", created_by="t")
    check_bind(workspace, "0.0.0.0")


def test_healthz_is_open_and_metrics_needs_a_token(workspace: Workspace, app_client: TestClient) -> None:
    assert app_client.get("/healthz").json()["status"] == "ok"
    assert app_client.get("/metrics").status_code == 401
    token = create_token(workspace.store, "prom", "viewer", created_by="t")
    answer = app_client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert re.search(r"^recops_export_timestamp_seconds \d", answer.text, re.M)


def test_pages_send_the_browser_to_sign_in_and_back(workspace: Workspace, app_client: TestClient) -> None:
    answer = app_client.get("/alerts?state=firing", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Falerts%3Fstate%3Dfiring"
    token = create_token(workspace.store, "me", "viewer", created_by="t")
    wrong = app_client.post("/login", data={"token": token + "x", "next": "/"}, follow_redirects=False)
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    signed = app_client.post("/login", data={"token": token, "next": "/alerts"}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/alerts"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert app_client.cookies.get(COOKIE) == token


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(workspace: Workspace, app_client: TestClient, target: str) -> None:
    token = create_token(workspace.store, "me", "viewer", created_by="t")
    signed = app_client.post("/login", data={"token": token, "next": target}, follow_redirects=False)
    assert signed.headers["location"] == "/"


def test_cookie_sessions_need_the_csrf_token_on_writes(workspace: Workspace, app_client: TestClient) -> None:
    token = create_token(workspace.store, "me", "viewer", created_by="t")
    app_client.post("/login", data={"token": token})
    refused = app_client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = app_client.post("/logout", data={"csrf": csrf_token(token + "x")}, follow_redirects=False)
    assert forged.status_code == 403
    # /logout reads the principal but needs no role; the CSRF check guards it through the API too
    ok = app_client.post("/logout", data={"csrf": csrf_token(token)}, follow_redirects=False)
    assert ok.status_code == 303


def test_the_scheduler_computes_monitors_over_new_data(workspace: Workspace, tmp_path: Path) -> None:
    records = [request(f"r{i}", ts=f"2026-11-24T{10 + i // 10:02d}:{i % 10 * 5:02d}:00Z") for i in range(40)]
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "r.jsonl", records)])
    scheduler = Scheduler(workspace, period_seconds=3600)
    seen: list[dict[str, object]] = []  # what the child process writes as its status at the start
    scheduler.run_once(on_start=lambda: seen.append(scheduler.state.to_dict()))
    assert len(seen) == 1 and seen[0]["running"] is True and seen[0]["runs"] == 0
    status = scheduler.status()
    assert status["runs"] == 1 and status["last_error"] is None, status
    assert status["last_points"] > 0
    hourly = read_series(workspace.store, "requests", granularity="hour").to_pylist()
    # every request of a complete hour counted once; the newest hour is still open
    complete = sum(1 for r in records if r["ts"] < "2026-11-24T13")
    assert sum(p["value"] for p in hourly if not p["slice"]) == complete == 30


def test_token_cli_prints_the_secret_once_and_lists_without_it(workspace: Workspace) -> None:
    app = build_app(["token"])
    root = str(workspace.config.root)
    created = CliRunner().invoke(app, ["token", "create", "ci", "--role", "ingest", "-w", root, "--json"])
    assert created.exit_code == 0, created.output
    secret = json.loads(created.stdout)["token"]
    listed = CliRunner().invoke(app, ["token", "list", "-w", root, "--json"])
    assert [t["name"] for t in json.loads(listed.stdout)] == ["ci"] and secret not in listed.stdout
    bad = CliRunner().invoke(app, ["token", "create", "x", "--role", "root", "-w", root])
    assert isinstance(bad.exception, InvalidInput) and "unknown role" in str(bad.exception)  # exit 2 in run()


def test_the_started_scheduler_runs_in_its_own_process_and_stops(
    workspace: Workspace, tmp_path: Path
) -> None:
    records = [request(f"r{i}", ts=f"2026-11-24T{10 + i // 10:02d}:{i % 10 * 5:02d}:00Z") for i in range(30)]
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "r.jsonl", records)])
    scheduler = Scheduler(workspace, period_seconds=3600)
    scheduler.start()
    try:
        deadline = time.monotonic() + 180
        while scheduler.status()["runs"] < 1:
            assert scheduler.status()["alive"] and time.monotonic() < deadline, scheduler.status()
            time.sleep(0.5)
        status = scheduler.status()
        assert status["last_error"] is None and status["process"] != os.getpid()
        # batch work: the server's pages and ingest go first
        assert os.getpriority(os.PRIO_PROCESS, status["process"]) >= min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + 10
        )
    finally:
        scheduler.stop()
    assert not scheduler.status()["alive"]
    hourly = read_series(workspace.store, "requests", granularity="hour").to_pylist()
    assert sum(p["value"] for p in hourly if not p["slice"]) == 20  # the two complete hours
