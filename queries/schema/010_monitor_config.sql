-- ml_monitor_config: the analytics settings per model ('*' = every model), written by `heron config set`
-- (config.py) and read through ml_monitor_settings (views/00_config.sql, which describes every
-- column and how a NULL inherits). Kept state, never recomputed, so it lives here with its
-- one-shot upgrades (applied once per store, recorded in heron_migrations).
CREATE TABLE IF NOT EXISTS {{db}}.ml_monitor_config {{on_cluster}} (
    model_name              String,
    window_seconds          Nullable(UInt32),
    lookback_seconds        Nullable(UInt32),
    reference               Nullable(Enum8('auto' = 0, 'profile' = 1, 'sample' = 2, 'window' = 3)),
    reference_start         Nullable(DateTime64(6, 'UTC')),
    reference_end           Nullable(DateTime64(6, 'UTC')),
    bins                    Nullable(UInt16),
    small_sample            Nullable(UInt32),
    ks_exact_max_reference  Nullable(UInt32),
    drift_share             Nullable(Float64),
    updated_at              DateTime64(3, 'UTC') DEFAULT now64(3),
    baseline_start          Nullable(DateTime64(6, 'UTC')),
    baseline_end            Nullable(DateTime64(6, 'UTC')),
    baseline_k              Nullable(Float64),
    label_lookback_seconds  Nullable(UInt32)
) ENGINE = {{replicated}}ReplacingMergeTree(updated_at)
ORDER BY model_name;

-- Stores made before every column inherited: their rows keep the values they hold (a model's row
-- used to replace the '*' row whole, so its columns are all set), and ml_performance_config's
-- label_lookback_seconds moves here.
ALTER TABLE {{db}}.ml_monitor_config {{on_cluster}}
    ADD COLUMN IF NOT EXISTS baseline_start Nullable(DateTime64(6, 'UTC')),
    ADD COLUMN IF NOT EXISTS baseline_end Nullable(DateTime64(6, 'UTC')),
    ADD COLUMN IF NOT EXISTS baseline_k Nullable(Float64),
    ADD COLUMN IF NOT EXISTS label_lookback_seconds Nullable(UInt32);

ALTER TABLE {{db}}.ml_monitor_config {{on_cluster}}
    MODIFY COLUMN window_seconds Nullable(UInt32) DEFAULT NULL,
    MODIFY COLUMN lookback_seconds Nullable(UInt32) DEFAULT NULL,
    MODIFY COLUMN reference Nullable(Enum8('auto' = 0, 'profile' = 1, 'sample' = 2, 'window' = 3)) DEFAULT NULL,
    MODIFY COLUMN bins Nullable(UInt16) DEFAULT NULL,
    MODIFY COLUMN small_sample Nullable(UInt32) DEFAULT NULL,
    MODIFY COLUMN ks_exact_max_reference Nullable(UInt32) DEFAULT NULL,
    MODIFY COLUMN drift_share Nullable(Float64) DEFAULT NULL,
    MODIFY COLUMN baseline_k Nullable(Float64) DEFAULT NULL;

CREATE TABLE IF NOT EXISTS {{db}}.`ml_performance_config` {{on_cluster}} (
    model_name String, label_lookback_seconds UInt32, updated_at DateTime64(3, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(updated_at)
ORDER BY model_name;

INSERT INTO {{db}}.ml_monitor_config (model_name, window_seconds, lookback_seconds, reference, reference_start,
                                      reference_end, bins, small_sample, ks_exact_max_reference, drift_share,
                                      baseline_start, baseline_end, baseline_k, label_lookback_seconds)
SELECT p.model_name, m.window_seconds, m.lookback_seconds, m.reference, m.reference_start, m.reference_end,
       m.bins, m.small_sample, m.ks_exact_max_reference, m.drift_share, m.baseline_start, m.baseline_end,
       m.baseline_k, p.label_lookback_seconds
FROM (SELECT model_name, argMax(label_lookback_seconds, updated_at) AS label_lookback_seconds
      FROM {{db}}.`ml_performance_config` GROUP BY model_name HAVING label_lookback_seconds > 0) AS p
LEFT JOIN (SELECT * FROM {{db}}.ml_monitor_config FINAL) AS m ON m.model_name = p.model_name
SETTINGS join_use_nulls = 1;

DROP TABLE IF EXISTS {{db}}.`ml_performance_config` {{on_cluster}} SYNC;
