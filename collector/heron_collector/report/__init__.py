"""`heron report`: one self-contained HTML file about a model version over a period.

Built from the views' window-level rows (queries.py), so its size follows the number of windows
and features, not of predictions; drawn offline with the vendored uPlot (render.py). The entry
point is `write`, which the CLI and the demo call.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from typing import Any

from ..settings import HERON_DATABASE
from . import queries, render
from .period import PeriodError, parse_since
from .queries import ReportError

__all__ = ["PeriodError", "ReportError", "build", "parse_since", "write"]


def _matrix(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """ml_drift rows as the heat map's grid: one row per feature/output, one column per window."""
    times = sorted({r["t"] for r in rows})
    col = {t: j for j, t in enumerate(times)}
    keys: dict[tuple[str, str], int] = {}
    grid_rows: list[dict[str, Any]] = []
    for r in rows:
        if (r["role"], r["feature"]) not in keys:
            keys[(r["role"], r["feature"])] = len(grid_rows)
            name = r["feature"] if r["role"] == "feature" else f"[{r['role']}]"
            grid_rows.append({"name": name, "role": r["role"], "method": r["method"], "threshold": r["threshold"]})
    severity = [[None] * len(times) for _ in grid_rows]
    statistic = [[None] * len(times) for _ in grid_rows]
    drifted = [[0] * len(times) for _ in grid_rows]
    for r in rows:
        i, j = keys[(r["role"], r["feature"])], col[r["t"]]
        severity[i][j] = _severity(r)
        statistic[i][j] = r["statistic"] if r["method"] not in ("ks", "chi2") or r["p"] is None else r["p"]
        drifted[i][j] = int(r["drifted"])
    return {"rows": grid_rows, "times": times, "severity": severity, "statistic": statistic, "drifted": drifted}


def _severity(row: dict[str, Any]) -> float | None:
    """Statistic ÷ threshold, or for the p-value methods α ÷ p (both > 1 past the threshold)."""
    if row["method"] in ("ks", "chi2"):
        return None if row["p"] is None else min(row["threshold"] / max(row["p"], 1e-12), 1e3)
    return row["statistic"] / row["threshold"] if row["threshold"] else None


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {name: [r[name] for r in rows] for name in names}


def build(source: Any, model: str, version: str | None = None, since: str | dt.datetime = "7d",
          database: str | None = None, now: dt.datetime | None = None) -> tuple[str, dict[str, Any]]:
    """The report's HTML for `model` (its newest version unless `version`) since `since`.

    `source` is a clickhouse-connect client or a heron_collector.access Direct/Remote; only
    read-only SELECTs are run. Raises ReportError / PeriodError for an unknown model or version
    or a bad `since`. Returns (html, stats: version, windows, drift rows, distributions, alerts)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    start = parse_since(since, now)
    r = queries.Reader(source, database or HERON_DATABASE.default)
    version, versions = queries.resolve_version(r, model, version)
    drift_rows = queries.drift(r, model, version, start)
    dists = []
    for worst in queries.worst_features(drift_rows):
        d = queries.distribution(r, model, version, worst["feature"], (worst["t"], worst["t_end"]))
        if d is not None:
            dists.append({**d, "method": worst["method"],
                          "statistic": worst["statistic"] if worst["method"] not in ("ks", "chi2") else worst["p"]})
    perf = queries.performance(r, model, version, start)
    band = next(iter(perf["baseline"]), None)
    sla = queries.sla(r, model, version, start)
    multivariate = queries.multivariate(r, model, version, start)
    alerts = queries.alerts(r, model, version, start)
    times = [t for rows in (drift_rows, multivariate, perf["rows"], sla, alerts) for t in (row["t"] for row in rows)]
    data = {
        "model": model, "version": version,
        "range": [min(times), max(times)] if times else None,
        "drift": _matrix(drift_rows),
        "distributions": dists,
        "multivariate": _columns(multivariate, ["t", "error", "lower", "upper", "drifted"]),
        "performance": {"metric": perf["metric"], "band": band,
                        **_columns(perf["rows"], ["t", "realised", "estimated", "labelled", "predictions",
                                                   *(["lower", "upper"] if band else [])])},
        "sla": {**_columns(sla, ["t", "p50", "p95", "p99", "calls", "errors", "status"]),
                "slo_p99": [row["slo_p99_ms"] or None for row in sla],
                "error_pct": [None if row["error_rate"] is None else 100 * row["error_rate"] for row in sla]},
        "alerts": [{k: a[k] for k in ("t", "rule", "subject", "severity", "state", "value")} for a in alerts],
    }
    counts = queries.counts(r, model, version, start)
    tables = {
        "MODEL_TABLE": render.model_table(version, versions, queries.model_info(r, model), counts),
        "QUALITY_TABLE": render.quality_table(queries.data_quality(r, model, version, start)),
        "ALERT_TABLE": render.alert_table(alerts),
    }
    period = f"{start:%Y-%m-%d %H:%M} – {now:%Y-%m-%d %H:%M} UTC · version {version}"
    footer = (f"Generated by heron {render.__version__} at {now:%Y-%m-%d %H:%M:%S} UTC from the views of database "
              f"{r.db}; charts by uPlot {render.UPLOT_VERSION} (MIT). Aggregates only: no prediction rows.")
    stats = {"version": version, "since": start.isoformat(), "windows": len(data["drift"]["times"]),
             "drift_rows": len(data["drift"]["rows"]), "distributions": len(dists), "alerts": len(alerts),
             "predictions": counts["predictions"]}
    return render.page(f"Heron report: {model}", period, data, tables, footer), stats


def write(source: Any, model: str, version: str | None, since: str | dt.datetime, path: str,
          database: str | None = None) -> dict[str, Any]:
    """Build the report and write it to `path` atomically; returns what went in it:
    build's stats with the file's `path` and `bytes`."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ReportError(f"-o {path}: the directory {directory} does not exist; create it or write elsewhere")
    text, stats = build(source, model, version, since, database)
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=".heron-report-", suffix=".html", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {**stats, "path": os.path.abspath(path), "bytes": len(data)}
