"""Config errors name the key and the file; defaults are sane; windows follow the time zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from recops.config import DEFAULT_CONFIG, parse_config
from recops.errors import ConfigError


def parse(text: str) -> object:
    return parse_config(text, Path("/ws/recops.toml"))


def test_default_config_is_valid() -> None:
    cfg = parse_config(DEFAULT_CONFIG, Path("/ws/recops.toml"))
    assert cfg.timezone == "UTC" and cfg.store_url == "sqlite:////ws/recops.db"
    assert cfg.feature_groups["user_profile"].ttl_hours == 36
    assert cfg.sources["play_events"].schedule == "hourly"
    assert cfg.data_dir == Path("/ws/data")
    assert cfg.monitors.memory_limit == "4GB"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('[workspace]\ntimezone = "Mars/Olympus"', "workspace.timezone", "unknown time zone"),
        (
            "[feature_groups.user_profile]\nttl_hour = 3",
            "feature_groups.user_profile.ttl_hour",
            "unknown key",
        ),
        (
            "[feature_groups.user_profile]\nttl_hours = -3",
            "feature_groups.user_profile.ttl_hours",
            "at least",
        ),
        ('[sources.play_events]\nschedule = "weekly"', "sources.play_events.schedule", "hourly"),
        ("[windows]\nserving_minutes = 7", "windows.serving_minutes", "divide an hour"),
        ("[lake]\nretention_days = 'long'", "lake.retention_days", "whole number"),
        ("[slo]\nlatency_p99_ms = 'fast'", "slo.latency_p99_ms", "number"),
        ("[dashbord]\nx = 1", "dashbord", "unknown section"),
        ('[monitors]\nmemory_limit = "lots"', "monitors.memory_limit", "such as '4GB'"),
    ],
)
def test_errors_name_key_and_file(text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse(text)
    assert info.value.key == key
    assert str(info.value).endswith(f"(file /ws/recops.toml, key {key})")


def test_invalid_toml_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML.*file /ws/recops\.toml"):
        parse("[workspace\n")


def test_postgres_url_is_kept() -> None:
    cfg = parse_config('[workspace]\nstore_url = "postgresql+psycopg://u@h/db"', Path("/ws/recops.toml"))
    assert cfg.store_url == "postgresql+psycopg://u@h/db"
