-- ml_alert_signals: what the alert rules evaluate (heron_collector.alerts, docs/alerts.md), one
-- row per signal / model / version / subject / window, newest results of every scheduled view:
--   signal metric              every row of ml_window_metrics (kind, metric, subject, value, n)
--                              with its baseline when the model has one (baseline_windows > 0):
--                              ml_window_baselines, limits scaled to the window's n
--          feature_drift       a feature's verdict in ml_drift (the primary method): flag = drifted,
--                              value = its statistic, limit = its threshold
--          dataset_drift       ml_drift_summary: value = share of drifted features, flag = dataset_drift
--          multivariate_drift  ml_drift_multivariate: value = reconstruction error, flag = drifted,
--                              limit = the band's upper end
--          sla_error_rate      ml_sla, per version: value = error rate, limit = the SLO, flag = breached
--          sla_latency_p99     ml_sla, per version: value = p99 latency (ms), limit = the SLO, flag = breached
--          no_predictions      per model / version: value = seconds since its newest prediction,
--                              limit = three windows (at least an hour); window_start = that prediction's
--                              (from the ml_versions state, schema/013_ml_versions.sql, not a scan)
-- n is the sample behind the value; rules skip windows with fewer than their min_samples.
CREATE OR REPLACE VIEW {{db}}.ml_alert_signals {{on_cluster}} AS
SELECT 'metric' AS signal, kind, metric, model_name, model_version, subject, window_start, window_end, value,
       toUInt64(n) AS n, toUInt8(0) AS flag, toFloat64(0) AS limit, baseline_windows, baseline_mean, baseline_std,
       lower AS baseline_lower, upper AS baseline_upper
FROM {{db}}.ml_window_baselines AS w
WHERE NOT (w.kind = 'sla' AND w.model_version = '*')
UNION ALL
SELECT 'feature_drift', 'drift', toString(method), toString(model_name), toString(model_version), toString(feature),
       window_start, window_end, statistic, n_current, drifted, threshold, toUInt32(0), 0., 0., 0., 0.
FROM {{db}}.ml_drift FINAL
WHERE is_primary = 1 AND role = 'feature'
UNION ALL
SELECT 'dataset_drift', 'drift', 'drift_share', toString(model_name), toString(model_version), '',
       window_start, window_end, drift_share, toUInt64(n_features), dataset_drift, 0., toUInt32(0), 0., 0., 0., 0.
FROM {{db}}.ml_drift_summary
UNION ALL
SELECT 'multivariate_drift', 'drift', toString(method), toString(model_name), toString(model_version), '*',
       window_start, window_end, reconstruction_error, n_current, drifted, upper_threshold, toUInt32(0),
       reference_error_mean, reference_error_std, lower_threshold, upper_threshold
FROM {{db}}.ml_drift_multivariate FINAL
UNION ALL
SELECT slo.signal, 'sla', slo.metric, toString(model_name), toString(model_version), '', window_start, window_end,
       slo.value, calls, toUInt8(has(breaches, slo.breach)), slo.target, toUInt32(0), 0., 0., 0., 0.
FROM {{db}}.ml_sla FINAL
ARRAY JOIN [('sla_error_rate', 'error_rate', ifNull(error_rate, 0.), 'error_rate', slo_error_rate),
            ('sla_latency_p99', 'latency_p99_ms', ifNull(latency_p99_ms, 0.), 'latency_p99', slo_p99_ms)]
           ::Array(Tuple(signal String, metric String, value Float64, breach String, target Float64)) AS slo
WHERE calls > 0 AND model_version != '*'   -- '*' (all versions) would repeat each version's alert
UNION ALL
SELECT 'no_predictions', 'data', 'seconds_since_last', toString(p.model_name), toString(p.model_version), '',
       toDateTime(p.last, 'UTC'), toDateTime(p.last, 'UTC'), toFloat64(dateDiff('second', p.last, now())),
       p.n, toUInt8(dateDiff('second', p.last, now()) > greatest(3 * s.window_seconds, 3600)),
       toFloat64(greatest(3 * s.window_seconds, 3600)), toUInt32(0), 0., 0., 0., 0.
FROM
(
    -- per version, the newest prediction timestamped in [ts_min, now + 1 day) and how many there are:
    -- from the ml_versions states (schema/013_ml_versions.sql), except for a version that ever had a
    -- prediction timestamped a day or more after its arrival, whose answer depends on now: that
    -- one is read from its ml_predictions rows
    SELECT model_name, model_version, assumeNotNull(max(last_seen)) AS last, sum(timed_rows) AS n
    FROM {{db}}.ml_versions
    GROUP BY model_name, model_version
    HAVING sum(ahead_rows) = 0 AND n > 0
    UNION ALL
    SELECT model_name, model_version, max(timestamp) AS last, count() AS n
    FROM {{db}}.ml_predictions
    WHERE (model_name, model_version) IN (SELECT model_name, model_version FROM {{db}}.ml_versions
                                          GROUP BY model_name, model_version HAVING sum(ahead_rows) > 0)
      AND timestamp >= (SELECT ts_min FROM {{db}}.ml_time_bounds) AND timestamp < now() + INTERVAL 1 DAY
    GROUP BY model_name, model_version
) AS p
LEFT JOIN {{db}}.ml_monitor_settings AS s ON s.model_name = p.model_name;

-- ml_alert_precision: per rule, the alert episodes people labelled (heron alerts label) and the
-- share that were real. An episode is one firing of one alert (its fingerprint and since).
CREATE OR REPLACE VIEW {{db}}.ml_alert_precision {{on_cluster}} AS
SELECT a.rule AS rule, count() AS episodes, countIf(f.fingerprint != '') AS labelled,
       sumIf(f.real, f.fingerprint != '') AS real, if(labelled > 0, real / labelled, NULL) AS precision
FROM (SELECT DISTINCT rule, fingerprint, since FROM {{db}}.ml_alerts WHERE state = 'firing') AS a
LEFT JOIN (SELECT * FROM {{db}}.ml_alert_feedback FINAL) AS f ON f.fingerprint = a.fingerprint AND f.since = a.since
GROUP BY a.rule;
