-- Estimated (CBPE) beside realised performance, per model / version / window / segment / metric.
--
-- Reads   ml_performance_estimated FINAL, ml_performance FINAL.
-- One row per estimated metric (accuracy, precision, recall, f1, roc_auc, tp, fp, fn, tn);
-- `realised` is NULL until labels arrive for the window, `labelled` says how many have.
-- A plain view (computed at read time from the two refreshed tables), e.g.
--   SELECT window_start, realised, estimated FROM heron.ml_performance_vs_estimated
--   WHERE model_name = 'churn' AND metric = 'accuracy' AND segment_key = '' ORDER BY window_start
CREATE OR REPLACE VIEW {{db}}.ml_performance_vs_estimated {{on_cluster}} AS
SELECT e.model_name AS model_name,
       e.model_version AS model_version,
       e.window_seconds AS window_seconds,
       e.window_start AS window_start,
       e.window_end AS window_end,
       e.segment_key AS segment_key,
       e.segment_value AS segment_value,
       e.metric AS metric,
       e.value AS estimated,
       r.value AS realised,
       r.value - e.value AS realised_minus_estimated,
       e.predictions AS predictions,
       e.scored AS scored,
       r.labelled AS labelled
FROM (SELECT * FROM {{db}}.ml_performance_estimated FINAL) AS e
LEFT JOIN (SELECT * FROM {{db}}.ml_performance FINAL) AS r
    ON r.model_name = e.model_name AND r.model_version = e.model_version
   AND r.window_seconds = e.window_seconds AND r.window_start = e.window_start
   AND r.segment_key = e.segment_key AND r.segment_value = e.segment_value AND r.metric = e.metric;
