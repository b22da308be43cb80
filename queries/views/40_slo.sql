-- SLO targets of the SLA view (41_sla.sql), one row per model; model_name '*' = every model.
-- A NULL column inherits, as in ml_monitor_config: model row → '*' row → ml_slo_defaults (below).
--   p99_ms          99th-percentile latency of heron.predict spans must stay at or below.
--   error_rate      share of spans with status Error must stay at or below.
--   min_throughput  calls per second must stay at or above; 0 disables the check.
-- Windows (window_seconds) and look-back are ml_monitor_settings' (00_config.sql); a model that
-- has spans and nothing else gets the '*' row's.
-- Defaults and why: docs/statistics.md, "SLA".
CREATE TABLE IF NOT EXISTS {{db}}.ml_slo {{on_cluster}} (
    model_name      String,                    -- '*' = the default for every model
    p99_ms          Nullable(Float64),
    error_rate      Nullable(Float64),
    min_throughput  Nullable(Float64),         -- calls per second
    updated_at      DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(updated_at)
ORDER BY model_name;

-- The built-in targets, one row: the only place they are written.
CREATE OR REPLACE VIEW {{db}}.ml_slo_defaults {{on_cluster}} AS
SELECT 1000. AS p99_ms, 0.01 AS error_rate, 0. AS min_throughput;

-- The effective targets per model (every model with heron.predict spans, registered or not).
CREATE OR REPLACE VIEW {{db}}.ml_slo_settings {{on_cluster}} AS
WITH
    models AS (
        SELECT DISTINCT SpanAttributes['ml.model.name'] AS model_name FROM {{db}}.otel_traces
        WHERE SpanName = 'heron.predict'
        UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_models
        UNION DISTINCT SELECT model_name FROM {{db}}.ml_slo WHERE model_name != '*'
    ),
    targets AS (
        SELECT model_name AS cfg_model, toUInt8(if(model_name = '*', 1, 2)) AS priority, p99_ms, error_rate,
               min_throughput
        FROM {{db}}.ml_slo FINAL
        UNION ALL
        SELECT '*', 0, p99_ms, error_rate, min_throughput FROM {{db}}.ml_slo_defaults
    ),
    assumeNotNull((SELECT settings FROM {{db}}.ml_settings_lookup)) AS ms   -- windows and look-back (00_config.sql)
SELECT m.model_name AS model_name,
       toUInt32(transform(m.model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star])) AS window_seconds,
       toUInt32(transform(m.model_name, ms.model, ms.lookback_seconds, ms.lookback_seconds[ms.star]))
           AS lookback_seconds,
       toFloat64(assumeNotNull(argMaxIf(t.p99_ms, t.priority, t.p99_ms IS NOT NULL))) AS p99_ms,
       toFloat64(assumeNotNull(argMaxIf(t.error_rate, t.priority, t.error_rate IS NOT NULL))) AS error_rate,
       toFloat64(assumeNotNull(argMaxIf(t.min_throughput, t.priority, t.min_throughput IS NOT NULL)))
           AS min_throughput
FROM models AS m
CROSS JOIN targets AS t
WHERE (t.cfg_model = m.model_name OR t.cfg_model = '*') AND m.model_name != ''
GROUP BY m.model_name;

