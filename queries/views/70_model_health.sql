-- ml_model_health: the newest value of each model-health figure, one row per figure / model / version
-- (/ subject), in one long form: what the collector's /metrics exposes as Prometheus gauges
-- (heron_collector.model_health, docs/operations.md "Prometheus"), readable with clickhouse-client too.
--
-- Reads   ml_drift_summary, ml_drift (FINAL, primary method), ml_performance, ml_performance_estimated,
--         ml_sla (FINAL), ml_alerts.
-- Grain   figure, model_name, model_version, subject, detail. A plain view: every read computes it
--         from the scheduled views' newest results; it is small (a few rows per model and feature).
--
--   figure            subject / detail      value, from the newest window that has it
--   drift_share       '' / ''               share of drifted features (ml_drift_summary, n_features > 0)
--   drifted_features  '' / ''               how many features drifted, same window
--   feature_drifted   feature / method      1 drifted, 0 not: the feature's verdict in that same window
--   performance       metric / ''           realised metric (ml_performance, whole window, defined value)
--   estimated         metric / ''           CBPE estimate (ml_performance_estimated, whole window)
--   latency_p99       '' / ''               p99 latency in SECONDS (ml_sla latency_p99_ms / 1000, calls > 0)
--   error_rate        '' / ''               errors / calls, same window
--   alerts            rule / state          alerts of the rule now in state firing (firing or recovering)
--                                           or pending: the latest ml_alerts row of each fingerprint; a rule
--                                           with no alert in that state is 0 once it ever alerted the model
-- window_start is the window the value comes from (NULL for alerts).
CREATE OR REPLACE VIEW {{db}}.ml_model_health {{on_cluster}} AS
WITH newest_drift AS
(
    SELECT model_name, model_version, window_start, drift_share, n_drifted
    FROM {{db}}.ml_drift_summary
    WHERE n_features > 0
    ORDER BY window_start DESC
    LIMIT 1 BY model_name, model_version
)
SELECT 'drift_share' AS figure, toString(model_name) AS model_name, toString(model_version) AS model_version,
       '' AS subject, '' AS detail, toNullable(window_start) AS window_start, toFloat64(drift_share) AS value
FROM newest_drift
UNION ALL
SELECT 'drifted_features', toString(model_name), toString(model_version), '', '', toNullable(window_start),
       toFloat64(n_drifted)
FROM newest_drift
UNION ALL
SELECT 'feature_drifted', toString(d.model_name), toString(d.model_version), toString(d.feature),
       toString(d.method), toNullable(d.window_start), toFloat64(d.drifted)
FROM (SELECT * FROM {{db}}.ml_drift FINAL WHERE is_primary = 1 AND role = 'feature') AS d
INNER JOIN newest_drift AS n
    ON n.model_name = d.model_name AND n.model_version = d.model_version AND n.window_start = d.window_start
UNION ALL
SELECT 'performance', toString(model_name), toString(model_version), toString(metric), '',
       toNullable(window_start), toFloat64(assumeNotNull(value))
FROM
(
    SELECT * FROM {{db}}.ml_performance FINAL
    WHERE segment_key = '' AND value IS NOT NULL AND isFinite(assumeNotNull(value))
    ORDER BY window_start DESC
    LIMIT 1 BY model_name, model_version, metric
)
UNION ALL
SELECT 'estimated', toString(model_name), toString(model_version), toString(metric), '',
       toNullable(window_start), toFloat64(assumeNotNull(value))
FROM
(
    SELECT * FROM {{db}}.ml_performance_estimated FINAL
    WHERE segment_key = '' AND value IS NOT NULL AND isFinite(assumeNotNull(value))
    ORDER BY window_start DESC
    LIMIT 1 BY model_name, model_version, metric
)
UNION ALL
SELECT figure, model_name, model_version, '', '', window_start, toFloat64(assumeNotNull(figure_value))
FROM
(
    SELECT toString(model_name) AS model_name, toString(model_version) AS model_version,
           toNullable(window_start) AS window_start, latency_p99_ms, error_rate
    FROM {{db}}.ml_sla FINAL
    WHERE calls > 0
    ORDER BY window_start DESC
    LIMIT 1 BY model_name, model_version
)
ARRAY JOIN ['latency_p99', 'error_rate'] AS figure,
           [latency_p99_ms / 1000, error_rate] AS figure_value
WHERE figure_value IS NOT NULL AND isFinite(assumeNotNull(figure_value))
UNION ALL
SELECT 'alerts', model_name, model_version, rule, state, CAST(NULL AS Nullable(DateTime('UTC'))),
       toFloat64(countIf(latest = state))
FROM
(
    SELECT toString(model_name) AS model_name, toString(model_version) AS model_version, toString(rule) AS rule,
           argMax(toString(a.state), a.at) AS now_in,
           multiIf(now_in IN ('firing', 'recovering'), 'firing', now_in) AS latest
    FROM {{db}}.ml_alerts AS a
    GROUP BY fingerprint, model_name, model_version, rule
)
ARRAY JOIN ['firing', 'pending'] AS state
GROUP BY model_name, model_version, rule, state;
