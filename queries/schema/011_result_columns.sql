-- Columns added to result tables after stores held them. Each table is created by its view file
-- (views/10_reference_bins.sql, 20_data_quality.sql, 50_baselines.sql) with every column; an older
-- store gets the missing ones here, once. On a store that does not have a table yet, its ALTER is
-- skipped (migrations.py): the view file that comes later creates it complete.

ALTER TABLE {{db}}.ml_reference_bins {{on_cluster}} ADD COLUMN IF NOT EXISTS signature String;

ALTER TABLE {{db}}.ml_data_quality {{on_cluster}}
    ADD COLUMN IF NOT EXISTS implausible_timestamps UInt64 AFTER duplicate_ids;

ALTER TABLE {{db}}.ml_baselines {{on_cluster}}
    ADD COLUMN IF NOT EXISTS chunk_n Float64,
    ADD COLUMN IF NOT EXISTS min_value Float64,
    ADD COLUMN IF NOT EXISTS max_value Float64;
