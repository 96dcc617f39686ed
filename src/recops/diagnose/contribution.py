"""Slice contribution analysis: which slices explain a metric's move between two periods.

Given a metric, a current period and a baseline period, every stored slice of the metric
(``key=value`` slices of ``metric_points``: surface, model version, each context key)
gets its contribution to the move of the all-traffic value, and the slices are ranked as
root-cause hypotheses with their evidence. Only the stored series are read (two indexed
queries on ``metric_points``), never the lake, so the cost does not grow with the number
of requests. Decision 0033 explains the choices.

**Ratio metrics** (``value = N / D``: CTR is clicks over impressions). With ``w_i`` a
slice's share of the denominator (its share of the traffic) and ``r_i`` its rate, the
all-traffic value is ``R = sum_i w_i r_i``. With 0 the baseline and 1 the current period::

    R1 - R0 = sum_i [ w1_i (r1_i - r0_i)  +  (w1_i - w0_i) (r0_i - R0) ]
                      rate effect            mix effect

The rate effect is what the slice's own rate change did at today's traffic; the mix
effect is what its change of traffic share did at baseline rates. The identity is exact
(no interaction term): expanding gives ``sum w1 r1 - R0 sum w1 - sum w0 r0 + R0 sum w0``,
and both weight sums are 1. Centring the mix effect on ``R0`` makes it mean something
per slice: taking traffic from the others only moves the total when the slice's rate
differs from the overall one. A slice absent from the baseline (a new model version) is
measured against the baseline overall rate (``r0_i := R0``), so all it does is a rate
effect ``w1_i (r1_i - R0)``; a slice absent now contributes its lost share,
``-w0_i (r0_i - R0)``. When a dimension's slices do not cover all traffic, the part of
the move they leave unexplained is the dimension's ``residual``.

**Additive metrics** (counts such as ``requests``): the contribution is the change of
the slice's sum, ``c1_i - k c0_i``, the baseline scaled by ``k`` = current duration /
baseline duration so a 3-hour window can be compared with the 7 days before it.

**Scoring** a slice, for a move ``D = L1 - L0`` of the all-traffic value ``L``
(relative move ``d = D / L0``):

- explained share ``EP = c_i / D``: the slice's part of the additive decomposition
  ("device=android_tv explains 92% of the CTR drop"); the shares add up to 1.
- specific share ``X = 1 - d_rest / d``, with ``d_rest`` the relative move of the rest
  of the traffic (all traffic without the slice): the share of the move that would
  vanish had the slice moved like everything else. A global drop gives every slice
  ``X`` near 0 however much of it the slice carries.
- surprise ``= clamp(X / EP, 0, 1)``: the share of the slice's contribution that is its
  own rather than the common trend (with rates only, ``1 - d_rest / d_i``).
- strength ``= clamp(EP, 0, 1) * surprise``: how much of the move the slice explains
  on its own, if its change is real.
- evidence ``= max(0, 1 - p / alpha)``, ``p`` the two-sided p-value of the slice's
  effect, Bonferroni-adjusted over every slice tested: 0 unless significant at the
  family-wise level ``alpha``, near 1 when clearly so. The rate effect needs both the
  slice's rate change (two-proportion z, pooled) and its difference from the rest's
  change (z of the difference of log rate ratios) to be real; the mix effect needs its
  change of traffic share to be. Counts use Poisson.
- ``score = strength * evidence``. The score is bounded by the share of the move
  explained, so a 0.5% slice that drops 80% (EP 9%) cannot outrank a 40% slice that
  drops 10% (EP 91%), however surprising; by the surprise, so a large slice that merely
  follows a global move does not rank either; and by the evidence, so noise scores 0.
  Slices are ranked by score, then strength.

Proportions (every stored numerator between 0 and its denominator: CTR, rates, shares,
per-request means of values in [0, 1]) use the binomial variance ``r (1 - r) / D``, an
upper bound for any per-unit value in [0, 1]. Other ratios (watch time per request) take
their per-unit variance from the spread of their windows,
``sum_w D_w (r_w - r)^2 / (W - 1)`` pooled over both periods (conservative: it includes
the daily cycle).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pyarrow as pa

from recops.catalog import load_catalog
from recops.errors import InvalidInput, NotFound
from recops.monitors.series import read_series
from recops.store import Store

MetricKind = Literal["ratio", "additive"]
Effect = Literal["rate", "mix", "new", "gone"]

ALL = ""
_EPS = 1e-9


# -- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A time range ``[start, end)``: the windows whose start lies in it."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInput("a period's start and end need a time zone")
        if self.end <= self.start:
            raise InvalidInput(f"a period must end after it starts: {self.start} .. {self.end}")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def shifted(self, delta: timedelta) -> Period:
        return Period(self.start + delta, self.end + delta)

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def week_before(current: Period) -> Period:
    """The same hours one week earlier: the daily and weekly cycles cancel out."""
    return current.shifted(-timedelta(days=7))


def trailing_days(current: Period, days: int = 7) -> Period:
    """The ``days`` days just before the current period."""
    if days < 1:
        raise InvalidInput(f"trailing days must be at least 1, got {days}")
    return Period(current.start - timedelta(days=days), current.start)


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SliceHypothesis:
    """One slice as a cause of the move, with the numbers behind its score.

    Attributes:
        metric: the metric that moved.
        dimension, value: the slice ``dimension=value``.
        kind: ``ratio`` or ``additive``.
        proportion: the ratio is a proportion (values print as percentages).
        move: ``drop``, ``rise`` or ``no change`` of the all-traffic value.
        effect: what carries the contribution: ``rate`` (the slice's rate changed), ``mix``
            (its share of the traffic changed), ``new`` (absent from the baseline), ``gone``
            (absent now).
        baseline_value, current_value: the slice's rate (ratio) or sum (additive; the
            baseline scaled to the current period's length); ``None`` when absent, except
            that a new slice of a ratio has the all-traffic baseline rate as its reference.
        baseline_share, current_share: its share of the traffic (of the denominator for a
            ratio, of the sum for a count).
        contribution: its part of the all-traffic change, in the metric's unit.
        rate_effect, mix_effect: the two parts of ``contribution`` (ratios only).
        explained_share: ``contribution`` over the all-traffic change (EP).
        specific_share: the share of the move that would vanish had the slice moved like
            the rest of the traffic.
        surprise: ``specific_share / explained_share`` in [0, 1].
        js_surprise: Adtributor's surprise, the slice's term of the Jensen-Shannon
            divergence between the baseline and current distributions of the numerator
            (of the sum for a count), in nats. Reported, not ranked on (decision 0033).
        relative_change: the slice's relative change against its reference (its baseline,
            or the baseline overall rate for a new slice).
        rest_relative_change: the same for the rest of the traffic.
        z: the slice's change in standard errors (two-proportion, dispersion or Poisson).
        z_vs_rest: the difference of its relative change from the rest's, in standard errors.
        z_mix: its change of traffic share in standard errors (ratios only).
        p_value: two-sided p-values of the rate effect (the larger of ``z``'s and
            ``z_vs_rest``'s) and of the mix effect (``z_mix``'s), each Bonferroni-adjusted
            over every slice tested, weighted by the size of each effect: the share of the
            contribution that could be noise.
        significant: ``p_value`` below the report's ``alpha``.
        strength: ``clamp(explained_share, 0, 1) * surprise``, what the slice would
            explain on its own were its change real.
        score: ``strength * max(0, 1 - p_value / alpha)``: 0 unless significant.
    """

    metric: str
    dimension: str
    value: str
    kind: MetricKind
    proportion: bool
    move: str
    effect: Effect
    baseline_value: float | None
    current_value: float | None
    baseline_share: float
    current_share: float
    contribution: float
    rate_effect: float | None
    mix_effect: float | None
    explained_share: float | None
    specific_share: float | None
    surprise: float
    js_surprise: float | None
    relative_change: float | None
    rest_relative_change: float | None
    z: float | None
    z_vs_rest: float | None
    z_mix: float | None
    p_value: float
    significant: bool
    strength: float
    score: float

    @property
    def slice(self) -> str:
        return f"{self.dimension}={self.value}"

    def sentence(self) -> str:
        """One line an operator can read: what the slice explains and the evidence."""
        what = f"{self.metric} {self.move}"
        fmt = self._format
        ep = self.explained_share
        if ep is None or self.move == "no change":
            head = f"{self.slice} changed the {self.metric} by {fmt(self.contribution, delta=True)}"
        elif abs(ep) < 0.005:
            head = f"{self.slice} explains none of the {what}"
        elif ep < 0:
            head = f"{self.slice} moved against the {what} ({_pct(ep)} of it)"
        else:
            head = f"{self.slice} explains {_pct(ep)} of the {what}"
        if self.effect == "mix":
            body = (
                f"its share of the traffic went {_pct(self.baseline_share)} → {_pct(self.current_share)} "
                f"at {self.metric} {fmt(self.baseline_value)}"
            )
            stat = self.z_mix
        elif self.effect == "gone":
            body = (
                f"it is absent now; it carried {_pct(self.baseline_share)} of the traffic "
                f"at {fmt(self.baseline_value)}"
            )
            stat = self.z_mix
        elif self.effect == "new":
            body = (
                f"new in the window with {_pct(self.current_share)} of the traffic, {self.metric} "
                f"{fmt(self.current_value)} against {fmt(self.baseline_value)} overall before"
            )
            stat = self.z
        else:
            body = (
                f"{self.metric} {fmt(self.baseline_value)} → {fmt(self.current_value)} "
                f"({_signed_pct(self.relative_change)}) on {_pct(self.current_share)} of the traffic"
            )
            if self.rest_relative_change is not None:
                body += f", the rest {_signed_pct(self.rest_relative_change)}"
            if self.mix_effect is not None and abs(self.mix_effect) > abs(self.contribution) / 4:
                body += f"; its share went {_pct(self.baseline_share)} → {_pct(self.current_share)}"
            stat = self.z
        evidence = f"z = {stat:.1f}" if stat is not None else "no test"
        if self.effect in ("rate", "new") and self.z_vs_rest is not None:
            evidence += f", {self.z_vs_rest:.1f} against the rest"
        verdict = "" if self.significant else ", not significant"
        return f"{head}: {body} ({evidence}{verdict}; score {self.score:.2f})"

    def _format(self, x: float | None, *, delta: bool = False) -> str:
        return _format_value(x, self.kind, self.proportion, delta=delta)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"slice": self.slice}
        for name in self.__dataclass_fields__:
            out[name] = _jsonable(getattr(self, name))
        out["sentence"] = self.sentence()
        return out


@dataclass(frozen=True)
class ContributionReport:
    """The move of a metric between two periods and the slices ranked as its causes.

    Attributes:
        baseline_value, current_value: the all-traffic value (for a count, the baseline
            scaled to the current period's length by ``duration_ratio``).
        change, relative_change: ``current - baseline`` and that over the baseline.
        z, p_value: the all-traffic change in standard errors and its two-sided p-value.
        slices_tested: how many slices were scored (the Bonferroni factor).
        residuals: per dimension, the part of ``change`` its slices leave unexplained
            (0 when they cover all traffic).
        hypotheses: every slice, best score first.
        label_completeness: the lowest label completeness of the current all-traffic
            windows (``None`` when not recorded): below 1, outcome metrics are still moving.
    """

    metric: str
    subject: str
    granularity: str
    kind: MetricKind
    proportion: bool
    current: Period
    baseline: Period
    duration_ratio: float
    current_windows: int
    baseline_windows: int
    baseline_value: float
    current_value: float
    change: float
    relative_change: float | None
    z: float | None
    p_value: float | None
    alpha: float
    slices_tested: int
    residuals: dict[str, float]
    hypotheses: tuple[SliceHypothesis, ...]
    label_completeness: float | None = None

    @property
    def move(self) -> str:
        return _move(self.change)

    @property
    def findings(self) -> tuple[SliceHypothesis, ...]:
        """The hypotheses worth reading: those with a positive score (significant), best first."""
        return tuple(h for h in self.hypotheses if h.score > 0)

    def sentence(self) -> str:
        rel = f" ({_signed_pct(self.relative_change)})" if self.relative_change is not None else ""
        z = f", z = {self.z:.1f}" if self.z is not None else ""
        before = _format_value(self.baseline_value, self.kind, self.proportion)
        after = _format_value(self.current_value, self.kind, self.proportion)
        found = len(self.findings)
        tail = f"{found} slice{'s' if found != 1 else ''} explain{'s' if found == 1 else ''} it"
        return f"{self.metric} {self.move}: {before} → {after}{rel}{z}; {tail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "subject": self.subject,
            "granularity": self.granularity,
            "kind": self.kind,
            "proportion": self.proportion,
            "current": self.current.to_json(),
            "baseline": self.baseline.to_json(),
            "duration_ratio": _jsonable(self.duration_ratio),
            "current_windows": self.current_windows,
            "baseline_windows": self.baseline_windows,
            "baseline_value": _jsonable(self.baseline_value),
            "current_value": _jsonable(self.current_value),
            "change": _jsonable(self.change),
            "relative_change": _jsonable(self.relative_change),
            "move": self.move,
            "z": _jsonable(self.z),
            "p_value": _jsonable(self.p_value),
            "alpha": self.alpha,
            "slices_tested": self.slices_tested,
            "label_completeness": _jsonable(self.label_completeness),
            "residuals": {k: _jsonable(v) for k, v in self.residuals.items()},
            "sentence": self.sentence(),
            "hypotheses": [h.to_json() for h in self.hypotheses],
        }


# -- entry points --------------------------------------------------------------------------------


def analyze_contributions(
    store: Store,
    metric: str,
    current: Period,
    baseline: Period | None = None,
    *,
    subject: str = "",
    granularity: str = "hour",
    dimensions: Collection[str] | None = None,
    kind: MetricKind | None = None,
    alpha: float = 0.05,
) -> ContributionReport:
    """Rank the slices of ``metric`` by how well they explain its move from ``baseline`` to ``current``.

    Reads the stored points of the two periods (``metric_points``), never the lake.

    Args:
        current: the period that moved (windows whose start lies in it).
        baseline: the period to compare with; the same hours a week earlier when ``None``
            (:func:`week_before`; :func:`trailing_days` gives the days just before).
        subject: the series' subject (``""`` for most metrics).
        granularity: the stored windows to read (``hour``, ``day``, ``5min``).
        dimensions: only these slice dimensions (e.g. ``{"device", "model_version"}``);
            every stored one when ``None``.
        kind: ``ratio`` or ``additive``; ``None`` decides from the points (a numerator and
            denominator make a ratio) and the metric catalog (a ``count`` is additive).
        alpha: the family-wise level for ``significant``.

    Raises:
        NotFound: no all-traffic point of the metric in one of the periods.
        InvalidInput: the metric is neither a ratio nor a count.
    """
    baseline = baseline if baseline is not None else week_before(current)
    points = [
        read_series(store, metric, subject=subject, granularity=granularity, start=p.start, end=p.end)
        for p in (current, baseline)
    ]
    return contributions_from_points(
        points[0],
        points[1],
        metric=metric,
        current=current,
        baseline=baseline,
        subject=subject,
        granularity=granularity,
        dimensions=dimensions,
        kind=kind,
        alpha=alpha,
    )


def contributions_from_points(
    current_points: pa.Table,
    baseline_points: pa.Table,
    *,
    metric: str,
    current: Period,
    baseline: Period,
    subject: str = "",
    granularity: str = "hour",
    dimensions: Collection[str] | None = None,
    kind: MetricKind | None = None,
    alpha: float = 0.05,
) -> ContributionReport:
    """:func:`analyze_contributions` on points already read (tables in ``POINT_SCHEMA``).

    Each table holds one metric and subject; the all-traffic slice (``""``) must be there.
    Useful for points computed elsewhere (finer cuts from the lake, ``recops diff``).
    """
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must lie in (0, 1), got {alpha}")
    kind = kind or _detect_kind(metric, current_points, baseline_points)
    cur = _cells(current_points, kind)
    base = _cells(baseline_points, kind)
    for cells, period, name in ((cur, current, "current"), (base, baseline, "baseline")):
        if ALL not in cells:
            raise NotFound(
                f"no all-traffic point of {metric!r} ({granularity}) in the {name} period "
                f"{period.start.isoformat()} .. {period.end.isoformat()}"
            )
    wanted = set(dimensions) if dimensions is not None else None
    names = sorted(
        s for s in set(cur) | set(base) if "=" in s and (wanted is None or s.split("=", 1)[0] in wanted)
    )
    k = current.duration / baseline.duration
    proportion = kind == "ratio" and _is_proportion(list(cur.values()) + list(base.values()))
    if kind == "ratio":
        total = _RatioTotal(base[ALL], cur[ALL], proportion)
        raws = [total.slice(n, base.get(n), cur.get(n)) for n in names]
        level0, level1, z_total = total.r0, total.r1, total.z()
    else:
        counts = _CountTotal(base[ALL], cur[ALL], k)
        raws = [counts.slice(n, base.get(n), cur.get(n)) for n in names]
        level0, level1, z_total = counts.b, counts.c, counts.z()
    change = level1 - level0
    relative = change / level0 if level0 != 0 else None
    hypotheses = [_score(raw, metric, kind, proportion, change, relative, len(names), alpha) for raw in raws]
    hypotheses.sort(key=lambda h: (-h.score, -h.strength, -abs(h.contribution), h.slice))
    residuals: dict[str, float] = {}
    for raw in raws:
        residuals[raw.dimension] = residuals.get(raw.dimension, change) - raw.contribution
    completeness = [c for c in cur[ALL].completeness if c is not None]
    return ContributionReport(
        metric=metric,
        subject=subject,
        granularity=granularity,
        kind=kind,
        proportion=proportion,
        current=current,
        baseline=baseline,
        duration_ratio=k,
        current_windows=len(cur[ALL].windows),
        baseline_windows=len(base[ALL].windows),
        baseline_value=level0,
        current_value=level1,
        change=change,
        relative_change=relative,
        z=z_total,
        p_value=_p_two_sided(z_total) if z_total is not None else None,
        alpha=alpha,
        slices_tested=len(names),
        residuals=residuals,
        hypotheses=tuple(hypotheses),
        label_completeness=min(completeness) if completeness else None,
    )


# -- reading -------------------------------------------------------------------------------------


@dataclass
class _Cell:
    """One slice (or all traffic) over one period: sums and the per-window values."""

    num: float = 0.0
    den: float = 0.0
    windows: list[tuple[float, float]] = field(default_factory=list)
    completeness: list[float | None] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.num / self.den if self.den > 0 else None


def _cells(points: pa.Table, kind: MetricKind) -> dict[str, _Cell]:
    """Slice → its sums over the table's windows (ratio: numerator and denominator; count: value)."""
    cells: dict[str, _Cell] = {}
    if not points.num_rows:
        return cells
    if kind == "ratio":
        nums: Iterable[Any] = points["numerator"].to_pylist()
        dens: Iterable[Any] = points["denominator"].to_pylist()
    else:
        nums = points["value"].to_pylist()
        dens = [1.0] * points.num_rows
    completeness = (
        points["label_completeness"].to_pylist()
        if "label_completeness" in points.column_names
        else [None] * points.num_rows
    )
    for name, n, d, lc in zip(points["slice"].to_pylist(), nums, dens, completeness, strict=True):
        if n is None or d is None or not (math.isfinite(n) and math.isfinite(d)):
            continue
        cell = cells.setdefault(name, _Cell())
        cell.num += n
        cell.den += d
        cell.windows.append((float(n), float(d)))
        cell.completeness.append(lc)
    return cells


def _detect_kind(metric: str, *tables: pa.Table) -> MetricKind:
    for table in tables:
        if table.num_rows and table["denominator"].null_count < table.num_rows:
            return "ratio"
    catalog = load_catalog(None)
    if metric in catalog and catalog.get(metric).unit == "count":
        return "additive"
    raise InvalidInput(
        f"metric {metric!r} stores no numerator and denominator and is not a count in the catalog: "
        "contribution analysis needs a ratio or an additive metric (pass kind='additive' for a sum)"
    )


def _is_proportion(cells: Iterable[_Cell]) -> bool:
    """Every window's numerator lies between 0 and its denominator."""
    return all(0 <= n <= d * (1 + _EPS) for cell in cells for n, d in cell.windows)


# -- per-slice arithmetic ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    """A slice's decomposition and tests, before scoring."""

    dimension: str
    value: str
    effect: Effect
    baseline_value: float | None
    current_value: float | None
    baseline_share: float
    current_share: float
    contribution: float
    rate_effect: float | None
    mix_effect: float | None
    js: float | None
    relative_change: float | None
    rest_exists: bool
    rest_relative_change: float | None
    z: float | None
    z_vs_rest: float | None
    z_mix: float | None
    p_rate: float
    p_mix: float


class _RatioTotal:
    """All traffic of a ratio metric in both periods; decomposes and tests its slices."""

    def __init__(self, base: _Cell, cur: _Cell, proportion: bool) -> None:
        if base.den <= 0 or cur.den <= 0:
            raise NotFound("the all-traffic denominator is zero in one of the periods")
        self.base, self.cur, self.proportion = base, cur, proportion
        self.r0 = base.num / base.den
        self.r1 = cur.num / cur.den
        self.sigma2 = None if proportion else _dispersion([base, cur])

    def z(self) -> float | None:
        return self._z_rates(self.cur.num, self.cur.den, self.base.num, self.base.den, self.sigma2)

    def slice(self, name: str, base: _Cell | None, cur: _Cell | None) -> _Raw:
        b = base or _Cell()
        c = cur or _Cell()
        B, C = self.base, self.cur
        w0, w1 = b.den / B.den, c.den / C.den
        r0, r1 = b.rate, c.rate
        ref = r0 if r0 is not None else self.r0
        rate_effect = w1 * (r1 - ref) if r1 is not None else 0.0
        mix_effect = (w1 - w0) * (ref - self.r0)
        sigma2 = None if self.proportion else _dispersion([b, c])
        # The reference cell: the slice's own baseline, or all traffic's for a new slice.
        ref_num, ref_den, ref_sigma2 = (
            (b.num, b.den, sigma2) if r0 is not None else (B.num, B.den, self.sigma2)
        )
        z = self._z_rates(c.num, c.den, ref_num, ref_den, sigma2) if r1 is not None else None
        # The rest of the traffic: all traffic without the slice.
        rest0 = (B.num - b.num, B.den - b.den)
        rest1 = (C.num - c.num, C.den - c.den)
        has0, has1 = rest0[1] > _EPS * B.den, rest1[1] > _EPS * C.den
        rest_ref = (rest0[0], rest0[1]) if has0 else (B.num, B.den)
        rest_ref_rate = rest_ref[0] / rest_ref[1]
        rest_change: float | None
        if not has1:
            rest_change = 0.0  # the slice took all the traffic: nothing says the rest moved
        elif rest_ref_rate > 0:
            rest_change = rest1[0] / rest1[1] / rest_ref_rate - 1
        else:
            rest_change = None
        z_vs_rest = None
        if r1 is not None and has1:
            # log(r1 / ref) - log(rest1 / rest_ref); for a new slice both references are all
            # traffic's baseline, which cancels: its rate is compared with the rest's, now.
            terms = [(1.0, c.num, c.den, sigma2), (-1.0, rest1[0], rest1[1], self.sigma2)]
            if r0 is not None:
                terms += [(-1.0, ref_num, ref_den, ref_sigma2), (1.0, rest_ref[0], rest_ref[1], self.sigma2)]
            z_vs_rest = self._z_log_rates(terms)
        z_mix = z_two_proportions(c.den, C.den, b.den, B.den)
        effect: Effect
        if r1 is None:
            effect = "gone"
        elif r0 is None:
            effect = "new"
        else:
            effect = "mix" if abs(mix_effect) > abs(rate_effect) else "rate"
        dimension, value = name.split("=", 1)
        return _Raw(
            dimension=dimension,
            value=value,
            effect=effect,
            baseline_value=ref,
            current_value=r1,
            baseline_share=w0,
            current_share=w1,
            contribution=rate_effect + mix_effect,
            rate_effect=rate_effect,
            mix_effect=mix_effect,
            js=_js_term(b.num, B.num, c.num, C.num),
            relative_change=(r1 / ref - 1) if r1 is not None and ref > 0 else None,
            rest_exists=has0 or has1,
            rest_relative_change=rest_change,
            z=z,
            z_vs_rest=z_vs_rest,
            z_mix=z_mix,
            p_rate=_p_both(z, z_vs_rest) if r1 is not None else 1.0,
            p_mix=_p_two_sided(z_mix),
        )

    def _z_rates(self, n1: float, d1: float, n0: float, d0: float, sigma2: float | None) -> float | None:
        """The change from rate ``n0/d0`` to ``n1/d1`` in standard errors."""
        if d1 <= 0 or d0 <= 0:
            return None
        if self.proportion:
            return z_two_proportions(n1, d1, n0, d0)
        if sigma2 is None:
            return None
        se = math.sqrt(sigma2 * (1 / d1 + 1 / d0))
        diff = n1 / d1 - n0 / d0
        return diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))

    def _z_log_rates(self, terms: list[tuple[float, float, float, float | None]]) -> float | None:
        """``sum coef * log(num / den)`` over ``(coef, num, den, sigma2)``, in standard errors.

        The variance of each log rate is the delta method's: ``(1 - r) / num`` for a
        proportion, ``sigma2 / (den r^2)`` otherwise.
        """
        total, variance = 0.0, 0.0
        for coef, num, den, sigma2 in terms:
            if den <= 0:
                return None
            if self.proportion:
                if num <= 0 or num >= den:  # Haldane: a zero cell gets half an event
                    num, den = num + 0.5, den + 1.0
                rate = num / den
                variance += (1 - rate) / num
            else:
                rate = num / den
                if sigma2 is None or rate <= 0:
                    return None
                variance += sigma2 / (den * rate * rate)
            total += coef * math.log(rate)
        return total / math.sqrt(variance) if variance > 0 else None


class _CountTotal:
    """All traffic of an additive metric in both periods; decomposes and tests its slices."""

    def __init__(self, base: _Cell, cur: _Cell, k: float) -> None:
        self.k = k
        self.b_raw, self.c = base.num, cur.num
        self.b = k * base.num

    def z(self) -> float | None:
        return _z_poisson(self.c, self.b_raw, self.k)

    def slice(self, name: str, base: _Cell | None, cur: _Cell | None) -> _Raw:
        b = base.num if base is not None else 0.0
        c = cur.num if cur is not None else 0.0
        k = self.k
        rest_b, rest_c = self.b_raw - b, self.c - c
        rest_exists = rest_b > _EPS * max(self.b_raw, 1.0) or rest_c > _EPS * max(self.c, 1.0)
        rest_change = (rest_c / (k * rest_b) - 1) if rest_b > _EPS * max(self.b_raw, 1.0) else None
        z = _z_poisson(c, b, k)
        z_vs_rest = None
        if rest_exists:
            cells = [max(x, 0.5) for x in (c, b, rest_c, rest_b)]
            diff = math.log(cells[0] / cells[1]) - math.log(cells[2] / cells[3])
            z_vs_rest = diff / math.sqrt(sum(1 / x for x in cells))
        effect: Effect = "new" if b <= 0 else ("gone" if c <= 0 else "rate")
        dimension, value = name.split("=", 1)
        return _Raw(
            dimension=dimension,
            value=value,
            effect=effect,
            baseline_value=k * b if b > 0 else None,
            current_value=c if c > 0 or b > 0 else None,
            baseline_share=b / self.b_raw if self.b_raw > 0 else 0.0,
            current_share=c / self.c if self.c > 0 else 0.0,
            contribution=c - k * b,
            rate_effect=None,
            mix_effect=None,
            js=_js_term(b, self.b_raw, c, self.c),
            relative_change=(c / (k * b) - 1) if b > 0 else None,
            rest_exists=rest_exists,
            rest_relative_change=rest_change,
            z=z,
            z_vs_rest=z_vs_rest,
            z_mix=None,
            p_rate=_p_both(z, z_vs_rest),
            p_mix=1.0,
        )


def _score(
    raw: _Raw,
    metric: str,
    kind: MetricKind,
    proportion: bool,
    change: float,
    relative: float | None,
    tested: int,
    alpha: float,
) -> SliceHypothesis:
    explained = raw.contribution / change if change != 0 else None
    specific = None
    if raw.rest_exists and raw.rest_relative_change is not None and relative:
        specific = 1 - raw.rest_relative_change / relative
    surprise = 0.0
    if explained is not None and explained > 0 and specific is not None:
        surprise = _clamp(specific / explained)
    p_value = _weighted_p(raw, tested)
    strength = _clamp(explained or 0.0) * surprise
    score = strength * max(0.0, 1 - p_value / alpha)
    return SliceHypothesis(
        metric=metric,
        dimension=raw.dimension,
        value=raw.value,
        kind=kind,
        proportion=proportion,
        move=_move(change),
        effect=raw.effect,
        baseline_value=raw.baseline_value,
        current_value=raw.current_value,
        baseline_share=raw.baseline_share,
        current_share=raw.current_share,
        contribution=raw.contribution,
        rate_effect=raw.rate_effect,
        mix_effect=raw.mix_effect,
        explained_share=explained,
        specific_share=specific,
        surprise=surprise,
        js_surprise=raw.js,
        relative_change=raw.relative_change,
        rest_relative_change=raw.rest_relative_change,
        z=raw.z,
        z_vs_rest=raw.z_vs_rest,
        z_mix=raw.z_mix,
        p_value=p_value,
        significant=p_value < alpha,
        strength=strength,
        score=score,
    )


def _weighted_p(raw: _Raw, tested: int) -> float:
    """The p-values of the rate and mix effects, Bonferroni-adjusted, weighted by each one's size.

    A slice whose contribution is half a significant mix shift and half a rate change
    within noise gets 0.5: half of what it explains could be noise.
    """
    p_rate, p_mix = (min(1.0, p * tested) for p in (raw.p_rate, raw.p_mix))
    if raw.rate_effect is None or raw.mix_effect is None:
        return p_rate
    size = abs(raw.rate_effect) + abs(raw.mix_effect)
    if size == 0:
        return p_mix if raw.effect in ("mix", "gone") else p_rate
    return (abs(raw.rate_effect) * p_rate + abs(raw.mix_effect) * p_mix) / size


# -- statistics ----------------------------------------------------------------------------------


def z_two_proportions(n1: float, d1: float, n0: float, d0: float) -> float | None:
    """Pooled two-proportion z of ``n1/d1`` against ``n0/d0`` (±1e9 for a certain move)."""
    if d1 <= 0 or d0 <= 0:
        return None
    pooled = (n1 + n0) / (d1 + d0)
    variance = pooled * (1 - pooled) * (1 / d1 + 1 / d0)
    diff = n1 / d1 - n0 / d0
    if variance <= 0:
        return 0.0 if diff == 0 else math.copysign(1e9, diff)
    return diff / math.sqrt(variance)


def _z_poisson(c: float, b: float, k: float) -> float | None:
    """Poisson z of a count ``c`` against ``k`` times a baseline count ``b``."""
    variance = c + k * k * b
    return (c - k * b) / math.sqrt(variance) if variance > 0 else None


def _dispersion(cells: Iterable[_Cell]) -> float | None:
    """Per-unit variance of a ratio from its windows' spread, pooled over periods.

    ``None`` when no period has two windows.
    """
    squares, dof = 0.0, 0
    for cell in cells:
        windows = [(n, d) for n, d in cell.windows if d > 0]
        if len(windows) < 2:
            continue
        mean = sum(n for n, _ in windows) / sum(d for _, d in windows)
        squares += sum(d * (n / d - mean) ** 2 for n, d in windows)
        dof += len(windows) - 1
    return squares / dof if dof else None


def _p_two_sided(z: float | None) -> float:
    return math.erfc(abs(z) / math.sqrt(2)) if z is not None and not math.isnan(z) else 1.0


def _p_both(z: float | None, z_vs_rest: float | None) -> float:
    """The p-value of "the slice changed, and differently from the rest" (the larger of the two)."""
    p = _p_two_sided(z)
    return max(p, _p_two_sided(z_vs_rest)) if z_vs_rest is not None else p


def _js_term(b: float, total_b: float, c: float, total_c: float) -> float | None:
    """The slice's term of the Jensen-Shannon divergence of baseline vs current shares (nats)."""
    if total_b <= 0 or total_c <= 0:
        return None
    p, q = max(b, 0.0) / total_b, max(c, 0.0) / total_c
    m = (p + q) / 2
    return 0.5 * sum(x * math.log(x / m) for x in (p, q) if x > 0)


# -- formatting ----------------------------------------------------------------------------------


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def _move(change: float) -> str:
    return "drop" if change < 0 else ("rise" if change > 0 else "no change")


def _format_value(x: float | None, kind: MetricKind, proportion: bool, *, delta: bool = False) -> str:
    """A value as the operator reads it: counts with separators, proportions in percent."""
    if x is None:
        return "n/a"
    if kind == "additive":
        return f"{x:+,.0f}" if delta else f"{x:,.0f}"
    if proportion:
        return f"{100 * x:+.3g} pp" if delta else f"{100 * x:.3g}%"
    return f"{x:+.4g}" if delta else f"{x:.4g}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%" if abs(x) >= 0.1 else f"{100 * x:.2g}%"


def _signed_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
