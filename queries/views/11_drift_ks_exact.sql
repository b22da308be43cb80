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
-- Full recompute of the look-back windows each refresh (the table holds only those).
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

CREATE MATERIALIZED VIEW {{db}}.ml_drift_ks_exact_mv {{on_cluster}}
{{refresh}} DEPENDS ON {{db}}.ml_reference_bins_mv
TO {{db}}.ml_drift_ks_exact AS
WITH
    -- the settings, resolved once into constants
    (SELECT groupArray((model_name, window_seconds, lookback_seconds, ks_exact_max_reference))
     FROM {{db}}.ml_monitor_settings) AS settings,
    arrayMap(t -> t.1, settings) AS s_model,
    arrayMap(t -> toUInt64(t.2), settings) AS s_window,
    arrayMap(t -> toUInt64(t.3), settings) AS s_lookback,
    arrayMap(t -> toUInt64(t.4), settings) AS s_ks_max,
    arrayMax(arrayMap((w, l) -> w + l, s_window, s_lookback)) AS max_lookback,
    (SELECT groupArray((model_name, model_version)) FROM {{db}}.ml_models FINAL
     WHERE task = 'regression') AS regression,
    -- (model, version, feature, role) whose reference is a small enough sample; when none is,
    -- the predictions below are pruned by the primary key and the view costs nothing
    (SELECT groupArray((model_name, model_version, feature, role)) FROM {{db}}.ml_reference_bins FINAL
     WHERE feature_type = 'numeric' AND source = 'sample'
       AND n <= transform(model_name, s_model, s_ks_max, toUInt64(20000))) AS eligible,
    arrayDistinct(arrayMap(t -> (t.1, t.2), eligible)) AS eligible_versions,
    (SELECT groupArray((model_name, model_version, rid))
     FROM (SELECT model_name, model_version, argMax(reference_id, inserted_at) AS rid
           FROM {{db}}.ml_reference WHERE (model_name, model_version) IN (SELECT arrayJoin(eligible_versions))
           GROUP BY model_name, model_version)) AS newest_sample,
    sample_rows AS (
        SELECT model_name, model_version, numeric, prediction_value, score
        FROM {{db}}.ml_reference FINAL
        WHERE (model_name, model_version, reference_id) IN (SELECT arrayJoin(newest_sample))
    ),
    ref_cells AS (
        SELECT model_name, model_version, kv.1 AS feature, 'feature' AS role, kv.2 AS x
        FROM sample_rows ARRAY JOIN CAST(numeric, 'Array(Tuple(String, Nullable(Float64)))') AS kv
        UNION ALL
        SELECT model_name, model_version, 'prediction', 'prediction', prediction_value FROM sample_rows
        WHERE (model_name, model_version) IN (SELECT arrayJoin(regression))
        UNION ALL
        SELECT model_name, model_version, 'score', 'score', score FROM sample_rows
    ),
    ref_points AS (
        SELECT model_name, model_version, feature, role, r, cnt,
               sum(cnt) OVER (PARTITION BY model_name, model_version, feature, role ORDER BY r
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS le,
               sum(cnt) OVER (PARTITION BY model_name, model_version, feature, role) AS n_ref
        FROM (SELECT model_name, model_version, feature, role, assumeNotNull(x) AS r, count() AS cnt
              FROM ref_cells
              WHERE isFinite(x)
                AND (model_name, model_version, feature, role) IN (SELECT arrayJoin(eligible))
              GROUP BY model_name, model_version, feature, role, r)
    ),
    current AS (
        SELECT model_name, model_version,
               transform(model_name, s_model, s_window, toUInt64(3600)) AS ws,
               toDateTime(intDiv(toUnixTimestamp(timestamp), ws) * ws, 'UTC') AS window_start,
               numeric, prediction_value, score
        FROM {{db}}.ml_predictions
        WHERE (model_name, model_version) IN (SELECT arrayJoin(eligible_versions))
          AND timestamp >= now() - toIntervalSecond(max_lookback)
          AND toUnixTimestamp(timestamp) >= intDiv(toUnixTimestamp(now())
                  - transform(model_name, s_model, s_lookback, toUInt64(259200)), ws) * ws
    ),
    cur_cells AS (
        SELECT model_name, model_version, window_start, feature, role, assumeNotNull(x) AS v
        FROM (
            SELECT model_name, model_version, window_start, kv.1 AS feature, 'feature' AS role, kv.2 AS x
            FROM current ARRAY JOIN CAST(numeric, 'Array(Tuple(String, Nullable(Float64)))') AS kv
            UNION ALL
            SELECT model_name, model_version, window_start, 'prediction', 'prediction', prediction_value
            FROM current WHERE (model_name, model_version) IN (SELECT arrayJoin(regression))
            UNION ALL
            SELECT model_name, model_version, window_start, 'score', 'score', score FROM current
        )
        WHERE isFinite(x) AND (model_name, model_version, feature, role) IN (SELECT arrayJoin(eligible))
    ),
    cells AS (
        SELECT c.model_name AS model_name, c.model_version AS model_version,
               c.window_start AS window_start, c.feature AS feature, c.role AS role,
               ifNull(rp.le, 0) AS le, toUInt8(rp.r IS NULL OR c.v > rp.r) AS gt,
               ifNull(rp.cnt, 0) AS cnt, count() AS c
        FROM cur_cells AS c
        ASOF LEFT JOIN ref_points AS rp
            ON rp.model_name = c.model_name AND rp.model_version = c.model_version
           AND rp.feature = c.feature AND rp.role = c.role AND c.v >= rp.r
        GROUP BY model_name, model_version, window_start, feature, role, le, gt, cnt
        SETTINGS join_use_nulls = 1
    ),
    totals AS (
        SELECT model_name, model_version, feature, role, any(n_ref) AS n_ref FROM ref_points
        GROUP BY model_name, model_version, feature, role
    )
SELECT model_name, model_version, window_start, feature, role,
       max(greatest(abs(f_start - (through - c) / m), abs(f_in - through / m))) AS d,
       any(m) AS n_current, any(n_ref) AS n_reference, now64(6) AS computed_at
FROM (
    SELECT c.model_name AS model_name, c.model_version AS model_version,
           c.window_start AS window_start, c.feature AS feature, c.role AS role, c.c AS c,
           t.n_ref AS n_ref,
           if(c.gt = 0, (c.le - c.cnt) / t.n_ref, c.le / t.n_ref) AS f_start,
           c.le / t.n_ref AS f_in,
           toFloat64(sum(c.c) OVER (PARTITION BY c.model_name, c.model_version, c.window_start, c.feature, c.role
                                    ORDER BY c.le, c.gt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
               AS through,
           toFloat64(sum(c.c) OVER (PARTITION BY c.model_name, c.model_version, c.window_start, c.feature, c.role))
               AS m
    FROM cells AS c
    INNER JOIN totals AS t
        ON t.model_name = c.model_name AND t.model_version = c.model_version
       AND t.feature = c.feature AND t.role = c.role
)
GROUP BY model_name, model_version, window_start, feature, role;
