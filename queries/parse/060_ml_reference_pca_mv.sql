-- ml_reference_pca_mv: heron.reference records of kind `pca` → one ml_reference_pca row (the
-- PCA fit of a version's numeric reference features, for multivariate drift). One row-layout
-- record per upload; arrays are read as sent (the SDK sends finite numbers only).
CREATE MATERIALIZED VIEW {{db}}.ml_reference_pca_mv {{on_cluster}} TO {{db}}.ml_reference_pca AS
SELECT
    LogAttributes['ml.model.name'] AS model_name,
    LogAttributes['ml.model.version'] AS model_version,
    LogAttributes['heron.reference.id'] AS reference_id,
    JSONExtract(Body, 'features', 'Array(String)') AS features,
    JSONExtract(Body, 'mean', 'Array(Float64)') AS mean,
    JSONExtract(Body, 'std', 'Array(Float64)') AS std,
    JSONExtract(Body, 'components', 'Array(Array(Float64))') AS components,
    JSONExtract(Body, 'explained_variance_ratio', 'Array(Float64)') AS explained_variance_ratio,
    JSONExtractFloat(Body, 'variance_share') AS variance_share,
    JSONExtractUInt(Body, 'rows') AS rows,
    JSONExtractUInt(Body, 'chunk_size') AS chunk_size,
    toUInt32(JSONExtractUInt(Body, 'chunks')) AS chunks,
    JSONExtractFloat(Body, 'error_mean') AS error_mean,
    JSONExtractFloat(Body, 'error_std') AS error_std,
    toDateTime64(Timestamp, 6, 'UTC') AS timestamp
FROM {{db}}.otel_logs
WHERE if(EventName != '', EventName, LogAttributes['event.name']) = 'heron.reference'
  AND LogAttributes['heron.reference.kind'] = 'pca';
