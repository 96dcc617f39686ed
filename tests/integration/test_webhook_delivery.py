"""Webhook delivery to a real HTTP receiver on loopback that is down for the first attempts.

The receiver drops repeats by the ``Idempotency-Key`` header, as the notifier docs tell
receivers to. Acceptance (issue 6): after it comes up, every alert event is received
exactly once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from recops.cli.alerts import register
from recops.detect.alerts import AlertSignal, acknowledge, record_signals, resolve_stale
from recops.detect.routes import load_routes
from recops.detect.routing import dispatch, outbox
from recops.store.tables import AlertDeliveryRow, AlertEventRow, AlertOutboxRow
from recops.workspace import Workspace

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
SECRET = "s3cr3t-path-token"
HOURS = timedelta(hours=1)


class Receiver:
    """A webhook receiver: answers 503 to the first ``fail`` requests, then 200.

    ``slow`` requests after the failures are accepted but answered only after ``delay``
    seconds (the sender times out first and retries: a lost acknowledgement).
    """

    def __init__(self, port: int, *, fail: int = 0, slow: int = 0, delay: float = 0.0) -> None:
        self.port, self.fail, self.slow, self.delay = port, fail, slow, delay
        self.lock = threading.Lock()
        self.attempts: list[str] = []  # every request's key, in arrival order
        self.accepted: list[dict[str, Any]] = []  # bodies answered with 200 (or accepted, then slow)
        self.processed: dict[str, dict[str, Any]] = {}  # deduplicated by idempotency key
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                assert self.path == f"/hook/{SECRET}" and body["idempotency_key"] == key
                with receiver.lock:
                    receiver.attempts.append(key)
                    if receiver.fail > 0:
                        receiver.fail -= 1
                        status, wait = 503, 0.0
                    else:
                        status = 200
                        receiver.accepted.append(body)
                        receiver.processed.setdefault(key, body)  # repeats are dropped
                        wait = receiver.delay if receiver.slow > 0 else 0.0
                        receiver.slow -= 1 if receiver.slow > 0 else 0
                if wait:
                    time.sleep(wait)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hooked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Workspace, Receiver]]:
    """A workspace whose notify.yaml points a webhook at a loopback port nobody listens on yet."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    port = free_port()
    monkeypatch.setenv("RECOPS_TEST_HOOK", f"http://127.0.0.1:{port}/hook/{SECRET}")
    ws = Workspace.init(tmp_path / "ws")
    (ws.config.root / "notify.yaml").write_text(
        "retry: {base_seconds: 30, cap_seconds: 600, timeout_seconds: 10}\n"
        "routes:\n  - {name: hook, type: webhook, url: env:RECOPS_TEST_HOOK}\n",
        encoding="utf-8",
    )
    receiver = Receiver(port, fail=2)
    try:
        yield ws, receiver
    finally:
        receiver.stop()
        ws.close()


def signals(at: datetime, names: list[str]) -> list[AlertSignal]:
    return [
        AlertSignal(
            "threshold", "ctr", "page", at, slice=f"country={c}", granularity="hour", summary=f"ctr {c}"
        )
        for c in names
    ]


def test_every_alert_event_arrives_exactly_once_after_the_receiver_comes_up(
    hooked: tuple[Workspace, Receiver],
) -> None:
    ws, receiver = hooked
    routes = load_routes(ws.config.root)
    clock = T0
    # The receiver is down (nothing listens) while alerts fire, are acknowledged and clear.
    record_signals(ws.store, signals(T0, ["US", "DE", "FR"]), at=clock)
    for step in range(4):
        clock += timedelta(minutes=15)
        if step == 1:
            record_signals(ws.store, signals(T0 + timedelta(hours=1), ["BR", "JP"]), at=clock)
            acknowledge(ws.store, 1, actor="ana", at=clock)
        if step == 2:
            resolve_stale(ws.store, [s.dedup_key() for s in signals(T0, ["US", "BR", "JP"])], T0 + 2 * HOURS)
        report = dispatch(ws.store, routes, at=clock)  # what every `monitor run` ends with
        assert report.delivered == 0 and report.pending > 0
    assert receiver.attempts == []
    # It comes up, answers 503 twice, then accepts; later passes keep retrying.
    receiver.start()
    for _ in range(20):
        clock += timedelta(minutes=15)
        report = dispatch(ws.store, routes, at=clock)
        if report.pending == 0:
            break
    assert report.pending == 0
    with ws.store.session() as session:
        keys = set(
            session.scalars(select(AlertEventRow.idempotency_key).where(AlertEventRow.scope == "alert"))
        )
        attempts = {
            r.outbox_id: r for r in session.scalars(select(AlertDeliveryRow).where(AlertDeliveryRow.ok))
        }
        failed = session.scalars(select(AlertDeliveryRow).where(AlertDeliveryRow.ok.is_(False))).all()
    assert len(keys) == 5 + 1 + 2  # five fired, one acknowledged, two resolved
    assert set(receiver.processed) == keys  # every alert event arrived ...
    assert Counter(b["idempotency_key"] for b in receiver.accepted) == Counter(dict.fromkeys(keys, 1))  # once
    assert receiver.attempts.count(receiver.attempts[0]) == 3  # the head was refused twice, then taken
    assert len(attempts) == len(keys) and {f.status for f in failed} == {None, 503}
    order = [(b["alert"]["id"], b["event"]) for b in receiver.accepted]
    for alert_id in {a for a, _ in order}:
        events = [e for a, e in order if a == alert_id]
        assert events[0] == "fired" and events == sorted(
            events, key=["fired", "acknowledged", "resolved"].index
        )
    assert all(SECRET not in (f.error or "") for f in failed)


def test_a_lost_acknowledgement_repeats_a_delivery_that_the_key_lets_the_receiver_drop(
    hooked: tuple[Workspace, Receiver],
) -> None:
    ws, receiver = hooked
    (ws.config.root / "notify.yaml").write_text(
        "retry: {base_seconds: 30, cap_seconds: 60, timeout_seconds: 0.5}\n"
        "routes:\n  - {name: hook, type: webhook, url: env:RECOPS_TEST_HOOK}\n",
        encoding="utf-8",
    )
    routes = load_routes(ws.config.root)
    receiver.fail, receiver.slow, receiver.delay = 0, 1, 2.0  # takes the first one, answers too late
    receiver.start()
    record_signals(ws.store, signals(T0, ["US", "DE"]), at=T0)
    clock = T0
    for _ in range(10):
        report = dispatch(ws.store, routes, at=clock)
        if report.pending == 0:
            break
        clock += timedelta(minutes=5)
    assert report.pending == 0
    first = receiver.accepted[0]["idempotency_key"]
    assert [b["idempotency_key"] for b in receiver.accepted].count(first) == 2  # sent twice (at least once)
    assert len(receiver.processed) == 2 and set(receiver.processed) == {
        b["idempotency_key"] for b in receiver.accepted
    }  # kept once each


def test_recops_alerts_deliver_retries_the_outbox_now(hooked: tuple[Workspace, Receiver]) -> None:
    ws, receiver = hooked
    receiver.fail = 0
    record_signals(ws.store, signals(T0, ["US"]), at=T0)
    app = typer.Typer()
    register(app)

    @app.callback()
    def _main() -> None:
        """Test root."""

    def deliver() -> dict[str, Any]:
        result = CliRunner().invoke(app, ["alerts", "deliver", "--json", "-w", str(ws.config.root)])
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        return json.loads(result.output)  # type: ignore[no-any-return]

    down = deliver()
    assert (
        down["enqueued"] == 1 and down["pending"] == 1 and "cannot connect" in down["routes"][0]["last_error"]
    )
    receiver.start()
    up = deliver()  # no waiting for the backoff: `deliver` means now
    assert up["delivered"] == 1 and up["pending"] == 0 and len(receiver.processed) == 1
    [row] = outbox(ws.store)
    assert row.state == "delivered" and row.attempts == 2
    with ws.store.session() as session:
        assert session.scalar(select(AlertOutboxRow.last_error)) is None
