-- ml_drift_ks_exact: the exact two-sample Kolmogorov–Smirnov statistic D (scipy.stats.ks_2samp's
-- statistic, ties included) of each numeric feature, score and regression prediction, per window
-- of the look-back, for versions whose reference is an uploaded sample (ml_reference_bins.source
-- = 'sample') with at most ks_exact_max_reference finite values. Read by ml_drift_mv, which uses
-- this D instead of the binned one.
--
-- How, without sorting the current values: each current value x is placed by an ASOF join on the
-- sorted distinct reference values r_1 < … < r_R (largest r_i <= x) into the cell (i, x = r_i ?).
-- Between consecutive reference values the reference ECDF F is constant, so sup |F − G| over a
-- cell is reached at its ends: D = max over occupied cells of |F(start−) − G(before)| and
-- |F(r_i) − G(through)|, where G(before)/G(through) are the current ECDF just before / after the
-- cell, F(start−) = F(r_i−) for an x = r_i cell and F(r_i) otherwise, and F = 0 below r_1.
-- Memory: a hash of the reference values plus one group per occupied cell and window.
-- Settings and the eligible (model, version, feature, role) are resolved once into constants, so
-- when no reference is eligible (large samples, profiles) the predictions scan is pruned away.
-- Scheduling as ml_drift: APPEND into a ReplacingMergeTree keyed by (model, version, window,
-- feature, role); a refresh recomputes the windows due (ml_windows_due, 02_windows_due.sql). A row
-- is valid only while its version's reference bins are not newer than it (computed_at): ml_drift
-- ignores the others, so a version whose sample was replaced by a large one (no exact D any more)
-- falls back to the binned KS, and the rows of windows past the look-back are never read.
CREATE TABLE IF NOT EXISTS {{db}}.ml_drift_ks_exact {{on_cluster}} (
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    window_start   DateTime('UTC'),
    feature        LowCardinality(String),
    role           LowCardinality(String),
    d              Float64,
    n_current      UInt64,
    n_reference    UInt64,
    computed_at    DateTime64(6, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
ORDER BY (model_name, model_version, window_start, feature, role);

-- ml_drift_ks_exact_compute: what a refresh computes as of `as_of` (SELECT * FROM ml_drift_ks_exact_compute(as_of = now())
-- previews the next refresh; `heron refresh --from --to` replays past times). The
-- refreshable view below only selects from it: ClickHouse analyses a refreshable view's query
-- once more per refresh, which for these queries costs as much as their planning.
CREATE OR REPLACE VIEW {{db}}.ml_drift_ks_exact_compute {{on_cluster}} AS
WITH
    -- the settings, resolved once into constants (ml_settings_lookup, 00_config.sql)
    assumeNotNull((SELECT settings FROM {{db}}.ml_settings_lookup)) AS ms,
    -- (key, model, version, feature, role) whose reference is a small enough sample, keyed as in
    -- ml_drift: hash(model, version) xor hash(feature | '\0' role); a numeric 'prediction' role
    -- exists for regression models only. When none is eligible, the reads below are pruned by
    -- the primary keys and the view costs its planning only.
    (SELECT groupArray((bitXor(cityHash64(model_name, model_version),
                               cityHash64(if(role = 'feature', toString(feature), concat('\0', role)))),
                        model_name, model_version, feature, role))
            ::Array(Tuple(key UInt64, model String, version String, feature String, role String))
     FROM {{db}}.ml_reference_bins
     WHERE feature_type = 'numeric' AND source = 'sample'
       AND n <= transform(model_name, ms.model, ms.ks_exact_max_reference,
                          ms.ks_exact_max_reference[ms.star]))
        AS eligible,
    arrayMap(t -> t.key, eligible) AS e_key,
    arrayDistinct(arrayMap(t -> (t.model, t.version), eligible)) AS e_versions,
    (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,   -- plausible timestamps (schema/012_time_bounds.sql)
    (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max,
    (SELECT groupArray((model_name, model_version, rid))
     FROM (SELECT model_name, model_version, argMax(reference_id, inserted_at) AS rid
           FROM {{db}}.ml_reference WHERE (model_name, model_version) IN (SELECT arrayJoin(e_versions))
           GROUP BY model_name, model_version)) AS newest_sample,
    -- every value of the newest sample of each eligible version, keyed: the numeric map, then the
    -- prediction and score columns
    ref_values AS (
        SELECT bitXor(cityHash64(model_name, model_version), cityHash64(feature)) AS key, x
        FROM {{db}}.ml_reference FINAL ARRAY JOIN numeric.keys AS feature, numeric.values AS x
        WHERE (model_name, model_version, reference_id) IN (SELECT arrayJoin(newest_sample))
        UNION ALL
        SELECT bitXor(cityHash64(model_name, model_version), cityHash64(t.role)), t.x
        FROM {{db}}.ml_reference FINAL
        ARRAY JOIN [('\0prediction', prediction_value), ('\0score', score)]
                   ::Array(Tuple(role String, x Nullable(Float64))) AS t
        WHERE (model_name, model_version, reference_id) IN (SELECT arrayJoin(newest_sample))
    ),
    -- the sorted distinct reference values r of each key: count at r, count <= r, and the total:
    -- a point at −inf with count 0 gives values below r_1 their cell (F = 0 there)
    ref_points AS (
        SELECT key, r, cnt,
               sum(cnt) OVER (PARTITION BY key ORDER BY r ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS le,
               sum(cnt) OVER (PARTITION BY key) AS n_ref
        FROM (SELECT key, assumeNotNull(x) AS r, count() AS cnt FROM ref_values
              WHERE isFinite(x) AND key IN (SELECT arrayJoin(e_key)) GROUP BY key, r
              UNION ALL
              SELECT arrayJoin(e_key), -inf, 0)
    ),
    -- predictions of the look-back windows; an implausible timestamp is in no window (toInt64 of
    -- a DateTime64 never overflows)
    current AS (
        SELECT cityHash64(model_name, model_version) AS mv,
               transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS ws,
               toDateTime(intDiv(toInt64(timestamp), ws) * ws, 'UTC') AS window_start,
               numeric, prediction_value, score
        FROM {{db}}.ml_predictions
        WHERE (model_name, model_version) IN (SELECT arrayJoin(e_versions))
          AND timestamp >= ts_min AND timestamp < ts_max
          AND timestamp >= {as_of:DateTime} - toIntervalSecond(ms.max_lookback)
          AND {{db}}_v1_in_lookback(timestamp, {as_of:DateTime}, ws,
                                         transform(model_name, ms.model, ms.lookback_seconds, ms.lookback_seconds[ms.star]))
          AND ({since_view:String} = '' OR {{db}}_v1_window_key(model_name, model_version, window_start)
               IN (SELECT key FROM {{db}}.ml_windows_due(as_of = {as_of:DateTime}, since_view = {since_view:String})))
    ),
    cur_values AS (
        SELECT bitXor(mv, cityHash64(feature)) AS key, window_start, x
        FROM current ARRAY JOIN numeric.keys AS feature, numeric.values AS x
        UNION ALL
        SELECT bitXor(mv, cityHash64(t.role)), window_start, t.x
        FROM current ARRAY JOIN [('\0prediction', prediction_value), ('\0score', score)]
                                ::Array(Tuple(role String, x Nullable(Float64))) AS t
    ),
    -- each current value in its cell (i, x = r_i ?) of the sorted reference values
    cells AS (
        SELECT c.key AS key, c.window_start AS window_start, rp.le AS le, toUInt8(c.v > rp.r) AS gt,
               rp.cnt AS cnt, any(rp.n_ref) AS n_ref, count() AS c
        FROM (SELECT key, window_start, assumeNotNull(x) AS v FROM cur_values
              WHERE isFinite(x) AND key IN (SELECT arrayJoin(e_key))) AS c
        ASOF INNER JOIN ref_points AS rp ON rp.key = c.key AND c.v >= rp.r
        GROUP BY key, window_start, le, gt, cnt
    ),
    -- per cell: F just before it, F inside it, the current ECDF through it, the window's totals
    ecdf AS (
        SELECT key, window_start, c, n_ref,
               if(gt = 0, le - cnt, le) / n_ref AS f_start,
               le / n_ref AS f_in,
               toFloat64(sum(c) OVER (PARTITION BY key, window_start ORDER BY le, gt
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS through,
               toFloat64(sum(c) OVER (PARTITION BY key, window_start)) AS m
        FROM cells
    )
SELECT e.model AS model_name, e.version AS model_version, window_start, e.feature AS feature, e.role AS role, d,
       n_current, n_reference, now64(6) AS computed_at
FROM (
    SELECT arrayFirst(t -> t.key = key, eligible) AS e, window_start,
           max(greatest(abs(f_start - (through - c) / m), abs(f_in - through / m))) AS d,
           toUInt64(any(m)) AS n_current, toUInt64(any(n_ref)) AS n_reference
    FROM ecdf GROUP BY key, window_start
);

CREATE MATERIALIZED VIEW {{db}}.ml_drift_ks_exact_mv {{on_cluster}}
{{refresh}} DEPENDS ON {{db}}.ml_reference_bins_mv
APPEND TO {{db}}.ml_drift_ks_exact {{empty}} AS
SELECT * FROM {{db}}.ml_drift_ks_exact_compute(as_of = now(), since_view = 'ml_drift_ks_exact_mv');
