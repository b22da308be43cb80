// Heron report: draws the charts from the JSON in #heron-data (aggregates of the views, no raw
// rows) with the vendored uPlot. Names reach the page only through textContent and canvas text,
// never as markup. When done it writes {charts: {name: points}, errors: [...]} into #heron-result
// and window.heronCharts, which the tests read from the rendered DOM.
(function () {
  "use strict";
  var errors = [];
  var charts = {};
  var oldError = console.error;
  console.error = function () {
    errors.push(Array.prototype.map.call(arguments, String).join(" "));
    oldError.apply(console, arguments);
  };
  window.addEventListener("error", function (e) { errors.push("error: " + e.message); });
  document.addEventListener("securitypolicyviolation", function (e) {
    errors.push("blocked by the page's policy: " + e.violatedDirective + " " + (e.blockedURI || ""));
  });

  var data = JSON.parse(document.getElementById("heron-data").textContent);
  var COLORS = { realised: "#1f77b4", estimated: "#ff7f0e", band: "rgba(44,160,44,0.15)", count: "rgba(120,120,120,0.35)",
                 p50: "#2ca02c", p95: "#ff7f0e", p99: "#d62728", slo: "#7f7f7f", errors: "#9467bd",
                 reference: "rgba(120,120,120,0.55)", current: "rgba(214,39,40,0.75)", alert: "rgba(214,39,40,0.7)" };
  var WIDTH = Math.min(1300, Math.max(600, document.body.clientWidth - 40));
  var SYNC = uPlot.sync("heron-time");
  var utc = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); };
  var firing = (data.alerts || []).filter(function (a) { return a.state === "firing"; }).map(function (a) { return a.t; });

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(v, digits) { return v === null || v === undefined ? "–" : Number(v).toPrecision(digits || 3); }
  function when(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC"; }
  function count(series) {  // points that carry a value
    var n = 0;
    series.forEach(function (s) { s.forEach(function (v) { if (v !== null && v !== undefined) n++; }); });
    return n;
  }
  function empty(target, text) { target.appendChild(el("p", { "class": "empty" }, text)); }

  // Firing alerts as dashed vertical lines on every time chart.
  function alertMarkers() {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
      ctx.save();
      ctx.strokeStyle = COLORS.alert;
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash([5, 4]);
      firing.forEach(function (t) {
        var x = u.valToPos(t, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      });
      ctx.restore();
    }] } };
  }

  function timeChart(name, target, title, xs, series, extra) {
    var opts = Object.assign({
      title: title, width: WIDTH, height: 260, tzDate: utc, cursor: { sync: { key: SYNC.key } },
      scales: { x: xScale() }, plugins: [alertMarkers()],
      series: [{ label: "window (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" }].concat(series.map(function (s) { return s.opts; })),
      axes: [{}, { label: (extra && extra.yLabel) || "" }]
    }, (extra && extra.opts) || {});
    new uPlot(opts, [xs].concat(series.map(function (s) { return s.values; })), target);
    charts[name] = count(series.filter(function (s) { return !s.helper; }).map(function (s) { return s.values; }));
  }

  // every time chart spans the same range, so they line up (and their cursors are synced)
  function xScale() {
    var r = data.range, pad = r ? Math.max(1, (r[1] - r[0]) * 0.02) : 0;
    return r ? { time: true, range: [r[0] - pad, r[1] + pad] } : { time: true };
  }

  function line(label, stroke, values, more) {
    return { opts: Object.assign({ label: label, stroke: stroke, width: 2, spanGaps: false, points: { size: 5 } }, more || {}),
             values: values };
  }

  // --- drift heat map: one SVG cell per feature and window -----------------------------------
  function heatmap(target) {
    var h = data.drift;
    if (!h.rows.length || !h.times.length) return empty(target, "No drift results in this period.");
    var label = 180, cw = Math.max(6, Math.min(48, Math.floor((WIDTH - label - 20) / h.times.length))), ch = 20;
    var width = Math.max(label + cw * h.times.length + 10, label + 5 * 70 + 260), height = 40 + ch * h.rows.length + 30;
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" });
    root.appendChild(svg("title", {}, "Drift per feature and window: statistic / threshold"));
    var every = Math.max(1, Math.ceil(110 / cw));
    var step = h.times.length > 1 ? h.times[1] - h.times[0] : 3600;
    h.times.forEach(function (t, j) {
      if (j % every) return;
      var tick = svg("text", { x: label + j * cw + 2, y: 30, "class": "tick" }, when(t).slice(5, step < 60 ? 19 : 16));
      root.appendChild(tick);
    });
    var cells = 0;
    h.rows.forEach(function (row, i) {
      var y = 40 + i * ch;
      var name = row.name.length > 26 ? row.name.slice(0, 25) + "…" : row.name;
      var text = svg("text", { x: label - 6, y: y + 14, "text-anchor": "end", "class": "row" }, name);
      text.appendChild(svg("title", {}, row.name + " (" + row.role + ", " + row.method + ")"));
      root.appendChild(text);
      h.times.forEach(function (t, j) {
        var s = h.severity[i][j];
        if (s === null) return;
        var drifted = h.drifted[i][j] === 1;
        var rect = svg("rect", { x: label + j * cw, y: y, width: cw - 1, height: ch - 1, fill: heat(s),
                                 "class": drifted && cw >= 10 ? "cell drifted" : "cell" });
        rect.appendChild(svg("title", {}, row.name + " · " + when(t) + "\n" + row.method + " = " + fmt(h.statistic[i][j]) +
                              " (threshold " + fmt(row.threshold) + ")" + (drifted ? " · drifted" : "")));
        root.appendChild(rect);
        cells++;
      });
    });
    var legend = 40 + ch * h.rows.length + 20;
    [0.25, 0.5, 1, 2, 4].forEach(function (s, k) {
      root.appendChild(svg("rect", { x: label + k * 70, y: legend - 10, width: 14, height: 12, fill: heat(s) }));
      root.appendChild(svg("text", { x: label + k * 70 + 18, y: legend, "class": "tick" }, "×" + s));
    });
    root.appendChild(svg("text", { x: label + 5 * 70 + 10, y: legend, "class": "tick" }, cw >= 10 ? "of the threshold; outlined = drifted" : "of the threshold"));
    target.appendChild(root);
    charts.drift_heatmap = cells;
  }

  // severity (statistic / threshold) → colour: pale below the threshold, orange to dark red above
  function heat(s) {
    var x = Math.max(0, Math.min(1, (Math.log2(Math.max(s, 1 / 16)) + 4) / 6));  // 1/16 … 4 → 0 … 1
    var stops = [[247, 251, 255], [198, 219, 239], [255, 237, 160], [253, 141, 60], [189, 0, 38]];
    var at = x * (stops.length - 1), k = Math.min(stops.length - 2, Math.floor(at)), f = at - k;
    var c = stops[k].map(function (v, i) { return Math.round(v + f * (stops[k + 1][i] - v)); });
    return "rgb(" + c.join(",") + ")";
  }

  // --- distributions of the worst features against the reference -----------------------------
  function distributions(target) {
    if (!data.distributions.length) return empty(target, "No feature has a reference distribution to compare.");
    data.distributions.forEach(function (d, k) {
      var box = el("div", { "class": "dist" });
      target.appendChild(box);
      var labels = d.type === "numeric" ? binLabels(d.edges) : d.categories;
      var share = function (xs) {
        var total = xs.reduce(function (a, b) { return a + b; }, 0) || 1;
        return xs.map(function (v) { return v / total; });
      };
      var xs = labels.map(function (_, i) { return i; });
      var every = Math.max(1, Math.ceil(labels.length / 8));
      var bars = function (align) { return uPlot.paths.bars({ size: [0.42, 60], align: align }); };
      new uPlot({
        title: d.feature + " — " + d.method + " " + fmt(d.statistic) + " in the window of " + when(d.t),
        width: Math.floor((WIDTH - 20) / 2), height: 240, legend: { live: false },
        scales: { x: { time: false, range: [-0.6, labels.length - 0.4] }, y: { range: [0, null] } },
        series: [{ label: d.type === "numeric" ? "bin" : "category", value: function (u, i) { return i === null ? "–" : labels[i]; } },
                 { label: "reference", fill: COLORS.reference, stroke: COLORS.reference, paths: bars(-1), points: { show: false } },
                 { label: "window", fill: COLORS.current, stroke: COLORS.current, paths: bars(1), points: { show: false } }],
        axes: [{ splits: function () { return xs.filter(function (i) { return i % every === 0; }); },
                 values: function (u, splits) { return splits.map(function (i) { return short(labels[i]); }); } },
               { label: "share of values", values: function (u, s) { return s.map(function (v) { return Math.round(v * 100) + " %"; }); } }]
      }, [xs, share(d.reference), share(d.current)], box);
      charts["distribution_" + (k + 1)] = xs.length;
    });
  }

  function binLabels(edges) {
    var out = ["< " + fmt(edges[0])];
    for (var i = 1; i < edges.length; i++) out.push("≥ " + fmt(edges[i - 1]));
    out.push("≥ " + fmt(edges[edges.length - 1]));
    return out;
  }
  function short(s, n) {
    n = n || 14;
    s = String(s === undefined ? "" : s);
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  // --- the time charts -------------------------------------------------------------------------
  function multivariate(target) {
    var m = data.multivariate;
    if (!m.t.length) return empty(target, "No multivariate drift results (the reference has no PCA fit, or no window).");
    timeChart("multivariate_drift", target, "PCA reconstruction error per window, with the reference band", m.t, [
      line("reconstruction error", COLORS.realised, m.error),
      line("upper", "rgba(44,160,44,0.8)", m.upper, { width: 1, dash: [4, 4], points: { show: false } }),
      line("lower", "rgba(44,160,44,0.8)", m.lower, { width: 1, dash: [4, 4], points: { show: false } })
    ].map(function (s, i) { if (i) s.helper = true; return s; }),
    { yLabel: "mean error", opts: { bands: [{ series: [2, 3], fill: COLORS.band }] } });
  }

  function performance(target) {
    var p = data.performance;
    if (!p.metric || !p.t.length) return empty(target, "No performance results in this period.");
    var series = [line("realised " + p.metric, COLORS.realised, p.realised),
                  line("estimated " + p.metric + " (CBPE)", COLORS.estimated, p.estimated, { dash: [6, 3] }),
                  { opts: { label: "labelled predictions", scale: "n", stroke: COLORS.count, fill: COLORS.count,
                            paths: uPlot.paths.bars({ size: [0.5, 40] }), points: { show: false } }, values: p.labelled, helper: true }];
    var opts = { axes: [{}, { label: p.metric }, { scale: "n", side: 1, label: "labelled", grid: { show: false } }],
                 scales: { x: xScale(), n: { range: function (u, min, max) { return [0, Math.max(1, max) * 3]; } } } };
    if (p.band) {
      series.push(line("baseline upper", "rgba(44,160,44,0.8)", p.upper, { width: 1, points: { show: false } }));
      series.push(line("baseline lower", "rgba(44,160,44,0.8)", p.lower, { width: 1, points: { show: false } }));
      series[3].helper = series[4].helper = true;
      opts.bands = [{ series: [4, 5], fill: COLORS.band }];
    }
    timeChart("performance", target, p.metric + ": realised (labels) vs estimated (CBPE)" +
              (p.band ? ", baseline band of " + p.band.kind + " (" + p.band.source + ")" : ""), p.t, series, { opts: opts });
  }

  function latency(target) {
    var s = data.sla;
    if (!s.t.length) return empty(target, "No heron.predict spans in this period.");
    timeChart("latency", target, "Latency percentiles (ms) and error rate per window", s.t, [
      line("p50 ms", COLORS.p50, s.p50), line("p95 ms", COLORS.p95, s.p95), line("p99 ms", COLORS.p99, s.p99),
      Object.assign(line("SLO p99 ms", COLORS.slo, s.slo_p99, { width: 1, dash: [4, 4], points: { show: false } }), { helper: true }),
      line("error rate %", COLORS.errors, s.error_pct, { scale: "pct", width: 1.5 })
    ], { opts: { axes: [{}, { label: "ms" }, { scale: "pct", side: 1, label: "errors %", grid: { show: false } }],
                 scales: { x: xScale(), pct: { range: [0, 100] } } } });
  }

  function alertTimeline(target) {
    var a = data.alerts;
    if (!a.length) return;  // the table below says so
    var rules = [];
    a.forEach(function (x) { var key = x.rule + (x.subject ? " · " + x.subject : ""); if (rules.indexOf(key) < 0) rules.push(key); });
    var states = ["pending", "firing", "recovering", "resolved", "inactive"];
    var colors = { pending: "#ffbb78", firing: "#d62728", recovering: "#98df8a", resolved: "#2ca02c", inactive: "#c7c7c7" };
    var xs = a.map(function (x) { return x.t; });
    var series = states.map(function (st) {
      return { opts: { label: st, stroke: colors[st], fill: colors[st], paths: function () { return null; },
                       points: { show: true, size: 10, fill: colors[st] } },
               values: a.map(function (x) { return x.state === st ? rules.indexOf(x.rule + (x.subject ? " · " + x.subject : "")) : null; }) };
    });
    timeChart("alerts", target, "Alert transitions (dashed lines on the other charts: firing)", xs, series, { opts: {
      height: Math.max(160, 60 + 26 * rules.length),
      scales: { x: xScale(), y: { range: [-0.7, rules.length - 0.3] } },
      axes: [{}, { size: 240, splits: function () { return rules.map(function (_, i) { return i; }); },
                   values: function (u, splits) { return splits.map(function (i) { return short(rules[i] || "", 34); }); } }]
    } });
  }

  var parts = [["heatmap", heatmap], ["distributions", distributions], ["multivariate", multivariate],
               ["performance", performance], ["latency", latency], ["alert-timeline", alertTimeline]];
  parts.forEach(function (p) {
    try { p[1](document.getElementById(p[0])); } catch (e) { console.error("chart " + p[0] + ": " + (e && e.stack || e)); }
  });
  window.heronCharts = charts;
  document.getElementById("heron-result").textContent = JSON.stringify({ charts: charts, errors: errors });
})();
