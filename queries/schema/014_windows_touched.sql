-- ml_windows_touched: which (model, version, minute) each insert into ml_predictions touched, so a
-- scheduled refresh recomputes only the windows that received rows since its last run, whatever
-- their timestamps (late, out-of-order and replayed rows included), and not the whole look-back.
--
-- Grain   one row per (insert block, model, version, minute of the rows' timestamps); a
--         prediction with an implausible timestamp (ml_time_bounds) is counted by ml_data_quality
--         in the window it arrived in, so it touches the minute of its inserted_at instead.
-- Reads   ml_predictions, at insert (ml_windows_touched_mv below).
-- Read by ml_windows_due (views/02_windows_due.sql), which maps minutes to each model's windows.
-- Kept    7 days (TTL): a view whose last successful refresh is older than 6 days, or unknown (a
--         new view, a restarted embedded store), recomputes its whole look-back instead.
-- A shard-local table: each shard records the windows its own rows touched.
CREATE TABLE IF NOT EXISTS {{db}}.ml_windows_touched {{on_cluster}} (
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    minute         DateTime('UTC'),
    rows           UInt64,
    inserted_at    DateTime64(6, 'UTC')
) ENGINE = {{replicated}}MergeTree
ORDER BY inserted_at
TTL toDateTime(inserted_at) + INTERVAL 7 DAY;

-- {{db}}_v1_touched_minute(timestamp, inserted_at, ts_min, ts_max): the minute a stored prediction
-- touches; written once for the insert-time view below and for a purge (heron_collector/purge.py),
-- which records the windows of the rows it deletes the same way.
CREATE OR REPLACE FUNCTION {{db}}_v1_touched_minute {{on_cluster}} AS (timestamp, inserted_at, ts_min, ts_max) ->
    toStartOfMinute(if(timestamp >= ts_min AND timestamp < ts_max, timestamp, inserted_at));

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.ml_windows_touched_mv {{on_cluster}} TO {{db}}.ml_windows_touched AS
WITH (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,
     (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max
SELECT model_name, model_version,
       {{db}}_v1_touched_minute(timestamp, inserted_at, ts_min, ts_max) AS minute,
       count() AS rows, now64(6) AS inserted_at
FROM {{db}}.ml_predictions
GROUP BY model_name, model_version, minute;
