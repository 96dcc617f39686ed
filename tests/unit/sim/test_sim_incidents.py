"""Every incident kind leaves its signature in the data; benign events leave CTR alone."""

from __future__ import annotations

from datetime import timedelta

from recops.sim import World
from tests.unit.sim.query import at, ctr, sql

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
QUIET = "r.ts < '2026-10-03 10:00:00+00'"  # before the first incident


def test_stale_feature_group_freezes_feature_ts_then_nulls_features(incident_world: World) -> None:
    inc = incident_world.truth.incident("stale_feature_group")
    group = inc.entity["feature_group"]
    start, end, visible = at(inc.start), at(inc.end), at(inc.detectable_at or "")
    [(distinct, frozen_at, non_null)] = sql(
        incident_world,
        """SELECT count(DISTINCT feature_ts[?]), epoch_ms(min(feature_ts[?])),
                  count(*) FILTER (WHERE features['session_depth'] IS NOT NULL)
           FROM requests WHERE ts >= ? AND ts < ?""",
        group,
        group,
        visible,
        end,
    )
    assert distinct == 1 and non_null == 0
    assert frozen_at + 2 * 3_600_000 == visible.timestamp() * 1000  # TTL of session_context
    [(advancing,)] = sql(
        incident_world,
        "SELECT count(DISTINCT feature_ts[?]) FROM requests WHERE ts >= ? AND ts < ?",
        group,
        start - 10 * HOUR,
        start,
    )
    assert advancing >= 9
    [(rows_inside,)] = sql(
        incident_world,
        "SELECT count(*) FROM feature_rows WHERE feature_group = ? AND event_ts >= ? AND event_ts < ?",
        group,
        start,
        end,
    )
    assert rows_inside == 0
    [(recovered,)] = sql(
        incident_world,
        "SELECT avg((features['session_depth'] IS NOT NULL)::INT) FROM requests WHERE ts >= ? AND ts < ?",
        end + HOUR,
        end + 3 * HOUR,
    )
    assert recovered == 1.0


def test_upstream_schema_change_shows_in_arrivals_and_scales_the_feature(incident_world: World) -> None:
    inc = incident_world.truth.incident("upstream_schema_change")
    start, end = at(inc.start), at(inc.end)
    types = dict(
        sql(
            incident_world,
            """SELECT partition >= strftime(?, '%Y-%m-%dT%H') AND partition < strftime(?, '%Y-%m-%dT%H'),
                      list(DISTINCT schema['watch_duration'])
               FROM arrivals WHERE source = 'play_events' GROUP BY 1""",
            start,
            end,
        )
    )
    assert types == {True: ["int64"], False: ["double"]}
    medians = dict(
        sql(
            incident_world,
            """SELECT feature_ts['session_context'] >= ? AND feature_ts['session_context'] < ?,
                      median(features['session_watch_minutes'])
               FROM requests GROUP BY 1""",
            start,
            end,
        )
    )
    assert medians[True] > 500 * medians[False]


def test_slow_metric_decay_lowers_ctr_gradually(incident_world: World) -> None:
    inc = incident_world.truth.incident("slow_metric_decay")
    start, end = at(inc.start), at(inc.end)
    baseline, _ = ctr(incident_world, QUIET)
    early, _ = ctr(incident_world, "r.ts >= ? AND r.ts < ?", start, start + 6 * HOUR)
    late, clicks = ctr(incident_world, "r.ts >= ? AND r.ts < ?", end - DAY, end)
    assert clicks > 300
    assert late < 0.9 * baseline
    assert early > 0.9 * baseline


def test_bad_deploy_hurts_only_its_segment(incident_world: World) -> None:
    inc = incident_world.truth.incident("bad_deploy_segment")
    version, segment = inc.entity["model_version"], inc.entity["segment"]
    assert segment == {"key": "device", "value": "android_tv"}

    def by_device(v: str) -> tuple[float, float]:
        hit, _ = ctr(incident_world, "r.model_version = ? AND r.context['device'] = 'android_tv'", v)
        rest, _ = ctr(incident_world, "r.model_version = ? AND r.context['device'] <> 'android_tv'", v)
        return hit, rest

    bad_hit, bad_rest = by_device(version)
    good_hit, good_rest = by_device("v13")
    assert (bad_hit / bad_rest) / (good_hit / good_rest) < 0.85
    assert 0.9 < bad_rest / good_rest < 1.1
    versions = {v["version"]: v for v in incident_world.truth.model_versions}
    truth_bad = versions[version]["true_ctr_by_segment"]["device"]
    truth_good = versions["v13"]["true_ctr_by_segment"]["device"]
    assert abs(truth_bad["android_tv"] / truth_good["android_tv"] - 0.7) < 1e-3
    assert truth_bad["ios"] == truth_good["ios"]
    kinds = [c["kind"] for c in inc.changes]
    assert kinds == ["canary", "deploy", "rollback"]
    # A canary on under a quarter of users is a tenth of the effect: the data turns visibly
    # wrong at the full rollout (decision 0050), not at the canary's start.
    assert versions[version]["canary_share"] < 0.25
    deploy = next(c["ts"] for c in inc.changes if c["kind"] == "deploy")
    assert inc.detectable_at == deploy and at(inc.start) < at(deploy)


def test_latency_regression_moves_one_stage_on_one_surface(incident_world: World) -> None:
    inc = incident_world.truth.incident("latency_regression")
    start, end = at(inc.start), at(inc.end)

    def p99(surface: str, begin: object, finish: object) -> float:
        [(value,)] = sql(
            incident_world,
            """SELECT quantile_cont(stage_latency_ms['ranking'], 0.99) FROM requests
               WHERE surface = ? AND status = 'ok' AND ts >= ? AND ts < ?""",
            surface,
            begin,
            finish,
        )
        return float(value)

    home = p99("home_row", start, end) - p99("home_row", start - DAY, end - DAY)
    assert 45 < home < 130
    other = p99("search", start, end) - p99("search", start - DAY, end - DAY)
    assert abs(other) < 25
    assert [c["target"] for c in inc.changes] == ["ranking-service"]


def test_late_arrivals_land_late_or_never(incident_world: World) -> None:
    inc = incident_world.truth.incident("late_arrivals")
    partitions, missing = inc.entity["partitions"], inc.entity["missing_partitions"]
    assert len(partitions) >= 7 and 1 <= len(missing) < len(partitions)
    landed = dict(
        sql(
            incident_world,
            """SELECT partition, landed_at - strptime(partition, '%Y-%m-%dT%H')::TIMESTAMPTZ - INTERVAL 1 HOUR
               FROM arrivals WHERE source = 'play_events'""",
        )
    )
    assert not set(missing) & set(landed)
    for partition in set(partitions) - set(missing):
        assert landed[partition] > timedelta(hours=6)
    others = [delay for p, delay in landed.items() if p not in partitions]
    assert max(others) < timedelta(hours=1)


def test_candidate_source_outage_empties_the_source(incident_world: World) -> None:
    inc = incident_world.truth.incident("candidate_source_outage")
    source, start, end = inc.entity["candidate_source"], at(inc.start), at(inc.end)
    query = """SELECT count(*) FILTER (WHERE c.source = ?), count(*) / count(DISTINCT request_id)
               FROM (SELECT request_id, unnest(candidates) AS c FROM requests
                     WHERE status = 'ok' AND ts >= ? AND ts < ?)"""
    during = sql(incident_world, query, source, start, end)[0]
    before = sql(incident_world, query, source, start - DAY, end - DAY)[0]
    assert during == (0, 20) and before[0] > 100 and before[1] == 20


def test_benign_deploy_keeps_ctr(incident_world: World) -> None:
    inc = incident_world.truth.incident("no_effect_deploy")
    assert inc.benign and inc.detectable_at is None
    old, _ = ctr(incident_world, QUIET)
    new, clicks = ctr(
        incident_world,
        "r.model_version = 'v13' AND r.ts >= ? AND r.ts < ?",
        at(inc.end),
        at(inc.end) + 20 * HOUR,
    )
    assert clicks > 300 and abs(new / old - 1) < 0.12
    versions = {v["version"]: v["true_ctr"] for v in incident_world.truth.model_versions}
    assert versions["v12"] == versions["v13"]


def test_traffic_spike_multiplies_volume_not_ratios(incident_world: World) -> None:
    inc = incident_world.truth.incident("traffic_spike")
    start, end = at(inc.start), at(inc.end)
    count = "SELECT count(*) FROM requests WHERE ts >= ? AND ts < ?"
    [(spike,)] = sql(incident_world, count, start, end)
    [(normal,)] = sql(incident_world, count, start + DAY, end + DAY)
    assert spike > 1.8 * normal
    during, _ = ctr(incident_world, "r.ts >= ? AND r.ts < ?", start, end)
    after, _ = ctr(incident_world, "r.ts >= ? AND r.ts < ?", start + DAY, end + DAY)
    assert abs(during / after - 1) < 0.15


def test_holiday_has_more_daytime_traffic_and_the_same_ctr(incident_world: World) -> None:
    inc = incident_world.truth.incident("holiday")
    start = at(inc.start)
    [(holiday, daytime)] = sql(
        incident_world,
        "SELECT count(*), avg((hour(ts) BETWEEN 9 AND 17)::INT) FROM requests WHERE ts >= ? AND ts < ?",
        start,
        start + DAY,
    )
    [(thursday, thursday_daytime)] = sql(
        incident_world,
        "SELECT count(*), avg((hour(ts) BETWEEN 9 AND 17)::INT) FROM requests WHERE ts >= ? AND ts < ?",
        start - 7 * DAY,
        start - 6 * DAY,
    )
    assert holiday > 1.4 * thursday and daytime > thursday_daytime + 0.05
    during, _ = ctr(incident_world, "r.ts >= ? AND r.ts < ?", start, start + DAY)
    before, _ = ctr(incident_world, QUIET)
    assert abs(during / before - 1) < 0.1


def test_config_change_is_a_change_record_only(incident_world: World) -> None:
    inc = incident_world.truth.incident("config_change")
    assert inc.benign and inc.effect == {}
    [(kind, target)] = sql(incident_world, "SELECT kind, target FROM changes WHERE ts = ?", at(inc.start))
    assert (kind, target) == ("config", "ranker-service")


def test_detectable_at_is_inside_problems_and_absent_for_benign_events(incident_world: World) -> None:
    for inc in incident_world.truth.incidents:
        if inc.benign:
            assert inc.detectable_at is None, inc.kind
        else:
            assert inc.detectable_at is not None, inc.kind
            assert at(inc.start) <= at(inc.detectable_at) <= at(inc.end) + DAY, inc.kind
