-- ml_reference_mv: heron.reference records of kind `sample` → one ml_reference row per
-- training-set row. Same columnar body as heron.prediction plus `label` and `offset` (the upload
-- position of the chunk's first row), parsed the same way as ml_predictions_mv: columns listed
-- as (kind, name, raw), each parsed once, exploded, regrouped by (record, row).
-- kinds: 2 prediction, 3 score, 5 numeric, 6 categorical, 8 label.
CREATE MATERIALIZED VIEW {{db}}.ml_reference_mv {{on_cluster}} TO {{db}}.ml_reference AS
SELECT
    any(model_name) AS model_name,
    any(model_version) AS model_version,
    any(reference_id) AS reference_id,
    toUInt32(any(offset) + i - 1) AS row_index,
    CAST(groupArrayIf((name, toFloat64OrNull(s)), kind = 5) AS Map(String, Nullable(Float64))) AS numeric,
    CAST(groupArrayIf((name, s), kind = 6) AS Map(String, Nullable(String))) AS categorical,
    anyIf(s, kind = 2) AS prediction,
    toFloat64OrNull(anyIf(s, kind = 2)) AS prediction_value,
    toFloat64OrNull(anyIf(s, kind = 3)) AS score,
    anyIf(s, kind = 8) AS label,
    toFloat64OrNull(anyIf(s, kind = 8)) AS label_value,
    any(record_ts) AS timestamp
FROM
(
    SELECT rec, model_name, model_version, reference_id, offset, record_ts, col.1 AS kind, col.2 AS name,
           JSONExtract(if(columnar, col.3, concat('[', col.3, ']')), 'Array(Nullable(String))') AS vals
    FROM
    (
        SELECT
            rowNumberInAllBlocks() AS rec,
            LogAttributes['ml.model.name'] AS model_name,
            LogAttributes['ml.model.version'] AS model_version,
            LogAttributes['heron.reference.id'] AS reference_id,
            JSONExtractUInt(Body, 'offset') AS offset,
            toDateTime64(Timestamp, 6, 'UTC') AS record_ts,
            LogAttributes['heron.layout'] != 'row' AS columnar,
            arrayFilter(c -> c.3 != '', arrayConcat(
                [(2, '', JSONExtractRaw(Body, 'prediction')),
                 (3, '', JSONExtractRaw(Body, 'score')),
                 (8, '', JSONExtractRaw(Body, 'label'))],
                arrayMap(kv -> (5, kv.1, kv.2), JSONExtractKeysAndValuesRaw(Body, 'numeric')),
                arrayMap(kv -> (6, kv.1, kv.2), JSONExtractKeysAndValuesRaw(Body, 'categorical'))
            )) AS columns
        FROM {{db}}.otel_logs
        WHERE if(EventName != '', EventName, LogAttributes['event.name']) = 'heron.reference'
          AND LogAttributes['heron.reference.kind'] = 'sample'
    )
    ARRAY JOIN columns AS col
)
ARRAY JOIN vals AS s, arrayEnumerate(vals) AS i
GROUP BY rec, i;
