-- Heron's database. Atomic, because refreshable materialized views (the scheduled analytics)
-- only run in Atomic or Replicated databases.
CREATE DATABASE IF NOT EXISTS {{db}} {{on_cluster}} ENGINE = Atomic;

-- Which migration files have been applied, with the checksum they had. Versioned files
-- (schema/) run once; repeatable ones (parse/, views/) run again when their checksum changes,
-- and `views` lists the materialized views a repeatable file created, so that when a later
-- release removes or renames the file its views are dropped (checksum 'removed').
CREATE TABLE IF NOT EXISTS {{db}}.heron_migrations {{on_cluster}} (
    name       String,
    checksum   String,
    views      Array(String),
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(applied_at)
ORDER BY name;
