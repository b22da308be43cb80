"""`heron status`: every model at a glance, read from the views in one query.

Per model and version: health (critical or warning when an alert of that severity fires, else
ok), the alerts firing, the drifted features of the newest drift window, the headline metric
(the first of `HEADLINE_METRICS` the model has) realised in the newest labelled window, as
estimated (CBPE) in the newest window, and its baseline mean, the p99 latency and error rate of
the newest window with calls, and when the newest prediction and label arrived. A recovering
alert still counts as firing (its `keep_firing_for` has not run out).

The statement is read-only, so it runs through the admin endpoint's read-only session as well
as on a store opened directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .migrations import identifier

HEADLINE_METRICS = ("accuracy", "rmse", "mae", "r2", "roc_auc")
TOP_FEATURES = 3  # drifted feature names shown; the count says how many more
FIRING = ("firing", "recovering")

COLUMNS = ("model", "version", "health", "alerts", "drifted", "metric", "realised", "estimated", "baseline",
           "p99 ms", "errors", "last prediction", "last label")

SQL = """
WITH
models AS (  -- every model version seen: registered, or sending predictions
    SELECT model_name, model_version FROM {db}.ml_models FINAL
    UNION DISTINCT
    SELECT DISTINCT model_name, model_version FROM {db}.ml_predictions
),
alert_states AS (  -- each alert's latest transition
    SELECT fingerprint, model_name, model_version, argMax(state, at) AS last_state,
           argMax(severity, at) AS last_severity
    FROM {db}.ml_alerts GROUP BY fingerprint, model_name, model_version
),
alerts AS (
    SELECT model_name, model_version, countIf(last_state IN {firing}) AS firing,
           countIf(last_state IN {firing} AND last_severity = 'critical') AS critical
    FROM alert_states GROUP BY model_name, model_version
),
drift AS (  -- the newest drift window's verdicts
    SELECT model_name, model_version, argMax(n_drifted, window_start) AS drifted_n,
           argMax(n_features, window_start) AS features_n, argMax(drifted_features, window_start) AS drifted_names
    FROM {db}.ml_drift_summary GROUP BY model_name, model_version
),
metric_values AS (  -- each metric in its newest window: realised (labelled rows) and estimated
    SELECT 'realised' AS source, model_name, model_version, metric, argMax(value, window_start) AS latest
    FROM {db}.ml_performance FINAL
    WHERE segment_key = '' AND labelled > 0 AND value IS NOT NULL AND isFinite(value) AND metric IN {metrics}
    GROUP BY model_name, model_version, metric
    UNION ALL
    SELECT 'estimated', model_name, model_version, metric, argMax(value, window_start)
    FROM {db}.ml_performance_estimated FINAL
    WHERE segment_key = '' AND scored > 0 AND value IS NOT NULL AND isFinite(value) AND metric IN {metrics}
    GROUP BY model_name, model_version, metric
),
headline AS (  -- the first metric of the list the model has, realised or estimated
    SELECT model_name, model_version, argMin(metric, indexOf({metrics_array}, metric)) AS metric
    FROM metric_values GROUP BY model_name, model_version
),
performance AS (
    SELECT h.model_name AS model_name, h.model_version AS model_version, h.metric AS metric,
           maxIf(toNullable(v.latest), v.source = 'realised') AS realised,
           maxIf(toNullable(v.latest), v.source = 'estimated') AS estimated
    FROM headline AS h
    INNER JOIN metric_values AS v
        ON v.model_name = h.model_name AND v.model_version = h.model_version AND v.metric = h.metric
    GROUP BY model_name, model_version, metric
),
baselines AS (
    SELECT model_name, model_version, metric, toNullable(mean) AS baseline
    FROM {db}.ml_baselines FINAL WHERE kind = 'performance' AND subject = ''
),
sla AS (  -- the newest window with calls, of this version
    SELECT model_name, model_version, argMax(latency_p99_ms, window_start) AS p99_ms,
           argMax(error_rate, window_start) AS errors
    FROM {db}.ml_sla FINAL WHERE calls > 0 AND model_version != '*'
    GROUP BY model_name, model_version
),
last_prediction AS (
    SELECT model_name, model_version, toNullable(max(timestamp)) AS at
    FROM {db}.ml_predictions GROUP BY model_name, model_version
),
last_label AS (  -- labels name the model, not the version
    SELECT model_name, toNullable(max(timestamp)) AS at FROM {db}.ml_ground_truth GROUP BY model_name
)
SELECT m.model_name AS model_name, m.model_version AS model_version,
       multiIf(a.critical > 0, 'critical', a.firing > 0, 'warning', 'ok') AS health,
       a.firing AS alerts_firing, d.drifted_n AS n_drifted, d.features_n AS n_features,
       d.drifted_names AS drifted_features, p.metric AS metric, p.realised AS realised,
       p.estimated AS estimated, b.baseline AS baseline, s.p99_ms AS p99_ms, s.errors AS error_rate,
       toString(toDateTime(lp.at, 'UTC')) AS last_prediction, toString(toDateTime(ll.at, 'UTC')) AS last_label
FROM models AS m
LEFT JOIN alerts AS a ON a.model_name = m.model_name AND a.model_version = m.model_version
LEFT JOIN drift AS d ON d.model_name = m.model_name AND d.model_version = m.model_version
LEFT JOIN performance AS p ON p.model_name = m.model_name AND p.model_version = m.model_version
LEFT JOIN baselines AS b ON b.model_name = m.model_name AND b.model_version = m.model_version AND b.metric = p.metric
LEFT JOIN sla AS s ON s.model_name = m.model_name AND s.model_version = m.model_version
LEFT JOIN last_prediction AS lp ON lp.model_name = m.model_name AND lp.model_version = m.model_version
LEFT JOIN last_label AS ll ON ll.model_name = m.model_name
ORDER BY model_name, model_version
"""


def query(database: str) -> str:
    """The status statement for `database` (a validated identifier; the lists are constants)."""
    metrics = "(" + ", ".join(f"'{m}'" for m in HEADLINE_METRICS) + ")"
    return SQL.format(db=identifier(database, "database"), metrics=metrics, metrics_array=f"[{metrics[1:-1]}]",
                      firing="(" + ", ".join(f"'{s}'" for s in FIRING) + ")")


def read(source: Any, database: str) -> list[dict[str, Any]]:
    """One dict per model version. `source` is an access (`.sql`: the store opened directly or a
    collector's admin endpoint) or a clickhouse-connect client (`.query`)."""
    sql = query(database)
    if hasattr(source, "sql"):
        result = source.sql(sql)
        columns, rows = result["columns"], result["rows"]
    else:
        result = source.query(sql)
        columns, rows = result.column_names, result.result_rows
    return [dict(zip(columns, row, strict=True)) for row in rows]


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
    from .cli import print_table

    rows = read(source, database)
    if not rows:
        print("no models yet: nothing has been registered or predicted (README, 'Monitor a model')")
        return
    print_table(COLUMNS, table_rows(rows))
