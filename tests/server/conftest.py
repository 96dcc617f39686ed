"""Server fixtures: one simulated workspace with tokens, a TestClient per role, a live server.

The world is built once per machine (both xdist workers share it under a file lock) and
never written to by tests; a test that writes takes ``writable_root``, a private copy.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recops.server.app import create_app
from recops.server.tokens import ROLES, create_token
from recops.sim import Incident, SimConfig
from recops.sim.demo import build_demo
from recops.workspace import Workspace

# Long and busy enough for detection to catch the bad deploy (a CUSUM alert on
# ctr[device=android_tv] about a day after the deploy, measured), plus a stale feature
# group and a latency regression, so every dashboard family has something to show.
WORLD = SimConfig(
    seed=5,
    start="2026-10-01",
    days=32,
    requests_per_day=8_000,
    incidents=[
        Incident("stale_feature_group", start="2026-10-23T08:00", hours=6),
        Incident("latency_regression", start="2026-10-25T12:00", hours=6),
        Incident("bad_deploy_segment", start="2026-10-28T10:00"),
    ],
)
CACHE = Path("/tmp/recops-test-worlds")
KEY = "server-v5"


@dataclass(frozen=True)
class ServerWorld:
    root: Path
    tokens: dict[str, str]  # role → secret
    truth: dict[str, object]


def _build(target: Path) -> None:
    build = target.with_name(target.name + ".building")
    shutil.rmtree(build, ignore_errors=True)
    built = build_demo(build, WORLD)
    with Workspace.open(build) as ws:
        tokens = {role: create_token(ws.store, f"test-{role}", role, created_by="tests") for role in ROLES}
    (build / "tokens.json").write_text(json.dumps(tokens))
    (build / "truth.json").write_text(json.dumps(built.world.truth.to_json()))
    shutil.rmtree(build / "raw", ignore_errors=True)
    build.rename(target)


@pytest.fixture(scope="session")
def server_world() -> ServerWorld:
    """The shared, read-only simulated workspace (built on first use, then reused)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / KEY
    with open(CACHE / f"{KEY}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "tokens.json").exists():
            shutil.rmtree(target, ignore_errors=True)
            _build(target)
    return ServerWorld(
        root=target,
        tokens=json.loads((target / "tokens.json").read_text()),
        truth=json.loads((target / "truth.json").read_text()),
    )


def copy_world(source: Path, target: Path) -> Path:
    """Copy a workspace whose SQLite store other processes may have open.

    The store goes through SQLite's backup API (a consistent snapshot, WAL included);
    copying the files would race with readers creating and removing ``-wal``/``-shm``.
    """
    store = "recops.db"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(f"{store}*"))
    with sqlite3.connect(source / store) as src, sqlite3.connect(target / store) as dst:
        src.backup(dst)
    return target


@pytest.fixture
def writable_root(server_world: ServerWorld, tmp_path: Path) -> Path:
    """A private copy of the world for a test that writes."""
    return copy_world(server_world.root, tmp_path / "ws")


def client_for(root: Path) -> Iterator[TestClient]:
    ws = Workspace.open(root)
    try:
        with TestClient(create_app(ws), base_url="http://127.0.0.1") as client:
            yield client
    finally:
        ws.close()


@pytest.fixture
def client(server_world: ServerWorld) -> Iterator[TestClient]:
    """A TestClient over the shared world (read-only use)."""
    yield from client_for(server_world.root)


@pytest.fixture
def writable_client(writable_root: Path) -> Iterator[TestClient]:
    """A TestClient over a private copy (tokens are the same as the shared world's)."""
    yield from client_for(writable_root)


def bearer(world: ServerWorld, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[role]}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(server_world: ServerWorld) -> Iterator[str]:
    """The real server (uvicorn on loopback) over the shared world; yields its base URL."""
    import uvicorn

    ws = Workspace.open(server_world.root)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        ws.close()
