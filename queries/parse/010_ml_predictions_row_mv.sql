-- ml_predictions_row_mv: one-prediction heron.prediction records → one ml_predictions row each.
--
-- Reads otel_logs at insert time (wire format v1, docs/wire-format.md): records with
-- LogAttributes['heron.layout'] = 'row' (or no layout: a single prediction is the default),
-- whose values are scalars. Columnar batches go through 011_ml_predictions_columnar_mv.sql.
-- Typing, the same in both: numbers stay numbers (JSON null → NULL; the strings "NaN",
-- "Infinity", "-Infinity" → IEEE NaN/±Inf), categories stay strings (a number or boolean sent as
-- a category becomes its text), a key the record lacks is absent from the map. `prediction` is
-- text with numbers canonical (1.0 → '1') so labels compare as text; `prediction_value` is set
-- when it is a number. The deprecated `event.name` attribute stands in for an empty EventName.
-- `ts` (Unix seconds) is kept when it is a finite number inside DateTime64's range [1900, 2300);
-- any other number (NaN, ±Inf, 1e30) becomes 0, the Unix epoch, so no value makes the insert
-- throw; the analytics count such rows as implausible (schema/012_time_bounds.sql, ml_time_bounds). A missing
-- or null `ts` takes the record's Timestamp. The same rule is in 011 and 020.
CREATE MATERIALIZED VIEW {{db}}.ml_predictions_row_mv {{on_cluster}} TO {{db}}.ml_predictions AS
WITH JSONExtract(Body, 'ts', 'Nullable(Float64)') AS ts
SELECT
    LogAttributes['ml.model.name'] AS model_name,
    LogAttributes['ml.model.version'] AS model_version,
    ifNull(toDateTime64(if(isFinite(ts) AND ts >= -2208988800 AND ts < 10413792000, ts, if(ts IS NULL, NULL, 0.)),
                        6, 'UTC'),
           toDateTime64(Timestamp, 6, 'UTC')) AS timestamp,
    ifNull(JSONExtract(Body, 'id', 'Nullable(String)'), '') AS prediction_id,
    CAST(JSONExtractKeysAndValues(Body, 'numeric', 'Nullable(Float64)') AS Map(String, Nullable(Float64))) AS numeric,
    CAST(JSONExtractKeysAndValues(Body, 'categorical', 'Nullable(String)') AS Map(String, Nullable(String))) AS categorical,
    JSONExtract(Body, 'prediction', 'Nullable(String)') AS prediction,
    toFloat64OrNull(prediction) AS prediction_value,
    JSONExtract(Body, 'score', 'Nullable(Float64)') AS score,
    CAST(JSONExtractKeysAndValues(Body, 'probabilities', 'Float64') AS Map(String, Float64)) AS probabilities,
    JSONExtract(Body, 'tags', 'Map(String, String)') AS tags,
    JSONExtract(Body, 'latency_ms', 'Nullable(Float64)') AS latency_ms,
    toUInt32(1) AS batch_rows,
    TraceId AS trace_id,
    SpanId AS span_id,
    ServiceName AS service_name,
    if(ResourceAttributes['deployment.environment.name'] != '',
       ResourceAttributes['deployment.environment.name'],
       ResourceAttributes['deployment.environment']) AS environment
FROM {{db}}.otel_logs
WHERE if(EventName != '', EventName, LogAttributes['event.name']) = 'heron.prediction'
  AND LogAttributes['heron.layout'] IN ('row', '');
