-- Baselines: what each metric of a model looked like in a chosen period of production, and the
-- control limits a later window is compared against (what alerts read).
--
-- ml_window_metrics (plain view): every windowed result of the scheduled views in one long form,
-- one row per model / version / window / kind / metric / subject:
--   kind performance   ml_performance, whole window (segment ''): accuracy, f1, roc_auc, mae …
--        estimated     ml_performance_estimated (CBPE), whole window
--        drift         ml_drift: the statistic of each method; subject = the feature (or
--                      prediction / score / label); ml_drift_multivariate: the PCA
--                      reconstruction error (metric pca_reconstruction, subject '*')
--        data_quality  ml_data_quality: missing, NaN, ±Inf, out-of-range and new-category rates;
--                      subject = the feature ('*' = the whole window)
--        sla           ml_sla: latency_p50/p95/p99_ms, error_rate, calls_per_second
--   n is the sample behind the value: labelled predictions, scored predictions, the window's
--   rows (drift, data quality) or calls (SLA). Undefined values (NULL, NaN) and windows without
--   data are left out. type_mismatch_rate (values of the wrong type / rows) stands for a schema
--   change.
--
-- ml_baselines: per model / version / kind / metric / subject, over the windows that lie inside
-- the model's [baseline_start, baseline_end) (ml_monitor_settings, 00_config.sql): the number of
-- windows (at least 2), the mean, the sample standard deviation (stddevSamp, n − 1), k
-- (baseline_k, default 3), and the control limits mean ± k·σ clipped to the metric's range:
-- [0, 1] for shares and scores (accuracy … roc_auc, rates, KS, Jensen–Shannon, error_rate),
-- (−∞, 1] for r2, [0, ∞) for everything else (errors, counts, PSI, Wasserstein, latency).
-- Models without a baseline period have no rows. Refreshed after the views it reads.
--
-- ml_baseline_status (plain view): every window metric that has a baseline, with its limits and
-- `outside` = 1 when the value is below the lower or above the upper limit.
-- See docs/statistics.md, "Baselines and control limits".
CREATE OR REPLACE VIEW {{db}}.ml_window_metrics {{on_cluster}} AS
SELECT toString(model_name) AS model_name, toString(model_version) AS model_version, window_start, window_end,
       'performance' AS kind, toString(metric) AS metric, '' AS subject, toFloat64(assumeNotNull(value)) AS value,
       labelled AS n
FROM {{db}}.ml_performance FINAL
WHERE segment_key = '' AND value IS NOT NULL AND isFinite(assumeNotNull(value))
UNION ALL
SELECT toString(model_name), toString(model_version), window_start, window_end,
       'estimated', toString(metric), '', toFloat64(assumeNotNull(value)), scored
FROM {{db}}.ml_performance_estimated FINAL
WHERE segment_key = '' AND value IS NOT NULL AND isFinite(assumeNotNull(value))
UNION ALL
SELECT toString(model_name), toString(model_version), window_start, window_end,
       'drift', toString(method), if(role = 'feature', toString(feature), toString(role)), statistic, n_current
FROM {{db}}.ml_drift FINAL
WHERE isFinite(statistic)
UNION ALL
SELECT toString(model_name), toString(model_version), window_start, window_end,
       'drift', toString(method), '*', reconstruction_error, n_current
FROM {{db}}.ml_drift_multivariate FINAL
WHERE isFinite(reconstruction_error)
UNION ALL
SELECT toString(model_name), toString(model_version), window_start, window_end,
       'data_quality', rate.1, toString(feature), rate.2, n_rows
FROM {{db}}.ml_data_quality FINAL
ARRAY JOIN [('missing_rate', missing_rate), ('nan_rate', nan_rate), ('inf_rate', inf_rate),
            ('out_of_range_rate', out_of_range_rate), ('new_category_rate', new_category_rate),
            ('type_mismatch_rate', if(n_rows > 0, type_mismatch / n_rows, 0.))] AS rate
WHERE n_rows > 0 AND isFinite(rate.2)
UNION ALL
SELECT toString(model_name), toString(model_version), window_start, window_end,
       'sla', rate.1, '', assumeNotNull(rate.2), calls
FROM {{db}}.ml_sla FINAL
ARRAY JOIN [('latency_p50_ms', latency_p50_ms), ('latency_p95_ms', latency_p95_ms),
            ('latency_p99_ms', latency_p99_ms), ('error_rate', error_rate),
            ('calls_per_second', toNullable(calls_per_second))] AS rate
WHERE calls > 0 AND rate.2 IS NOT NULL AND isFinite(assumeNotNull(rate.2));

CREATE TABLE IF NOT EXISTS {{db}}.ml_baselines {{on_cluster}} (
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    kind           LowCardinality(String),    -- performance | estimated | drift | data_quality | sla
    metric         LowCardinality(String),
    subject        String,                    -- feature (drift, data quality), else ''
    source         LowCardinality(String),    -- period: windows of [period_start, period_end)
    period_start   DateTime64(6, 'UTC'),
    period_end     DateTime64(6, 'UTC'),
    windows        UInt32,
    mean           Float64,
    std            Float64,                   -- sample standard deviation over the windows
    k              Float64,
    lower          Float64,
    upper          Float64,
    computed_at    DateTime64(6, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
ORDER BY (model_name, model_version, kind, metric, subject);

CREATE OR REPLACE VIEW {{db}}.ml_baselines_compute {{on_cluster}} AS
SELECT model_name, model_version, kind, metric, subject, 'period' AS source, period_start, period_end,
       toUInt32(n) AS windows, mean, std, k,
       greatest(mean - k * std, if(metric = 'r2', -inf, 0.)) AS lower,
       least(mean + k * std,
             if((kind IN ('performance', 'estimated') AND metric IN ('accuracy', 'precision', 'recall', 'f1',
                  'f1_macro', 'f1_weighted', 'fpr', 'fnr', 'roc_auc', 'pr_auc', 'r2'))
                OR kind = 'data_quality' OR (kind = 'drift' AND metric IN (SELECT method FROM {{db}}.ml_drift_methods
                                                                   WHERE max_value = 1))
                OR (kind = 'sla' AND metric = 'error_rate'), 1., inf)) AS upper,
       now64(6) AS computed_at
FROM
(
    SELECT w.model_name AS model_name, w.model_version AS model_version, w.kind AS kind, w.metric AS metric,
           w.subject AS subject, any(s.baseline_start) AS period_start, any(s.baseline_end) AS period_end,
           count() AS n, avg(w.value) AS mean, stddevSamp(w.value) AS std, any(s.baseline_k) AS k
    FROM {{db}}.ml_window_metrics AS w
    INNER JOIN {{db}}.ml_monitor_settings AS s ON s.model_name = w.model_name
    WHERE s.baseline_start IS NOT NULL AND s.baseline_end IS NOT NULL
      AND w.window_start >= s.baseline_start AND w.window_end <= s.baseline_end
    GROUP BY model_name, model_version, kind, metric, subject
    HAVING n >= 2
);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.ml_baselines_mv {{on_cluster}}
{{refresh}} DEPENDS ON {{db}}.ml_drift_mv, {{db}}.ml_drift_multivariate_mv, {{db}}.ml_data_quality_mv,
    {{db}}.ml_performance_mv, {{db}}.ml_performance_estimated_mv, {{db}}.ml_sla_mv
TO {{db}}.ml_baselines {{empty}} AS
SELECT * FROM {{db}}.ml_baselines_compute;

CREATE OR REPLACE VIEW {{db}}.ml_baseline_status {{on_cluster}} AS
SELECT w.model_name AS model_name, w.model_version AS model_version, w.window_start AS window_start,
       w.window_end AS window_end, w.kind AS kind, w.metric AS metric, w.subject AS subject, w.value AS value,
       b.mean AS baseline_mean, b.std AS baseline_std, b.lower AS lower, b.upper AS upper, b.windows AS baseline_windows,
       toUInt8(w.value < b.lower OR w.value > b.upper) AS outside
FROM {{db}}.ml_window_metrics AS w
INNER JOIN (SELECT * FROM {{db}}.ml_baselines FINAL) AS b
    ON b.model_name = w.model_name AND b.model_version = w.model_version AND b.kind = w.kind
   AND b.metric = w.metric AND b.subject = w.subject;
