-- Analytics configuration, read by every scheduled view (drift, data quality, performance, SLA).
--
-- ml_monitor_config: one row per model ('*' = the default for every model without its own row).
-- A model's own row replaces the '*' row as a whole (columns you omit take the defaults below).
--   window_seconds          width of the analysis windows (UTC, aligned to the Unix epoch). 3600.
--   lookback_seconds        each refresh recomputes the windows that overlap [now − lookback, now],
--                           so late labels and back-filled predictions are picked up. 259200 (3 d).
--   reference               'auto' (the uploaded sample when it is the whole reference or has at
--                           least 10,000 rows, else the uploaded profile, else the sample),
--                           'profile', 'sample', or 'window' = production data of
--                           [reference_start, reference_end).
--   bins                    quantile bins per numeric feature when Heron bins a reference (point
--                           masses get a bin of their own besides: 10_reference_bins.sql). 20.
--   small_sample            when min(n_current, n_reference) <= this, the verdict is a p-value test
--                           (KS / chi-square, Holm across the window's features); above it an
--                           effect size (normed Wasserstein / Jensen–Shannon). 1000.
--   ks_exact_max_reference  exact KS (ECDF difference) when the reference sample has at most this
--                           many values of the feature; binned KS otherwise. 20000.
--   drift_share             a window's dataset drift is flagged when at least this share of its
--                           features drifted. 0.5.
--   baseline_start, baseline_end  a period of production [start, end) whose windows set each
--                           metric's baseline and control limits (50_baselines.sql). NULL: none.
--   baseline_k              the control limits are mean ± k·σ over the baseline's windows. 3.
-- ml_drift_config: per model/feature overrides of the verdict method and its threshold; the most
-- specific matching row wins (model over '*', then feature over '*', then feature_type over '*').
-- See docs/statistics.md for methods and defaults.
CREATE TABLE IF NOT EXISTS {{db}}.ml_monitor_config {{on_cluster}} (
    model_name              String,
    window_seconds          UInt32 DEFAULT 3600,
    lookback_seconds        UInt32 DEFAULT 259200,
    reference               Enum8('auto' = 0, 'profile' = 1, 'sample' = 2, 'window' = 3) DEFAULT 'auto',
    reference_start         Nullable(DateTime64(6, 'UTC')),
    reference_end           Nullable(DateTime64(6, 'UTC')),
    bins                    UInt16 DEFAULT 20,
    small_sample            UInt32 DEFAULT 1000,
    ks_exact_max_reference  UInt32 DEFAULT 20000,
    drift_share             Float64 DEFAULT 0.5,
    updated_at              DateTime64(3, 'UTC') DEFAULT now64(3),
    baseline_start          Nullable(DateTime64(6, 'UTC')),
    baseline_end            Nullable(DateTime64(6, 'UTC')),
    baseline_k              Float64 DEFAULT 3
) ENGINE = {{replicated}}ReplacingMergeTree(updated_at)
ORDER BY model_name;

-- Stores made before the baseline settings existed gain them here.
ALTER TABLE {{db}}.ml_monitor_config {{on_cluster}}
    ADD COLUMN IF NOT EXISTS baseline_start Nullable(DateTime64(6, 'UTC')),
    ADD COLUMN IF NOT EXISTS baseline_end Nullable(DateTime64(6, 'UTC')),
    ADD COLUMN IF NOT EXISTS baseline_k Float64 DEFAULT 3;

-- The '*' row, inserted once: a later edit of it by the user is never overwritten.
INSERT INTO {{db}}.ml_monitor_config (model_name)
SELECT '*' WHERE (SELECT count() FROM {{db}}.ml_monitor_config WHERE model_name = '*') = 0;

CREATE TABLE IF NOT EXISTS {{db}}.ml_drift_config {{on_cluster}} (
    model_name    String DEFAULT '*',
    feature_type  LowCardinality(String) DEFAULT '*',   -- numeric | categorical | prediction | label | *
    feature       String DEFAULT '*',
    method        LowCardinality(String),               -- psi | ks | wasserstein | jensen_shannon | chi2
    threshold     Float64,                              -- p-value methods: alpha; others: statistic >=
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(updated_at)
ORDER BY (model_name, feature_type, feature);

-- ml_time_bounds: the plausible range of a stored timestamp, [ts_min, ts_max), defined here once
-- and read by every scheduled view. A prediction (or span) timestamped outside it is left out of
-- every window (ml_data_quality counts such predictions in implausible_timestamps); nothing
-- outside it is ever converted to a window, so no stored value can make a refresh throw.
--   ts_min  1970-01-02 00:00:00 UTC: excludes the Unix epoch, which the parse views store for a
--           `ts` that is not a finite number inside DateTime64's range (wire-format.md), and the
--           zero timestamp of a sender that never set one.
--   ts_max  2105-01-01 00:00:00 UTC: windows are DateTime (UInt32 seconds, last second
--           2106-02-07 06:28:15); below this bound a window of up to a year still ends in range.
-- See docs/statistics.md, "Implausible timestamps".
CREATE OR REPLACE VIEW {{db}}.ml_time_bounds {{on_cluster}} AS
SELECT toDateTime64('1970-01-02 00:00:00', 6, 'UTC') AS ts_min,
       toDateTime64('2105-01-01 00:00:00', 6, 'UTC') AS ts_max;

-- ml_monitor_settings: the effective configuration of every model seen (registered or with
-- predictions), the model's own row over the '*' row over the built-in defaults.
CREATE OR REPLACE VIEW {{db}}.ml_monitor_settings {{on_cluster}} AS
SELECT
    m.model_name AS model_name,
    greatest(argMax(c.window_seconds, c.priority), 1) AS window_seconds,
    argMax(c.lookback_seconds, c.priority) AS lookback_seconds,
    argMax(c.reference, c.priority) AS reference,
    argMax(c.reference_start, c.priority) AS reference_start,
    argMax(c.reference_end, c.priority) AS reference_end,
    greatest(argMax(c.bins, c.priority), 2) AS bins,
    argMax(c.small_sample, c.priority) AS small_sample,
    argMax(c.ks_exact_max_reference, c.priority) AS ks_exact_max_reference,
    argMax(c.drift_share, c.priority) AS drift_share,
    argMax(c.baseline_start, c.priority) AS baseline_start,
    argMax(c.baseline_end, c.priority) AS baseline_end,
    argMax(c.baseline_k, c.priority) AS baseline_k
FROM
(
    SELECT DISTINCT model_name FROM {{db}}.ml_predictions
    UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_models
    UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_reference
    UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_reference_profile
) AS m
CROSS JOIN
(
    SELECT model_name AS cfg_model, toUInt8(if(model_name = '*', 1, 2)) AS priority,
           window_seconds, lookback_seconds, toString(reference) AS reference, reference_start,
           reference_end, bins, small_sample, ks_exact_max_reference, drift_share, baseline_start,
           baseline_end, baseline_k
    FROM {{db}}.ml_monitor_config FINAL
    UNION ALL
    SELECT '*', 0, 3600, 259200, 'auto', NULL, NULL, 20, 1000, 20000, 0.5, NULL, NULL, 3.
) AS c
WHERE c.cfg_model = m.model_name OR c.cfg_model = '*'
GROUP BY m.model_name;
