"""Metric definitions: the dataclasses, their validation and loading from YAML.

A definition says what a metric series means (title, unit, direction, subject), how it
is computed (a SQL-like ``expression`` over the contract views), how it is cut (slices,
granularities), when it alerts by default (``threshold``, ``slo``) and who owns it. The
built-ins live in ``builtin.yaml`` beside this module; a workspace adds or overrides
definitions with ``metrics/*.yaml`` files (docs/metrics.md).

Every validation error is a :class:`~recops.errors.ConfigError` naming the file, the
metric and the key, because a typo in a metric file should never silently change what a
series means or when it pages someone.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from recops.errors import ConfigError, InvalidInput

FAMILIES = ("arrival", "quality", "drift", "freshness", "metrics", "latency")
DIRECTIONS = ("up_is_bad", "down_is_bad", "both_bad", "neutral")
UNITS = ("ratio", "count", "ms", "seconds", "minutes", "hours", "score", "bits")
GRANULARITIES = ("5min", "hour", "day")
STATIC_KINDS = ("above", "below")
RELATIVE_KINDS = ("relative_drop", "relative_rise")
THRESHOLD_KINDS = STATIC_KINDS + RELATIVE_KINDS
BASELINES = ("same_weekday_4w", "trailing_7d")
DEFAULT_BASELINE = "same_weekday_4w"
DEFAULT_MIN_Z = 4.0
DEFAULT_SLICES = ("surface", "model_version", "context keys")
DEFAULT_GRANULARITIES = ("hour", "day")
DEFAULT_OWNER = "ml-platform"
SLO_VALUE = "slo"  # a static threshold's value taken from the definition's [slo] key
BUILTIN = "builtin"
USER_DIR = "metrics"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_MAX = 100  # metric_points.metric is String(100)
_REQUIRED = ("name", "family", "title", "unit", "direction", "expression", "why")
_OPTIONAL = ("subject", "slices", "granularities", "threshold", "threshold_reason", "slo", "owner", "labels")
_KEYS = _REQUIRED + _OPTIONAL
_THRESHOLD_KEYS = ("kind", "value", "baseline", "min_z", "min_n", "quantile", "evidence")


@dataclass(frozen=True)
class Threshold:
    """A default alert threshold.

    Attributes:
        kind: ``above`` / ``below`` (static: the value itself crosses ``value``) or
            ``relative_drop`` / ``relative_rise`` (the value moves by more than the
            fraction ``value`` from its own ``baseline`` *and* the move is at least
            ``min_z`` standard errors, computed from the stored numerator/denominator).
        value: the static level or the relative change; ``None`` for a static threshold
            whose level is the SLO target named by the definition's ``slo``.
        baseline: relative kinds only: ``same_weekday_4w`` (the median of the same window
            on the same weekday in each of the 4 previous weeks) or ``trailing_7d`` (the
            pooled value of the 7 days before the window).
        min_z: relative kinds, and static kinds with ``evidence``: the fewest standard
            errors a move must measure.
        min_n: any kind: windows with fewer observations (the point's ``n``) are not
            judged, e.g. a p99 of 40 requests is one request's latency.
        quantile, evidence: static kinds on a quantile only (a p99 against its SLO). A
            window's sample quantile passes the level now and then by chance (the p99 of
            2,000 requests is the 20th slowest), so the crossing must also be borne out by
            the counts: ``evidence`` names the metric whose numerator counts the window's
            observations past the level and whose denominator counts them all (same
            subject, slice and window), and that share must exceed what the quantile
            allows (``1 - quantile`` above the level, ``quantile`` below it) by ``min_z``
            binomial standard errors, widened by the evidence series' own dispersion.
    """

    kind: str
    value: float | None
    baseline: str | None = None
    min_z: float | None = None
    min_n: int | None = None
    quantile: float | None = None
    evidence: str | None = None

    @property
    def allowed_share(self) -> float:
        """The share of observations past the level a quantile at the level allows."""
        assert self.quantile is not None
        return 1.0 - self.quantile if self.kind == "above" else self.quantile

    @property
    def relative(self) -> bool:
        return self.kind in RELATIVE_KINDS

    def describe(self, slo: str | None = None, level: float | None = None) -> str:
        """A short human form: ``above 0``, ``above slo latency_p99_ms``, ``-10% vs ... (z ≥ 4)``."""
        at_least = f", n ≥ {self.min_n}" if self.min_n is not None else ""
        if not self.relative:
            if self.value is not None:
                text = f"{self.value:g}"
            else:
                text = f"slo {slo}" + (f" ({level:g})" if level is not None else "")
            if self.evidence is not None:
                text += f" and {self.evidence} past {self.allowed_share:g} (z ≥ {self.min_z:g})"
            return f"{self.kind} {text}{at_least}"
        sign = "-" if self.kind == "relative_drop" else "+"
        return f"{sign}{(self.value or 0) * 100:g}% vs {self.baseline} (z ≥ {self.min_z:g}{at_least})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "value": SLO_VALUE if self.value is None else self.value}
        if self.relative:
            out["baseline"] = self.baseline
            out["min_z"] = self.min_z
        if self.min_n is not None:
            out["min_n"] = self.min_n
        if self.evidence is not None:
            out.update(quantile=self.quantile, evidence=self.evidence, min_z=self.min_z)
        return out


@dataclass(frozen=True)
class MetricDefinition:
    """One metric series: what it means, how it is computed, when it alerts, who owns it.

    Stable for monitor and detector authors: monitors emit series named ``name`` with
    ``subject`` and slice columns as described here; detectors read ``threshold``.

    Attributes:
        name: snake_case, unique in the catalog; the series' ``metric`` column.
        family: the monitor family that computes it (one of :data:`FAMILIES`).
        title: a short human name.
        unit: one of :data:`UNITS` (``ratio`` is a share in [0, 1] unless said otherwise).
        direction: which way is bad: ``up_is_bad``, ``down_is_bad``, ``both_bad``, ``neutral``.
        expression: a precise SQL-like definition over the contract views.
        why: why it matters for a recommender.
        subject: what the series' ``subject`` column holds ("" when none).
        slices: the slice dimensions (``context keys`` = the configured context keys).
        granularities: window sizes (``5min`` stands for the serving window).
        threshold: the default alert threshold, if any.
        threshold_reason: why that threshold (or why none) suits real traffic.
        slo: the ``[slo]`` key of recops.toml the metric is judged against, if any.
        owner: the team answering for it.
        labels: the value depends on outcomes, so it carries label completeness.
        origin: ``builtin`` or the user file that defined (or overrode) it.
    """

    name: str
    family: str
    title: str
    unit: str
    direction: str
    expression: str
    why: str
    subject: str = ""
    slices: tuple[str, ...] = DEFAULT_SLICES
    granularities: tuple[str, ...] = DEFAULT_GRANULARITIES
    threshold: Threshold | None = None
    threshold_reason: str = ""
    slo: str | None = None
    owner: str = DEFAULT_OWNER
    labels: bool = False
    origin: str = BUILTIN

    def threshold_value(self, slo_targets: Mapping[str, float]) -> float | None:
        """The threshold's level with an SLO-valued level resolved from config ``[slo]``.

        Raises:
            ConfigError: the threshold takes its level from an SLO key the config lacks.
        """
        if self.threshold is None:
            return None
        if self.threshold.value is not None:
            return self.threshold.value
        assert self.slo is not None  # validated: an SLO-valued threshold names its slo
        if self.slo not in slo_targets:
            raise ConfigError(
                f"metric {self.name!r} takes its threshold from a missing SLO", key=f"slo.{self.slo}"
            )
        return float(slo_targets[self.slo])

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready, in the YAML form (plus ``origin``)."""
        return {
            "name": self.name,
            "family": self.family,
            "title": self.title,
            "unit": self.unit,
            "direction": self.direction,
            "subject": self.subject,
            "slices": list(self.slices),
            "granularities": list(self.granularities),
            "threshold": self.threshold.to_dict() if self.threshold else None,
            "threshold_reason": self.threshold_reason,
            "slo": self.slo,
            "owner": self.owner,
            "labels": self.labels,
            "why": self.why,
            "expression": self.expression,
            "origin": self.origin,
        }


class Catalog:
    """Every metric definition, built-in and user, in family order then file order."""

    def __init__(self, definitions: Sequence[MetricDefinition]) -> None:
        order = {f: i for i, f in enumerate(FAMILIES)}
        ranked = sorted(enumerate(definitions), key=lambda p: (order[p[1].family], p[0]))
        self._by_name: dict[str, MetricDefinition] = {}
        for _, definition in ranked:
            if definition.name in self._by_name:
                raise InvalidInput(f"metric {definition.name!r} is defined twice")
            self._by_name[definition.name] = definition
        for definition in self._by_name.values():
            evidence = definition.threshold.evidence if definition.threshold else None
            if evidence is not None and evidence not in self._by_name:
                raise InvalidInput(
                    f"metric {definition.name!r}: threshold.evidence names {evidence!r}, "
                    "which is not in the catalog"
                )

    def get(self, name: str) -> MetricDefinition:
        """The definition called ``name``.

        Raises:
            InvalidInput: no such metric; the message lists close matches.
        """
        try:
            return self._by_name[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._by_name, n=5, cutoff=0.6)
            hint = (
                f"; did you mean {', '.join(close)}?" if close else "; `recops metrics list` shows them all"
            )
            raise InvalidInput(f"unknown metric {name!r}{hint}") from None

    def names(self) -> list[str]:
        return list(self._by_name)

    def by_family(self, family: str) -> list[MetricDefinition]:
        """The definitions of one family.

        Raises:
            InvalidInput: ``family`` is not one of :data:`FAMILIES`.
        """
        if family not in FAMILIES:
            raise InvalidInput(f"unknown metric family {family!r}; expected one of {', '.join(FAMILIES)}")
        return [d for d in self if d.family == family]

    def __iter__(self) -> Iterator[MetricDefinition]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def load_catalog(workspace_root: Path | str | None = None) -> Catalog:
    """The built-in definitions plus the workspace's ``metrics/*.yaml``.

    A user definition with a new name adds a metric; one with a built-in's name overrides
    it key by key (keys it leaves out keep the built-in's values; ``threshold: null``
    removes the threshold).

    Args:
        workspace_root: the workspace folder, or ``None`` for the built-ins only.

    Raises:
        ConfigError: a user file is not valid YAML, not a list of definitions, or has an
            invalid definition (the message names the file, the metric and the key), or
            two user files define the same metric.
    """
    definitions = {d.name: d for d in builtin_definitions()}
    builtin_raw = _builtin_raw()
    defined_in: dict[str, str] = {}
    for path in user_files(workspace_root):
        for index, entry in enumerate(_read_list(path)):
            name = entry.get("name") if isinstance(entry, dict) else None
            base = builtin_raw.get(name) if isinstance(name, str) else None
            merged = {**base, **entry} if base is not None else entry
            definition = parse_definition(merged, path=str(path), index=index, origin=str(path))
            if definition.name in defined_in:
                raise ConfigError(
                    f"metric {definition.name!r} is also defined in {defined_in[definition.name]}",
                    key=f"{definition.name}.name",
                    path=str(path),
                )
            defined_in[definition.name] = str(path)
            definitions[definition.name] = definition
    return Catalog(list(definitions.values()))


def user_files(workspace_root: Path | str | None) -> list[Path]:
    """The workspace's metric files (``metrics/*.yaml`` and ``*.yml``), sorted by name."""
    if workspace_root is None:
        return []
    folder = Path(workspace_root) / USER_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def builtin_path() -> str:
    return str(resources.files("recops.catalog").joinpath("builtin.yaml"))


@lru_cache(maxsize=1)
def builtin_definitions() -> tuple[MetricDefinition, ...]:
    """The built-in catalog, parsed and validated once per process."""
    path = builtin_path()
    out: list[MetricDefinition] = []
    for index, entry in enumerate(_builtin_entries()):
        out.append(parse_definition(entry, path=path, index=index, origin=BUILTIN))
    names = [d.name for d in out]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(
            f"metric {duplicated[0]!r} is defined twice", key=f"{duplicated[0]}.name", path=path
        )
    return tuple(out)


@lru_cache(maxsize=1)
def _builtin_entries() -> tuple[dict[str, Any], ...]:
    text = resources.files("recops.catalog").joinpath("builtin.yaml").read_text(encoding="utf-8")
    return tuple(_parse_list(text, builtin_path()))


def _builtin_raw() -> dict[str, dict[str, Any]]:
    return {
        e["name"]: e for e in _builtin_entries() if isinstance(e, dict) and isinstance(e.get("name"), str)
    }


def _read_list(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read metric file: {exc}", path=str(path)) from None
    return _parse_list(text, str(path))


def _parse_list(text: str, path: str) -> list[Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=path) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError("a metric file holds a YAML list of metric definitions", path=path)
    return data


class _Entry:
    """Reads one YAML entry; every error names the file, the metric and the key."""

    def __init__(self, data: Mapping[str, Any], path: str, index: int) -> None:
        self.data = data
        self.path = path
        name = data.get("name")
        self.label = f"metric {name!r}" if isinstance(name, str) and name else f"metric #{index + 1}"
        self.prefix = name if isinstance(name, str) and name else f"#{index + 1}"

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.label}: {message}", key=f"{self.prefix}.{key}", path=self.path)

    def text(self, key: str, default: str | None = None, *, empty: bool = False) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.error(key, "is required")
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {type(value).__name__}")
        value = value.strip()
        if not value and not empty:
            raise self.error(key, "must not be empty")
        return value

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise self.error(
                key, f"must be one of {', '.join(allowed)}; got {value!r}{_hint(value, allowed)}"
            )
        return value

    def names(
        self, key: str, default: Sequence[str], allowed: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if value is None:
            value = list(default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(key, "must be a list of non-empty strings")
        items = [v.strip() for v in value]
        if len(set(items)) != len(items):
            raise self.error(key, "lists a value twice")
        if allowed is not None:
            for item in items:
                if item not in allowed:
                    raise self.error(key, f"values must be drawn from {', '.join(allowed)}; got {item!r}")
        return tuple(items)


def parse_definition(data: Any, *, path: str, index: int, origin: str) -> MetricDefinition:
    """One YAML entry into a validated :class:`MetricDefinition`.

    Raises:
        ConfigError: naming ``path``, the metric (or its position) and the key.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"metric #{index + 1}: a definition is a mapping of keys, got {type(data).__name__}",
            key=f"#{index + 1}",
            path=path,
        )
    entry = _Entry(data, path, index)
    for key in data:
        if key not in _KEYS:
            raise entry.error(
                str(key), f"unknown key{_hint(str(key), _KEYS)}; expected one of {', '.join(_KEYS)}"
            )
    name = entry.text("name")
    if not _NAME.match(name) or len(name) > _NAME_MAX:
        raise entry.error("name", f"must be snake_case (a-z, 0-9, _; starting with a letter; ≤ {_NAME_MAX})")
    slo = data.get("slo")
    if slo is not None:
        slo = entry.text("slo")
        if not _NAME.match(slo):
            raise entry.error("slo", "must be a key of the [slo] table of recops.toml (snake_case)")
    threshold = _threshold(entry, data.get("threshold"), slo)
    reason = entry.text("threshold_reason", "", empty=True)
    labels = data.get("labels", False)
    if not isinstance(labels, bool):
        raise entry.error("labels", "must be true or false")
    granularities = entry.names("granularities", DEFAULT_GRANULARITIES, GRANULARITIES)
    if not granularities:
        raise entry.error("granularities", "must name at least one window size")
    return MetricDefinition(
        name=name,
        family=entry.choice("family", FAMILIES),
        title=entry.text("title"),
        unit=entry.choice("unit", UNITS),
        direction=entry.choice("direction", DIRECTIONS),
        expression=entry.text("expression"),
        why=" ".join(entry.text("why").split()),
        subject=entry.text("subject", "", empty=True),
        slices=entry.names("slices", DEFAULT_SLICES),
        granularities=granularities,
        threshold=threshold,
        threshold_reason=" ".join(reason.split()),
        slo=slo,
        owner=entry.text("owner", DEFAULT_OWNER),
        labels=labels,
        origin=origin,
    )


def _threshold(entry: _Entry, raw: Any, slo: str | None) -> Threshold | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise entry.error("threshold", "must be a mapping such as {kind: above, value: 0}")
    for key in raw:
        if key not in _THRESHOLD_KEYS:
            raise entry.error(
                f"threshold.{key}", f"unknown key; expected one of {', '.join(_THRESHOLD_KEYS)}"
            )
    kind = raw.get("kind")
    if kind not in THRESHOLD_KINDS:
        raise entry.error("threshold.kind", f"must be one of {', '.join(THRESHOLD_KINDS)}; got {kind!r}")
    value = raw.get("value")
    min_n = None
    if "min_n" in raw:
        min_n = raw["min_n"]
        if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
            raise entry.error("threshold.min_n", f"must be a whole number of at least 1, got {min_n!r}")
    if kind in STATIC_KINDS:
        if "baseline" in raw:
            raise entry.error("threshold.baseline", f"applies to relative thresholds only, not {kind!r}")
        evidence = _evidence(entry, raw)
        if value == SLO_VALUE:
            if slo is None:
                raise entry.error("threshold.value", "is 'slo' but the metric names no slo key")
            return Threshold(kind, None, min_n=min_n, **evidence)
        return Threshold(kind, _number(entry, "threshold.value", value), min_n=min_n, **evidence)
    for key in ("quantile", "evidence"):
        if key in raw:
            raise entry.error(f"threshold.{key}", f"applies to static thresholds only, not {kind!r}")
    change = _number(entry, "threshold.value", value)
    if change <= 0 or (kind == "relative_drop" and change >= 1):
        bound = "in (0, 1)" if kind == "relative_drop" else "positive"
        raise entry.error("threshold.value", f"a {kind} is a fraction of the baseline and must be {bound}")
    baseline = raw.get("baseline", DEFAULT_BASELINE)
    if baseline not in BASELINES:
        raise entry.error("threshold.baseline", f"must be one of {', '.join(BASELINES)}; got {baseline!r}")
    min_z = _number(entry, "threshold.min_z", raw.get("min_z", DEFAULT_MIN_Z))
    if min_z < 0:
        raise entry.error("threshold.min_z", "must not be negative")
    return Threshold(kind, change, baseline, min_z, min_n)


def _evidence(entry: _Entry, raw: dict[str, Any]) -> dict[str, Any]:
    """A static threshold's ``quantile``, ``evidence`` and ``min_z`` (all or none)."""
    if "evidence" not in raw:
        for key in ("quantile", "min_z"):
            if key in raw:
                raise entry.error(
                    f"threshold.{key}", "applies to relative thresholds, or to a static one with 'evidence'"
                )
        return {}
    evidence = raw["evidence"]
    if not isinstance(evidence, str) or not _NAME.match(evidence):
        raise entry.error("threshold.evidence", f"must be a metric name, got {evidence!r}")
    if "quantile" not in raw:
        raise entry.error("threshold.quantile", "is required with 'evidence' (0.99 for a p99)")
    quantile = _number(entry, "threshold.quantile", raw["quantile"])
    if not 0.0 < quantile < 1.0:
        raise entry.error("threshold.quantile", f"must lie in (0, 1), got {quantile:g}")
    min_z = _number(entry, "threshold.min_z", raw.get("min_z", DEFAULT_MIN_Z))
    if min_z < 0:
        raise entry.error("threshold.min_z", "must not be negative")
    return {"quantile": quantile, "evidence": evidence, "min_z": min_z}


def _number(entry: _Entry, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise entry.error(key, f"must be a finite number, got {value!r}")
    return float(value)


def _hint(value: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
