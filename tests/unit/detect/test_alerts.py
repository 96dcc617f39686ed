"""Alert lifecycle, grouping, silences, the CLI and the Prometheus exposition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from typer.testing import CliRunner

from recops.cli.alerts import register
from recops.detect.alerts import (
    AlertSignal,
    acknowledge,
    events_of,
    get_alert,
    get_group,
    list_alerts,
    parse_group,
    raise_or_update,
    record_signals,
    resolve,
    resolve_stale,
)
from recops.detect.grouping import GroupingRules, cause_keys, feature_groups_from_lake, subject_kind_name
from recops.detect.prometheus import escape_label, render_prometheus, write_prometheus
from recops.detect.routes import parse_routes
from recops.detect.routing import enqueue, outbox
from recops.detect.silences import create_silence, expire_silence, list_silences, parse_duration
from recops.errors import Conflict, InvalidInput, NotFound, RecopsError
from recops.ingest import ingest_files
from recops.registry.audit import entries, verify_chain
from recops.registry.verify import verify
from recops.store import Store
from recops.store.tables import AlertEventRow, MetricPointRow
from recops.workspace import Workspace

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
WALL = datetime(2026, 3, 20, 8, tzinfo=UTC)  # the wall clock: long after the data (a backfill)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def sig(
    metric: str = "ctr",
    *,
    detector: str = "threshold",
    severity: str = "ticket",
    at: datetime = T0,
    subject: str = "",
    slice: str = "",
    kind: str = "",
    granularity: str = "hour",
    **evidence: float,
) -> AlertSignal:
    return AlertSignal(
        detector=detector,
        metric=metric,
        severity=severity,
        data_time=at,
        subject=subject,
        slice=slice,
        granularity=granularity,
        subject_kind=kind,
        summary=f"{metric} tripped",
        evidence=dict(evidence),
    )


def kinds(store: Store, **where: int) -> list[str]:
    return [e.kind for e in events_of(store, **where)]  # type: ignore[arg-type]


# --- lifecycle ---------------------------------------------------------------------------------


def test_one_open_alert_per_condition_keeps_data_time_apart_from_wall_clock(store: Store) -> None:
    first = raise_or_update(store, sig(value=0.041, baseline=0.05), at=WALL)
    again = raise_or_update(store, sig(at=T0 + HOUR, value=0.039, baseline=0.05), at=WALL + HOUR)
    assert again.id == first.id and len(list_alerts(store)) == 1
    assert again.data_time == T0 and again.last_data_time == T0 + HOUR  # data time: the tripping window
    assert again.raised_at == WALL  # wall clock: when recops raised it
    assert again.evidence == {"value": 0.039, "baseline": 0.05}  # the latest evidence
    # A backfill reporting an earlier window moves the fired data time back.
    earlier = raise_or_update(store, sig(at=T0 - HOUR), at=WALL)
    assert earlier.id == first.id and earlier.data_time == T0 - HOUR
    other_slice = raise_or_update(store, sig(slice="surface=home"), at=WALL)
    other_detector = raise_or_update(store, sig(detector="cusum"), at=WALL)
    assert len({first.id, other_slice.id, other_detector.id}) == 3
    assert kinds(store, alert_id=first.id) == ["fired"]  # updates without a change make no event


def test_severity_only_rises_and_each_rise_is_an_event(store: Store) -> None:
    a = raise_or_update(store, sig(severity="ticket"))
    assert raise_or_update(store, sig(severity="page")).severity == "page"
    assert raise_or_update(store, sig(severity="info")).severity == "page"
    assert kinds(store, alert_id=a.id) == ["fired", "escalated"]


def test_bad_signals_are_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="severity"):
        raise_or_update(store, sig(severity="critical"))
    with pytest.raises(InvalidInput, match="detector"):
        raise_or_update(store, AlertSignal("", "ctr", "page", T0))


def test_resolve_stale_resolves_what_cleared_within_its_scope(store: Store) -> None:
    ctr = raise_or_update(store, sig("ctr"))
    play = raise_or_update(store, sig("play_rate"))
    drift = raise_or_update(store, sig("feature_drift", detector="trend", subject="x", kind="feature"))
    newer = raise_or_update(store, sig("latency_p99_ms", at=T0 + 5 * HOUR))
    done = resolve_stale(
        store,
        [sig("play_rate").dedup_key()],
        T0 + 2 * HOUR,
        detectors=["threshold"],
        at=WALL,
    )
    assert [a.id for a in done] == [ctr.id]  # play_rate still fires; trend out of scope
    resolved = get_alert(store, ctr.id)
    assert resolved.state == "resolved" and resolved.resolved_by == "recops"
    assert resolved.resolved_data_time == T0 + 2 * HOUR and resolved.resolved_at == WALL
    assert get_alert(store, newer.id).state == "firing"  # its data is newer than this pass
    assert {get_alert(store, i).state for i in (play.id, drift.id)} == {"firing"}
    # The same condition firing again later opens a new alert.
    assert raise_or_update(store, sig("ctr", at=T0 + 9 * HOUR)).id not in (
        ctr.id,
        play.id,
        drift.id,
        newer.id,
    )


def test_people_ack_and_resolve_with_notes_in_the_audit_log(store: Store) -> None:
    a = raise_or_update(store, sig())
    [acked] = acknowledge(store, a.id, actor="ana", note="looking")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "ana" and acked.note == "looking"
    with pytest.raises(Conflict, match="acknowledged"):
        acknowledge(store, a.id, actor="ana")
    [done] = resolve(store, str(a.id), actor="bo", note="rolled back")
    assert done.state == "resolved" and done.resolved_by == "bo" and done.resolved_data_time is None
    with pytest.raises(Conflict):
        resolve(store, a.id, actor="bo")
    with pytest.raises(NotFound):
        acknowledge(store, 999, actor="x")
    with pytest.raises(InvalidInput):
        acknowledge(store, "alert-1", actor="x")
    assert kinds(store, alert_id=a.id) == ["fired", "acknowledged", "resolved"]
    audit = entries(store, action="alert.*")
    assert [(e.action, e.actor, e.subject, e.payload["note"]) for e in audit] == [
        ("alert.acknowledge", "ana", f"alert:{a.id}", "looking"),
        ("alert.resolve", "bo", f"alert:{a.id}", "rolled back"),
    ]
    with store.session() as session:
        assert verify_chain(session).ok
    assert verify(store).ok  # `recops registry verify` is content with alert entries


def test_acting_on_a_group_acts_on_its_open_members(store: Store) -> None:
    alerts = record_signals(store, [sig("ctr", slice=f"device={d}") for d in ("tv", "web", "ios")])
    group_id = alerts[0].group_id
    assert {a.group_id for a in alerts} == {group_id}
    assert len(acknowledge(store, f"g{group_id}", actor="ana")) == 3
    assert get_group(store, group_id).state == "acknowledged"
    resolve(store, alerts[0].id, actor="ana")
    assert len(resolve(store, f"G{group_id}", actor="ana")) == 2
    group = get_group(store, group_id)
    assert group.state == "resolved" and group.open_members == ()
    with pytest.raises(Conflict, match="no firing"):
        acknowledge(store, f"g{group_id}", actor="ana")


# --- grouping ----------------------------------------------------------------------------------


def test_cause_keys_follow_the_documented_rules() -> None:
    rules = GroupingRules(feature_groups={"sessions_7d": "user_profile"}, known_groups=("item_stats",))
    assert cause_keys(
        rules, metric="feature_drift", subject="sessions_7d", subject_kind="feature", slice=""
    ) == [
        "feature_group:user_profile",
        "series:feature_drift/sessions_7d",
    ]
    assert cause_keys(rules, metric="feature_null_rate", subject="item_stats.ctr", subject_kind="", slice="")[
        0
    ] == ("feature_group:item_stats")
    assert (
        cause_keys(
            rules,
            metric="stale_feature_share",
            subject="user_profile",
            subject_kind="feature group",
            slice="",
        )[0]
        == "feature_group:user_profile"
    )
    assert (
        cause_keys(rules, metric="arrival_delay_minutes", subject="catalog", subject_kind="source", slice="")[
            0
        ]
        == "source:catalog"
    )
    assert cause_keys(rules, metric="ctr", subject="", subject_kind="", slice="model_version=ranker@v13") == [
        "model_version:ranker@v13",
        "series:ctr",
    ]
    assert cause_keys(
        rules, metric="latency_p99_ms", subject="retrieval", subject_kind='stage ("" = end to end)', slice=""
    ) == ["stage:retrieval", "series:latency_p99_ms/retrieval"]
    assert cause_keys(rules, metric="ctr", subject="", subject_kind="", slice="device=android_tv") == [
        "series:ctr",
        "slice:device=android_tv",
    ]
    assert subject_kind_name('stage ("" = end to end)') == "stage"
    unknown = GroupingRules(
        feature_group_of=lambda f: "session_context" if f.startswith("session_") else None
    )
    assert cause_keys(unknown, metric="m", subject="session_depth", subject_kind="feature", slice="")[0] == (
        "feature_group:session_context"
    )


def test_every_feature_of_a_stale_group_makes_one_group(store: Store) -> None:
    rules = GroupingRules(
        feature_groups={f: "user_profile" for f in ("user_tenure_days", "sessions_7d", "watch_minutes_7d")}
        | {"item_ctr_7d_mean": "item_stats"}
    )
    signals = [
        sig("hours_since_materialization", subject="user_profile", kind="feature group", severity="page")
    ]
    signals += [
        sig(metric, subject=f, kind="feature", at=T0 + HOUR)
        for metric in ("feature_drift", "feature_null_rate")
        for f in ("user_tenure_days", "sessions_7d", "watch_minutes_7d")
    ]
    signals.append(sig("feature_drift", subject="item_ctr_7d_mean", kind="feature"))
    alerts = record_signals(store, signals, rules=rules)
    groups = {a.group_id for a in alerts[:-1]}
    assert len(groups) == 1 and alerts[-1].group_id not in groups
    group = get_group(store, groups.pop())
    assert group.cause == "feature_group:user_profile" and len(group.members) == 7
    assert group.severity == "page" and group.state == "firing"


def test_one_bad_deploy_is_one_group_across_metrics_and_slices(store: Store) -> None:
    signals = [
        sig("ctr", slice="model_version=ranker@v13"),
        sig("ctr", slice=""),
        sig("ctr", slice="surface=home"),
        sig("play_rate", slice="model_version=ranker@v13"),
        sig("completion_rate", slice="model_version=ranker@v13", at=T0 + HOUR),
    ]
    alerts = record_signals(store, signals)
    assert len({a.group_id for a in alerts}) == 1
    assert get_group(store, alerts[0].group_id).cause == "model_version:ranker@v13"
    other = raise_or_update(store, sig("ctr", slice="model_version=ranker@v14"))
    assert other.group_id == alerts[0].group_id  # still CTR, in the same hours: the series key joins it
    unrelated = raise_or_update(store, sig("error_rate", slice="model_version=ranker@v14"))
    assert unrelated.group_id == alerts[0].group_id  # joined through model_version:ranker@v14
    apart = raise_or_update(store, sig("arrival_rows", subject="catalog", kind="source"))
    assert apart.group_id != alerts[0].group_id


def test_metrics_moving_in_one_segment_at_once_are_one_group(store: Store) -> None:
    """A deploy that hurts one device moves CTR and play rate there: one page, not two."""
    ctr = raise_or_update(store, sig("ctr", slice="device=android_tv", detector="cusum"))
    play = raise_or_update(store, sig("play_rate", slice="device=android_tv", at=T0 + HOUR))
    assert play.group_id == ctr.group_id
    assert get_group(store, ctr.group_id).cause == "series:ctr"  # named after its first metric
    elsewhere = raise_or_update(store, sig("completion_rate", slice="country=BR", at=T0 + HOUR))
    assert elsewhere.group_id != ctr.group_id


def test_groups_are_bounded_in_data_time_and_never_reopen(store: Store) -> None:
    first = raise_or_update(store, sig("ctr", slice="device=tv"))
    near = raise_or_update(store, sig("ctr", slice="device=web", at=T0 + 2 * HOUR))
    far = raise_or_update(store, sig("ctr", slice="device=ios", at=T0 + 5 * HOUR))
    assert near.group_id == first.group_id and far.group_id != first.group_id
    resolve(store, f"g{first.group_id}", actor="ana")
    again = raise_or_update(store, sig("ctr", slice="device=tv", at=T0 + HOUR))
    assert again.group_id not in (first.group_id, far.group_id)
    wide = GroupingRules(proximity=timedelta(hours=6))
    late = raise_or_update(store, sig("ctr", slice="device=android", at=T0 + 10 * HOUR), rules=wide)
    assert late.group_id == far.group_id


def test_group_events_coalesce_a_pass_and_track_changes(store: Store) -> None:
    routes = parse_routes(
        [{"name": "chat", "type": "slack", "url": "https://chat.example/h", "min_severity": "info"}]
    )
    alerts = record_signals(store, [sig("ctr", slice=f"country={c}") for c in ("US", "DE", "FR", "BR")])
    group_id = alerts[0].group_id
    enqueue(store, routes, at=WALL)
    assert _group_kinds(store, group_id) == ["opened"]
    record_signals(store, [sig("ctr", slice=f"country={c}") for c in ("US", "DE")])  # nothing new
    enqueue(store, routes, at=WALL)
    assert _group_kinds(store, group_id) == ["opened"]
    record_signals(store, [sig("ctr", slice="country=JP"), sig("ctr", slice="country=IN", severity="page")])
    enqueue(store, routes, at=WALL)
    assert _group_kinds(store, group_id) == ["opened", "updated"]
    acknowledge(store, f"g{group_id}", actor="ana")
    enqueue(store, routes, at=WALL)
    raise_or_update(store, sig("ctr", slice="country=MX"))  # fires into the acknowledged group
    enqueue(store, routes, at=WALL)
    resolve_stale(store, [], T0 + HOUR)
    enqueue(store, routes, at=WALL)
    assert _group_kinds(store, group_id) == ["opened", "updated", "acknowledged", "updated", "resolved"]
    assert [e.kind for e in outbox(store, route="chat", limit=None)][::-1] == _group_kinds(store, group_id)


def _group_kinds(store: Store, group_id: int) -> list[str]:
    return [e.kind for e in events_of(store, group_id=group_id) if e.scope == "group"]


# --- silences ----------------------------------------------------------------------------------


def test_parse_duration() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1w") == timedelta(days=7)
    assert parse_duration("90s") == timedelta(seconds=90)
    for bad in ("", "2", "h2", "2x", "0m", "-1h"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


def test_silenced_alerts_are_stored_but_not_routed_until_the_silence_ends(store: Store) -> None:
    routes = parse_routes([{"name": "hook", "type": "webhook", "url": "https://hooks.example/x"}])
    silence = create_silence(
        store,
        metric="feature_*",
        subject="user_*",
        duration=timedelta(hours=2),
        reason="backfill of user features",
        actor="ana",
        at=WALL,
    )
    quiet = raise_or_update(store, sig("feature_drift", subject="user_tenure_days", kind="feature"), at=WALL)
    loud = raise_or_update(store, sig("feature_drift", subject="item_ctr_7d_mean", kind="feature"), at=WALL)
    other_metric = raise_or_update(store, sig("ctr", subject="user_x"), at=WALL)
    assert quiet.silence_id == silence.id and quiet.state == "firing"
    assert loud.silence_id is None and other_metric.silence_id is None
    enqueue(store, routes, at=WALL)
    sent = {e.alert_id for e in outbox(store)}
    assert sent == {loud.id, other_metric.id}
    with store.session() as session:
        quiet_events = session.scalars(select(AlertEventRow).where(AlertEventRow.alert_id == quiet.id)).all()
        assert [(e.kind, e.silenced, e.routed) for e in quiet_events] == [("fired", True, True)]
    enqueue(store, routes, at=WALL + 3 * HOUR)  # expired: the still-open alert is told now, once
    enqueue(store, routes, at=WALL + 4 * HOUR)
    told = [e for e in outbox(store, limit=None) if e.alert_id == quiet.id]
    assert [(e.kind, e.idempotency_key.split(":")[3]) for e in told] == [("fired", "2")]
    assert get_alert(store, quiet.id).silence_id is None


def test_a_new_silence_covers_open_alerts_and_can_be_ended_early(store: Store) -> None:
    routes = parse_routes([{"name": "hook", "type": "webhook", "url": "https://hooks.example/x"}])
    a = raise_or_update(store, sig("ctr", slice="surface=home"), at=WALL)
    b = raise_or_update(store, sig("ctr", slice="surface=row"), at=WALL)
    s = create_silence(
        store,
        metric="ctr",
        slice="surface=h*",
        expires_at=WALL + 4 * HOUR,
        reason="known",
        actor="ana",
        at=WALL,
    )
    assert get_alert(store, a.id).silence_id == s.id and get_alert(store, b.id).silence_id is None
    enqueue(store, routes, at=WALL)  # fired before the silence, not routed yet: held back
    assert {e.alert_id for e in outbox(store)} == {b.id}
    assert [x.id for x in list_silences(store, at=WALL)] == [s.id]
    ended = expire_silence(store, s.id, actor="bo", at=WALL + HOUR)
    assert not ended.active(WALL + HOUR) and ended.removed_by == "bo"
    assert list_silences(store, at=WALL + HOUR) == [] and len(list_silences(store, include_ended=True)) == 1
    with pytest.raises(InvalidInput, match="already ended"):
        expire_silence(store, s.id, actor="bo", at=WALL + 2 * HOUR)
    enqueue(store, routes, at=WALL + HOUR)
    assert {e.alert_id for e in outbox(store)} == {a.id, b.id}
    assert [e.action for e in entries(store, action="alert.*")] == ["alert.silence", "alert.unsilence"]


def test_silences_need_a_reason_and_a_positive_length(store: Store) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        create_silence(store, metric="*", reason=" ", actor="a", duration=HOUR)
    with pytest.raises(InvalidInput, match="either"):
        create_silence(store, metric="*", reason="r", actor="a")
    with pytest.raises(InvalidInput, match="expire after"):
        create_silence(store, metric="*", reason="r", actor="a", expires_at=WALL, at=WALL + HOUR)
    with pytest.raises(NotFound):
        expire_silence(store, 42, actor="a")


# --- Prometheus --------------------------------------------------------------------------------


def _points(store: Store) -> None:
    rows = []
    for i, value in enumerate((0.051, 0.047)):
        start = T0 + i * HOUR
        for slice_, v in (("", value), ('surface=a"b\\c', value / 2)):
            rows.append(
                MetricPointRow(
                    metric="ctr", subject="", slice=slice_, granularity="hour", window_start=start,
                    window_end=start + HOUR, family="metrics", value=v, numerator=None, denominator=None,
                    n=1000 + i, label_completeness=None, engine="duckdb", computed_at=WALL,
                )
            )  # fmt: skip
    rows.append(
        MetricPointRow(
            metric="ctr", subject="", slice="", granularity="day", window_start=T0, window_end=T0 + 24 * HOUR,
            family="metrics", value=None, numerator=None, denominator=None, n=0, label_completeness=None,
            engine="duckdb", computed_at=WALL,
        )
    )  # fmt: skip
    with store.session() as session:
        session.add_all(rows)


def test_prometheus_text_parses_and_holds_latest_values_and_alert_states(
    store: Store, tmp_path: Path
) -> None:
    _points(store)
    a = raise_or_update(store, sig("ctr", severity="page", slice="surface=home"), at=WALL)
    raise_or_update(store, sig("play_rate"), at=WALL)
    acknowledge(store, a.id, actor="ana")
    gone = raise_or_update(store, sig("error_rate"), at=WALL)
    resolve(store, gone.id, actor="ana")
    routes = parse_routes([{"name": "hook", "type": "webhook", "url": "https://hooks.example/x"}])
    enqueue(store, routes, at=WALL)
    text = render_prometheus(store, at=WALL + HOUR)
    families = {f.name: f for f in text_string_to_metric_families(text)}  # the official parser
    values = {
        (s.labels["slice"], s.labels["granularity"]): s.value for s in families["recops_series_value"].samples
    }
    assert values == {("", "hour"): 0.047, ('surface=a"b\\c', "hour"): 0.0235}  # newest; null day skipped
    ends = {s.labels["granularity"]: s.value for s in families["recops_series_window_end_seconds"].samples}
    assert ends == {"hour": (T0 + 2 * HOUR).timestamp(), "day": (T0 + 24 * HOUR).timestamp()}
    open_alerts = {s.labels["metric"]: s.labels for s in families["recops_alert"].samples}
    assert set(open_alerts) == {"ctr", "play_rate"}
    assert open_alerts["ctr"]["state"] == "acknowledged" and open_alerts["ctr"]["severity"] == "page"
    counts = {(s.labels["state"], s.labels["severity"]): s.value for s in families["recops_alerts"].samples}
    assert (
        counts[("acknowledged", "page")] == 1
        and counts[("firing", "ticket")] == 1
        and sum(counts.values()) == 2
    )
    pending = families["recops_outbox_pending"].samples
    assert [(s.labels["route"], s.value) for s in pending] == [("hook", 5.0)]  # 3 fired, 1 ack, 1 resolved
    assert families["recops_outbox_oldest_pending_seconds"].samples[0].value == 3600.0
    target = tmp_path / "textfile" / "recops.prom"
    samples = write_prometheus(store, target, granularities=["day"], at=WALL)
    written = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    assert (
        written["recops_series_value"].samples == []
        and len(written["recops_series_observations"].samples) == 1
    )
    assert samples == sum(len(f.samples) for f in written.values())
    with pytest.raises(InvalidInput, match="is a folder"):
        write_prometheus(store, target.parent, at=WALL)
    assert parse_group("g3") == parse_group("3") == parse_group(" G3 ") == 3
    with pytest.raises(InvalidInput, match="not an alert or group id"):
        parse_group("gx")
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


# --- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_ws(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    yield root


def run(root: Path, *args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _main() -> None:
        """Test root."""

    result = CliRunner().invoke(app, ["alerts", *args, "-w", str(root)], env={"RECOPS_ACTOR": "cli-user"})
    if isinstance(result.exception, RecopsError):  # what recops.cli.main.run does
        return result.exception.exit_code, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_list_ack_resolve_silence_with_json(cli_ws: Path, tmp_path: Path) -> None:
    with Workspace.open(cli_ws) as ws:
        a, b = record_signals(
            ws.store, [sig("ctr", severity="page"), sig("ctr", slice="surface=home")], at=WALL
        )
    code, out = run(cli_ws, "list", "--state", "firing", "--json")
    assert code == 0 and [x["id"] for x in json.loads(out)] == [b.id, a.id]
    code, out = run(cli_ws, "list", "--fail-on-firing")
    assert code == 1
    code, out = run(cli_ws, "list", "--group", "--json")
    [group] = json.loads(out)
    assert group["members"] == [a.id, b.id] and group["cause"] == "series:ctr"
    code, out = run(cli_ws, "ack", str(a.id), "--note", "on it", "--json")
    assert code == 0 and json.loads(out)[0]["acknowledged_by"] == "cli-user"
    code, out = run(cli_ws, "resolve", f"g{group['id']}", "--json")
    assert code == 0 and {x["id"] for x in json.loads(out)} == {a.id, b.id}
    code, out = run(cli_ws, "resolve", str(a.id))
    assert code == 2  # Conflict: already resolved
    code, out = run(cli_ws, "show", str(a.id), "--json")
    shown = json.loads(out)
    assert [e["kind"] for e in shown["events"]] == ["fired", "acknowledged", "resolved"]
    code, out = run(cli_ws, "silence", "--metric", "ctr", "--for", "2h", "--reason", "deploy", "--json")
    assert code == 0 and json.loads(out)["created_by"] == "cli-user"
    code, out = run(cli_ws, "silences", "--json")
    assert [s["metric"] for s in json.loads(out)] == ["ctr"]
    code, out = run(cli_ws, "silence", "--metric", "ctr", "--for", "soon", "--reason", "x")
    assert code == 2
    code, out = run(cli_ws, "list")
    assert code == 0 and "ctr" in out
    prom = tmp_path / "out.prom"
    code, out = run(cli_ws, "export-prometheus", str(prom), "--json")
    assert code == 0 and json.loads(out)["samples"] > 0 and "recops_alerts" in prom.read_text()
    code, out = run(cli_ws, "routes", "--json")
    assert code == 0 and json.loads(out)["routes"] == []
    code, out = run(cli_ws, "show", f"g{group['id']}", "--json")
    assert code == 0 and [x["id"] for x in json.loads(out)["alerts"]] == [b.id, a.id]
    code, out = run(cli_ws, "show", "g99")
    assert code == 2
    code, out = run(cli_ws, "deliver", "--json")
    assert code == 0 and json.loads(out) == {
        "enqueued": 0,
        "delivered": 0,
        "pending": 0,
        "routes": [],
        "orphaned": {},
    }
    code, out = run(cli_ws, "unsilence", "1", "--json")
    assert code == 0 and json.loads(out)["removed_by"] == "cli-user"
    code, out = run(cli_ws, "outbox", "--json")
    assert code == 0 and json.loads(out) == []  # no notify.yaml: nothing is sent


def test_feature_groups_come_from_the_lake_and_the_config(workspace: Workspace, tmp_path: Path) -> None:
    def row(group: str, values: dict[str, object], day: int = 2) -> dict[str, object]:
        ts = f"2026-03-0{day}T08:00:00Z"
        return {
            "feature_group": group,
            "entity_id": "e1",
            "event_ts": ts,
            "materialized_at": ts,
            "values": values,
        }

    rows = [
        row("user_profile", {"sessions_7d": 3.0, "preferred_genre": "drama", "shared": 1.0}),
        row("item_stats", {"item_ctr_7d": 0.1, "shared": 2.0}),
        row("old_group", {"retired_feature": 1.0}, day=1),
    ]
    path = tmp_path / "fr.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    ingest_files(workspace.lake, "feature_rows", [path])
    mapping = feature_groups_from_lake(workspace.lake, since=datetime(2026, 3, 2, tzinfo=UTC))
    assert mapping == {
        "sessions_7d": "user_profile",
        "preferred_genre": "user_profile",
        "item_ctr_7d": "item_stats",
    }
    assert feature_groups_from_lake(workspace.lake)["retired_feature"] == "old_group"
    rules = GroupingRules.for_workspace(workspace.config, mapping)
    assert rules.known_groups == ("user_profile", "item_stats", "session_context")
    assert rules.group_of("preferred_genre") == "user_profile" and rules.group_of(
        "session_context.depth"
    ) == ("session_context")
    assert rules.group_of("shared") is None
    # Given the lake, the rules read the mapping themselves, once, when a feature first asks.
    from_lake = GroupingRules.for_workspace(workspace.config, lake=workspace.lake)
    assert from_lake.group_of("sessions_7d") == "user_profile"
    assert from_lake.group_of("retired_feature") == "old_group" and from_lake.group_of("shared") is None
    keys = cause_keys(
        from_lake, metric="feature_drift_ratio", subject="item_ctr_7d", subject_kind="feature", slice=""
    )
    assert keys[0] == "feature_group:item_stats"
