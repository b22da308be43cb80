-- ml_versions: one small state per model version that ever stored a prediction, so that what
-- only needs "which versions, and their newest prediction" never scans ml_predictions:
-- ml_monitor_settings (views/00_config.sql: the models with predictions) and the no_predictions
-- signal of ml_alert_signals (views/60_alert_signals.sql).
--
-- Grain   (model_name, model_version); AggregatingMergeTree of simple states, so a version has
--         several rows until a merge: read it GROUP BY (model_name, model_version) with sum / min /
--         max, never as if one row were the whole. A Distributed table over shard-local
--         ml_versions merges the same way.
-- Reads   ml_predictions, at insert (ml_versions_mv below) and once, for the rows a store held
--         before this file (the backfill below).
-- Writes  ml_versions.
--   rows          predictions stored
--   timed_rows    of them with a plausible timestamp (>= ml_time_bounds.ts_min) less than a day
--                 after their arrival (inserted_at): the rows whose timestamp the no_predictions
--                 signal may take as the newest, whatever the time it is read at
--   first_seen, last_seen  the earliest and newest timestamp of those rows (NULL: none)
--   ahead_rows    predictions with a plausible timestamp a day or more after their arrival: whether
--                 one counts depends on when the signal is read (within a day of now), so a version
--                 with any is read from ml_predictions, as before (60_alert_signals.sql)
--   last_inserted the newest arrival
CREATE TABLE IF NOT EXISTS {{db}}.ml_versions {{on_cluster}} (
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    rows           SimpleAggregateFunction(sum, UInt64),
    timed_rows     SimpleAggregateFunction(sum, UInt64),
    first_seen     SimpleAggregateFunction(min, Nullable(DateTime64(6, 'UTC'))),
    last_seen      SimpleAggregateFunction(max, Nullable(DateTime64(6, 'UTC'))),
    ahead_rows     SimpleAggregateFunction(sum, UInt64),
    last_inserted  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
) ENGINE = {{replicated}}AggregatingMergeTree
ORDER BY (model_name, model_version);

-- ml_versions_scan: the states of the rows ml_predictions holds now, computed from them: what the
-- backfill below writes, and what a purge of ids or of a time range writes again for its model
-- (heron_collector/purge.py: totals cannot be subtracted from). The same expressions as
-- ml_versions_mv, which computes them per insert.
CREATE OR REPLACE VIEW {{db}}.ml_versions_scan {{on_cluster}} AS
WITH (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min
SELECT model_name, model_version, count() AS rows,
       countIf(timestamp >= ts_min AND timestamp < inserted_at + INTERVAL 1 DAY) AS timed_rows,
       minIf(toNullable(timestamp), timestamp >= ts_min AND timestamp < inserted_at + INTERVAL 1 DAY) AS first_seen,
       maxIf(toNullable(timestamp), timestamp >= ts_min AND timestamp < inserted_at + INTERVAL 1 DAY) AS last_seen,
       countIf(timestamp >= ts_min AND timestamp >= inserted_at + INTERVAL 1 DAY) AS ahead_rows,
       max(inserted_at) AS last_inserted
FROM {{db}}.ml_predictions
GROUP BY model_name, model_version;

-- The rows of a store older than this file, once (migrations run before the collector ingests).
INSERT INTO {{db}}.ml_versions SELECT * FROM {{db}}.ml_versions_scan;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.ml_versions_mv {{on_cluster}} TO {{db}}.ml_versions AS
WITH (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min
SELECT model_name, model_version, count() AS rows,
       countIf(timestamp >= ts_min AND timestamp < inserted_at + INTERVAL 1 DAY) AS timed_rows,
       minIf(toNullable(timestamp), timestamp >= ts_min AND timestamp < inserted_at + INTERVAL 1 DAY) AS first_seen,
       maxIf(toNullable(timestamp), timestamp >= ts_min AND timestamp < inserted_at + INTERVAL 1 DAY) AS last_seen,
       countIf(timestamp >= ts_min AND timestamp >= inserted_at + INTERVAL 1 DAY) AS ahead_rows,
       max(inserted_at) AS last_inserted
FROM {{db}}.ml_predictions
GROUP BY model_name, model_version;
