"""Notifiers: an event's snapshot as a webhook, Slack or PagerDuty Events v2 request.

Every request is a JSON ``POST`` with the event's idempotency key in the
``Idempotency-Key`` header and in the body, so a receiver that sees a retry of something
it already accepted can drop it:

* **webhook** (generic JSON): ``{"version": 1, "idempotency_key", "scope", "event",
  "event_at", "actor", "note", "alert" | "group"}`` with the stored snapshot (for an alert
  event also a short ``group`` header). The body is the same on every retry.
* **slack** (incoming webhooks, and the Slack-compatible ones of Mattermost, Rocket.Chat
  and others): ``text`` for notifications and a ``blocks`` section with the details; the
  key is in a context line.
* **pagerduty** (Events API v2): ``trigger`` for fired, escalated, opened and updated;
  ``acknowledge`` and ``resolve`` for those. PagerDuty's ``dedup_key`` must stay the same
  for every event of one incident, so it is the alert's (or group's) identity
  (``recops:alert:12:<uid12>``), which also makes PagerDuty drop repeated triggers; the
  event's own key goes in the header and in ``custom_details``. Severity maps page →
  ``critical``, ticket → ``warning``, info → ``info``.

:class:`UrllibTransport` sends with the standard library: a short timeout, no redirects
followed, and error text that never includes the URL or headers.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from recops.detect.routes import Route, resolve_secret

USER_AGENT = "recops-notifier/1"
_PD_SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}
_PD_ACTION = {
    "fired": "trigger",
    "escalated": "trigger",
    "opened": "trigger",
    "updated": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}
_EMOJI = {"page": ":rotating_light:", "ticket": ":warning:", "info": ":information_source:"}
_SLACK_TEXT_LIMIT = 2900
_SLACK_LIST = 10


@dataclass(frozen=True)
class OutgoingEvent:
    """What a notifier needs of one event: its kind, key and stored snapshot."""

    scope: str
    kind: str
    idempotency_key: str
    severity: str
    at: str
    actor: str
    note: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Request:
    """A rendered HTTP request (the URL and headers hold resolved secrets: never log them)."""

    url: str
    headers: dict[str, str]
    body: bytes


def render(route: Route, event: OutgoingEvent) -> Request:
    """The request ``route`` sends for ``event``.

    Raises:
        recops.detect.routes.SecretMissing: an ``env:`` value of the route is not set.
    """
    url = resolve_secret(route.url)
    if route.type == "slack":
        body = slack_body(event)
    elif route.type == "pagerduty":
        body = pagerduty_body(event, resolve_secret(route.routing_key or ""))
    else:
        body = webhook_body(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": event.idempotency_key,
    }
    headers.update({k: resolve_secret(v) for k, v in route.headers.items()})
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return Request(url, headers, data)


def webhook_body(event: OutgoingEvent) -> dict[str, Any]:
    return {
        "version": 1,
        "source": "recops",
        "idempotency_key": event.idempotency_key,
        "scope": event.scope,
        "event": event.kind,
        "event_at": event.at,
        "severity": event.severity,
        "actor": event.actor,
        "note": event.note,
        **event.payload,
    }


def headline(event: OutgoingEvent) -> str:
    """One line for people: what happened to which alert or group."""
    if event.scope == "group":
        g = event.payload["group"]
        open_members = g.get("open_members", 0)
        return (
            f"[{event.severity.upper()}] alert group g{g['id']} {event.kind}: {g['cause']} "
            f"({open_members} open of {g.get('members', 0)} alerts)"
        )
    a = event.payload["alert"]
    return f"[{event.severity.upper()}] alert {a['id']} {event.kind}: {a['summary']}"


def _alert_line(a: dict[str, Any]) -> str:
    where = ", ".join(p for p in (a.get("subject"), a.get("slice")) if p)
    return f"• #{a['id']} {a['state']} {a['severity']}: {a['summary']}" + (f" ({where})" if where else "")


def slack_body(event: OutgoingEvent) -> dict[str, Any]:
    icon = ":white_check_mark:" if event.kind == "resolved" else _EMOJI.get(event.severity, "")
    text = f"{icon} {headline(event)}".strip()
    lines: list[str] = []
    if event.scope == "group":
        g = event.payload["group"]
        alerts = g.get("alerts", [])
        lines = [_alert_line(a) for a in alerts[:_SLACK_LIST]]
        if g.get("members", 0) > _SLACK_LIST:
            lines.append(f"… and {g['members'] - _SLACK_LIST} more")
        lines.append(f"data time {g.get('first_data_time')} – {g.get('last_data_time')}")
    else:
        a = event.payload["alert"]
        lines = [
            f"*{a['metric']}*" + (f" {a['subject']}" if a.get("subject") else "")
            + (f" [{a['slice']}]" if a.get("slice") else ""),
            f"detector {a['detector']}, data time {a.get('data_time')}, group g{a.get('group_id')}",
        ]  # fmt: skip
        evidence = json.dumps(a.get("evidence") or {}, sort_keys=True)
        lines.append(f"evidence `{evidence[:800]}`")
    if event.note:
        lines.append(f"note ({event.actor}): {event.note}")
    detail = "\n".join(lines)[:_SLACK_TEXT_LIMIT]
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"[:_SLACK_TEXT_LIMIT]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": detail or "-"}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"recops · {event.idempotency_key}"}],
            },
        ],
    }


def pagerduty_dedup_key(event: OutgoingEvent) -> str:
    """The incident identity PagerDuty correlates trigger, acknowledge and resolve by."""
    owner = event.payload["group" if event.scope == "group" else "alert"]
    return f"recops:{event.scope}:{owner['id']}:{str(owner['uid'])[:12]}"


def pagerduty_body(event: OutgoingEvent, routing_key: str) -> dict[str, Any]:
    action = _PD_ACTION.get(event.kind, "trigger")
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": pagerduty_dedup_key(event),
    }
    if action != "trigger":
        return body
    if event.scope == "group":
        g = event.payload["group"]
        component, group, klass = g["cause"].split(":", 1)[-1], g["cause"], "alert group"
        timestamp = g.get("last_data_time")
    else:
        a = event.payload["alert"]
        component, group, klass = a["metric"], f"g{a.get('group_id')}", a["detector"]
        timestamp = a.get("data_time")
    body["payload"] = {
        "summary": headline(event)[:1024],
        "source": "recops",
        "severity": _PD_SEVERITY.get(event.severity, "error"),
        "timestamp": timestamp,
        "component": component,
        "group": group,
        "class": klass,
        "custom_details": {"idempotency_key": event.idempotency_key, **event.payload},
    }
    body["client"] = "recops"
    return body


# --- sending -----------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """A request did not succeed; the message is safe to store (no URL, no headers).

    Attributes:
        status: the HTTP status, when the receiver answered.
        permanent: the receiver refused this payload (400, 413, 422): retrying cannot help.
    """

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent


PERMANENT_STATUSES = frozenset({400, 413, 422})


class Transport(Protocol):
    """Sends one request; returns the HTTP status of a success or raises DeliveryFailed."""

    def send(self, request: Request, timeout: float) -> int: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class UrllibTransport:
    """POST with ``urllib.request``: proxies from the environment, no redirects."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect())

    def send(self, request: Request, timeout: float) -> int:
        req = urllib.request.Request(request.url, data=request.body, headers=request.headers, method="POST")
        try:
            with self._opener.open(req, timeout=timeout) as response:
                status = int(response.status)
                response.read(65536)
        except urllib.error.HTTPError as exc:
            code = int(exc.code)
            raise DeliveryFailed(
                f"HTTP {code} {exc.reason}", status=code, permanent=code in PERMANENT_STATUSES
            ) from None
        except urllib.error.URLError as exc:
            raise DeliveryFailed(f"cannot connect: {_reason(exc.reason)}") from None
        except TimeoutError:
            raise DeliveryFailed(f"no answer within {timeout:g} s") from None
        except (OSError, ValueError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {_reason(exc)}") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}", status=status)
        return status


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(reason)


def monotonic_ms() -> float:
    return time.monotonic() * 1000.0
