-- ml_feature_coverage: which of a window's features drift could be measured for, per model,
-- version and window, from ml_data_quality (read with FINAL): a feature is compared with the
-- reference only under the same name, so a reference named differently from the predictions (a
-- numpy array uploaded as "0".."4" while predictions name "a".."e") yields no drift row at all.
-- A plain view, not scheduled: a few rows per feature and window.
--   n_features            features sent in the window's predictions
--   n_referenced          of those, features the reference has (their drift is in ml_drift)
--   unreferenced_features features sent but absent from the reference (status 'appeared'):
--                         not measured
--   missing_features      reference features with no value in the window (status 'disappeared')
--   no_overlap            1 when the window has features and the reference has none of them:
--                         nothing about the inputs is measured (check the names)
CREATE OR REPLACE VIEW {{db}}.ml_feature_coverage {{on_cluster}} AS
SELECT
    model_name,
    model_version,
    window_start,
    any(window_end) AS window_end,
    countIf(status != 'disappeared') AS n_features,
    countIf(status NOT IN ('appeared', 'disappeared')) AS n_referenced,
    arraySort(groupArrayIf(toString(feature), status = 'appeared')) AS unreferenced_features,
    arraySort(groupArrayIf(toString(feature), status = 'disappeared')) AS missing_features,
    toUInt8(n_features > 0 AND n_referenced = 0) AS no_overlap,
    max(computed_at) AS computed_at
FROM {{db}}.ml_data_quality FINAL
WHERE feature != '*'
GROUP BY model_name, model_version, window_start;
