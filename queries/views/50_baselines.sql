-- Baselines: what each metric of a model looked like in a chosen period of production or in its
-- reference, and the control limits a later window is compared against (what alerts read).
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
-- ml_baselines: per model / version / kind / metric / subject, from one of two sources:
--   period     the windows that lie inside the model's [baseline_start, baseline_end)
--              (ml_monitor_settings, 00_config.sql): every kind; chosen whenever it is set
--   reference  the 10 chunks of the version's reference sample (ml_reference_chunks) when it has
--              predictions with labels (realised performance) or scores (CBPE), through the
--              same formulas as the windows (ml_performance_reference,
--              ml_performance_estimated_reference); counts (tp, fp, fn, tn) have no band, nor
--              a metric whose chunks average fewer than 30 rows or all have the same value
-- with the number of windows or chunks (at least 2), the mean, the sample standard deviation
-- (stddevSampStable, n − 1), k (baseline_k, default 3), and the control limits mean ± k·σ clipped to
-- the metric's range (min_value, max_value):
-- [0, 1] for shares and scores (accuracy … roc_auc, rates, KS, Jensen–Shannon, error_rate),
-- (−∞, 1] for r2, [0, ∞) for everything else (errors, counts, PSI, Wasserstein, latency).
-- A model with neither has no rows. Refreshed after the views it reads.
--
-- ml_window_baselines (plain view): every window metric with the σ and limits it is judged by
-- (a reference baseline's scaled to the window's n, below).
-- ml_baseline_status (plain view): every window metric that has a baseline, with its limits and
-- `outside` = 1 when the value is below the lower or above the upper limit.
-- See docs/statistics.md, "Baselines and control limits".
CREATE OR REPLACE VIEW {{db}}.ml_window_metrics {{on_cluster}} AS
SELECT toString(model_name) AS model_name, toString(model_version) AS model_version, window_start, window_end,
       'performance' AS kind, toString(metric) AS metric, '' AS subject, toFloat64(assumeNotNull(value)) AS value,
       labelled AS n
FROM (SELECT * FROM {{db}}.ml_performance FINAL   -- filtered before `value` is the alias above
      WHERE segment_key = '' AND value IS NOT NULL AND isFinite(assumeNotNull(value)))
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
       'data_quality', rate.metric, toString(feature), rate.value, n_rows
FROM {{db}}.ml_data_quality FINAL
ARRAY JOIN [('missing_rate', missing_rate), ('nan_rate', nan_rate), ('inf_rate', inf_rate),
            ('out_of_range_rate', out_of_range_rate), ('new_category_rate', new_category_rate),
            ('type_mismatch_rate', if(n_rows > 0, type_mismatch / n_rows, 0.))]
           ::Array(Tuple(metric String, value Float64)) AS rate
WHERE n_rows > 0 AND isFinite(rate.value)
UNION ALL
SELECT toString(model_name), toString(model_version), window_start, window_end,
       'sla', rate.metric, '', assumeNotNull(rate.value), calls
FROM {{db}}.ml_sla FINAL
ARRAY JOIN [('latency_p50_ms', latency_p50_ms), ('latency_p95_ms', latency_p95_ms),
            ('latency_p99_ms', latency_p99_ms), ('error_rate', error_rate),
            ('calls_per_second', toNullable(calls_per_second))]
           ::Array(Tuple(metric String, value Nullable(Float64))) AS rate
WHERE calls > 0 AND rate.value IS NOT NULL AND isFinite(assumeNotNull(rate.value));

CREATE TABLE IF NOT EXISTS {{db}}.ml_baselines {{on_cluster}} (
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    kind           LowCardinality(String),    -- performance | estimated | drift | data_quality | sla
    metric         LowCardinality(String),
    subject        String,                    -- feature (drift, data quality), else ''
    source         LowCardinality(String),    -- period: windows of [period_start, period_end),
                                              -- reference: chunks of the reference sample
    period_start   DateTime64(6, 'UTC'),
    period_end     DateTime64(6, 'UTC'),
    windows        UInt32,                    -- windows or chunks behind the mean and σ
    mean           Float64,
    std            Float64,                   -- sample standard deviation over them
    k              Float64,
    lower          Float64,                   -- mean − k·σ, clipped to min_value
    upper          Float64,                   -- mean + k·σ, clipped to max_value
    computed_at    DateTime64(6, 'UTC'),
    chunk_n        Float64,                   -- reference: mean n of a chunk; period: 0
    min_value      Float64,                   -- the metric's range
    max_value      Float64
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
ORDER BY (model_name, model_version, kind, metric, subject);

CREATE OR REPLACE VIEW {{db}}.ml_baselines_compute {{on_cluster}} AS
SELECT model_name, model_version, kind, metric, subject, c.source AS source, c.period_start AS period_start,
       c.period_end AS period_end, c.windows AS windows, c.mean AS mean, c.std AS std, c.k AS k,
       greatest(mean - k * std, min_value) AS lower, least(mean + k * std, max_value) AS upper,
       now64(6) AS computed_at, c.chunk_n AS chunk_n,
       if(metric = 'r2', -inf, 0.) AS min_value,
       if((kind IN ('performance', 'estimated') AND metric IN ('accuracy', 'precision', 'recall', 'f1',
            'f1_macro', 'f1_weighted', 'fpr', 'fnr', 'roc_auc', 'pr_auc', 'r2'))
          OR kind = 'data_quality' OR (kind = 'drift' AND metric IN (SELECT method FROM {{db}}.ml_drift_methods
                                                             WHERE max_value = 1))
          OR (kind = 'sla' AND metric = 'error_rate'), 1., inf) AS max_value
FROM
(
    -- the period when the model has one, else the reference's chunks
    SELECT model_name, model_version, kind, metric, subject,
           argMax((source, period_start, period_end, toUInt32(n), mean, std, k, chunk_n)
                      ::Tuple(source String, period_start Nullable(DateTime64(6, 'UTC')),
                              period_end Nullable(DateTime64(6, 'UTC')), windows UInt32, mean Float64, std Float64,
                              k Float64, chunk_n Float64),
                  source = 'period') AS c
    FROM
    (
        SELECT w.model_name AS model_name, w.model_version AS model_version, w.kind AS kind, w.metric AS metric,
               w.subject AS subject, 'period' AS source, any(s.baseline_start) AS period_start,
               any(s.baseline_end) AS period_end, count() AS n, avg(w.value) AS mean, stddevSampStable(w.value) AS std,
               any(s.baseline_k) AS k, 0. AS chunk_n
        FROM {{db}}.ml_window_metrics AS w
        INNER JOIN {{db}}.ml_monitor_settings AS s ON s.model_name = w.model_name
        WHERE s.baseline_start IS NOT NULL AND s.baseline_end IS NOT NULL
          AND w.window_start >= s.baseline_start AND w.window_end <= s.baseline_end
        GROUP BY model_name, model_version, kind, metric, subject
        HAVING n >= 2
        UNION ALL
        SELECT r.model_name, r.model_version, r.kind, r.metric, '', 'reference', toDateTime64(0, 6, 'UTC'),
               toDateTime64(0, 6, 'UTC'), count() AS n, avg(r.value), stddevSampStable(r.value),
               any(s.baseline_k), avg(r.n)
        FROM
        (
            SELECT 'performance' AS kind, * FROM {{db}}.ml_performance_reference
            UNION ALL
            SELECT 'estimated', * FROM {{db}}.ml_performance_estimated_reference
        ) AS r
        INNER JOIN {{db}}.ml_monitor_settings AS s ON s.model_name = r.model_name
        WHERE r.metric NOT IN ('tp', 'fp', 'fn', 'tn')   -- counts grow with the window: no band
        GROUP BY r.model_name, r.model_version, r.kind, r.metric
        -- too few rows per chunk, or a metric that never moves (one class), say nothing about spread
        HAVING n >= 2 AND avg(r.n) >= 30 AND stddevSampStable(r.value) > 0
    )
    GROUP BY model_name, model_version, kind, metric, subject
);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.ml_baselines_mv {{on_cluster}}
{{refresh}} DEPENDS ON {{db}}.ml_drift_mv, {{db}}.ml_drift_multivariate_mv, {{db}}.ml_data_quality_mv,
    {{db}}.ml_performance_mv, {{db}}.ml_performance_estimated_mv, {{db}}.ml_sla_mv
TO {{db}}.ml_baselines {{empty}} AS
SELECT * FROM {{db}}.ml_baselines_compute;

-- ml_window_baselines (plain view): every window metric with its baseline (baseline_windows = 0
-- and zeros when it has none) and the σ and limits it is judged by. A period baseline's are its
-- stored ones: its windows are the model's own. A reference baseline's σ is that of a chunk of
-- chunk_n rows; a window of n rows is judged by σ·√(chunk_n / n), as the spread of a mean scales,
-- and the limits mean ± k·that σ, clipped to the metric's range: a window with more labelled rows
-- than a chunk gets a narrower band, one with fewer a wider one. ml_baseline_status and
-- ml_alert_signals (whose control charts count in this σ) read it.
CREATE OR REPLACE VIEW {{db}}.ml_window_baselines {{on_cluster}} AS
SELECT w.model_name AS model_name, w.model_version AS model_version, w.window_start AS window_start,
       w.window_end AS window_end, w.kind AS kind, w.metric AS metric, w.subject AS subject, w.value AS value,
       w.n AS n, b.source AS baseline_source, b.windows AS baseline_windows, b.mean AS baseline_mean,
       b.std * if(b.chunk_n > 0 AND w.n > 0, sqrt(b.chunk_n / w.n), 1.) AS baseline_std,
       if(b.chunk_n > 0, greatest(b.mean - b.k * baseline_std, b.min_value), b.lower) AS lower,
       if(b.chunk_n > 0, least(b.mean + b.k * baseline_std, b.max_value), b.upper) AS upper
FROM {{db}}.ml_window_metrics AS w
LEFT JOIN (SELECT * FROM {{db}}.ml_baselines FINAL) AS b
    ON b.model_name = w.model_name AND b.model_version = w.model_version AND b.kind = w.kind
   AND b.metric = w.metric AND b.subject = w.subject
SETTINGS join_use_nulls = 0;   -- zeros without a baseline, whatever the reader's setting

CREATE OR REPLACE VIEW {{db}}.ml_baseline_status {{on_cluster}} AS
SELECT model_name, model_version, window_start, window_end, kind, metric, subject, value, baseline_source,
       baseline_mean, baseline_std, lower, upper, baseline_windows, toUInt8(value < lower OR value > upper) AS outside
FROM {{db}}.ml_window_baselines
WHERE baseline_windows > 0;
