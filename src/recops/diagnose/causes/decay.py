"""Model decay: a business metric sliding for days, everywhere, with nothing else to blame.

A model that goes stale (the world moved on from its training data) does not break on a
given hour: its metric declines a little every day, in every slice. The hypothesis names
the model and the version serving the move. Certainty: a Mann–Kendall trend of the
metric's daily values (in the moved slice) in its bad direction over the 21 days before the move
(so a step at the move's start, which is no trend before it, does not count), significant
and material (the Theil–Sen slope over those days against the catalog's relative line).
When the alert being explained is a ``slide`` (the broken-line test on the hourly
residual, which sees a slide days before 21 daily values do), its own evidence counts
too: its one-sided significance times its fitted move against the catalog's line; the
larger certainty of the two is used.
Link: how global the move is, ``1 - `` the largest link of a significant slice hypothesis
on a traffic dimension (surface, context keys; a move one of them explains is not a
model-wide decay). Alignment: 1 (it is the move).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from recops.detect.detectors.kendall import mann_kendall, sen_slope
from recops.diagnose.causes.base import Context, Hypothesis, Move, make
from recops.diagnose.causes.evidence import DEFAULT_RELATIVE, clamp, significance, window_value

TREND_DAYS = 21
MIN_DAYS = 7


def model_decay(ctx: Context, found: Sequence[Hypothesis]) -> list[Hypothesis]:
    """A model-decay hypothesis when the moved business metric has been trending the bad way."""
    move = ctx.move
    definition = move.definition
    if (
        move.family != "metrics"
        or definition is None
        or definition.direction not in ("down_is_bad", "up_is_bad")
    ):
        return []
    line = definition.threshold.value if definition.threshold and definition.threshold.relative else None
    trend = _daily_trend(ctx, definition.direction == "down_is_bad", line)
    slide = _slide(move, ctx.alpha, line)
    if trend is None and slide is None:
        return []
    certainty, sentence, evidence, onset = max(
        (x for x in (trend, slide) if x is not None), key=lambda x: x[0]
    )
    # Where the move is: traffic slices only; a version that serves everything is no "where".
    slices = [h for h in found if h.kind == "slice" and h.certainty > 0 and "segment" in h.entity]
    specific = max((h.link for h in slices), default=0.0)
    model, version = _serving(ctx)
    return [
        make(
            "model_decay",
            {"model": model, "model_version": version, "metric": move.metric},
            certainty=certainty,
            link=1.0 - specific,
            alignment=1.0,
            onset=onset,
            sentence=(
                f"{move.metric} {sentence}, spread over every slice (the most specific slice explains "
                f"{100 * specific:.0f}%): {model or 'the model'}{f'@{version}' if version else ''} "
                "may be going stale"
            ),
            evidence={**evidence, "most_specific_slice": specific},
        )
    ]


_Found = tuple[float, str, dict[str, Any], datetime]  # certainty, sentence, evidence, onset


def _certainty(p: float, bad: float, alpha: float, line: float | None) -> float:
    """Significant (one test) and material: the bad relative move against the catalog's line."""
    return significance(p, 1, alpha) * clamp(bad / (line or DEFAULT_RELATIVE))


def _daily_trend(ctx: Context, bad_down: bool, line: float | None) -> _Found | None:
    """Mann–Kendall and Theil–Sen over the daily values of the 21 days before the move."""
    move = ctx.move
    series = ctx.days.series(move.metric, move.subject, move.slice)
    start = move.current.start - timedelta(days=TREND_DAYS)
    days = [
        (w.start, window_value(w)) for w in series.windows if start <= w.start and w.end <= move.current.start
    ]
    values = [(t, v) for t, v in days if v is not None]
    if len(values) < MIN_DAYS:
        return None
    ys = [v for _, v in values]
    xs = [(t - values[0][0]) / timedelta(days=1) for t, _ in values]
    mk = mann_kendall(ys)
    p = mk.p_down() if bad_down else mk.p_up()
    slope = sen_slope(xs, ys).slope
    level = statistics.median(ys)
    relative = (slope * (xs[-1] - xs[0]) / level) if level else 0.0
    bad = -relative if bad_down else relative
    certainty = _certainty(p, bad, ctx.alpha, line)
    if certainty <= 0:
        return None
    sentence = (
        f"has been sliding for {len(values)} days before the move: {100 * relative:+.1f}% over them "
        f"(Theil–Sen), Mann–Kendall z = {mk.z:.1f}"
    )
    evidence = {"days": len(values), "relative_change": relative, "slope_per_day": slope,
                "mann_kendall_z": mk.z, "p_value": p}  # fmt: skip
    return certainty, sentence, evidence, values[0][0]


def _slide(move: Move, alpha: float, line: float | None) -> _Found | None:
    """The evidence of a ``slide`` alert: its z (one-sided) and its fitted move so far."""
    alert = move.alert_evidence
    if not alert or alert.get("detector") != "slide" or not isinstance(alert.get("slide"), Mapping):
        return None
    z = (alert.get("statistic") or {}).get("value")
    moved = alert["slide"].get("moved")
    if z is None or moved is None:
        return None
    p = 1.0 - statistics.NormalDist().cdf(float(z))
    certainty = _certainty(p, abs(float(moved)), alpha, line)
    if certainty <= 0:
        return None
    days = float(alert["slide"].get("onset_days_ago") or 0.0)
    sentence = (
        f"has been sliding for about {days:.1f} days: {100 * float(moved):+.1f}% along a line "
        f"since then (broken-line z = {float(z):.1f})"
    )
    evidence = {
        "detector": "slide",
        "onset_days_ago": days,
        "relative_change": float(moved),
        "slope_per_day": alert["slide"].get("slope_per_day"),
        "slide_z": float(z),
        "p_value": p,
    }
    return certainty, sentence, evidence, move.current.end - timedelta(days=days)


def _serving(ctx: Context) -> tuple[str | None, str | None]:
    """The model and version that served most of the current period's requests."""
    rows = (
        ctx.connect()
        .execute(
            "SELECT model, model_version, count(*) AS n FROM requests WHERE ts >= $a AND ts < $b "
            "GROUP BY ALL ORDER BY n DESC LIMIT 1",
            {"a": ctx.move.current.start, "b": ctx.move.current.end},
        )
        .fetchall()
    )
    if not rows:
        return None, None
    return str(rows[0][0]), str(rows[0][1])
