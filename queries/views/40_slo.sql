-- SLO targets of the SLA view (41_sla.sql), one row per model; model_name '*' = every model
-- without its own row. A NULL column inherits: model row → '*' row → built-in default.
--   p99_ms          99th-percentile latency of heron.predict spans must stay at or below. 1000.
--   error_rate      share of spans with status Error must stay at or below. 0.01 (1 %).
--   min_throughput  calls per second must stay at or above; 0 disables the check. 0.
-- Windows (window_seconds) and look-back come from ml_monitor_config (00_config.sql), resolved as
-- ml_monitor_settings does.
-- Defaults and why: docs/statistics.md, "SLA".
CREATE TABLE IF NOT EXISTS {{db}}.ml_slo {{on_cluster}} (
    model_name      String,                    -- '*' = the default for every model
    p99_ms          Nullable(Float64),
    error_rate      Nullable(Float64),
    min_throughput  Nullable(Float64),         -- calls per second
    updated_at      DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(updated_at)
ORDER BY model_name;

-- The effective targets per model (every model with heron.predict spans, registered or not).
CREATE OR REPLACE VIEW {{db}}.ml_slo_settings {{on_cluster}} AS
WITH
    star AS (
        SELECT argMax(p99_ms, updated_at) AS p99_ms, argMax(error_rate, updated_at) AS error_rate,
               argMax(min_throughput, updated_at) AS min_throughput
        FROM {{db}}.ml_slo WHERE model_name = '*'
    ),
    own AS (
        SELECT model_name, argMax(p99_ms, updated_at) AS p99_ms, argMax(error_rate, updated_at) AS error_rate,
               argMax(min_throughput, updated_at) AS min_throughput
        FROM {{db}}.ml_slo WHERE model_name != '*' GROUP BY model_name
    ),
    models AS (
        SELECT DISTINCT SpanAttributes['ml.model.name'] AS model_name FROM {{db}}.otel_traces
        WHERE SpanName = 'heron.predict'
        UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_models
        UNION DISTINCT SELECT model_name FROM own
    ),
    -- windows as ml_monitor_settings resolves them (own row, else '*' row, else built-in), read
    -- from ml_monitor_config directly: a model may have spans and no prediction at all
    monitor AS (
        SELECT model_name, window_seconds, lookback_seconds FROM {{db}}.ml_monitor_config FINAL
        WHERE model_name != '*'
    ),
    monitor_star AS (
        SELECT window_seconds, lookback_seconds FROM {{db}}.ml_monitor_config FINAL WHERE model_name = '*'
    )
SELECT m.model_name AS model_name,
       toUInt32(greatest(if(mo.window_seconds > 0, mo.window_seconds,
                            coalesce((SELECT anyOrNull(window_seconds) FROM monitor_star), 3600)), 1)) AS window_seconds,
       toUInt32(if(mo.window_seconds > 0, mo.lookback_seconds,
                   coalesce((SELECT anyOrNull(lookback_seconds) FROM monitor_star), 259200))) AS lookback_seconds,
       toFloat64(coalesce(o.p99_ms, (SELECT any(p99_ms) FROM star), 1000)) AS p99_ms,
       toFloat64(coalesce(o.error_rate, (SELECT any(error_rate) FROM star), 0.01)) AS error_rate,
       toFloat64(coalesce(o.min_throughput, (SELECT any(min_throughput) FROM star), 0)) AS min_throughput
FROM models AS m
LEFT JOIN own AS o ON o.model_name = m.model_name
LEFT JOIN monitor AS mo ON mo.model_name = m.model_name
WHERE m.model_name != '';
