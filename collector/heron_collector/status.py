"""`heron status`: every model at a glance, read from the views in two queries.

The newest figures come from ml_model_health (queries/views/70_model_health.sql), the view
/metrics exposes too, so the terminal and Prometheus agree: the drift verdicts of the newest
drift window, each metric realised and estimated (CBPE) in its newest window, p99 latency and
error rate of the newest window with calls, and the alerts firing (recovering counts: its
`keep_firing_for` has not run out). The second query adds what that view leaves out: every model
version registered or predicting, the severity of its firing alerts (health: critical, warning or
ok), the baseline means, and when the newest prediction and label arrived. The headline metric
is the first of `HEADLINE_METRICS` the model has.

Both statements are read-only, so they run through the admin endpoint's read-only session as
well as on a store opened directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .migrations import identifier

HEADLINE_METRICS = ("accuracy", "rmse", "mae", "r2", "roc_auc")
TOP_FEATURES = 3  # drifted feature names shown; the count says how many more

COLUMNS = ("model", "version", "health", "alerts", "drifted", "metric", "realised", "estimated", "baseline",
           "p99 ms", "errors", "last prediction", "last label")

HEALTH_SQL = "SELECT model_name, model_version, figure, subject, detail, value FROM {db}.ml_model_health"

MODELS_SQL = """
WITH
models AS (  -- every model version seen: registered, or sending predictions
    SELECT model_name, model_version FROM {db}.ml_models FINAL
    UNION DISTINCT
    SELECT DISTINCT model_name, model_version FROM {db}.ml_predictions
),
critical AS (  -- alerts firing (or recovering) at critical severity, from each alert's latest transition
    SELECT model_name, model_version,
           countIf(last_state IN ('firing', 'recovering') AND last_severity = 'critical') AS n
    FROM (SELECT fingerprint, model_name, model_version, argMax(state, at) AS last_state,
                 argMax(severity, at) AS last_severity
          FROM {db}.ml_alerts GROUP BY fingerprint, model_name, model_version)
    GROUP BY model_name, model_version
),
baselines AS (
    SELECT model_name, model_version, groupArray((toString(metric), mean)) AS means
    FROM {db}.ml_baselines FINAL WHERE kind = 'performance' AND subject = ''
    GROUP BY model_name, model_version
),
last_prediction AS (
    SELECT model_name, model_version, toNullable(max(timestamp)) AS at
    FROM {db}.ml_predictions GROUP BY model_name, model_version
),
last_label AS (  -- labels name the model, not the version
    SELECT model_name, toNullable(max(timestamp)) AS at FROM {db}.ml_ground_truth GROUP BY model_name
)
SELECT toString(m.model_name) AS model_name, toString(m.model_version) AS model_version, c.n AS critical,
       b.means AS baselines, toString(toDateTime(lp.at, 'UTC')) AS last_prediction,
       toString(toDateTime(ll.at, 'UTC')) AS last_label
FROM models AS m
LEFT JOIN critical AS c ON c.model_name = m.model_name AND c.model_version = m.model_version
LEFT JOIN baselines AS b ON b.model_name = m.model_name AND b.model_version = m.model_version
LEFT JOIN last_prediction AS lp ON lp.model_name = m.model_name AND lp.model_version = m.model_version
LEFT JOIN last_label AS ll ON ll.model_name = m.model_name
ORDER BY model_name, model_version
"""


def _rows(source: Any, sql: str) -> list[dict[str, Any]]:
    if hasattr(source, "sql"):
        result = source.sql(sql)
        columns, rows = result["columns"], result["rows"]
    else:
        result = source.query(sql)
        columns, rows = result.column_names, result.result_rows
    return [dict(zip(columns, row, strict=True)) for row in rows]


def read(source: Any, database: str) -> list[dict[str, Any]]:
    """One dict per model version. `source` is an access (`.sql`: the store opened directly or a
    collector's admin endpoint) or a clickhouse-connect client (`.query`)."""
    db = identifier(database, "database")
    figures: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in _rows(source, HEALTH_SQL.format(db=db)):
        figures.setdefault((row["model_name"], row["model_version"]), []).append(row)
    return [_status(model, figures.get((model["model_name"], model["model_version"]), []))
            for model in _rows(source, MODELS_SQL.format(db=db))]


def _status(model: dict[str, Any], figures: list[dict[str, Any]]) -> dict[str, Any]:
    """One model version's line, from its ml_model_health rows and the models query's row."""
    def value(figure: str, subject: str = "") -> float | None:
        return next((f["value"] for f in figures if f["figure"] == figure and f["subject"] == subject), None)

    verdicts = [f for f in figures if f["figure"] == "feature_drifted"]
    measured = {f["subject"] for f in figures if f["figure"] in ("performance", "estimated")}
    metric = next((m for m in HEADLINE_METRICS if m in measured), "")
    firing = sum(f["value"] for f in figures if f["figure"] == "alerts" and f["detail"] == "firing")
    baselines = {m: mean for m, mean in model["baselines"] or []}
    p99_seconds = value("latency_p99")
    return {
        "model_name": model["model_name"], "model_version": model["model_version"],
        "health": "critical" if model["critical"] else "warning" if firing else "ok",
        "alerts_firing": int(firing), "n_drifted": int(value("drifted_features") or 0), "n_features": len(verdicts),
        "drifted_features": sorted(f["subject"] for f in verdicts if f["value"] == 1), "metric": metric,
        "realised": value("performance", metric) if metric else None,
        "estimated": value("estimated", metric) if metric else None, "baseline": baselines.get(metric),
        "p99_ms": None if p99_seconds is None else p99_seconds * 1000, "error_rate": value("error_rate"),
        "last_prediction": model["last_prediction"], "last_label": model["last_label"],
    }


def _number(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{100 * value:.1f} %" if percent else f"{value:.4g}" if abs(value) >= 1 else f"{value:.3f}"


def _ms(value: Any) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f}"


def _drifted(row: dict[str, Any]) -> str:
    if not row["n_features"]:
        return "-"
    names = list(row["drifted_features"] or [])
    shown = ", ".join(names[:TOP_FEATURES]) + (f" +{len(names) - TOP_FEATURES}" if len(names) > TOP_FEATURES else "")
    return f"{row['n_drifted']}/{row['n_features']}" + (f" {shown}" if names else "")


def table_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The rows as the terminal shows them (print_table escapes what the names carry)."""
    out = []
    for r in rows:
        share = r["metric"] in ("accuracy", "roc_auc")
        out.append([r["model_name"], r["model_version"], r["health"], str(r["alerts_firing"] or 0), _drifted(r),
                    r["metric"] or "-", _number(r["realised"], share), _number(r["estimated"], share),
                    _number(r["baseline"], share), _ms(r["p99_ms"]), _number(r["error_rate"], True),
                    r["last_prediction"] or "-", r["last_label"] or "-"])
    return out


def print_status(source: Any, database: str) -> None:
    from .table import print_table

    rows = read(source, database)
    if not rows:
        print("no models yet: nothing has been registered or predicted (README, 'Monitor a model')")
        return
    print_table(COLUMNS, table_rows(rows))
