-- Estimated performance without labels (CBPE, confidence-based performance estimation) for
-- binary classifiers that send a positive-class probability (ml_predictions.score).
--
-- Reads   ml_predictions, ml_models (task = 'binary_classification', positive_class),
--         ml_performance_settings (the same windows and look-back as ml_performance).
-- Writes  ml_performance_estimated: the same identity and long format as ml_performance
--         (read with FINAL); ml_performance_vs_estimated (32_*.sql) puts both side by side.
--
-- Assumption: the score is calibrated, P(label = positive | score = p) = p. Then for every row
-- the expected confusion-matrix contribution is, with ŷ the predicted label,
--     E[TP] = p·[ŷ=1]   E[FP] = (1−p)·[ŷ=1]   E[FN] = p·[ŷ=0]   E[TN] = (1−p)·[ŷ=0]
-- and the window's expected counts are their sums. Metrics are ratios of expected counts, as in
-- NannyML's CBPE: accuracy = (TP+TN)/n, precision = TP/(TP+FP), recall = TP/(TP+FN),
-- F1 = 2TP/(2TP+FP+FN). Expected ROC AUC: the ROC curve whose points, for each distinct score
-- threshold t (scores sorted descending, ties grouped), are (ΣFP-weights/ΣN-weights,
-- ΣTP-weights/ΣP-weights) over rows with score ≥ t, with weights p (positive) and 1−p
-- (negative), integrated by the trapezoid rule — the realised ROC AUC with labels replaced by p.
-- Rows without a finite score, or whose score lies outside [0, 1], are left out (`scored`).
-- Unlike NannyML, Heron does not recalibrate scores on a reference set (yet): an uncalibrated
-- model gives biased estimates, which the realised metric beside it reveals once labels arrive.

CREATE TABLE IF NOT EXISTS {{db}}.ml_performance_estimated {{on_cluster}} (
    model_name      LowCardinality(String),
    model_version   LowCardinality(String),
    window_seconds  UInt32,
    window_start    DateTime('UTC'),
    window_end      DateTime('UTC'),           -- exclusive
    segment_key     LowCardinality(String),    -- '' = all predictions of the window, else a tag name
    segment_value   String,
    metric          LowCardinality(String),    -- accuracy, precision, recall, f1, roc_auc, tp, fp, fn, tn
    value           Nullable(Float64),         -- the estimate; NULL = undefined
    predictions     UInt64,                    -- predictions in the window and segment
    scored          UInt64,                    -- of them used: finite score in [0, 1] and a predicted label
    computed_at     DateTime64(3, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_name, model_version, window_seconds, window_start, segment_key, segment_value, metric);

-- ml_performance_estimated_rows: the rows the estimates are computed from, as of `as_of`, of one
-- `source` of ml_performance_rows' two (30_performance.sql): 'window' (production predictions of
-- the look-back's windows) and 'reference' (the reference sample's chunks: w = 1, ws = chunk).
CREATE OR REPLACE VIEW {{db}}.ml_performance_estimated_rows {{on_cluster}} AS
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
        HAVING task = 'binary_classification'
    )
SELECT source, model_name, model_version, w, ws,
       prediction IS NOT NULL AND isFinite(score) AND score >= 0 AND score <= 1 AS ok,
       assumeNotNull(score) AS s,
       prediction = if(positive_class = '', '1', positive_class) AS yhat,
       segments
FROM
(
    SELECT 'window' AS source,
           p.model_name AS model_name,
           p.model_version AS model_version,
           toUInt32(st.window_seconds) AS w,
           intDiv(toInt64(p.timestamp), w) * w AS ws,   -- toInt64: never overflows
           p.prediction AS prediction,
           p.score AS score,
           m.positive_class AS positive_class,
           CAST(p.tags, 'Array(Tuple(String, String))') AS segments
    FROM {{db}}.ml_predictions AS p
    INNER JOIN models AS m ON m.model_name = p.model_name AND m.model_version = p.model_version
    INNER JOIN settings AS st ON st.model_name = p.model_name
    WHERE p.timestamp >= refresh_time - toIntervalSecond(max_span)
      AND p.timestamp >= ts_min AND p.timestamp < ts_max   -- implausible: in no window
      AND {{db}}_v1_in_lookback(ws, refresh_time, w, st.lookback_seconds)
      AND ({since_view:String} = '' OR {{db}}_v1_window_key(p.model_name, p.model_version, ws)
           IN (SELECT key FROM {{db}}.ml_windows_due(as_of = {as_of:DateTime}, since_view = {since_view:String})))
      AND {source:String} = 'window'
    UNION ALL
    SELECT 'reference', c.model_name, c.model_version, toUInt32(1), toInt64(c.chunk), c.prediction, c.score,
           m.positive_class, CAST([], 'Array(Tuple(String, String))')
    FROM {{db}}.ml_reference_chunks AS c
    INNER JOIN models AS m ON m.model_name = c.model_name AND m.model_version = c.model_version
    WHERE {source:String} = 'reference'
);

-- ml_performance_estimated_metrics: every estimate of every window and reference chunk.
CREATE OR REPLACE VIEW {{db}}.ml_performance_estimated_metrics {{on_cluster}} AS
WITH
    now64(3) AS computed,
    agg AS (
        SELECT source, model_name, model_version, w, ws, seg.key AS segment_key, seg.value AS segment_value,
               count() AS n,
               countIf(ok) AS ns,
               sumIf(s, ok AND yhat) AS etp,
               sumIf(1 - s, ok AND yhat) AS efp,
               sumIf(s, ok AND NOT yhat) AS efn,
               sumIf(1 - s, ok AND NOT yhat) AS etn,
               sumIf(s, ok) AS epos,
               sumIf(1 - s, ok) AS eneg,
               -- expected ROC: cumulative weights at each distinct threshold, scores descending
               arraySort(x -> -x, groupArrayIf(s, ok)) AS sorted,
               arrayCumSum(sorted) AS cum_pos,
               arrayCumSum(arrayMap(x -> 1 - x, sorted)) AS cum_neg,
               -- the last row of each group of tied scores (NaN sentinel: never equal)
               arrayMap((a, b) -> a != b, sorted, arrayPushBack(arrayPopFront(sorted), nan)) AS last_of_tie,
               arrayFilter((v, l) -> l, cum_pos, last_of_tie) AS tps,
               arrayFilter((v, l) -> l, cum_neg, last_of_tie) AS fps,
               arraySum(arrayMap((d, a, b) -> d * (a + b),
                                 arrayPopFront(arrayDifference(arrayPushFront(fps, 0.))),
                                 tps,
                                 arrayPopBack(arrayPushFront(tps, 0.)))) AS twice_area
        FROM {{db}}.ml_performance_estimated_rows(as_of = {as_of:DateTime}, source = {source:String}, since_view = {since_view:String})
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
       n AS predictions,
       ns AS scored,
       computed AS computed_at
FROM agg
ARRAY JOIN CAST([
    ('accuracy', if(ns > 0, (etp + etn) / ns, NULL)),
    ('precision', if(etp + efp > 0, etp / (etp + efp), NULL)),
    ('recall', if(etp + efn > 0, etp / (etp + efn), NULL)),
    ('f1', if(2 * etp + efp + efn > 0, 2 * etp / (2 * etp + efp + efn), NULL)),
    ('roc_auc', if(epos > 0 AND eneg > 0, twice_area / (2 * epos * eneg), NULL)),
    ('tp', if(ns > 0, etp, NULL)),
    ('fp', if(ns > 0, efp, NULL)),
    ('fn', if(ns > 0, efn, NULL)),
    ('tn', if(ns > 0, etn, NULL))
], 'Array(Tuple(metric String, value Nullable(Float64)))') AS mv;


-- ml_performance_estimated_compute: what a refresh computes as of `as_of` (SELECT * FROM
-- ml_performance_estimated_compute(as_of = now()) previews the next refresh; `heron refresh
-- --from --to` replays past times). The refreshable view below only selects from it: ClickHouse
-- analyses a refreshable view's query once more per refresh, which for these queries costs as
-- much as their planning.
CREATE OR REPLACE VIEW {{db}}.ml_performance_estimated_compute {{on_cluster}} AS
SELECT * EXCEPT source FROM {{db}}.ml_performance_estimated_metrics(as_of = {as_of:DateTime}, source = 'window', since_view = {since_view:String});

-- ml_performance_estimated_reference: the estimates of each version's reference chunks (chunk as
-- in ml_reference_chunks; n = its scored rows). Read by 50_baselines.sql.
CREATE OR REPLACE VIEW {{db}}.ml_performance_estimated_reference {{on_cluster}} AS
SELECT model_name, model_version, toUInt32(toUnixTimestamp(window_start)) AS chunk, metric,
       assumeNotNull(value) AS value, scored AS n
FROM (SELECT * FROM {{db}}.ml_performance_estimated_metrics(as_of = now(), source = 'reference', since_view = '')   -- filtered before `value` is the alias above
      WHERE segment_key = '' AND value IS NOT NULL AND isFinite(assumeNotNull(value))
        AND metric NOT IN ('label_delay_mean_s', 'label_delay_median_s'));

CREATE MATERIALIZED VIEW {{db}}.ml_performance_estimated_mv {{on_cluster}}
{{refresh}} APPEND
TO {{db}}.ml_performance_estimated {{empty}} AS
SELECT * FROM {{db}}.ml_performance_estimated_compute(as_of = now(), since_view = 'ml_performance_estimated_mv');
