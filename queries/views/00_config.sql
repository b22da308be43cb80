-- Analytics configuration, read by every scheduled view (drift, data quality, performance, SLA).
--
-- ml_monitor_config: one row per model, '*' = every model. A NULL column inherits, column by
-- column: the model's row, else the '*' row, else the built-in default of ml_monitor_defaults
-- (below: the only place a default is written). Write it with `heron config set` (config.py).
--   window_seconds          width of the analysis windows (UTC, aligned to the Unix epoch).
--   lookback_seconds        each refresh recomputes the windows that overlap [now − lookback, now],
--                           so late labels and back-filled predictions are picked up.
--   label_lookback_seconds  the performance views' look-back is at least this long: labels arrive
--                           days after their predictions.
--   reference               'auto' (the uploaded sample when it is the whole reference or has at
--                           least 10,000 rows, else the uploaded profile, else the sample),
--                           'profile', 'sample', or 'window' = production data of
--                           [reference_start, reference_end).
--   bins                    quantile bins per numeric feature when Heron bins a reference (point
--                           masses get a bin of their own besides: 10_reference_bins.sql).
--   small_sample            when min(n_current, n_reference) <= this, the verdict is a p-value test
--                           (KS / chi-square, Holm across the window's features); above it an
--                           effect size (normed Wasserstein / Jensen–Shannon).
--   ks_exact_max_reference  exact KS (ECDF difference) when the reference sample has at most this
--                           many values of the feature; binned KS otherwise.
--   drift_share             a window's dataset drift is flagged when at least this share of its
--                           features drifted.
--   baseline_start, baseline_end  a period of production [start, end) whose windows set each
--                           metric's baseline and control limits (50_baselines.sql). NULL: none.
--   baseline_k              the control limits are mean ± k·σ over the baseline's windows.
-- ml_drift_config: per model/feature overrides of the verdict method and its threshold; the most
-- specific matching row wins (model over '*', then feature over '*', then feature_type over '*').
-- See docs/statistics.md for methods and defaults.
-- (ml_monitor_config itself is kept state: schema/010_monitor_config.sql creates and upgrades it.)

-- The built-in defaults, one row; why each: docs/statistics.md.
CREATE OR REPLACE VIEW {{db}}.ml_monitor_defaults {{on_cluster}} AS
SELECT toUInt32(3600) AS window_seconds,
       toUInt32(259200) AS lookback_seconds,            -- 3 days
       toUInt32(1209600) AS label_lookback_seconds,     -- 14 days
       'auto' AS reference,
       CAST(NULL, 'Nullable(DateTime64(6, \'UTC\'))') AS reference_start,
       CAST(NULL, 'Nullable(DateTime64(6, \'UTC\'))') AS reference_end,
       toUInt16(20) AS bins,
       toUInt32(1000) AS small_sample,
       toUInt32(20000) AS ks_exact_max_reference,
       0.5 AS drift_share,
       CAST(NULL, 'Nullable(DateTime64(6, \'UTC\'))') AS baseline_start,
       CAST(NULL, 'Nullable(DateTime64(6, \'UTC\'))') AS baseline_end,
       3. AS baseline_k;

CREATE TABLE IF NOT EXISTS {{db}}.ml_drift_config {{on_cluster}} (
    model_name    String DEFAULT '*',
    feature_type  LowCardinality(String) DEFAULT '*',   -- numeric | categorical | prediction | label | *
    feature       String DEFAULT '*',
    method        LowCardinality(String),               -- psi | ks | wasserstein | jensen_shannon | chi2
    threshold     Float64,                              -- p-value methods: alpha; others: statistic >=
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(updated_at)
ORDER BY (model_name, feature_type, feature);

-- ml_drift_methods: every drift method, once; the drift views, finalize (p-values), baselines and
-- `heron config` read it. A method that is not here is computed nowhere.
--   applies_to         numeric | categorical | any
--   test               p_value: drifted when the Holm-adjusted p-value < threshold (an alpha);
--                      effect_size: drifted when the statistic >= threshold
--   default_threshold  used unless ml_drift_config names another
--   default_verdict    small: the verdict when min(n_current, n_reference) <= small_sample;
--                      large: above it; '': stored for reading, never the verdict by default
--   max_value          the statistic's upper end (control limits are clipped to it)
-- Why these defaults: docs/statistics.md, "Drift".
CREATE OR REPLACE VIEW {{db}}.ml_drift_methods {{on_cluster}} AS
SELECT * FROM values('method String, applies_to String, test String, default_threshold Float64, default_verdict String, max_value Float64',
    ('ks',             'numeric',     'p_value',     0.05, 'small', 1.),
    ('chi2',           'categorical', 'p_value',     0.05, 'small', inf),
    ('wasserstein',    'numeric',     'effect_size', 0.1,  'large', inf),
    ('jensen_shannon', 'categorical', 'effect_size', 0.1,  'large', 1.),
    ('psi',            'any',         'effect_size', 0.2,  '',      inf),
    ('unseen_share',   'categorical', 'effect_size', 0.05, '',      1.));

-- (ml_time_bounds, the plausible range of a stored timestamp, is schema/012_time_bounds.sql: the
-- insert-time ml_versions_mv reads it too.)

-- ml_monitor_settings: the effective configuration of every model seen (registered, with
-- predictions or a reference, or configured), and of '*' (what any other model gets): per column
-- the model's own row, else the '*' row, else ml_monitor_defaults.
CREATE OR REPLACE VIEW {{db}}.ml_monitor_settings {{on_cluster}} AS
SELECT
    m.model_name AS model_name,
    greatest(assumeNotNull(argMaxIf(c.window_seconds, c.priority, c.window_seconds IS NOT NULL)), 1) AS window_seconds,
    assumeNotNull(argMaxIf(c.lookback_seconds, c.priority, c.lookback_seconds IS NOT NULL)) AS lookback_seconds,
    assumeNotNull(argMaxIf(c.label_lookback_seconds, c.priority, c.label_lookback_seconds IS NOT NULL))
        AS label_lookback_seconds,
    assumeNotNull(argMaxIf(c.reference, c.priority, c.reference IS NOT NULL)) AS reference,
    argMaxIf(c.reference_start, c.priority, c.reference_start IS NOT NULL) AS reference_start,
    argMaxIf(c.reference_end, c.priority, c.reference_end IS NOT NULL) AS reference_end,
    greatest(assumeNotNull(argMaxIf(c.bins, c.priority, c.bins IS NOT NULL)), 2) AS bins,
    assumeNotNull(argMaxIf(c.small_sample, c.priority, c.small_sample IS NOT NULL)) AS small_sample,
    assumeNotNull(argMaxIf(c.ks_exact_max_reference, c.priority, c.ks_exact_max_reference IS NOT NULL))
        AS ks_exact_max_reference,
    assumeNotNull(argMaxIf(c.drift_share, c.priority, c.drift_share IS NOT NULL)) AS drift_share,
    argMaxIf(c.baseline_start, c.priority, c.baseline_start IS NOT NULL) AS baseline_start,
    argMaxIf(c.baseline_end, c.priority, c.baseline_end IS NOT NULL) AS baseline_end,
    assumeNotNull(argMaxIf(c.baseline_k, c.priority, c.baseline_k IS NOT NULL)) AS baseline_k
FROM
(
    SELECT DISTINCT model_name FROM {{db}}.ml_versions   -- models with predictions (schema/013_ml_versions.sql)
    UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_models
    UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_reference
    UNION DISTINCT SELECT DISTINCT model_name FROM {{db}}.ml_reference_profile
    UNION DISTINCT SELECT model_name FROM {{db}}.ml_monitor_config
    UNION DISTINCT SELECT '*'
) AS m
CROSS JOIN
(
    SELECT model_name AS cfg_model, toUInt8(if(model_name = '*', 1, 2)) AS priority,
           window_seconds, lookback_seconds, label_lookback_seconds, toString(reference) AS reference,
           reference_start, reference_end, bins, small_sample, ks_exact_max_reference, drift_share,
           baseline_start, baseline_end, baseline_k
    FROM {{db}}.ml_monitor_config FINAL
    UNION ALL
    SELECT '*', 0, window_seconds, lookback_seconds, label_lookback_seconds, reference, reference_start,
           reference_end, bins, small_sample, ks_exact_max_reference, drift_share, baseline_start,
           baseline_end, baseline_k
    FROM {{db}}.ml_monitor_defaults
) AS c
WHERE c.cfg_model = m.model_name OR c.cfg_model = '*'
GROUP BY m.model_name;

-- ml_settings_lookup: ml_monitor_settings as one constant, for views that look a model's settings
-- up per row with transform() instead of joining them (11_drift_ks_exact, 12_drift,
-- 14_drift_multivariate, 20_data_quality, 40_slo). Parallel arrays, one element per row of
-- ml_monitor_settings; `star` is the position of the '*' row (what a model without settings
-- gets); max_lookback is the longest window + look-back (the bound of every look-back scan).
-- Read it once per query, as a scalar: assumeNotNull((SELECT settings FROM ml_settings_lookup)) AS ms
-- (a scalar subquery of a tuple is typed Nullable; this one always has its one row), then
-- transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]).
CREATE OR REPLACE VIEW {{db}}.ml_settings_lookup {{on_cluster}} AS
SELECT (arrayMap(r -> r.model, rows), indexOf(arrayMap(r -> r.model, rows), '*'),
        arrayMap(r -> r.window_seconds, rows), arrayMap(r -> r.lookback_seconds, rows),
        arrayMap(r -> r.small_sample, rows), arrayMap(r -> r.ks_exact_max_reference, rows),
        arrayMax(arrayMap(r -> r.window_seconds + r.lookback_seconds, rows)))
       ::Tuple(model Array(String), star UInt64, window_seconds Array(UInt64), lookback_seconds Array(UInt64),
               small_sample Array(UInt64), ks_exact_max_reference Array(UInt64), max_lookback UInt64) AS settings
FROM (SELECT groupArray((model_name, toUInt64(window_seconds), toUInt64(lookback_seconds), toUInt64(small_sample),
                         toUInt64(ks_exact_max_reference)))
                 ::Array(Tuple(model String, window_seconds UInt64, lookback_seconds UInt64, small_sample UInt64,
                               ks_exact_max_reference UInt64)) AS rows
      FROM {{db}}.ml_monitor_settings);
