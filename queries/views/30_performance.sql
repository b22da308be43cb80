-- Realised performance: predictions joined to their delayed labels by (model_name, prediction_id).
--
-- Reads   ml_predictions, ml_ground_truth (newest label per id: argMax by inserted_at),
--         ml_models (task, positive_class: newest registration), ml_performance_settings (below:
--         ml_monitor_settings windows, look-back raised to label_lookback_seconds);
--         ml_reference_chunks for the same metrics on the reference (ml_performance_reference).
-- Writes  ml_performance: one row per model / version / window / segment / metric (long format,
--         read with FINAL). Definitions of every metric: docs/statistics.md, "Performance".
--
-- Windows are fixed, UTC, aligned to the Unix epoch, and assigned by the *prediction* timestamp,
-- never the label's: a label arriving days later lands in its prediction's window. Each refresh
-- recomputes, whole, every window that overlaps the look-back range [now − look-back, now] and APPENDs the result to
-- a ReplacingMergeTree keyed by the row's identity (version = computed_at), so late labels and
-- back-filled predictions inside the look-back are corrected on the next refresh, and windows
-- older than the look-back keep their last computed rows instead of vanishing.
--
-- Segments: segment_key = '' / segment_value = '' is the whole window; every tag of a
-- prediction (ml_predictions.tags) also yields its own (tag, value) segment.

-- Windows and look-back: window_seconds and lookback_seconds of ml_monitor_settings (00_config.sql,
-- shared with drift and data quality, so the windows line up), except that the performance
-- look-back is at least label_lookback_seconds: labels arrive days after their predictions.
-- The effective windows of the performance views, per model: read it to see what a refresh does.
CREATE OR REPLACE VIEW {{db}}.ml_performance_settings {{on_cluster}} AS
SELECT model_name, window_seconds, greatest(lookback_seconds, label_lookback_seconds) AS lookback_seconds
FROM {{db}}.ml_monitor_settings;

CREATE TABLE IF NOT EXISTS {{db}}.ml_performance {{on_cluster}} (
    model_name      LowCardinality(String),
    model_version   LowCardinality(String),
    window_seconds  UInt32,
    window_start    DateTime('UTC'),
    window_end      DateTime('UTC'),           -- exclusive
    segment_key     LowCardinality(String),    -- '' = all predictions of the window, else a tag name
    segment_value   String,                    -- the tag's value ('' for the whole window)
    metric          LowCardinality(String),    -- accuracy, f1, roc_auc, mae … (docs/statistics.md)
    value           Nullable(Float64),         -- NULL = undefined here (no labels, one class only …)
    task            LowCardinality(String),    -- from ml_models; '' when the model is not registered
    predictions     UInt64,                    -- predictions in the window and segment
    labelled        UInt64,                    -- of them with a (non-null) label
    computed_at     DateTime64(3, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_name, model_version, window_seconds, window_start, segment_key, segment_value, metric);

-- ml_performance_rows: the rows every performance metric is computed from, as of `as_of`, of one
-- `source` (a parameter, so the other branch is pruned from the plan):
--   source 'window'     production predictions with their newest labels, in the windows of the
--                       look-back (w = the window's seconds, ws = its start, epoch seconds)
--   source 'reference'  the newest reference sample's own predictions, scores and labels, one
--                       pseudo-window per chunk (ml_reference_chunks: w = 1, ws = the chunk
--                       number) — the spread of these gives baselines from the reference
--                       (50_baselines.sql) with the very formulas below.
CREATE OR REPLACE VIEW {{db}}.ml_performance_rows {{on_cluster}} AS
WITH
    (SELECT max(lookback_seconds + window_seconds) FROM {{db}}.ml_performance_settings) AS max_span,
    {as_of:DateTime} AS refresh_time,
    (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,   -- plausible timestamps (schema/012_time_bounds.sql)
    (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max,
    settings AS (SELECT model_name, window_seconds, lookback_seconds FROM {{db}}.ml_performance_settings),
    models AS (
        SELECT model_name, model_version,
               argMax(task, inserted_at) AS task,
               argMax(positive_class, inserted_at) AS positive_class
        FROM {{db}}.ml_models
        GROUP BY model_name, model_version
    ),
    labels AS (
        -- newest label per id; a label is at most a day older than its prediction (clock skew)
        SELECT model_name, prediction_id,
               argMax(label, inserted_at) AS label,
               argMax(label_value, inserted_at) AS label_value,
               argMax(timestamp, inserted_at) AS label_ts,
               1 AS has_label
        FROM {{db}}.ml_ground_truth
        WHERE timestamp >= refresh_time - toIntervalSecond(max_span + 86400)
        GROUP BY model_name, prediction_id
    )
SELECT * FROM
(
    SELECT 'window' AS source,
           p.model_name AS model_name,
           p.model_version AS model_version,
           toUInt32(s.window_seconds) AS w,
           intDiv(toInt64(p.timestamp), w) * w AS ws,   -- toInt64: never overflows
           m.task AS task,
           if(m.positive_class = '', '1', m.positive_class) AS pos,
           p.prediction AS prediction,
           p.prediction_value AS prediction_value,
           p.score AS score,
           CAST(p.tags, 'Array(Tuple(String, String))') AS segments,
           g.has_label = 1 AND g.label IS NOT NULL AS labelled,
           g.label AS label,
           g.label_value AS label_value,
           (toUnixTimestamp64Micro(g.label_ts) - toUnixTimestamp64Micro(p.timestamp)) / 1e6 AS delay_s
    FROM {{db}}.ml_predictions AS p
    INNER JOIN settings AS s ON s.model_name = p.model_name
    LEFT JOIN models AS m ON m.model_name = p.model_name AND m.model_version = p.model_version
    LEFT JOIN labels AS g ON g.model_name = p.model_name AND g.prediction_id = p.prediction_id
    WHERE p.timestamp >= refresh_time - toIntervalSecond(max_span)
      AND p.timestamp >= ts_min AND p.timestamp < ts_max   -- implausible: in no window
      AND {{db}}_v1_in_lookback(ws, refresh_time, w, s.lookback_seconds)
      AND ({since_view:String} = '' OR {{db}}_v1_window_key(p.model_name, p.model_version, ws)
           IN (SELECT key FROM {{db}}.ml_windows_due(as_of = {as_of:DateTime}, since_view = {since_view:String})))
      AND {source:String} = 'window'
    UNION ALL
    SELECT 'reference', c.model_name, c.model_version, toUInt32(1), toInt64(c.chunk), m.task,
           if(m.positive_class = '', '1', m.positive_class), c.prediction, c.prediction_value, c.score,
           CAST([], 'Array(Tuple(String, String))'), c.label IS NOT NULL, c.label, c.label_value,
           CAST(NULL, 'Nullable(Float64)')
    FROM {{db}}.ml_reference_chunks AS c
    LEFT JOIN models AS m ON m.model_name = c.model_name AND m.model_version = c.model_version
    WHERE {source:String} = 'reference'
);

-- ml_performance_metrics: every metric of every window and reference chunk of ml_performance_rows.
CREATE OR REPLACE VIEW {{db}}.ml_performance_metrics {{on_cluster}} AS
WITH
    now64(3) AS computed,
    2.220446049250313e-16 AS eps,              -- np.finfo(np.float64).eps (log loss clip, MAPE floor)
    agg AS (
        SELECT source, model_name, model_version, w, ws, seg.key AS segment_key, seg.value AS segment_value,
               any(task) AS task,
               count() AS n,
               countIf(labelled) AS n_labelled,
               avgIf(delay_s, labelled) AS delay_mean,
               quantileExactInclusiveIf(0.5)(delay_s, labelled) AS delay_median,
               -- classification: rows with a label and a predicted label
               countIf(labelled AND prediction IS NOT NULL) AS nc,
               countIf(labelled AND prediction IS NOT NULL AND prediction = label) AS correct,
               -- binary confusion counts (positive = ml_models.positive_class, default '1')
               countIf(labelled AND prediction IS NOT NULL AND label = pos AND prediction = pos) AS tp,
               countIf(labelled AND prediction IS NOT NULL AND label != pos AND prediction = pos) AS fp,
               countIf(labelled AND prediction IS NOT NULL AND label = pos AND prediction != pos) AS fn,
               countIf(labelled AND prediction IS NOT NULL AND label != pos AND prediction != pos) AS tn,
               -- binary, from scores (the positive-class probability)
               groupArrayIf((assumeNotNull(score), toUInt8(assumeNotNull(label) = pos))::Tuple(score Float64, positive UInt8),
                            labelled AND isFinite(score)) AS scored,
               countIf(labelled AND isFinite(score)) AS ns,
               sumIf(if(label = pos, -log(least(greatest(score, eps), 1 - eps)),
                                     -log(least(greatest(1 - score, eps), 1 - eps))),
                     labelled AND isFinite(score)) AS logloss_sum,
               -- multiclass: per-class true / predicted / correct counts
               sumMapIf(map(assumeNotNull(label), toUInt64(1)), labelled AND prediction IS NOT NULL) AS true_n,
               sumMapIf(map(assumeNotNull(prediction), toUInt64(1)), labelled AND prediction IS NOT NULL) AS pred_n,
               sumMapIf(map(assumeNotNull(label), toUInt64(1)),
                        labelled AND prediction IS NOT NULL AND prediction = label) AS tp_n,
               -- regression: rows with a numeric label and a numeric prediction
               countIf(labelled AND isFinite(label_value) AND isFinite(prediction_value)) AS nr,
               avgIf(abs(label_value - prediction_value),
                     labelled AND isFinite(label_value) AND isFinite(prediction_value)) AS mae,
               avgIf(pow(label_value - prediction_value, 2),
                     labelled AND isFinite(label_value) AND isFinite(prediction_value)) AS mse,
               avgIf(abs(label_value - prediction_value) / greatest(abs(label_value), eps),
                     labelled AND isFinite(label_value) AND isFinite(prediction_value)) AS mape,
               varPopStableIf(label_value,
                              labelled AND isFinite(label_value) AND isFinite(prediction_value)) AS label_var
        FROM {{db}}.ml_performance_rows(as_of = {as_of:DateTime}, source = {source:String}, since_view = {since_view:String})
        ARRAY JOIN arrayConcat([('', '')], segments)::Array(Tuple(key String, value String)) AS seg
        GROUP BY source, model_name, model_version, w, ws, segment_key, segment_value
    )
SELECT source,
       model_name,
       model_version,
       w AS window_seconds,
       toDateTime(ws, 'UTC') AS window_start,
       toDateTime(ws + w, 'UTC') AS window_end,
       segment_key,
       segment_value,
       mv.metric AS metric,
       mv.value AS value,
       task,
       n AS predictions,
       n_labelled AS labelled,
       computed AS computed_at
FROM agg
ARRAY JOIN arrayConcat(
    CAST([('label_delay_mean_s', if(n_labelled > 0, delay_mean, NULL)),
          ('label_delay_median_s', if(n_labelled > 0, delay_median, NULL))],
         'Array(Tuple(metric String, value Nullable(Float64)))'),
    multiIf(
        task = 'binary_classification',
        CAST([('accuracy', if(nc > 0, (tp + tn) / nc, NULL)),
              ('precision', if(tp + fp > 0, tp / (tp + fp), NULL)),
              ('recall', if(tp + fn > 0, tp / (tp + fn), NULL)),
              ('f1', if(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), NULL)),
              ('fpr', if(fp + tn > 0, fp / (fp + tn), NULL)),
              ('fnr', if(fn + tp > 0, fn / (fn + tp), NULL)),
              ('tp', if(nc > 0, toFloat64(tp), NULL)),
              ('fp', if(nc > 0, toFloat64(fp), NULL)),
              ('fn', if(nc > 0, toFloat64(fn), NULL)),
              ('tn', if(nc > 0, toFloat64(tn), NULL)),
              -- both classes needed; arrayROCAUC / arrayAUCPR equal sklearn's roc_auc_score /
              -- average_precision_score, ties included (tested)
              ('roc_auc', if(arrayExists(x -> x.positive = 1, scored) AND arrayExists(x -> x.positive = 0, scored),
                             arrayROCAUC(arrayMap(x -> x.score, scored), arrayMap(x -> x.positive, scored)), NULL)),
              ('pr_auc', if(arrayExists(x -> x.positive = 1, scored),
                            arrayAUCPR(arrayMap(x -> x.score, scored), arrayMap(x -> x.positive, scored)), NULL)),
              ('log_loss', if(ns > 0, logloss_sum / ns, NULL))],
             'Array(Tuple(metric String, value Nullable(Float64)))'),
        task = 'multiclass_classification',
        CAST([('accuracy', if(nc > 0, correct / nc, NULL)),
              -- per class c over the classes seen in labels or predictions (sklearn's labels):
              -- F1_c = 2·TP_c / (true_c + predicted_c); macro = mean, weighted = by true_c
              ('f1_macro', if(nc > 0, arrayAvg(arrayMap(
                  k -> 2 * tp_n[k] / (true_n[k] + pred_n[k]),
                  arrayDistinct(arrayConcat(mapKeys(true_n), mapKeys(pred_n))))), NULL)),
              ('f1_weighted', if(nc > 0, arraySum(arrayMap(
                  k -> true_n[k] * 2 * tp_n[k] / (true_n[k] + pred_n[k]),
                  mapKeys(true_n))) / nc, NULL))],
             'Array(Tuple(metric String, value Nullable(Float64)))'),
        task = 'regression',
        CAST([('mae', if(nr > 0, mae, NULL)),
              ('rmse', if(nr > 0, sqrt(mse), NULL)),
              ('mape', if(nr > 0, mape, NULL)),
              ('r2', if(nr > 0 AND label_var > 0, 1 - mse / label_var, NULL))],
             'Array(Tuple(metric String, value Nullable(Float64)))'),
        -- task unknown (model not registered): only exact-match accuracy
        CAST([('accuracy', if(nc > 0, correct / nc, NULL))], 'Array(Tuple(metric String, value Nullable(Float64)))')
    )
) AS mv;


-- ml_performance_compute: what a refresh computes as of `as_of` (SELECT * FROM ml_performance_compute(as_of = now())
-- previews the next refresh; `heron refresh --from --to` replays past times). The
-- refreshable view below only selects from it: ClickHouse analyses a refreshable view's query
-- once more per refresh, which for these queries costs as much as their planning.
CREATE OR REPLACE VIEW {{db}}.ml_performance_compute {{on_cluster}} AS
SELECT * EXCEPT source FROM {{db}}.ml_performance_metrics(as_of = {as_of:DateTime}, source = 'window', since_view = {since_view:String});

-- ml_performance_reference: the whole-chunk metrics of each version's reference sample (chunk =
-- ml_reference_chunks' number; `labelled` its labelled rows). Read by 50_baselines.sql.
CREATE OR REPLACE VIEW {{db}}.ml_performance_reference {{on_cluster}} AS
SELECT model_name, model_version, toUInt32(toUnixTimestamp(window_start)) AS chunk, metric,
       assumeNotNull(value) AS value, labelled AS n
FROM (SELECT * FROM {{db}}.ml_performance_metrics(as_of = now(), source = 'reference', since_view = '')   -- filtered before `value` is the alias above
      WHERE segment_key = '' AND value IS NOT NULL AND isFinite(assumeNotNull(value))
        AND metric NOT IN ('label_delay_mean_s', 'label_delay_median_s'));

CREATE MATERIALIZED VIEW {{db}}.ml_performance_mv {{on_cluster}}
{{refresh}} APPEND
TO {{db}}.ml_performance {{empty}} AS
SELECT * FROM {{db}}.ml_performance_compute(as_of = now(), since_view = 'ml_performance_mv');
