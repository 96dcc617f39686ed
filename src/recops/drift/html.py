"""A self-contained HTML drift report: one file, inline SVG plots, no scripts from anywhere.

Plots are drawn here as SVG from the counts (each window's CDF over the reference's
1st–99th percentile range and its share per reference decile for numeric columns; the
shares of the top categories for categorical ones), so the page is a few hundred KB at
50 columns and opens instantly: Plotly's bundle alone would be 4.8 MB (decision 0023).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recops import __version__
from recops.drift.counts import NUMERIC, FloatArray
from recops.drift.report import ColumnResult, DriftReport
from recops.drift.rules import DRIFT, INSUFFICIENT, MISSING, NO_DRIFT
from recops.drift.stats.base import ColumnPair

REF_COLOR = "#4c78a8"
CUR_COLOR = "#f58518"
WIDTH, HEIGHT = 360, 170
PAD_L, PAD_R, PAD_T, PAD_B = 38, 8, 8, 22
ORDER = {DRIFT: 0, MISSING: 1, INSUFFICIENT: 2, NO_DRIFT: 3}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;
max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .muted{color:#59636e}
table{border-collapse:collapse;width:100%;margin:8px 0} th,td{padding:4px 8px;border-bottom:1px solid #d8dee4;
text-align:left;vertical-align:top} th{background:#f6f8fa;position:sticky;top:0} td.num{text-align:right;
font-variant-numeric:tabular-nums}
.v{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.v-drift,.v-missing{background:#ffebe9;color:#a40e26} .v-no-drift{background:#dafbe1;color:#116329}
.v-insufficient-data{background:#fff8c5;color:#7d4e00} .v-skipped{background:#eaeef2;color:#59636e}
details{border:1px solid #d8dee4;border-radius:6px;margin:8px 0;padding:6px 10px}
summary{cursor:pointer;font-weight:600} .plots{display:flex;flex-wrap:wrap;gap:16px;margin-top:8px}
.plots figure{margin:0} figcaption{font-size:12px;color:#59636e} .key span{margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
svg text{font:10px system-ui,sans-serif;fill:#59636e}
"""


def write_html(report: DriftReport, path: str | Path) -> Path:
    """Write the report as one self-contained HTML file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path


def render(report: DriftReport) -> str:
    columns = sorted(report.columns, key=lambda c: (ORDER.get(c.verdict, 9), -_ratio(c), c.column))
    summary = report.summary()
    ordered = sorted(summary["verdicts"].items(), key=lambda t: ORDER.get(t[0], 9))
    verdicts = ", ".join(f"{n} {v}" for v, n in ordered)
    segments = ""
    if report.segment_key:
        segments = (
            f" Drift inside segments of <b>{_e(report.segment_key)}</b>: {len(report.drifted_segments)}."
        )
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>recops drift: {_e(report.current)}</title><style>{CSS}</style></head><body>",
        "<h1>Drift report</h1>",
        f"<div class=muted>reference <b>{_e(report.reference)}</b> · current <b>{_e(report.current)}</b>"
        f" · {datetime.now(UTC).isoformat(timespec='seconds')} · recops {__version__}"
        f"{' · exact mode' if report.exact else ''}</div>",
        f"<p><b>{len(report.drifted)} of {len(report.columns)} columns drifted</b> "
        f"({_e(verdicts)}).{segments}</p>",
        "<div class='key muted'>"
        f"<span><i class=sw style='background:{REF_COLOR}'></i>reference</span>"
        f"<span><i class=sw style='background:{CUR_COLOR}'></i>current</span></div>",
        _table(columns),
    ]
    if report.segment_key:
        parts.append(_segments(report))
    parts.append("<h2>Columns</h2>")
    for column in columns:
        parts.append(_section(column, report.pairs.get(column.column)))
    if report.skipped or report.new_columns:
        parts.append("<h2>Not compared</h2><ul>")
        parts += [f"<li><b>{_e(n)}</b>: {_e(r)}</li>" for n, r in report.skipped.items()]
        parts += [f"<li><b>{_e(n)}</b>: only in the current window</li>" for n in report.new_columns]
        parts.append("</ul>")
    parts.append(_rules(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ratio(column: ColumnResult) -> float:
    if column.statistic is None or not column.threshold:
        return 0.0
    return column.statistic / column.threshold if math.isfinite(column.statistic) else math.inf


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "∞"
    return f"{value:.4g}"


def _badge(verdict: str) -> str:
    return f"<span class='v v-{verdict.replace(' ', '-')}'>{_e(verdict)}</span>"


def _anchor(name: str) -> str:
    return "col-" + "".join(ch if ch.isalnum() else "_" for ch in name)


def _nulls(column: ColumnResult) -> str:
    if not column.reference_rows and not column.current_rows:
        return ""
    ref = column.reference_missing / column.reference_rows if column.reference_rows else 0.0
    cur = column.current_missing / column.current_rows if column.current_rows else 0.0
    return f"{ref:.1%} → {cur:.1%}"


def _table(columns: Sequence[ColumnResult]) -> str:
    rows = [
        "<table><tr><th>column</th><th>kind</th><th>verdict</th><th>test</th><th>statistic</th>"
        "<th>threshold</th><th>nulls (ref → cur)</th><th>note</th></tr>"
    ]
    for c in columns:
        rows.append(
            f"<tr><td><a href='#{_anchor(c.column)}'>{_e(c.column)}</a></td><td>{c.kind}</td>"
            f"<td>{_badge(c.verdict)}</td><td>{_e(c.test or '')}</td><td class=num>{_fmt(c.statistic)}</td>"
            f"<td class=num>{_fmt(c.threshold)}</td><td class=num>{_nulls(c)}</td><td>{_e(c.note)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _segments(report: DriftReport) -> str:
    rows = [f"<h2>Segments of {_e(report.segment_key)}</h2>"]
    rows.append(
        "<table><tr><th>segment</th><th>rows (ref → cur)</th><th>drifted columns</th>"
        "<th>insufficient data</th></tr>"
    )
    for segment in report.segments:
        drifted = ", ".join(f"{_e(c.column)} ({_fmt(c.statistic)})" for c in segment.drifted) or "none"
        rows.append(
            f"<tr><td>{_e(segment.value)}</td><td class=num>{segment.reference_rows:,} → "
            f"{segment.current_rows:,}</td><td>{drifted}</td>"
            f"<td class=num>{len(segment.insufficient)}</td></tr>"
        )
    rows.append("</table>")
    if report.untracked_segment_rows:
        rows.append(f"<p class=muted>{report.untracked_segment_rows:,} current rows are in segments the "
                    "reference does not track.</p>")  # fmt: skip
    return "".join(rows)


def _section(column: ColumnResult, pair: ColumnPair | None) -> str:
    opened = " open" if column.drifted else ""
    head = (
        f"<details id='{_anchor(column.column)}'{opened}><summary>{_e(column.column)} "
        f"{_badge(column.verdict)} <span class=muted>{_e(column.test or '')} {_fmt(column.statistic)}"
        f"{' / ' + _fmt(column.threshold) if column.threshold else ''}</span></summary>"
    )
    body = [f"<p class=muted>{_e(column.note)}</p>" if column.note else ""]
    if column.results:
        cells = "".join(
            f"<tr><td>{_e(r.name)}{' *' if r.deciding else ''}</td><td class=num>{_fmt(r.value)}</td>"
            f"<td class=num>{_fmt(r.threshold)}</td><td>{_e(r.status)}</td>"
            f"<td class=num>{_fmt(r.noise)}</td></tr>"
            for r in column.results
        )
        body.append(
            "<table style='width:auto'><tr><th>test (* decides)</th><th>statistic</th><th>threshold</th>"
            f"<th>status</th><th>no-drift noise</th></tr>{cells}</table>"
        )
    if pair is not None:
        body.append("<div class=plots>" + "".join(_plots(pair)) + "</div>")
        body.append(_new_values(pair))
    return head + "".join(body) + "</details>"


def _plots(pair: ColumnPair) -> list[str]:
    if pair.kind == NUMERIC:
        return [_cdf_plot(pair), _bars(pair, "share per reference decile")]
    return [_bars(pair, "share per category (top values, other, null)", horizontal=True)]


def _new_values(pair: ColumnPair) -> str:
    """The current window's most frequent values the reference does not track (from its sketch)."""
    if pair.kind == NUMERIC:
        return ""
    from recops.drift import sketches

    binning, _ref, cur = pair.categorical
    total = cur.rows or 1
    tracked = set(binning.categories)
    new = [(v, n) for v, n in sketches.frequent_top(cur.frequent, len(tracked) + 5) if v not in tracked][:5]
    if not new:
        return ""
    listed = ", ".join(f"{_e(v)} ({n / total:.1%})" for v, n in new)
    return f"<p class=muted>Most frequent current values outside the reference's top values: {listed}</p>"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _cdf_plot(pair: ColumnPair) -> str:
    binning, ref, cur = pair.numeric
    edges = binning.edges
    if not len(edges) or not ref.values or not cur.values:
        return _figure(_empty_svg(), "no values to plot")
    lo, hi = float(edges[0]), float(edges[-1])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    f_ref = np.cumsum(ref.counts)[:-1] / ref.values
    f_cur = np.cumsum(cur.counts)[:-1] / cur.values
    if len(edges) > 200:  # exact mode: one edge per distinct value; 200 points draw the same curve
        pick = np.unique(np.linspace(0, len(edges) - 1, 200).astype(int))
        edges, f_ref, f_cur = edges[pick], f_ref[pick], f_cur[pick]
    x = _scale(edges, lo, hi, PAD_L, WIDTH - PAD_R)
    lines = [
        _polyline(x, HEIGHT - PAD_B - f * (HEIGHT - PAD_T - PAD_B), color)
        for f, color in ((f_ref, REF_COLOR), (f_cur, CUR_COLOR))
    ]
    axes = _axes(f"{lo:.4g}", f"{hi:.4g}", "1", "0")
    svg = _svg(axes + "".join(lines))
    return _figure(svg, "CDF over the reference's 1st–99th percentile")


def _bars(pair: ColumnPair, caption: str, horizontal: bool = False) -> str:
    p, q, labels = pair.histogram()
    p = p / p.sum() if p.sum() else p
    q = q / q.sum() if q.sum() else q
    if horizontal:
        return _figure(_hbars(p, q, labels), caption)
    top = max(float(np.max(p)), float(np.max(q)), 1e-9)
    n = len(p)
    slot = (WIDTH - PAD_L - PAD_R) / max(n, 1)
    bar = slot * 0.4
    base = HEIGHT - PAD_B
    span = HEIGHT - PAD_T - PAD_B
    rects = []
    for i in range(n):
        x0 = PAD_L + i * slot + slot * 0.1
        for j, (share, color) in enumerate(((p[i], REF_COLOR), (q[i], CUR_COLOR))):
            h = share / top * span
            rects.append(
                f"<rect x='{x0 + j * bar:.1f}' y='{base - h:.1f}' width='{bar:.1f}' height='{h:.1f}' "
                f"fill='{color}'><title>{_e(labels[i])}: {share:.2%}</title></rect>"
            )
    svg = _svg(_axes("D1", f"D{n}", f"{top:.0%}", "0") + "".join(rects))
    return _figure(svg, caption)


def _hbars(p: FloatArray, q: FloatArray, labels: Sequence[str]) -> str:
    row = 16
    label_w = 110
    width = WIDTH + 60
    height = PAD_T + row * len(labels) + 4
    top = max(float(np.max(p)) if len(p) else 0.0, float(np.max(q)) if len(q) else 0.0, 1e-9)
    span = width - label_w - 50
    items = []
    for i, label in enumerate(labels):
        y = PAD_T + i * row
        short = label if len(label) <= 16 else label[:15] + "…"
        items.append(f"<text x='{label_w - 4}' y='{y + 11}' text-anchor='end'>{_e(short)}</text>")
        for j, (share, color) in enumerate(((p[i], REF_COLOR), (q[i], CUR_COLOR))):
            w = share / top * span
            items.append(
                f"<rect x='{label_w}' y='{y + 1 + j * 7}' width='{w:.1f}' height='6' fill='{color}'>"
                f"<title>{_e(label)}: {share:.2%}</title></rect>"
            )
        end = label_w + 4 + max(p[i], q[i]) / top * span
        items.append(f"<text x='{end:.1f}' y='{y + 11}'>{q[i]:.1%}</text>")
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>{''.join(items)}</svg>"


def _scale(values: FloatArray, lo: float, hi: float, a: float, b: float) -> FloatArray:
    return np.asarray(a + (np.clip(values, lo, hi) - lo) / (hi - lo) * (b - a))


def _polyline(x: FloatArray, y: FloatArray, color: str) -> str:
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
    return f"<polyline fill='none' stroke='{color}' stroke-width='1.6' points='{points}'/>"


def _axes(x_lo: str, x_hi: str, y_hi: str, y_lo: str) -> str:
    base = HEIGHT - PAD_B
    return (
        f"<line x1='{PAD_L}' y1='{base}' x2='{WIDTH - PAD_R}' y2='{base}' stroke='#d0d7de'/>"
        f"<line x1='{PAD_L}' y1='{PAD_T}' x2='{PAD_L}' y2='{base}' stroke='#d0d7de'/>"
        f"<text x='{PAD_L}' y='{HEIGHT - 6}'>{_e(x_lo)}</text>"
        f"<text x='{WIDTH - PAD_R}' y='{HEIGHT - 6}' text-anchor='end'>{_e(x_hi)}</text>"
        f"<text x='{PAD_L - 4}' y='{PAD_T + 8}' text-anchor='end'>{_e(y_hi)}</text>"
        f"<text x='{PAD_L - 4}' y='{base}' text-anchor='end'>{_e(y_lo)}</text>"
    )


def _svg(body: str) -> str:
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}'>{body}</svg>"


def _empty_svg() -> str:
    return _svg("")


def _rules(report: DriftReport) -> str:
    rules = report.rules.to_dict()
    tests = ", ".join(f"{kind}: {name}" for kind, name in rules["tests"].items())
    thresholds = ", ".join(f"{name} {value:g}" for name, value in rules["thresholds"].items())
    return (
        "<h2>Rules</h2><p class=muted>"
        f"Deciding tests: {_e(tests)}, and null_rate for every column. Thresholds: {_e(thresholds)}. "
        f"A test reports insufficient data with fewer than {rules['min_values']} values per window or when "
        f"its no-drift noise reaches {rules['noise_ratio']:g} × its threshold. Categorical columns track the "
        f"top {rules['top_k']} reference values. See docs/drift.md.</p>"
    )
