-- ml_ground_truth_mv: heron.ground_truth records → one ml_ground_truth row per label.
-- Row layout: {"id", "label", "ts"?}; columnar: the same keys with arrays (wire format v1).
-- Labels are canonical text like predictions (1.0 → '1'), plus label_value when numeric.
-- ml.model.version is not needed: labels join predictions on (model_name, prediction_id).
-- `ts` follows 010's rule: a finite number inside [1900, 2300) is kept, any other number becomes
-- 0 (the Unix epoch), so no value makes the insert throw; null takes the record's time.
CREATE MATERIALIZED VIEW {{db}}.ml_ground_truth_mv {{on_cluster}} TO {{db}}.ml_ground_truth AS
WITH toFloat64OrNull(ts) AS ts_s
SELECT
    model_name,
    ifNull(id, '') AS prediction_id,
    label,
    toFloat64OrNull(label) AS label_value,
    ifNull(toDateTime64(if(isFinite(ts_s) AND ts_s >= -2208988800 AND ts_s < 10413792000, ts_s,
                           if(ts_s IS NULL, NULL, 0.)), 6, 'UTC'),
           record_ts) AS timestamp,
    service_name
FROM
(
    SELECT
        LogAttributes['ml.model.name'] AS model_name,
        toDateTime64(Timestamp, 6, 'UTC') AS record_ts,
        ServiceName AS service_name,
        LogAttributes['heron.layout'] = 'columnar' AS columnar,
        JSONExtract(if(columnar, JSONExtractRaw(Body, 'id'), concat('[', JSONExtractRaw(Body, 'id'), ']')),
                    'Array(Nullable(String))') AS ids,
        JSONExtract(if(columnar, JSONExtractRaw(Body, 'label'), concat('[', JSONExtractRaw(Body, 'label'), ']')),
                    'Array(Nullable(String))') AS labels,
        JSONExtract(if(columnar, JSONExtractRaw(Body, 'ts'), concat('[', JSONExtractRaw(Body, 'ts'), ']')),
                    'Array(Nullable(String))') AS stamps
    FROM {{db}}.otel_logs
    WHERE if(EventName != '', EventName, LogAttributes['event.name']) = 'heron.ground_truth'
)
ARRAY JOIN ids AS id, arrayResize(labels, length(ids)) AS label, arrayResize(stamps, length(ids)) AS ts;
