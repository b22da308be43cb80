-- ml_drift_summary: dataset-level drift per model, version and window, from the features'
-- verdicts in ml_drift (is_primary rows of role 'feature'): how many features were tested, how
-- many drifted, their share, and whether the share reaches the model's drift_share setting
-- (default 0.5); plus the prediction, score and label verdicts. A plain view, not scheduled:
-- it reads only ml_drift (a few rows per feature and window), and must reflect the p-values
-- that finalize writes back after each refresh.
-- Not measured is NULL, never 0: prediction_drift, score_drift and label_drift are NULL when that
-- output had no reference or no value in the window, drift_share and dataset_drift when no feature
-- was tested. Features the reference lacks are not in ml_drift at all: ml_feature_coverage
-- (21_feature_coverage.sql) lists them per window.
CREATE OR REPLACE VIEW {{db}}.ml_drift_summary {{on_cluster}} AS
SELECT
    d.model_name AS model_name,
    d.model_version AS model_version,
    d.window_start AS window_start,
    any(d.window_end) AS window_end,
    countIf(d.role = 'feature') AS n_features,
    sumIf(d.drifted, d.role = 'feature') AS n_drifted,
    if(n_features > 0, n_drifted / n_features, NULL) AS drift_share,
    if(n_features > 0, toUInt8(drift_share >= any(s.drift_share)), NULL) AS dataset_drift,
    arraySort(groupArrayIf(d.feature, d.role = 'feature' AND d.drifted = 1)) AS drifted_features,
    if(countIf(d.role = 'prediction') > 0, maxIf(d.drifted, d.role = 'prediction'), NULL) AS prediction_drift,
    if(countIf(d.role = 'score') > 0, maxIf(d.drifted, d.role = 'score'), NULL) AS score_drift,
    if(countIf(d.role = 'label') > 0, maxIf(d.drifted, d.role = 'label'), NULL) AS label_drift,
    countIf(d.method IN (SELECT method FROM {{db}}.ml_drift_methods WHERE test = 'p_value') AND d.p_value IS NULL) AS pending_p_values,
    max(d.computed_at) AS computed_at
FROM (SELECT * FROM {{db}}.ml_drift FINAL WHERE is_primary = 1) AS d
LEFT JOIN {{db}}.ml_monitor_settings AS s ON s.model_name = d.model_name
GROUP BY d.model_name, d.model_version, d.window_start;
