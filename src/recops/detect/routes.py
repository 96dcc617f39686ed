"""Notification routes: ``notify.yaml`` in the workspace folder (optional).

```yaml
retry:                       # optional; these are the defaults
  base_seconds: 30           # first retry after about this long, doubling per attempt
  cap_seconds: 3600          # never wait longer than this between attempts
  jitter: 0.5                # each wait is shortened by a random fraction up to this
  timeout_seconds: 5         # per HTTP request
routes:
  - name: ops-hook
    type: webhook            # webhook | slack | pagerduty
    url: env:OPS_HOOK_URL    # or a literal https://... URL
    min_severity: info       # info | ticket | page
    scope: alert             # alert | group: what one notification is about
    headers: {Authorization: "env:OPS_HOOK_AUTH"}
  - name: team-channel
    type: slack
    url: env:SLACK_WEBHOOK_URL
  - name: oncall
    type: pagerduty
    routing_key: env:PD_ROUTING_KEY
```

Defaults per type: ``webhook`` sends every alert event (``scope: alert``, ``min_severity:
info``); ``slack`` one message per group change at ticket severity and up; ``pagerduty``
group incidents at page severity, to ``https://events.pagerduty.com/v2/enqueue`` unless a
``url`` is given. A value written ``env:NAME`` is read from the environment when a
notification is sent, so secrets stay out of the file; recops never prints or stores a
resolved secret (routes are shown with their URLs cut to scheme and host).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from recops.detect.events import SEVERITIES
from recops.errors import ConfigError

NOTIFY_FILE = "notify.yaml"
TYPES = ("webhook", "slack", "pagerduty")
SCOPES = ("alert", "group")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
_DEFAULTS = {
    "webhook": ("alert", "info"),
    "slack": ("group", "ticket"),
    "pagerduty": ("group", "page"),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ROUTE_KEYS = {"name", "type", "url", "min_severity", "scope", "headers", "routing_key"}
_RETRY_KEYS = {"base_seconds", "cap_seconds", "jitter", "timeout_seconds"}


class SecretMissing(Exception):
    """An ``env:NAME`` value names a variable that is not set (the message names only NAME)."""


def resolve_secret(value: str) -> str:
    """``env:NAME`` → the variable's value; anything else as is.

    Raises:
        SecretMissing: the variable is not set.
    """
    if value.startswith("env:"):
        name = value[4:]
        resolved = os.environ.get(name)
        if not resolved:
            raise SecretMissing(f"environment variable {name} is not set")
        return resolved
    return value


def redact_url(value: str) -> str:
    """What may be shown of a URL: ``env:NAME`` as is, else scheme and host only."""
    if value.startswith("env:"):
        return value
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff between delivery attempts (see :func:`recops.detect.routing.backoff`)."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    jitter: float = 0.5
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class Route:
    """Where notifications go and which ones (see the module docstring)."""

    name: str
    type: str
    url: str
    min_severity: str
    scope: str
    headers: Mapping[str, str] = field(default_factory=dict)
    routing_key: str | None = None

    def secrets(self) -> list[str]:
        """Every resolvable secret of the route, to scrub from error text."""
        out: list[str] = []
        for value in (self.url, self.routing_key, *self.headers.values()):
            if value is None:
                continue
            try:
                resolved = resolve_secret(value)
            except SecretMissing:
                continue
            out.append(resolved)
        return [s for s in out if len(s) >= 4]

    def describe(self) -> dict[str, Any]:
        """The route for people: no secret shown."""
        return {
            "name": self.name,
            "type": self.type,
            "url": redact_url(self.url),
            "min_severity": self.min_severity,
            "scope": self.scope,
            "headers": sorted(self.headers),
            "routing_key": None if self.routing_key is None else "(set)",
        }


@dataclass(frozen=True)
class Routes:
    """The routes of a workspace and its retry policy (empty when there is no notify.yaml)."""

    routes: tuple[Route, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    path: Path | None = None

    def get(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)

    def __iter__(self) -> Any:
        return iter(self.routes)

    def __len__(self) -> int:
        return len(self.routes)


def load_routes(root: Path | str) -> Routes:
    """Read ``notify.yaml`` from the workspace folder ``root``; no file means no routes.

    Raises:
        ConfigError: naming the key and the file of the first problem.
    """
    path = Path(root) / NOTIFY_FILE
    if not path.is_file():
        return Routes(path=None)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=str(path)) from None
    return parse_routes(data, path)


def parse_routes(data: Any, path: Path | None = None) -> Routes:
    """Validate parsed YAML (a list of routes, or a mapping with ``routes`` and ``retry``)."""
    where = str(path) if path else None

    def error(key: str, message: str) -> ConfigError:
        return ConfigError(message, key=key, path=where)

    if data is None:
        return Routes(path=path)
    if isinstance(data, list):
        data = {"routes": data}
    if not isinstance(data, dict):
        raise error("routes", "must be a list of routes or a mapping with `routes`")
    unknown = sorted(set(data) - {"routes", "retry"})
    if unknown:
        raise error(unknown[0], "unknown key; expected routes, retry")
    retry = _retry(data.get("retry") or {}, error)
    items = data.get("routes") or []
    if not isinstance(items, list):
        raise error("routes", "must be a list")
    routes: list[Route] = []
    for i, item in enumerate(items):
        route = _route(item, f"routes[{i}]", error)
        if any(r.name == route.name for r in routes):
            raise error(f"routes[{i}].name", f"route name {route.name!r} is used twice")
        routes.append(route)
    return Routes(tuple(routes), retry, path)


def _retry(data: Any, error: Any) -> RetryPolicy:
    if not isinstance(data, dict):
        raise error("retry", "must be a mapping")
    unknown = sorted(set(data) - _RETRY_KEYS)
    if unknown:
        raise error(f"retry.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(_RETRY_KEYS))}")
    values: dict[str, float] = {}
    for key in _RETRY_KEYS:
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise error(f"retry.{key}", f"must be a non-negative number, got {value!r}")
            values[key] = float(value)
    policy = RetryPolicy(**values)
    if policy.jitter > 1:
        raise error("retry.jitter", f"must be between 0 and 1, got {policy.jitter}")
    if policy.timeout_seconds <= 0 or policy.base_seconds <= 0:
        raise error("retry", "base_seconds and timeout_seconds must be positive")
    if policy.cap_seconds < policy.base_seconds:
        raise error("retry.cap_seconds", "must be at least base_seconds")
    return policy


def _route(item: Any, key: str, error: Any) -> Route:
    if not isinstance(item, dict):
        raise error(key, "must be a mapping with name, type and url")
    unknown = sorted(set(item) - _ROUTE_KEYS)
    if unknown:
        raise error(f"{key}.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(_ROUTE_KEYS))}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise error(f"{key}.name", "must be letters, digits, '_', '.' or '-' (at most 100)")
    kind = item.get("type")
    if kind not in TYPES:
        raise error(f"{key}.type", f"must be one of {', '.join(TYPES)}, got {kind!r}")
    scope, min_severity = _DEFAULTS[kind]
    scope = item.get("scope", scope)
    if scope not in SCOPES:
        raise error(f"{key}.scope", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
    min_severity = item.get("min_severity", min_severity)
    if min_severity not in SEVERITIES:
        raise error(f"{key}.min_severity", f"must be one of {', '.join(SEVERITIES)}, got {min_severity!r}")
    url = item.get("url", PAGERDUTY_URL if kind == "pagerduty" else None)
    if not isinstance(url, str) or not url:
        raise error(f"{key}.url", "is required: an http(s) URL or env:NAME")
    if not url.startswith("env:") and urlsplit(url).scheme not in ("http", "https"):
        raise error(f"{key}.url", "must be an http(s) URL or env:NAME")
    routing_key = item.get("routing_key")
    if kind == "pagerduty" and (not isinstance(routing_key, str) or not routing_key):
        raise error(f"{key}.routing_key", "is required for pagerduty (the integration key, or env:NAME)")
    if routing_key is not None and not isinstance(routing_key, str):
        raise error(f"{key}.routing_key", "must be a string")
    headers = item.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise error(f"{key}.headers", "must map header names to strings")
    return Route(
        name=name,
        type=kind,
        url=url,
        min_severity=min_severity,
        scope=scope,
        headers=dict(headers),
        routing_key=routing_key,
    )
