-- ml_drift_summary: dataset-level drift per model, version and window, from the features'
-- verdicts in ml_drift (is_primary rows of role 'feature'): how many features were tested, how
-- many drifted, their share, and whether the share reaches the model's drift_share setting
-- (default 0.5); plus the prediction, score and label verdicts. A plain view, not scheduled:
-- it reads only ml_drift (a few rows per feature and window), and must reflect the p-values
-- that finalize writes back after each refresh.
CREATE OR REPLACE VIEW {{db}}.ml_drift_summary {{on_cluster}} AS
SELECT
    d.model_name AS model_name,
    d.model_version AS model_version,
    d.window_start AS window_start,
    any(d.window_end) AS window_end,
    countIf(d.role = 'feature') AS n_features,
    sumIf(d.drifted, d.role = 'feature') AS n_drifted,
    if(n_features > 0, n_drifted / n_features, 0) AS drift_share,
    toUInt8(n_features > 0 AND drift_share >= any(s.drift_share)) AS dataset_drift,
    arraySort(groupArrayIf(d.feature, d.role = 'feature' AND d.drifted = 1)) AS drifted_features,
    maxIf(d.drifted, d.role = 'prediction') AS prediction_drift,
    maxIf(d.drifted, d.role = 'score') AS score_drift,
    maxIf(d.drifted, d.role = 'label') AS label_drift,
    countIf(d.method IN ('ks', 'chi2') AND d.p_value IS NULL) AS pending_p_values,
    max(d.computed_at) AS computed_at
FROM (SELECT * FROM {{db}}.ml_drift FINAL WHERE is_primary = 1) AS d
LEFT JOIN {{db}}.ml_monitor_settings AS s ON s.model_name = d.model_name
GROUP BY d.model_name, d.model_version, d.window_start;
