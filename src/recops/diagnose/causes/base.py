"""What every cause module shares: the move being explained, the hypothesis, the context.

A cause module is a function ``(ctx, found) -> list[Hypothesis]``: it reads what it needs
through the :class:`Context` (stored points, the lake, the configuration) and returns its
hypotheses, each naming one entity (a feature group, a source and its partitions, a stage
on a surface, a change...) with a score in [0, 1] and the numbers behind it. ``found``
holds the hypotheses of the modules run before it (changes link to them).

Scores are comparable across kinds because every module scores the same three things
(decision 0036)::

    score = certainty × link × alignment

* certainty: the cause really happened and is material (its own series moved
  significantly, past a good part of its alert line; a change record is certain);
* link: the share of the metric's move it can account for (a slice's explained share,
  the correlation of the cause's deviations with the metric's over windows and slices,
  or 1 when the cause is the metric's own entity);
* alignment: it began shortly before the move (:func:`~recops.diagnose.causes.evidence.alignment`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from recops.catalog import Catalog, MetricDefinition
from recops.config import Config
from recops.diagnose.causes.evidence import Association, Shift, association, deviations, shift
from recops.diagnose.causes.points import ALL, PointSet, read_points
from recops.diagnose.contribution import Period
from recops.lake import Lake
from recops.store import Store

#: Causal layers: at equal score the deeper cause (a change, then upstream data, then
#: pipelines, stages and sources, then symptoms such as drift and slices) ranks first.
LAYERS: dict[str, int] = {
    "change": 0,
    "schema_change": 1,
    "arrival": 1,
    "feature_group": 2,
    "candidate_source": 2,
    "stage_latency": 2,
    "model_decay": 2,
    "feature_drift": 3,
    "serving_rate": 3,
    "slice": 4,
}


@dataclass(frozen=True)
class Hypothesis:
    """One possible cause of the move, with its score and evidence.

    Attributes:
        kind: ``slice``, ``change``, ``feature_group``, ``feature_drift``, ``arrival``,
            ``schema_change``, ``stage_latency``, ``serving_rate``, ``candidate_source`` or
            ``model_decay``.
        entity: what it names, as plain keys a benchmark can compare with ground truth
            (``feature_group``, ``feature``, ``source``, ``partitions``, ``stage``,
            ``surface``, ``candidate_source``, ``model``, ``model_version``, ``segment``,
            ``change_kind``, ``target``, ``version``, ``ts``, ``slice``, ``metric``).
        score: ``certainty × link × alignment`` in [0, 1].
        certainty: the cause happened and is material, in [0, 1].
        link: the share of the move it can account for, in [0, 1].
        alignment: it began shortly before the move, in [0, 1].
        onset: when the cause began, when known.
        sentence: one line for an operator, with the evidence numbers.
        evidence: the numbers behind the score (JSON-ready).
    """

    kind: str
    entity: Mapping[str, Any]
    score: float
    certainty: float
    link: float
    alignment: float
    sentence: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    onset: datetime | None = None

    @property
    def layer(self) -> int:
        return LAYERS.get(self.kind, 5)

    @property
    def name(self) -> str:
        """A short label: ``feature_group session_context``, ``change deploy ranker v13``."""
        parts = [f"{k}={v}" for k, v in self.entity.items() if isinstance(v, str) and k != "ts"]
        return f"{self.kind} " + " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "entity": dict(self.entity),
            "score": round(self.score, 4),
            "certainty": round(self.certainty, 4),
            "link": round(self.link, 4),
            "alignment": round(self.alignment, 4),
            "onset": self.onset.isoformat() if self.onset else None,
            "sentence": self.sentence,
            "evidence": dict(self.evidence),
        }


def make(
    kind: str,
    entity: Mapping[str, Any],
    *,
    certainty: float,
    link: float,
    alignment: float,
    sentence: str,
    evidence: Mapping[str, Any] | None = None,
    onset: datetime | None = None,
) -> Hypothesis:
    """A hypothesis with its score computed from the three parts (each clamped to [0, 1])."""
    c, k, a = (max(0.0, min(1.0, x)) if math.isfinite(x) else 0.0 for x in (certainty, link, alignment))
    return Hypothesis(
        kind=kind,
        entity=dict(entity),
        score=c * k * a,
        certainty=c,
        link=k,
        alignment=a,
        sentence=sentence,
        evidence=dict(evidence or {}),
        onset=onset,
    )


def rank(hypotheses: Sequence[Hypothesis]) -> list[Hypothesis]:
    """Best first: score, then the deeper cause, then certainty."""
    return sorted(hypotheses, key=lambda h: (-round(h.score, 6), h.layer, -h.certainty, h.name))


@dataclass(frozen=True)
class Move:
    """The move being explained: a metric series between a baseline and a current period.

    Attributes:
        metric, subject, slice: the series (``slice`` ``""`` for all traffic).
        granularity: the window size analysed (``hour`` or ``day``).
        current, baseline: the two periods (windows whose start lies in them).
        definition: the metric's catalog entry, when it has one.
        moved: the series' shift between the periods (``None`` when either has no point).
        alert_evidence: the evidence of the alert being explained (its detector's
            statistic and parameters), ``None`` when a metric and period are diagnosed.
    """

    metric: str
    subject: str
    slice: str
    granularity: str
    current: Period
    baseline: Period
    definition: MetricDefinition | None
    moved: Shift | None
    alert_evidence: Mapping[str, Any] | None = None

    @property
    def family(self) -> str:
        return self.definition.family if self.definition is not None else ""

    @property
    def sign(self) -> float:
        """+1 for a rise, -1 for a drop, 0 for no change."""
        if self.moved is None or self.moved.change == 0:
            return 0.0
        return 1.0 if self.moved.change > 0 else -1.0

    @property
    def subject_kind(self) -> str:
        """What the subject is: ``feature``, ``feature_group``, ``source``, ``stage``... (catalog)."""
        text = self.definition.subject if self.definition is not None else ""
        return text.split("(", 1)[0].strip().lower().replace(" ", "_")

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "subject": self.subject,
            "slice": self.slice,
            "granularity": self.granularity,
            "family": self.family,
            "current": self.current.to_json(),
            "baseline": self.baseline.to_json(),
            "shift": self.moved.to_json() if self.moved is not None else None,
        }


class Context:
    """Everything a cause module may read, loaded lazily and once per diagnosis.

    Args:
        store, lake, config, catalog: the workspace's.
        move: what is being explained.
        alpha: the family-wise significance level.
        feature_groups: feature name → feature group (from configuration or the lake).
        day_metrics: the day series :attr:`days` reads besides the moved metric's (all when None).
    """

    #: Hour windows read before the current period to see causes begin (and to correlate).
    CONTEXT_HOURS = timedelta(hours=24)
    #: Day windows read for drift and slow trends.
    CONTEXT_DAYS = timedelta(days=28)

    def __init__(
        self,
        store: Store,
        lake: Lake,
        config: Config,
        catalog: Catalog,
        move: Move,
        *,
        points: PointSet,
        alpha: float = 0.05,
        feature_groups: Mapping[str, str] | None = None,
        day_metrics: Iterable[str] | None = None,
    ) -> None:
        self.store, self.lake, self.config, self.catalog = store, lake, config, catalog
        self.move = move
        self.points = points
        self.alpha = alpha
        self.feature_groups: dict[str, str] = dict(feature_groups or {})
        self._days: PointSet | None = None
        self.day_metrics = frozenset(day_metrics) if day_metrics is not None else None
        self._con: duckdb.DuckDBPyConnection | None = None
        self.timings: dict[str, float] = {}
        #: Anything a cause module reads once and another may reuse (lake lookups).
        self.cache: dict[str, Any] = {}

    # -- periods ---------------------------------------------------------------------------------

    @staticmethod
    def span_of(current: Period, granularity: str) -> Period:
        """The current period with the context before it."""
        context = (
            Context.CONTEXT_DAYS if granularity == "day" else max(Context.CONTEXT_HOURS, 3 * current.duration)
        )
        return Period(current.start - context, current.end)

    @staticmethod
    def pair_shift_of(current: Period, baseline: Period) -> timedelta | None:
        """The shift pairing each window with its baseline window (same-length periods only)."""
        return current.start - baseline.start if current.duration == baseline.duration else None

    @property
    def span(self) -> Period:
        return self.span_of(self.move.current, self.move.granularity)

    @property
    def pair_shift(self) -> timedelta | None:
        return self.pair_shift_of(self.move.current, self.move.baseline)

    @staticmethod
    def periods_to_read(current: Period, baseline: Period, granularity: str) -> list[Period]:
        span = Context.span_of(current, granularity)
        pair = Context.pair_shift_of(current, baseline)
        if pair is not None:
            return [span, span.shifted(-pair)]
        return [Period(min(span.start, baseline.start), span.end)]

    # -- data ------------------------------------------------------------------------------------

    @property
    def slo(self) -> dict[str, float]:
        return dict(self.config.slo)

    def definition(self, metric: str) -> MetricDefinition | None:
        return self.catalog.get(metric) if metric in self.catalog else None

    def shift_of(
        self, metric: str, subject: str = "", slice_: str = ALL, points: PointSet | None = None
    ) -> Shift | None:
        """The series' move between the diagnosis' baseline and current periods."""
        ps = points or self.points
        definition = self.definition(metric)
        return shift(
            ps.series(metric, subject, slice_),
            self.move.current,
            self.move.baseline,
            unit=definition.unit if definition is not None else "",
        )

    @property
    def days(self) -> PointSet:
        """Day points over the 28 days before the current period's end (and a week more for pairs)."""
        if self._days is None:
            end = self.move.current.end + timedelta(days=1)
            self._days = read_points(
                self.store,
                "day",
                [Period(end - self.CONTEXT_DAYS - timedelta(days=8), end)],
                metrics=None if self.day_metrics is None else {*self.day_metrics, self.move.metric},
            )
        return self._days

    @property
    def days_rows(self) -> int:
        """Day points read so far (0 when no module needed them)."""
        return self._days.rows if self._days is not None else 0

    def connect(self) -> duckdb.DuckDBPyConnection:
        """One lake connection for the whole diagnosis (closed by :meth:`close`)."""
        if self._con is None:
            self._con = self.lake.connect()
        return self._con

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a lake query as dicts, through Arrow (times as UTC datetimes, maps as
        lists of key/value pairs)."""
        rows: list[dict[str, Any]] = (
            self.connect().execute(sql, dict(params or {})).to_arrow_table().to_pylist()
        )
        return rows

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def feature_group_of(self, feature: str) -> str | None:
        if feature in self.feature_groups:
            return self.feature_groups[feature]
        for group in self.config.feature_groups:
            if any(feature.startswith(group + sep) for sep in (".", ":", "__", "/")):
                return group
        return None

    # -- association with the move ---------------------------------------------------------------

    def association_with(
        self, metric: str, subject: str, orientation: float, *, tests: int = 1
    ) -> Association | None:
        """How the deviations of ``(metric, subject)`` go with the move's, over the span's
        windows and every slice stored for both.

        Each (window, slice) is a cell: the cause's deviation from its baseline (times
        ``orientation``, the sign of its own move) against the metric's (times the move's
        sign), weighted by the square root of the metric's observations.
        """
        ps, span, pair, baseline = self.points, self.span, self.pair_shift, self.move.baseline
        target_slices = set(ps.slices(self.move.metric, self.move.subject))
        cells: list[tuple[datetime, float, float, float]] = []
        for slice_ in ps.slices(metric, subject):
            if slice_ not in target_slices:
                continue
            target = ps.series(self.move.metric, self.move.subject, slice_)
            x = deviations(ps.series(metric, subject, slice_), span, pair, baseline)
            y = deviations(target, span, pair, baseline)
            for t, dx in x.items():
                if t in y:
                    w = target.at(t)
                    weight = math.sqrt(max(w.n if w is not None else 1, 1))
                    cells.append((t, orientation * dx, self.move.sign * y[t], weight))
        return association(cells, alpha=self.alpha, tests=tests)


Cause = Callable[[Context, Sequence[Hypothesis]], list[Hypothesis]]
