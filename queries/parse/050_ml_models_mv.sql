-- ml_models_mv: heron.model records → the ml_models registry (ReplacingMergeTree: the newest
-- registration of a (model, version) wins). Read with FINAL or argMax(…, inserted_at).
CREATE MATERIALIZED VIEW {{db}}.ml_models_mv {{on_cluster}} TO {{db}}.ml_models AS
SELECT
    LogAttributes['ml.model.name'] AS model_name,
    LogAttributes['ml.model.version'] AS model_version,
    JSONExtractString(Body, 'task') AS task,
    if(JSONHas(Body, 'positive_class'), JSONExtract(concat('[', JSONExtractRaw(Body, 'positive_class'), ']'), 'Array(String)')[1], '') AS positive_class,
    JSONExtractString(Body, 'framework') AS framework,
    JSONExtractString(Body, 'owner') AS owner,
    JSONExtractString(Body, 'training_data_version') AS training_data_version,
    if(JSONHas(Body, 'params'), JSONExtractRaw(Body, 'params'), '{}') AS params,
    JSONExtract(Body, 'tags', 'Map(String, String)') AS tags,
    JSONExtract(Body, 'libraries', 'Map(String, String)') AS libraries,
    JSONExtractString(Body, 'git_sha') AS git_sha,
    ServiceName AS service_name,
    toDateTime64(Timestamp, 6, 'UTC') AS registered_at
FROM {{db}}.otel_logs
WHERE if(EventName != '', EventName, LogAttributes['event.name']) = 'heron.model';
