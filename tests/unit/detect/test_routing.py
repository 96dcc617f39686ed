"""notify.yaml, who is told what, the outbox's retries and backoff, and the notifier payloads."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from recops.detect.alerts import AlertSignal, acknowledge, raise_or_update, record_signals, resolve_stale
from recops.detect.notifiers import DeliveryFailed, OutgoingEvent, Request, pagerduty_body, render, slack_body
from recops.detect.routes import RetryPolicy, Routes, load_routes, parse_routes, redact_url
from recops.detect.routing import backoff, deliver_pending, deliveries, dispatch, enqueue, outbox
from recops.errors import ConfigError
from recops.store import Store

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
WALL = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


def sig(metric: str = "ctr", severity: str = "ticket", slice: str = "", at: datetime = T0) -> AlertSignal:
    return AlertSignal("threshold", metric, severity, at, slice=slice, granularity="hour",
                       summary=f"{metric} fell", evidence={"value": 0.04, "baseline": 0.05})  # fmt: skip


class Receiver:
    """A fake transport: answers from a script (status or exception), records what it got."""

    def __init__(self, *script: int | DeliveryFailed) -> None:
        self.script = list(script)
        self.got: list[Request] = []

    def send(self, request: Request, timeout: float) -> int:
        self.got.append(request)
        outcome = self.script.pop(0) if self.script else 200
        if isinstance(outcome, DeliveryFailed):
            raise outcome
        return outcome

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.got]


# --- notify.yaml -------------------------------------------------------------------------------


def test_routes_from_notify_yaml_with_defaults_per_type(tmp_path: Path) -> None:
    assert len(load_routes(tmp_path)) == 0 and load_routes(tmp_path).path is None
    (tmp_path / "notify.yaml").write_text(
        """
retry: {base_seconds: 10, cap_seconds: 600}
routes:
  - name: hook
    type: webhook
    url: "https://hooks.example/recops?token=s3cret"
    headers: {X-Token: env:HOOK_TOKEN}
  - {name: chat, type: slack, url: env:SLACK_URL}
  - {name: oncall, type: pagerduty, routing_key: env:PD_KEY}
""",
        encoding="utf-8",
    )
    routes = load_routes(tmp_path)
    hook, chat, oncall = routes.routes
    assert (hook.scope, hook.min_severity) == ("alert", "info")
    assert (chat.scope, chat.min_severity) == ("group", "ticket")
    assert (oncall.scope, oncall.min_severity, oncall.url) == (
        "group",
        "page",
        "https://events.pagerduty.com/v2/enqueue",
    )
    assert routes.retry == RetryPolicy(base_seconds=10, cap_seconds=600)
    shown = json.dumps([r.describe() for r in routes])
    assert "s3cret" not in shown and "recops?token" not in shown and "env:SLACK_URL" in shown
    assert redact_url("https://hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com/…"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"routes": [{"name": "a", "type": "email", "url": "https://x"}]}, "routes[0].type"),
        ({"routes": [{"name": "a", "type": "webhook"}]}, "routes[0].url"),
        ({"routes": [{"name": "a", "type": "webhook", "url": "ftp://x"}]}, "routes[0].url"),
        ({"routes": [{"name": "a", "type": "pagerduty"}]}, "routes[0].routing_key"),
        (
            {"routes": [{"name": "a", "type": "webhook", "url": "https://x", "min_severity": "high"}]},
            "routes[0].min_severity",
        ),
        (
            {"routes": [{"name": "a", "type": "webhook", "url": "https://x", "retries": 3}]},
            "routes[0].retries",
        ),
        ({"routes": [{"name": "a b", "type": "webhook", "url": "https://x"}]}, "routes[0].name"),
        ([{"name": "a", "type": "webhook", "url": "https://x"}] * 2, "routes[1].name"),
        ({"retry": {"base_seconds": 60, "cap_seconds": 10}}, "retry.cap_seconds"),
        ({"routs": []}, "routs"),
    ],
)
def test_bad_routes_name_the_key(data: Any, key: str) -> None:
    with pytest.raises(ConfigError, match=f"key {re.escape(key)}"):
        parse_routes(data, Path("notify.yaml"))


# --- who is told what --------------------------------------------------------------------------


def test_routes_get_events_by_scope_and_severity_and_closings_follow_openings(store: Store) -> None:
    routes = parse_routes(
        [
            {"name": "hook", "type": "webhook", "url": "https://h.example/"},
            {"name": "tickets", "type": "webhook", "url": "https://t.example/", "min_severity": "ticket"},
            {"name": "pager", "type": "pagerduty", "routing_key": "k" * 32},
        ]
    )
    info = raise_or_update(store, sig("novelty", "info"), at=WALL)
    ticket = raise_or_update(store, sig("ctr", "ticket", at=T0 + 6 * HOUR), at=WALL)
    enqueue(store, routes, at=WALL)
    sent = {(e.route, e.alert_id, e.kind) for e in outbox(store)}
    assert sent == {("hook", info.id, "fired"), ("hook", ticket.id, "fired"), ("tickets", ticket.id, "fired")}
    raise_or_update(store, sig("ctr", "page", at=T0 + 7 * HOUR), at=WALL)  # escalation reaches the pager
    enqueue(store, routes, at=WALL)
    acknowledge(store, info.id, actor="ana", at=WALL)
    resolve_stale(store, [], T0 + 8 * HOUR, at=WALL)
    enqueue(store, routes, at=WALL)
    by_route: dict[str, list[str]] = {}
    for e in reversed(outbox(store, limit=None)):
        by_route.setdefault(e.route, []).append(
            f"{e.scope}:{e.group_id if e.scope == 'group' else e.alert_id}:{e.kind}"
        )
    assert by_route["hook"] == [
        f"alert:{info.id}:fired",
        f"alert:{ticket.id}:fired",
        f"alert:{ticket.id}:escalated",
        f"alert:{info.id}:acknowledged",
        f"alert:{info.id}:resolved",
        f"alert:{ticket.id}:resolved",
    ]
    assert by_route["tickets"] == [
        f"alert:{ticket.id}:fired",
        f"alert:{ticket.id}:escalated",
        f"alert:{ticket.id}:resolved",  # info's closings never reach a route that never heard of it
    ]
    # The group opened at ticket severity: the pager hears of it when it reaches page, then of its end.
    assert by_route["pager"] == [f"group:{ticket.group_id}:updated", f"group:{ticket.group_id}:resolved"]
    assert enqueue(store, routes, at=WALL) == 0  # each event is routed once


def test_fire_and_clear_within_one_pass_reaches_alert_routes_but_opens_no_group(store: Store) -> None:
    routes = parse_routes(
        [
            {"name": "hook", "type": "webhook", "url": "https://h.example/"},
            {"name": "chat", "type": "slack", "url": "https://c.example/"},
        ]
    )
    raise_or_update(store, sig(), at=WALL)
    resolve_stale(store, [], T0 + HOUR, at=WALL)
    enqueue(store, routes, at=WALL)
    assert sorted((e.route, e.kind) for e in outbox(store)) == [("hook", "fired"), ("hook", "resolved")]


# --- delivery ----------------------------------------------------------------------------------


def test_backoff_doubles_from_base_to_the_cap_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_seconds=30, cap_seconds=3600, jitter=0.5)
    exact = RetryPolicy(base_seconds=30, cap_seconds=3600, jitter=0.0)
    # base · 2^(n-1), capped: 30, 60, 120, 240, 480, 960, 1920, 3600, 3600
    assert [backoff(n, exact).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
    rng = random.Random(7)
    for n in range(1, 12):
        full = min(3600.0, 30.0 * 2 ** (n - 1))
        waits = [backoff(n, policy, rng).total_seconds() for _ in range(200)]
        assert all(full * 0.5 <= w <= full for w in waits)
        assert max(waits) - min(waits) > full * 0.3  # the jitter spreads retries out


def test_a_down_receiver_delays_in_order_and_loses_nothing(store: Store) -> None:
    routes = Routes(
        parse_routes([{"name": "hook", "type": "webhook", "url": "https://h.example/"}]).routes,
        RetryPolicy(base_seconds=60, cap_seconds=600, jitter=0.0),
    )
    record_signals(store, [sig("ctr"), sig("play_rate")], at=WALL)
    down = Receiver(DeliveryFailed("cannot connect: Connection refused"))
    report = dispatch(store, routes, at=WALL, transport=down)
    assert report.enqueued == 2 and report.delivered == 0 and report.pending == 2
    [hook] = report.routes
    assert hook.attempted == 1 and hook.next_attempt_at == WALL + timedelta(seconds=60)  # stopped at the head
    assert (
        deliver_pending(store, routes, at=WALL + timedelta(seconds=59), transport=down).routes[0].attempted
        == 0
    )
    flaky = Receiver(DeliveryFailed("HTTP 503 Service Unavailable", status=503))
    report = deliver_pending(store, routes, at=WALL + timedelta(seconds=60), transport=flaky)
    assert report.routes[0].next_attempt_at == WALL + timedelta(seconds=60 + 120)  # second failure: 2 × base
    up = Receiver()
    resolve_stale(store, [], T0 + HOUR, at=WALL)
    report = dispatch(store, routes, at=WALL + timedelta(seconds=180), transport=up)
    assert report.delivered == 4 and report.pending == 0
    assert [(b["event"], b["alert"]["metric"]) for b in up.bodies()] == [
        ("fired", "ctr"),
        ("fired", "play_rate"),
        ("resolved", "ctr"),
        ("resolved", "play_rate"),
    ]
    first = outbox(store, limit=None)[-1]
    assert first.attempts == 3 and first.state == "delivered"
    log = deliveries(store, first.id)
    assert [(d["ok"], d["status"]) for d in log] == [(False, None), (False, 503), (True, 200)]
    assert log[1]["error"] == "HTTP 503 Service Unavailable"


def test_a_refused_payload_is_set_aside_and_the_rest_flow(store: Store) -> None:
    routes = parse_routes([{"name": "hook", "type": "webhook", "url": "https://h.example/"}])
    record_signals(store, [sig("ctr"), sig("play_rate")], at=WALL)
    receiver = Receiver(DeliveryFailed("HTTP 422 Unprocessable", status=422, permanent=True))
    report = dispatch(store, routes, at=WALL, transport=receiver)
    [hook] = report.routes
    assert (hook.rejected, hook.delivered, hook.pending) == (1, 1, 0)
    assert [e.state for e in outbox(store)] == ["delivered", "rejected"]


def test_forced_delivery_ignores_backoff_and_unknown_routes_are_reported(store: Store) -> None:
    routes = parse_routes([{"name": "hook", "type": "webhook", "url": "https://h.example/"}])
    raise_or_update(store, sig(), at=WALL)
    dispatch(store, routes, at=WALL, transport=Receiver(DeliveryFailed("down")))
    assert deliver_pending(store, routes, at=WALL, transport=Receiver()).delivered == 0
    assert deliver_pending(store, routes, at=WALL, transport=Receiver(), force=True).delivered == 1
    raise_or_update(store, sig("play_rate"), at=WALL)
    enqueue(store, routes, at=WALL)
    report = deliver_pending(store, Routes(), at=WALL, transport=Receiver())
    assert report.orphaned == {"hook": 1} and report.pending == 1


def test_secrets_come_from_the_environment_and_never_reach_the_log(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = parse_routes(
        [
            {
                "name": "hook",
                "type": "webhook",
                "url": "env:HOOK_URL",
                "headers": {"Authorization": "env:HOOK_AUTH"},
            }
        ]
    )
    raise_or_update(store, sig(), at=WALL)
    monkeypatch.delenv("HOOK_URL", raising=False)
    report = dispatch(store, routes, at=WALL, transport=Receiver())
    assert report.routes[0].last_error == "environment variable HOOK_URL is not set"
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/p/TOPSECRETPATH")
    monkeypatch.setenv("HOOK_AUTH", "Bearer TOPSECRETTOKEN")
    leaky = Receiver(
        DeliveryFailed("unknown url type: https://hooks.example/p/TOPSECRETPATH (Bearer TOPSECRETTOKEN)")
    )
    report = deliver_pending(store, routes, at=WALL, transport=leaky, force=True)
    assert report.routes[0].last_error == "unknown url type: *** (***)"
    assert leaky.got[0].url.endswith("TOPSECRETPATH") and leaky.got[0].headers["Authorization"].endswith(
        "TOKEN"
    )
    stored = json.dumps([e.to_dict() for e in outbox(store)]) + json.dumps(deliveries(store, 1))
    assert "TOPSECRET" not in stored


# --- payloads ----------------------------------------------------------------------------------


def _event(scope: str, kind: str, severity: str = "page") -> OutgoingEvent:
    alert = {
        "id": 7, "uid": "a" * 32, "group_id": 3, "state": "firing", "severity": severity, "detector": "cusum",
        "metric": "ctr", "subject": "", "slice": "surface=home", "summary": "ctr fell 14%",
        "evidence": {"value": 0.043, "baseline": 0.05}, "data_time": "2026-03-02T10:00:00Z",
    }  # fmt: skip
    group = {
        "id": 3, "uid": "b" * 32, "state": "firing", "severity": severity, "cause": "model_version:r@v13",
        "members": 12, "open_members": 12, "alerts": [alert] * 12,
        "first_data_time": "2026-03-02T10:00:00Z", "last_data_time": "2026-03-02T11:00:00Z",
    }  # fmt: skip
    payload = {"group": group} if scope == "group" else {"alert": alert, "group": {"id": 3, "cause": "x"}}
    return OutgoingEvent(scope, kind, f"recops:{scope}:7:1:{kind}:aaaaaaaaaaaa", severity,
                         "2026-03-02T10:05:00Z", "recops", None, payload)  # fmt: skip


def test_pagerduty_events_v2_payloads() -> None:
    trigger = pagerduty_body(_event("group", "opened"), "R" * 32)
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R" * 32
    assert trigger["dedup_key"] == "recops:group:3:bbbbbbbbbbbb"  # one incident per group
    p = trigger["payload"]
    assert set(p) >= {"summary", "source", "severity"} and p["severity"] == "critical"
    assert len(p["summary"]) <= 1024 and p["custom_details"]["idempotency_key"].startswith("recops:group:7:1")
    assert pagerduty_body(_event("group", "updated", "ticket"), "k")["payload"]["severity"] == "warning"
    resolve = pagerduty_body(_event("group", "resolved"), "k")
    assert resolve == {
        "routing_key": "k",
        "event_action": "resolve",
        "dedup_key": "recops:group:3:bbbbbbbbbbbb",
    }
    ack = pagerduty_body(_event("alert", "acknowledged"), "k")
    assert ack["event_action"] == "acknowledge" and ack["dedup_key"] == "recops:alert:7:aaaaaaaaaaaa"


def test_slack_and_webhook_payloads_carry_the_key() -> None:
    body = slack_body(_event("group", "opened"))
    assert body["text"].startswith(":rotating_light: [PAGE] alert group g3 opened: model_version:r@v13")
    detail = body["blocks"][1]["text"]["text"]
    assert detail.count("• #7") == 10 and "… and 2 more" in detail
    assert "recops:group:7:1:opened" in body["blocks"][2]["elements"][0]["text"]
    assert slack_body(_event("alert", "resolved"))["text"].startswith(":white_check_mark:")
    routes = parse_routes([{"name": "hook", "type": "webhook", "url": "https://h.example/x",
                            "headers": {"X-Team": "recsys"}}])  # fmt: skip
    request = render(routes.routes[0], _event("alert", "fired"))
    body = json.loads(request.body)
    assert (
        request.headers["Idempotency-Key"] == body["idempotency_key"] == "recops:alert:7:1:fired:aaaaaaaaaaaa"
    )
    assert request.headers["X-Team"] == "recsys" and request.headers["Content-Type"] == "application/json"
    assert body["event"] == "fired" and body["alert"]["evidence"] == {"value": 0.043, "baseline": 0.05}
