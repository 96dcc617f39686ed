"""The simulated world: contract schemas, determinism, and a realistic shape."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from recops.contract import KINDS
from recops.sim import Incident, SimConfig, World, simulate
from tests.unit.sim.query import sql


def test_tables_have_exactly_the_contract_schemas(incident_world: World) -> None:
    assert list(incident_world.tables) == list(KINDS)
    for name, table in incident_world.tables.items():
        assert table.schema.equals(KINDS[name].schema), name
        assert table.num_rows > 0, name


def test_keys_are_unique(incident_world: World) -> None:
    for name, kind in KINDS.items():
        keys = ", ".join(f'"{k}"' for k in kind.key)
        [(dupes,)] = sql(
            incident_world,
            f"SELECT count(*) FROM (SELECT {keys} FROM {name} GROUP BY ALL HAVING count(*) > 1)",
        )
        assert dupes == 0, name


def test_same_seed_same_world_and_other_seed_other_world() -> None:
    config = SimConfig(seed=3, days=2, requests_per_day=600, incidents=[])
    first, again = simulate(config), simulate(config)
    for name in KINDS:
        assert first.tables[name].equals(again.tables[name]), name
    assert first.truth.to_json() == again.truth.to_json()
    other = simulate(SimConfig(seed=4, days=2, requests_per_day=600, incidents=[]))
    assert not first.tables["requests"].equals(other.tables["requests"])
    assert not first.tables["outcomes"].equals(other.tables["outcomes"])


def test_incidents_do_not_reshuffle_unrelated_records(small_world: World) -> None:
    spike = Incident("traffic_spike", "2026-10-02T18:00", 3)
    with_spike = simulate(SimConfig(seed=5, days=3, requests_per_day=400, incidents=[spike]))
    assert with_spike.tables["feature_rows"].equals(small_world.tables["feature_rows"])
    assert with_spike.tables["requests"].num_rows > small_world.tables["requests"].num_rows


def test_slates_follow_the_contract(incident_world: World) -> None:
    rows = sql(
        incident_world,
        """
        WITH c AS (SELECT request_id, status, unnest(candidates, recursive := true) FROM requests)
        SELECT status,
               count(DISTINCT request_id),
               count(*) FILTER (WHERE position IS NOT NULL),
               count(*) FILTER (WHERE position IS NOT NULL AND (propensity <= 0 OR propensity > 1
                                                                OR propensity IS NULL)),
               count(*) FILTER (WHERE position IS NULL AND propensity IS NOT NULL),
               count(*) FILTER (WHERE score IS NULL)
        FROM c GROUP BY status ORDER BY status
        """,
    )
    by_status = {r[0]: r[1:] for r in rows}
    assert set(by_status) == {"ok", "fallback"}  # error requests have no candidates
    requests, shown, bad_propensity, unshown_with_propensity, unscored = by_status["ok"]
    assert 8 * requests < shown < 10 * requests
    assert bad_propensity == 0 and unshown_with_propensity == 0 and unscored == 0
    assert by_status["fallback"][4] > 0  # the popularity fallback does not score
    [(repeated,)] = sql(
        incident_world,
        """SELECT count(*) FROM (SELECT request_id, u.c.position FROM requests, unnest(candidates) u(c)
           WHERE u.c.position IS NOT NULL GROUP BY ALL HAVING count(*) > 1)""",
    )
    assert repeated == 0
    counts = pc.list_value_length(incident_world.tables["requests"]["candidates"])
    assert set(counts.to_pylist()) == {0, 20}


def test_click_through_rate_and_position_bias_look_real(incident_world: World) -> None:
    rows = sql(
        incident_world,
        """
        WITH shown AS (SELECT request_id, unnest(candidates, recursive := true) FROM requests
                       WHERE surface = 'home_row'),
             clk AS (SELECT DISTINCT request_id, item_id FROM outcomes WHERE event = 'click')
        SELECT position < 3, count(*), count(clk.item_id)
        FROM shown LEFT JOIN clk USING (request_id, item_id) WHERE position IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """,
    )
    (_, low_n, low_clicks), (_, top_n, top_clicks) = rows
    overall = (low_clicks + top_clicks) / (low_n + top_n)
    assert 0.015 < overall < 0.08
    assert top_clicks / top_n > 1.5 * low_clicks / low_n


def test_traffic_has_daily_and_weekly_seasonality(incident_world: World) -> None:
    hourly = dict(
        sql(
            incident_world,
            "SELECT hour(ts), count(*) FROM requests WHERE ts < '2026-10-05' GROUP BY 1",
        )
    )
    assert hourly[20] > 4 * hourly[4]
    weekly = dict(
        sql(
            incident_world,
            """SELECT dayofweek(ts) IN (0, 6), count(*) / count(DISTINCT date_trunc('day', ts))
               FROM requests WHERE ts < '2026-10-05' OR ts >= '2026-10-12' GROUP BY 1""",
        )
    )
    assert weekly[True] > 1.1 * weekly[False]


def test_outcomes_follow_requests_with_late_labels(incident_world: World) -> None:
    [(early, fast, late, total)] = sql(
        incident_world,
        """SELECT count(*) FILTER (WHERE o.ts < r.ts),
                  count(*) FILTER (WHERE o.ts - r.ts < INTERVAL 10 MINUTE),
                  count(*) FILTER (WHERE o.ts - r.ts > INTERVAL 2 HOUR), count(*)
           FROM outcomes o JOIN requests r USING (request_id) WHERE o.event = 'click'""",
    )
    assert early == 0
    assert fast > 0.8 * total
    assert late > 0.005 * total
    [(plays_without_value,)] = sql(
        incident_world, "SELECT count(*) FROM outcomes WHERE event IN ('play', 'complete') AND value IS NULL"
    )
    assert plays_without_value == 0


def test_request_features_match_the_feature_rows_served(incident_world: World) -> None:
    [(matched, equal)] = sql(
        incident_world,
        """SELECT count(*), count(*) FILTER (WHERE r.features['sessions_7d'] = f."values"['sessions_7d'])
           FROM requests r JOIN feature_rows f
             ON f.feature_group = 'user_profile' AND f.entity_id = r.user_id
            AND f.event_ts = r.feature_ts['user_profile']""",
    )
    assert matched > 100
    assert equal == matched


def test_feature_ts_is_never_in_the_future(incident_world: World) -> None:
    [(future,)] = sql(
        incident_world,
        "SELECT count(*) FROM requests, unnest(map_values(feature_ts)) u(t) WHERE u.t > ts",
    )
    assert future == 0
    [(unmaterialized,)] = sql(
        incident_world, "SELECT count(*) FROM feature_rows WHERE materialized_at <= event_ts"
    )
    assert unmaterialized == 0


def test_canary_then_deploy_records_and_context(incident_world: World) -> None:
    changes = sql(incident_world, "SELECT kind, version FROM changes WHERE target = 'ranker' ORDER BY ts")
    assert changes[:2] == [("canary", "v13"), ("deploy", "v13")]
    assert ("rollback", "v13") in changes
    [(share,)] = sql(
        incident_world,
        """SELECT avg((model_version = 'v13')::INT) FROM requests
           WHERE ts BETWEEN '2026-10-03 10:00:00+00' AND '2026-10-04 10:00:00+00'""",
    )
    assert 0.05 < share < 0.15
    [(arms,)] = sql(
        incident_world,
        """SELECT count(DISTINCT context['arm']) FROM requests
           WHERE ts BETWEEN '2026-10-03 10:00:00+00' AND '2026-10-04 10:00:00+00'""",
    )
    assert arms == 2


def test_arrivals_cover_every_source_on_schedule(small_world: World) -> None:
    rows = dict(sql(small_world, "SELECT source, count(*) FROM arrivals GROUP BY 1"))
    assert rows["play_events"] >= 3 * 24 - 1
    assert rows["catalog"] in (2, 3) and rows["user_profiles"] in (2, 3)


@pytest.mark.parametrize("bad", [{"days": 0}, {"canary_share": 1.5}, {"shown_per_request": 30}])
def test_config_rejects_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="SimConfig"):
        SimConfig(**bad)  # type: ignore[arg-type]
