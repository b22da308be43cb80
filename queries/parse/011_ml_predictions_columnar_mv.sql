-- ml_predictions_columnar_mv: columnar heron.prediction records → one ml_predictions row per row.
--
-- Reads otel_logs at insert time (wire format v1, docs/wire-format.md): records with
-- LogAttributes['heron.layout'] = 'columnar', where every per-row value is an array
-- (010_ml_predictions_row_mv.sql reads the one-prediction records). Steps:
--   1. per record, list its columns as (kind, name, raw JSON) — kind 1 id, 2 prediction,
--      3 score, 4 ts, 5 numeric feature, 6 categorical feature, 7 class probability, and the
--      per-row keys of coalesced single predictions: 8 latency_ms (when an array), 9 trace_id,
--      10 span_id (absent, the record's own latency and ids apply to every row);
--   2. ARRAY JOIN the columns, parse each column once into Array(Nullable(String)), ARRAY JOIN
--      its values — each join carries only scalars and the array being joined (joining a big
--      array alongside another is O(rows²) memory: see docs/architecture.md);
--   3. regroup the cells by (record, row) into one row with typed feature maps.
-- Typing: numbers stay numbers (JSON null → NULL; the strings "NaN", "Infinity", "-Infinity" →
-- IEEE NaN/±Inf), categories stay strings, a key the record lacks is absent from the map.
-- Numbers are canonicalised as text for `prediction` (1.0 → '1'), so labels compare as text.
-- The deprecated `event.name` attribute is accepted from senders without the EventName field.
-- A row's `ts` follows 010's rule: a finite number inside [1900, 2300) is kept, any other number
-- becomes 0 (the Unix epoch, counted as implausible by the analytics), null takes the record's time.
CREATE MATERIALIZED VIEW {{db}}.ml_predictions_columnar_mv {{on_cluster}} TO {{db}}.ml_predictions AS
WITH toFloat64OrNull(anyIf(s, kind = 4)) AS ts
SELECT
    any(model_name) AS model_name,
    any(model_version) AS model_version,
    ifNull(toDateTime64(if(isFinite(ts) AND ts >= -2208988800 AND ts < 10413792000, ts, if(ts IS NULL, NULL, 0.)),
                        6, 'UTC'),
           any(record_ts)) AS timestamp,
    ifNull(anyIf(s, kind = 1), '') AS prediction_id,
    CAST(groupArrayIf((name, toFloat64OrNull(s)), kind = 5) AS Map(String, Nullable(Float64))) AS numeric,
    CAST(groupArrayIf((name, s), kind = 6) AS Map(String, Nullable(String))) AS categorical,
    anyIf(s, kind = 2) AS prediction,
    toFloat64OrNull(anyIf(s, kind = 2)) AS prediction_value,
    toFloat64OrNull(anyIf(s, kind = 3)) AS score,
    CAST(groupArrayIf((name, toFloat64OrZero(s)), kind = 7 AND s IS NOT NULL) AS Map(String, Float64)) AS probabilities,
    JSONExtract(any(tags_raw), 'Map(String, String)') AS tags,
    toFloat64OrNull(if(startsWith(any(latency_raw), '['), anyIf(s, kind = 8), any(latency_raw))) AS latency_ms,
    any(batch_rows) AS batch_rows,
    ifNull(anyIf(s, kind = 9), any(trace_id)) AS trace_id,
    ifNull(anyIf(s, kind = 10), any(span_id)) AS span_id,
    any(service_name) AS service_name,
    any(environment) AS environment
FROM
(
    SELECT rec, model_name, model_version, record_ts, tags_raw, latency_raw, batch_rows, trace_id,
           span_id, service_name, environment, col.1 AS kind, col.2 AS name,
           JSONExtract(col.3, 'Array(Nullable(String))') AS vals
    FROM
    (
        SELECT
            rowNumberInAllBlocks() AS rec,
            LogAttributes['ml.model.name'] AS model_name,
            LogAttributes['ml.model.version'] AS model_version,
            toDateTime64(Timestamp, 6, 'UTC') AS record_ts,
            JSONExtractRaw(Body, 'tags') AS tags_raw,
            JSONExtractRaw(Body, 'latency_ms') AS latency_raw,
            toUInt32OrZero(LogAttributes['heron.rows']) AS batch_rows,
            TraceId AS trace_id,
            SpanId AS span_id,
            ServiceName AS service_name,
            if(ResourceAttributes['deployment.environment.name'] != '',
               ResourceAttributes['deployment.environment.name'],
               ResourceAttributes['deployment.environment']) AS environment,
            arrayFilter(c -> c.3 != '', arrayConcat(
                [(1, '', JSONExtractRaw(Body, 'id')),
                 (2, '', JSONExtractRaw(Body, 'prediction')),
                 (3, '', JSONExtractRaw(Body, 'score')),
                 (4, '', JSONExtractRaw(Body, 'ts')),
                 (8, '', if(startsWith(JSONExtractRaw(Body, 'latency_ms'), '['), JSONExtractRaw(Body, 'latency_ms'), '')),
                 (9, '', JSONExtractRaw(Body, 'trace_id')),
                 (10, '', JSONExtractRaw(Body, 'span_id'))],
                arrayMap(kv -> (5, kv.1, kv.2), JSONExtractKeysAndValuesRaw(Body, 'numeric')),
                arrayMap(kv -> (6, kv.1, kv.2), JSONExtractKeysAndValuesRaw(Body, 'categorical')),
                arrayMap(kv -> (7, kv.1, kv.2), JSONExtractKeysAndValuesRaw(Body, 'probabilities'))
            )) AS columns
        FROM {{db}}.otel_logs
        WHERE if(EventName != '', EventName, LogAttributes['event.name']) = 'heron.prediction'
          AND LogAttributes['heron.layout'] = 'columnar'
    )
    ARRAY JOIN columns AS col
)
ARRAY JOIN vals AS s, arrayEnumerate(vals) AS i
GROUP BY rec, i;
