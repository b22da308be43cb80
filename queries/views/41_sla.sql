-- SLA of every model from its heron.predict spans (otel_traces, the exporter's schema): calls,
-- errors, rows and latency per model / version / window, with the status against ml_slo.
--
-- Reads   otel_traces (SpanName = 'heron.predict'; SpanAttributes ml.model.name, ml.model.version,
--         heron.rows; Duration in ns; StatusCode 'Error', or 'STATUS_CODE_ERROR' from old
--         exporters), ml_slo_settings (40_slo.sql: targets, windows and look-back).
-- Writes  ml_sla: one row per model / version / window, wide (the metric set is fixed), read
--         with FINAL. model_version '*' aggregates every version of the model.
--
-- Definitions (docs/statistics.md, "SLA"):
--   latency_pXX_ms    exact quantile of Duration / 1e6 over every span of the window, failed
--                     calls included: quantileExactInclusive = numpy.percentile(method='linear').
--   error_rate        errors / calls.
--   A cancelled call (SpanAttributes heron.cancelled = 'true': asyncio cancellation, Ctrl-C) is
--   in none of these: it was stopped from outside, did not fail, and its duration is no latency.
--   calls_per_second  calls / seconds, seconds = the window's length, or for the window still
--                     running the seconds elapsed so far; rows_per_second likewise with heron.rows.
--   status            'breach' when a target is missed (breaches lists which: latency_p99,
--                     error_rate, throughput), else 'no_data' when the window has no call, else 'ok'.
-- Windows without any call appear between a version's first and last window with calls, and for
-- '*' up to the current window, so a model that stopped answering shows 'no_data' (or a
-- throughput breach when min_throughput is set) instead of silence.
-- Like the performance views: each refresh recomputes every window overlapping the look-back and
-- APPENDs to a ReplacingMergeTree keyed by identity (late spans from a replayed spool land right).
CREATE TABLE IF NOT EXISTS {{db}}.ml_sla {{on_cluster}} (
    model_name          LowCardinality(String),
    model_version       LowCardinality(String),    -- '*' = all versions of the model
    window_seconds      UInt32,
    window_start        DateTime('UTC'),
    window_end          DateTime('UTC'),           -- exclusive
    calls               UInt64,
    errors              UInt64,
    error_rate          Nullable(Float64),         -- NULL without calls
    rows                UInt64,                    -- sum of heron.rows (batch calls count their rows)
    seconds             Float64,                   -- observed length of the window
    calls_per_second    Float64,
    rows_per_second     Float64,
    latency_p50_ms      Nullable(Float64),
    latency_p95_ms      Nullable(Float64),
    latency_p99_ms      Nullable(Float64),
    latency_mean_ms     Nullable(Float64),
    latency_max_ms      Nullable(Float64),
    slo_p99_ms          Float64,
    slo_error_rate      Float64,
    slo_min_throughput  Float64,
    status              LowCardinality(String),    -- ok | breach | no_data
    breaches            Array(String),             -- latency_p99 | error_rate | throughput
    computed_at         DateTime64(3, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_name, model_version, window_seconds, window_start);

-- ml_sla_compute: what a refresh computes as of `as_of` (SELECT * FROM ml_sla_compute(as_of = now())
-- previews the next refresh; `heron refresh --from --to` replays past times). The
-- refreshable view below only selects from it: ClickHouse analyses a refreshable view's query
-- once more per refresh, which for these queries costs as much as their planning.
CREATE OR REPLACE VIEW {{db}}.ml_sla_compute {{on_cluster}} AS
WITH
    {as_of:DateTime} AS refresh_time,
    now64(3) AS computed,
    (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,   -- plausible timestamps (schema/012_time_bounds.sql)
    (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max,
    (SELECT max(lookback_seconds + window_seconds) FROM {{db}}.ml_slo_settings) AS max_span,
    settings AS (SELECT * FROM {{db}}.ml_slo_settings),
    spans AS (
        SELECT t.model_name AS model_name, version AS model_version,
               st.window_seconds AS w, st.lookback_seconds AS lb,
               intDiv(toInt64(t.Timestamp), w) * w AS ws,   -- toInt64: never overflows
               t.ms AS ms, t.is_error AS is_error, t.n_rows AS n_rows
        FROM (
            SELECT SpanAttributes['ml.model.name'] AS model_name,
                   [SpanAttributes['ml.model.version'], '*'] AS versions,
                   Timestamp,
                   Duration / 1e6 AS ms,
                   StatusCode IN ('Error', 'STATUS_CODE_ERROR') AS is_error,
                   toUInt64OrZero(SpanAttributes['heron.rows']) AS n_rows
            FROM {{db}}.otel_traces
            WHERE SpanName = 'heron.predict' AND SpanAttributes['heron.cancelled'] != 'true'
              AND Timestamp >= refresh_time - toIntervalSecond(max_span)
              AND Timestamp >= ts_min AND Timestamp < ts_max   -- implausible: in no window
        ) AS t
        ARRAY JOIN t.versions AS version
        INNER JOIN settings AS st ON st.model_name = t.model_name
    ),
    stats AS (
        SELECT model_name, model_version, w, ws,
               count() AS calls,
               countIf(is_error) AS errors,
               sum(n_rows) AS rows,
               quantilesExactInclusive(0.5, 0.95, 0.99)(ms) AS q,
               avg(ms) AS mean_ms,
               max(ms) AS max_ms
        FROM spans
        WHERE {{db}}_v1_in_lookback(ws, refresh_time, w, lb)   -- the look-back's windows (01_functions.sql)
        GROUP BY model_name, model_version, w, ws
    ),
    grid AS (
        SELECT model_name, model_version, w, window AS ws
        FROM (
            SELECT model_name, model_version, w,
                   range(toUInt32(min(ws)),
                         toUInt32(if(model_version = '*', intDiv(toUnixTimestamp(refresh_time), w) * w, max(ws))) + w,
                         w) AS windows
            FROM stats
            GROUP BY model_name, model_version, w
        )
        ARRAY JOIN windows AS window
    )
SELECT g.model_name AS model_name,
       g.model_version AS model_version,
       g.w AS window_seconds,
       toDateTime(g.ws, 'UTC') AS window_start,
       toDateTime(g.ws + g.w, 'UTC') AS window_end,
       s.calls AS calls,
       s.errors AS errors,
       if(s.calls > 0, s.errors / s.calls, NULL) AS error_rate,
       s.rows AS rows,
       toFloat64(greatest(least(g.w, toInt64(toUnixTimestamp(refresh_time)) - g.ws), 1)) AS seconds,
       s.calls / seconds AS calls_per_second,
       s.rows / seconds AS rows_per_second,
       if(s.calls > 0, s.q[1], NULL) AS latency_p50_ms,
       if(s.calls > 0, s.q[2], NULL) AS latency_p95_ms,
       if(s.calls > 0, s.q[3], NULL) AS latency_p99_ms,
       if(s.calls > 0, s.mean_ms, NULL) AS latency_mean_ms,
       if(s.calls > 0, s.max_ms, NULL) AS latency_max_ms,
       st.p99_ms AS slo_p99_ms,
       st.error_rate AS slo_error_rate,
       st.min_throughput AS slo_min_throughput,
       arrayFilter(x -> x != '', [
           if(s.calls > 0 AND s.q[3] > st.p99_ms, 'latency_p99', ''),
           if(s.calls > 0 AND s.errors / s.calls > st.error_rate, 'error_rate', ''),
           if(st.min_throughput > 0 AND calls_per_second < st.min_throughput, 'throughput', '')
       ]) AS breaches,
       multiIf(notEmpty(breaches), 'breach', s.calls = 0, 'no_data', 'ok') AS status,
       computed AS computed_at
FROM grid AS g
LEFT JOIN stats AS s
    ON s.model_name = g.model_name AND s.model_version = g.model_version AND s.w = g.w AND s.ws = g.ws
INNER JOIN settings AS st ON st.model_name = g.model_name;

CREATE MATERIALIZED VIEW {{db}}.ml_sla_mv {{on_cluster}}
{{refresh}} APPEND
TO {{db}}.ml_sla {{empty}} AS
SELECT * FROM {{db}}.ml_sla_compute(as_of = now());
