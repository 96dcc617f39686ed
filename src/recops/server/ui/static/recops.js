// recops dashboard: a little JS of our own (no framework). Charts are Plotly figures whose
// JSON the server embeds in <script type="application/json" data-chart="ID"> blocks.
(function () {
  "use strict";
  const drawn = [];
  function draw(el) {
    const target = document.getElementById(el.dataset.chart);
    if (!target || !window.Plotly || target.dataset.drawing) return;
    target.dataset.drawing = "1";
    const spec = JSON.parse(el.textContent);
    const config = Object.assign({ displaylogo: false, responsive: true }, spec.config || {});
    window.Plotly.newPlot(target, spec.data || [], spec.layout || {}, config).then(function () {
      target.dataset.drawn = String((spec.data || []).reduce(function (n, t) {
        return n + ((t.x || t.z || t.values || []).length || 0);
      }, 0));
      drawn.push(target.id);
    });
  }
  function drawAll(root) {
    root.querySelectorAll("script[type='application/json'][data-chart]").forEach(draw);
  }
  // Plotly may be included after this script (or deferred): draw again once the page
  // and every script have loaded; charts already drawn are skipped.
  window.addEventListener("load", function () { drawAll(document); });
  // htmx swaps in fragments with charts: draw those too.
  document.addEventListener("htmx:afterSwap", function (ev) { drawAll(ev.target || document); });
  // Forms marked data-confirm ask before an operator action (promote, rollback...).
  document.addEventListener("submit", function (ev) {
    const msg = ev.target.dataset && ev.target.dataset.confirm;
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
  window.recops = { drawAll: drawAll, drawn: drawn };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  } else {
    drawAll(document);
  }
})();
