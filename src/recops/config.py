"""Workspace settings: ``recops.toml`` parsed into typed, validated objects.

Every error names the key and the file, and unknown keys are refused (a typo such as
``ttl_hour`` would otherwise silently fall back to a default).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recops.errors import ConfigError

CONFIG_FILE = "recops.toml"
#: DuckDB's memory limit for monitor runs: past it, group-bys, joins and sorts spill to disk.
DEFAULT_MONITOR_MEMORY = "4GB"

DEFAULT_CONFIG = """\
# recops workspace settings; each key is explained where it is set. docs/deploy.md covers
# the settings that matter in production (store, scheduler, retention, memory).

[workspace]
# Where the lake (Parquet) lives, relative to this file.
data_dir = "data"
# Metadata store: SQLite by default; a team points this at PostgreSQL, e.g.
# "postgresql+psycopg://recops@db.internal/recops". Relative SQLite paths are
# resolved against this file's folder.
store_url = "sqlite:///recops.db"
# Windows (days, hours) are cut in this time zone, since traffic follows local days.
timezone = "UTC"

[windows]
# Serving SLIs (latency, errors) are computed on short windows, the rest hourly and daily.
serving_minutes = 5
others = ["hour", "day"]

[lake]
# Partitions older than this are dropped by `recops lake retention` (0 keeps everything).
retention_days = 0
# A date partition with at least this many small files is compacted into one.
compact_min_files = 16

[sql]
# Limits of `recops sql` (and the dashboard's SQL page).
max_rows = 10000
timeout_seconds = 30

[monitors]
# Where `recops monitor run` computes: "duckdb" (embedded, default) or "spark" (needs the
# spark extra; RECOPS_SPARK_MASTER picks the cluster, local[2] by default).
engine = "duckdb"
# Context keys that slice every series, besides surface and model_version.
context_keys = ["device", "country"]
# Outcomes later than this after their request are not attributed to it; a window's
# outcome metrics are final once the newest outcome is this far past its end.
label_window_hours = 24
# Feature drift of each window is measured against the trailing days before it.
drift_reference_days = 7
# Declarative data-quality checks (YAML), relative to this file.
checks = "checks.yaml"
# Memory DuckDB may use for a monitor run before it spills to disk (a bigger day then
# takes longer, not more memory); DuckDB units: "4GB", "512MiB".
memory_limit = "4GB"

[detection]
# `recops monitor run` runs the detectors after computing the windows.
enabled = true
# Local dates that are holidays: their traffic is compared with earlier holidays.
holidays = []
# Dead man's switch: alert when no request or outcome newer than this reaches recops,
# or when `recops monitor run` has not completed for this long.
data_silence_minutes = 60
monitor_silence_minutes = 180

[server]
# `recops serve`: where it listens. Beyond 127.0.0.1 it refuses to start until a token exists.
host = "127.0.0.1"
port = 8000
# The server's scheduler computes monitors and detection over new data this often (0: never).
schedule_seconds = 300
# Let Prometheus scrape /metrics without a token (the values are business metrics: off by default).
metrics_public = false

[slo]
latency_p99_ms = 250.0
error_rate = 0.01

# EXAMPLES below (the simulated platform's, which `recops demo` uses): replace them with
# your own. A feature group's values are stale past its TTL (freshness monitors, traces).
[feature_groups.user_profile]
ttl_hours = 36

[feature_groups.item_stats]
ttl_hours = 12

[feature_groups.session_context]
ttl_hours = 2

# Upstream sources and when their partitions are due (arrival monitors, the dead man's switch).
[sources.play_events]
schedule = "hourly"
max_delay_minutes = 90

[sources.catalog]
schedule = "daily"
max_delay_minutes = 360

[sources.user_profiles]
schedule = "daily"
max_delay_minutes = 360
"""


@dataclass(frozen=True)
class FeatureGroupConfig:
    name: str
    ttl_hours: float


@dataclass(frozen=True)
class SourceConfig:
    name: str
    schedule: str  # hourly | daily
    max_delay_minutes: float


@dataclass(frozen=True)
class MonitorsConfig:
    engine: str = "duckdb"
    context_keys: tuple[str, ...] = ("device", "country")
    label_window_hours: float = 24.0
    drift_reference_days: int = 7
    checks: str = "checks.yaml"
    memory_limit: str = DEFAULT_MONITOR_MEMORY


@dataclass(frozen=True)
class DetectionConfig:
    """``[detection]``: what detection needs beyond the metric catalog.

    Attributes:
        enabled: ``monitor run`` runs detection after computing the windows.
        holidays: local dates that are holidays; seasonal baselines compare a holiday's
            traffic with earlier holidays (and Sundays), not with the same weekday.
        data_silence_minutes: the dead man's switch: alert when no request or outcome
            newer than this reaches recops.
        monitor_silence_minutes: alert when ``monitor run`` has not completed for this long.
    """

    enabled: bool = True
    holidays: tuple[date, ...] = ()
    data_silence_minutes: float = 60.0
    monitor_silence_minutes: float = 180.0


@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: where ``recops serve`` listens and how often its scheduler runs.

    Attributes:
        host: bind address (loopback by default; beyond it a token must exist).
        port: TCP port.
        schedule_seconds: the scheduler's period for monitors and detection over new data
            (0 turns it off).
        metrics_public: serve ``/metrics`` without a token.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    schedule_seconds: float = 300.0
    metrics_public: bool = False


@dataclass(frozen=True)
class Config:
    """A validated workspace configuration.

    Attributes:
        root: the workspace folder (where ``recops.toml`` is).
        path: the config file.
        data_dir: absolute path of the lake.
        store_url: SQLAlchemy URL of the metadata store (SQLite paths made absolute).
        timezone: IANA zone that windows are cut in.
    """

    root: Path
    path: Path
    data_dir: Path
    store_url: str
    timezone: str = "UTC"
    serving_window_minutes: int = 5
    windows: tuple[str, ...] = ("hour", "day")
    retention_days: int = 0
    compact_min_files: int = 16
    sql_max_rows: int = 10_000
    sql_timeout_seconds: float = 30.0
    slo: dict[str, float] = field(default_factory=dict)
    feature_groups: dict[str, FeatureGroupConfig] = field(default_factory=dict)
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    monitors: MonitorsConfig = field(default_factory=lambda: MonitorsConfig())
    detection: DetectionConfig = field(default_factory=lambda: DetectionConfig())
    server: ServerConfig = field(default_factory=lambda: ServerConfig())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def summary(self) -> dict[str, Any]:
        """What `recops config validate` shows; the store URL without password or query."""
        return {
            "timezone": self.timezone,
            "store_url": safe_store_url(self.store_url),
            "data_dir": str(self.data_dir),
            "feature_groups": {g.name: g.ttl_hours for g in self.feature_groups.values()},
            "sources": {s.name: s.schedule for s in self.sources.values()},
        }


def safe_store_url(url: str) -> str:
    """A store URL fit to show: no password, no query (which may carry credentials too)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).set(query={}).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a valid SQLAlchemy URL)"


class _Reader:
    """Pulls typed values out of the parsed TOML, naming key and file on error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, key=key, path=str(self.path))

    def table(self, data: dict[str, Any], key: str, allowed: set[str]) -> dict[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, dict):
            raise self.error(key, "must be a table")
        unknown = sorted(set(value) - allowed) if allowed else []
        if unknown:
            raise self.error(
                f"{key}.{unknown[0]}",
                f"unknown key; expected one of {', '.join(sorted(allowed))}",
            )
        return value

    def string(self, data: dict[str, Any], key: str, default: str) -> str:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a non-empty string, got {value!r}")
        return value

    def number(self, data: dict[str, Any], key: str, default: float, minimum: float = 0) -> float:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, got {value!r}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value!r}")
        return float(value)

    def integer(self, data: dict[str, Any], key: str, default: int, minimum: int = 0) -> int:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, got {value!r}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value!r}")
        return value


_TOP = {
    "workspace", "windows", "lake", "sql", "monitors", "detection", "server", "slo",
    "feature_groups", "sources",
}  # fmt: skip
_WINDOWS = {"hour", "day"}


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate the text of a ``recops.toml`` found at ``path``.

    Raises:
        ConfigError: naming the key and the file of the first problem found.
    """
    r = _Reader(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(path)) from None
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise r.error(unknown[0], f"unknown section; expected one of {', '.join(sorted(_TOP))}")
    root = path.parent.resolve()

    ws = r.table(data, "workspace", {"data_dir", "store_url", "timezone"})
    data_dir = root / r.string(ws, "workspace.data_dir", "data")
    store_url = _absolute_sqlite(r.string(ws, "workspace.store_url", "sqlite:///recops.db"), root)
    timezone = r.string(ws, "workspace.timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.error("workspace.timezone", f"unknown time zone {timezone!r}") from None

    win = r.table(data, "windows", {"serving_minutes", "others"})
    serving = r.integer(win, "windows.serving_minutes", 5, minimum=1)
    if 60 % serving:
        raise r.error("windows.serving_minutes", "must divide an hour (1, 5, 10, 15, 30 or 60)")
    others = win.get("others", ["hour", "day"])
    if not isinstance(others, list) or not set(others) <= _WINDOWS:
        raise r.error("windows.others", f"must be a list drawn from {sorted(_WINDOWS)}")

    lake = r.table(data, "lake", {"retention_days", "compact_min_files"})
    sql = r.table(data, "sql", {"max_rows", "timeout_seconds"})
    monitors = _monitors(r, data)
    slo_table = r.table(data, "slo", set())
    slo = {k: r.number(slo_table, f"slo.{k}", 0.0) for k in slo_table}

    groups: dict[str, FeatureGroupConfig] = {}
    for name, body in r.table(data, "feature_groups", set()).items():
        body = r.table({name: body}, f"feature_groups.{name}", {"ttl_hours"})
        ttl = r.number(body, f"feature_groups.{name}.ttl_hours", 24.0)
        if ttl <= 0:
            raise r.error(f"feature_groups.{name}.ttl_hours", "must be positive")
        groups[name] = FeatureGroupConfig(name, ttl)

    sources: dict[str, SourceConfig] = {}
    for name, body in r.table(data, "sources", set()).items():
        key = f"sources.{name}"
        body = r.table({name: body}, key, {"schedule", "max_delay_minutes"})
        schedule = r.string(body, f"{key}.schedule", "daily")
        if schedule not in ("hourly", "daily"):
            raise r.error(f"{key}.schedule", f"must be 'hourly' or 'daily', got {schedule!r}")
        delay = r.number(body, f"{key}.max_delay_minutes", 60.0)
        sources[name] = SourceConfig(name, schedule, delay)

    return Config(
        root=root,
        path=path,
        data_dir=data_dir,
        store_url=store_url,
        timezone=timezone,
        serving_window_minutes=serving,
        windows=tuple(others),
        retention_days=r.integer(lake, "lake.retention_days", 0),
        compact_min_files=r.integer(lake, "lake.compact_min_files", 16, minimum=2),
        sql_max_rows=r.integer(sql, "sql.max_rows", 10_000, minimum=1),
        sql_timeout_seconds=r.number(sql, "sql.timeout_seconds", 30.0),
        slo=slo,
        feature_groups=groups,
        sources=sources,
        monitors=monitors,
        detection=_detection(r, data),
        server=_server(r, data),
    )


def _monitors(r: _Reader, data: dict[str, Any]) -> MonitorsConfig:
    allowed = {
        "engine",
        "context_keys",
        "label_window_hours",
        "drift_reference_days",
        "checks",
        "memory_limit",
    }
    mon = r.table(data, "monitors", allowed)
    engine = r.string(mon, "monitors.engine", "duckdb")
    if engine not in ("duckdb", "spark"):
        raise r.error("monitors.engine", f"must be 'duckdb' or 'spark', got {engine!r}")
    keys = mon.get("context_keys", ["device", "country"])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise r.error("monitors.context_keys", "must be a list of context key names")
    label_hours = r.number(mon, "monitors.label_window_hours", 24.0)
    if label_hours <= 0:
        raise r.error("monitors.label_window_hours", "must be positive")
    return MonitorsConfig(
        engine=engine,
        context_keys=tuple(dict.fromkeys(keys)),
        label_window_hours=label_hours,
        drift_reference_days=r.integer(mon, "monitors.drift_reference_days", 7, minimum=1),
        checks=r.string(mon, "monitors.checks", "checks.yaml"),
        memory_limit=_memory(r, mon),
    )


def _memory(r: _Reader, mon: dict[str, Any]) -> str:
    """``monitors.memory_limit``: DuckDB's memory limit for monitor runs, such as ``4GB``."""
    value = r.string(mon, "monitors.memory_limit", DEFAULT_MONITOR_MEMORY)
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value):
        raise r.error("monitors.memory_limit", f"must be a size such as '4GB' or '512MiB', got {value!r}")
    return value


def _server(r: _Reader, data: dict[str, Any]) -> ServerConfig:
    srv = r.table(data, "server", {"host", "port", "schedule_seconds", "metrics_public"})
    public = srv.get("metrics_public", False)
    if not isinstance(public, bool):
        raise r.error("server.metrics_public", f"must be true or false, got {public!r}")
    port = r.integer(srv, "server.port", 8000, minimum=1)
    if port > 65535:
        raise r.error("server.port", f"must be at most 65535, got {port}")
    return ServerConfig(
        host=r.string(srv, "server.host", "127.0.0.1"),
        port=port,
        schedule_seconds=r.number(srv, "server.schedule_seconds", 300.0),
        metrics_public=public,
    )


def _detection(r: _Reader, data: dict[str, Any]) -> DetectionConfig:
    allowed = {"enabled", "holidays", "data_silence_minutes", "monitor_silence_minutes"}
    det = r.table(data, "detection", allowed)
    enabled = det.get("enabled", True)
    if not isinstance(enabled, bool):
        raise r.error("detection.enabled", f"must be true or false, got {enabled!r}")
    raw = det.get("holidays", [])
    if not isinstance(raw, list):
        raise r.error("detection.holidays", "must be a list of dates (YYYY-MM-DD)")
    holidays: list[date] = []
    for value in raw:
        if isinstance(value, date) and not isinstance(value, datetime):
            holidays.append(value)
            continue
        try:
            holidays.append(date.fromisoformat(str(value)))
        except ValueError:
            raise r.error("detection.holidays", f"not a date (YYYY-MM-DD): {value!r}") from None
    return DetectionConfig(
        enabled=enabled,
        holidays=tuple(sorted(set(holidays))),
        data_silence_minutes=r.number(det, "detection.data_silence_minutes", 60.0, minimum=1),
        monitor_silence_minutes=r.number(det, "detection.monitor_silence_minutes", 180.0, minimum=1),
    )


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path=str(path)) from None
    return parse_config(text, path)


def _absolute_sqlite(url: str, root: Path) -> str:
    """Resolve a relative ``sqlite:///file`` URL against the workspace folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(root / url[len(prefix) :])
    return url
