"""Ground truth against docs/ground-truth.schema.json; incident kinds and default layout."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from recops.sim import Incident, SimConfig, World, incident_kinds, simulate
from recops.sim.incidents import FAMILIES

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "docs" / "ground-truth.schema.json"
JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "number": (int, float),
    "integer": int,
}


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> None:
    """A small JSON Schema checker for the keywords docs/ground-truth.schema.json uses."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        _check(value, target, root, where)
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                _check(value, option, root, where)
                break
            except AssertionError as e:
                errors.append(str(e))
        else:
            raise AssertionError(f"{where}: no option matches: {errors}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(value, JSON_TYPES[t]) and not (t in ("number", "integer") and isinstance(value, bool))
            for t in types
        )
        assert ok, f"{where}: {value!r} is not {types}"
    if "const" in schema:
        assert value == schema["const"], where
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "pattern" in schema and isinstance(value, str):
        assert re.search(schema["pattern"], value), f"{where}: {value!r} !~ {schema['pattern']}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert value >= schema.get("minimum", value), where
        assert value <= schema.get("maximum", value), where
        if "exclusiveMinimum" in schema:
            assert value > schema["exclusiveMinimum"], where
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: missing {key}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _check(item, properties[key], root, f"{where}.{key}")
            elif extra is False:
                raise AssertionError(f"{where}: unexpected {key}")
            elif isinstance(extra, dict):
                _check(item, extra, root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], root, f"{where}[{i}]")


def validate(document: Any) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:
        _check(document, schema, schema)
    else:  # pragma: no cover - when installed
        jsonschema.validate(document, schema)


def test_ground_truth_follows_its_json_schema(incident_world: World) -> None:
    document = json.loads(json.dumps(incident_world.truth.to_json()))
    validate(document)
    assert {i["kind"] for i in document["incidents"]} == {k.name for k in incident_kinds()}


def test_the_checker_rejects_a_broken_document(incident_world: World) -> None:
    document = json.loads(json.dumps(incident_world.truth.to_json()))
    document["incidents"][0]["expected_family"] = "astrology"
    with pytest.raises(AssertionError):
        _check(document, json.loads(SCHEMA_PATH.read_text()), json.loads(SCHEMA_PATH.read_text()))


def test_incident_kinds_are_described() -> None:
    kinds = incident_kinds()
    assert len({k.name for k in kinds}) == len(kinds) == 11
    assert {k.name for k in kinds if k.benign} == {
        "no_effect_deploy",
        "traffic_spike",
        "config_change",
        "holiday",
    }
    for kind in kinds:
        assert kind.expected_family in FAMILIES and kind.description and kind.default_hours > 0


@pytest.mark.parametrize("days", [14, 28, 42])
def test_default_incidents_cover_every_kind_without_overlap(days: int) -> None:
    config = SimConfig(days=days)
    incidents = config.default_incidents(config.start, days)
    assert sorted(i.kind for i in incidents) == sorted(k.name for k in incident_kinds())
    world_start, world_end = config.start_ms, config.end_ms
    spans = []
    for incident in incidents:
        start = _ms(incident.start)
        assert incident.hours is not None
        spans.append((start, start + incident.hours * 3_600_000))
    spans.sort()
    assert spans[0][0] >= world_start + 86_400_000 and spans[-1][1] <= world_end
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    if days == 42:
        decay = next(i for i in incidents if i.kind == "slow_metric_decay")
        assert decay.hours == 21 * 24


def _ms(text: Any) -> int:
    from datetime import UTC, datetime

    return round(datetime.fromisoformat(str(text)).replace(tzinfo=UTC).timestamp() * 1000)


def test_default_incidents_need_two_weeks() -> None:
    with pytest.raises(ValueError, match="days"):
        SimConfig.default_incidents("2026-10-01", 7)


@pytest.mark.parametrize(
    ("incident", "message"),
    [
        (lambda: Incident("meteor_strike", "2026-10-02T00:00"), "unknown incident kind"),
        (lambda: Incident("traffic_spike", "2026-10-02T00:00", params={"size": 3}), "takes no parameter"),
        (lambda: Incident("traffic_spike", "2026-10-02T00:00", hours=-1), "hours"),
    ],
)
def test_incidents_are_checked_when_made(incident: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        incident()


@pytest.mark.parametrize(
    ("incident", "message"),
    [
        (Incident("stale_feature_group", "2026-10-02T00:00", 2, params={"group": "x"}), "group must be"),
        (Incident("late_arrivals", "2026-10-02T00:00", 2, params={"source": "x"}), "source must be"),
        (Incident("traffic_spike", "2025-10-02T00:00", 2), "outside the simulated days"),
    ],
)
def test_incidents_are_checked_against_the_world(incident: Incident, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate(SimConfig(days=3, requests_per_day=100, incidents=[incident]))
