-- Exactly-once from an at-least-once spool. The collector inserts every spool segment with an
-- insert_deduplication_token (and deduplicate_blocks_in_dependent_materialized_views = 1), so a
-- segment replayed after a crash is dropped by each table that already has it, including the
-- tables the parse views fill. Plain MergeTree keeps no block ids unless this window is set
-- (Replicated tables keep replicated_deduplication_window = 1000 by default).
ALTER TABLE {{db}}.otel_logs {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.otel_traces {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.otel_traces_trace_id_ts {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.ml_predictions {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.ml_ground_truth {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.ml_reference {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.ml_reference_profile {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.ml_models {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;

-- Rows the store refused (after the collector split a failing insert down to single rows), with
-- the engine's error, so no value can stop the pipeline and nothing refused is lost unseen.
-- `row` is the otel_logs / otel_traces row as a JSON object of column → value.
CREATE TABLE IF NOT EXISTS {{db}}.heron_dead_letter {{on_cluster}} (
    received_at DateTime64(3, 'UTC') DEFAULT now64(3),
    target      LowCardinality(String),
    error       String,
    row         String CODEC(ZSTD(1))
) ENGINE = {{replicated}}MergeTree()
ORDER BY (target, received_at)
SETTINGS non_replicated_deduplication_window = 1000;
