"""Plotly figures as plain dicts, and their safe embedding in a page.

The server builds every figure in Python and the page carries it as JSON in a
``<script type="application/json" data-chart="ID">`` block next to an empty
``<div id="ID">``; ``static/recops.js`` draws each block with the Plotly bundle that
recops serves itself (``/static/plotly/plotly.min.js``), then sets ``data-drawn`` on the
div to the number of points drawn, which the browser tests read. Figures are dicts, not
``plotly.graph_objects``: building them is a few microseconds each, and the JSON a page
sends is exactly what is written here.

Times are sent as wall-clock strings in the workspace time zone (``2026-10-14 13:00``):
Plotly.js has no time zones and would otherwise show UTC or the browser's zone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

Figure = dict[str, Any]

#: Colors shared with recops.css (--ok, --warn, --bad, --info, --accent) and a muted grey.
OK, WARN, BAD, INFO, ACCENT, MUTED = "#1a7f37", "#b35900", "#c62828", "#0b5cad", "#3b4cca", "#6b7079"
#: Distinct colors for one trace per subject.
PALETTE = ("#3b4cca", "#1a7f37", "#b35900", "#8e24aa", "#00838f", "#c62828", "#6d4c41", "#546e7a")
PLOTLY_SCRIPT = Markup('<script src="/static/plotly/plotly.min.js"></script>')
_CONFIG = {"displaylogo": False, "responsive": True}
# Characters that must not appear raw inside a <script> element (</script>, <!--) or
# that some JavaScript parsers treat as line ends; JSON allows their \u escapes.
_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """``at`` as wall-clock time in ``zone``, the form Plotly's date axes read."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def clean(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (strict JSON), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def to_script_json(figure: Mapping[str, Any]) -> str:
    """Strict JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    try:  # stored values and detector evidence are finite already: clean only when needed
        text = json.dumps(figure, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        text = json.dumps(clean(figure), allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in _UNSAFE.items():
        text = text.replace(raw, escaped)
    return text


@dataclass(frozen=True)
class Chart:
    """A figure with the id of the element it is drawn in; ``{{ chart }}`` in a template embeds it."""

    id: str
    figure: Figure
    css: str = "chart"

    @property
    def points(self) -> int:
        """How many points recops.js will report drawn (the sum of its traces' x, z or values)."""
        return points_of(self.figure)

    def __html__(self) -> str:
        chart_id = escape(self.id)
        return (
            f'<div id="{chart_id}" class="{escape(self.css)}"></div>'
            f'<script type="application/json" data-chart="{chart_id}">{to_script_json(self.figure)}</script>'
        )


def points_of(figure: Mapping[str, Any]) -> int:
    """The count recops.js sets as ``data-drawn``: per trace, its x (or z, or values) length."""
    total = 0
    for trace in figure.get("data", []):
        for key in ("x", "z", "values"):  # the first present, as recops.js reads it
            if trace.get(key) is not None:
                total += len(trace[key])
                break
    return total


def figure(data: Sequence[Mapping[str, Any]], layout: Mapping[str, Any], *, static: bool = False) -> Figure:
    """A figure dict; ``static`` draws it without hover or zoom (sparklines)."""
    config = {**_CONFIG, "staticPlot": True} if static else dict(_CONFIG)
    return {"data": [dict(t) for t in data], "layout": dict(layout), "config": config}


def base_layout(*, title: str = "", unit: str = "", height: int = 280) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 13}, "x": 0.01} if title else None,
        "height": height,
        "margin": {"l": 50, "r": 16, "t": 30 if title else 10, "b": 36},
        "xaxis": {"type": "date", "automargin": True},
        "yaxis": {"title": {"text": unit}, "automargin": True, "zeroline": False},
        "legend": {"orientation": "h", "y": -0.2, "font": {"size": 11}},
        "hovermode": "x unified",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "shapes": [],
        "annotations": [],
    }


def line_trace(
    x: Sequence[str], y: Sequence[float | None], *, name: str, color: str = ACCENT, dash: str | None = None
) -> dict[str, Any]:
    line: dict[str, Any] = {"color": color, "width": 1.6}
    if dash:
        line["dash"] = dash
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": list(x),
        "y": list(y),
        "line": line,
        "connectgaps": False,
    }


def band_traces(
    x: Sequence[str],
    low: Sequence[float | None],
    high: Sequence[float | None],
    *,
    name: str,
    color: str = INFO,
) -> list[dict[str, Any]]:
    """A shaded band between ``low`` and ``high`` (two traces: the second fills to the first)."""
    edge = {"width": 0, "color": color}
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": list(x),
            "y": list(low),
            "line": edge,
            "name": name,
            "showlegend": False,
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": list(x),
            "y": list(high),
            "line": edge,
            "name": name,
            "fill": "tonexty",
            "fillcolor": "rgba(11,92,173,0.12)",
            "hoverinfo": "skip",
        },
    ]


def marker_trace(
    x: Sequence[str], y: Sequence[float | None], text: Sequence[str], *, name: str, color: str = BAD
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": list(x),
        "y": list(y),
        "text": list(text),
        "hovertemplate": "%{text}<extra></extra>",
        "marker": {"color": color, "size": 9, "symbol": "triangle-up", "line": {"width": 1, "color": "#fff"}},
    }


def _hline(level: float, *, color: str, width: float, dash: str) -> dict[str, Any]:
    """A horizontal line across the whole plot width at ``level``."""
    line = {"color": color, "width": width, "dash": dash}
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": level, "y1": level, "line": line}


def level_line(
    layout: dict[str, Any], level: float, label: str, *, color: str = BAD, dash: str = "dash"
) -> None:
    """A horizontal line across the plot at ``level`` (a threshold or an SLO), labelled."""
    layout["shapes"].append(_hline(level, color=color, width=1.2, dash=dash))
    layout["annotations"].append(
        {
            "xref": "paper",
            "x": 1,
            "y": level,
            "xanchor": "right",
            "yanchor": "bottom",
            "text": label,
            "showarrow": False,
            "font": {"size": 10, "color": color},
        }
    )


def forecast_trace(
    start: tuple[str, float],
    end: tuple[str, float],
    *,
    text: str,
    low: str | None = None,
    high: str | None = None,
) -> dict[str, Any]:
    """A dotted segment from the trend's fitted value now to its forecast crossing.

    ``low``/``high`` (times) become a horizontal error bar around the crossing: the
    interval the trend detector gives for when it happens.
    """
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "lines+markers",
        "name": "forecast",
        "x": [start[0], end[0]],
        "y": [start[1], end[1]],
        "text": ["fitted now", text],
        "hovertemplate": "%{text}<extra></extra>",
        "line": {"color": WARN, "dash": "dot", "width": 1.6},
        "marker": {"size": [0, 8], "color": WARN},
    }
    if low is not None and high is not None:
        trace["customdata"] = [[None, None], [low, high]]
        trace["text"] = ["fitted now", f"{text} (between {low} and {high})"]
    return trace


def sparkline(
    x: Sequence[str], y: Sequence[float | None], *, color: str = ACCENT, level: float | None = None
) -> Figure:
    """A 60-pixel line with no axes: the shape of a series at a glance (a static plot)."""
    layout: dict[str, Any] = {
        "height": 60,
        "margin": {"l": 2, "r": 2, "t": 2, "b": 2},
        "showlegend": False,
        "xaxis": {"visible": False, "type": "date"},
        "yaxis": {"visible": False},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "shapes": [],
    }
    if level is not None:
        layout["shapes"].append(_hline(level, color=BAD, width=1, dash="dot"))
    trace = line_trace(x, y, name="", color=color)
    trace["fill"] = "tozeroy"
    trace["fillcolor"] = "rgba(59,76,202,0.08)"
    return figure([trace], layout, static=True)


def heatmap(
    x: Sequence[str],
    y: Sequence[str],
    z: Sequence[Sequence[float | None]],
    *,
    title: str = "",
    colorbar: str = "",
    zmid: float | None = None,
    height: int | None = None,
) -> Figure:
    """Rows ``y`` by columns ``x``; ``zmid`` centers a diverging scale on a line (drift ratio 1)."""
    trace: dict[str, Any] = {
        "type": "heatmap",
        "x": list(x),
        "y": list(y),
        "z": [list(r) for r in z],
        "colorscale": [[0, "#f4f6fb"], [0.5, "#f5c26b"], [1, "#c62828"]],
        "colorbar": {"title": {"text": colorbar}},
        "hovertemplate": "%{y}<br>%{x}<br>%{z:.3g}<extra></extra>",
        "xgap": 1,
        "ygap": 1,
    }
    if zmid is not None:
        trace["zmin"], trace["zmax"] = 0.0, 2 * zmid
    layout = base_layout(title=title, height=height or max(220, 40 + 22 * len(y)))
    layout["yaxis"] = {"automargin": True, "type": "category"}
    layout["hovermode"] = "closest"
    return figure([trace], layout)


def bar_chart(
    x: Sequence[str],
    bars: Iterable[tuple[str, Sequence[float | None], str]],
    *,
    title: str = "",
    unit: str = "",
    height: int = 260,
) -> Figure:
    """Grouped bars: ``bars`` is (name, values, color) per series over the categories ``x``."""
    data = [
        {"type": "bar", "name": name, "x": list(x), "y": list(values), "marker": {"color": color}}
        for name, values, color in bars
    ]
    layout = base_layout(title=title, unit=unit, height=height)
    layout["xaxis"] = {"type": "category", "automargin": True}
    layout["barmode"] = "group"
    layout["hovermode"] = "closest"
    return figure(data, layout)
