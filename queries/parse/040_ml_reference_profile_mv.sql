-- ml_reference_profile_mv: heron.reference records of kind `profile` → one
-- ml_reference_profile row per feature (plus optional prediction / score / label summaries).
-- The prediction, score and label summaries are rows named `prediction`, `score` and `label` (kind
-- says which). A prediction or label summary may carry both edges/counts and frequencies (an SDK
-- that did not know the model's task); ml_reference_bins picks the form the task calls for.
-- Numeric summaries carry quantile bin edges and per-bin counts (len(edges) + 1 bins: below the
-- first edge, between edges, at or above the last); categorical ones carry frequencies.
CREATE MATERIALIZED VIEW {{db}}.ml_reference_profile_mv {{on_cluster}} TO {{db}}.ml_reference_profile AS
SELECT
    model_name,
    model_version,
    reference_id,
    entry.2 AS feature,
    CAST(entry.1, 'Enum8(\'numeric\' = 1, \'categorical\' = 2, \'prediction\' = 3, \'label\' = 4, \'score\' = 5)') AS kind,
    JSONExtractUInt(entry.3, 'count') AS count,
    JSONExtractUInt(entry.3, 'missing') AS missing,
    JSONExtractUInt(entry.3, 'nan') AS non_finite,
    JSONExtract(entry.3, 'edges', 'Array(Float64)') AS edges,
    JSONExtract(entry.3, 'counts', 'Array(UInt64)') AS counts,
    JSONExtract(entry.3, 'frequencies', 'Map(String, UInt64)') AS categories,
    JSONExtract(entry.3, 'min', 'Nullable(Float64)') AS min,
    JSONExtract(entry.3, 'max', 'Nullable(Float64)') AS max,
    JSONExtract(entry.3, 'mean', 'Nullable(Float64)') AS mean,
    JSONExtract(entry.3, 'std', 'Nullable(Float64)') AS std,
    record_ts AS timestamp
FROM
(
    SELECT
        LogAttributes['ml.model.name'] AS model_name,
        LogAttributes['ml.model.version'] AS model_version,
        LogAttributes['heron.reference.id'] AS reference_id,
        toDateTime64(Timestamp, 6, 'UTC') AS record_ts,
        arrayFilter(e -> e.3 != '', arrayConcat(
            arrayMap(kv -> (1, kv.1, kv.2), JSONExtractKeysAndValuesRaw(Body, 'numeric')),
            arrayMap(kv -> (2, kv.1, kv.2), JSONExtractKeysAndValuesRaw(Body, 'categorical')),
            [(3, 'prediction', JSONExtractRaw(Body, 'prediction')),
             (4, 'label', JSONExtractRaw(Body, 'label')),
             (5, 'score', JSONExtractRaw(Body, 'score'))]
        )) AS entries
    FROM {{db}}.otel_logs
    WHERE if(EventName != '', EventName, LogAttributes['event.name']) = 'heron.reference'
      AND LogAttributes['heron.reference.kind'] = 'profile'
)
ARRAY JOIN entries AS entry;
