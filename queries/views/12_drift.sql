-- ml_drift: drift of every feature, the prediction, the score and the label, per model, version
-- and time window, against the reference in ml_reference_bins (docs/statistics.md has the exact
-- definitions; this header is the summary).
--
-- One pass, flat memory: the look-back's predictions are read once per column family; each
-- finite numeric value is placed in its reference bin by an ASOF join on the flattened edges
-- (largest edge <= x: bin i = number of edges <= x, as np.searchsorted(edges, x, 'right')), keyed
-- by a 64-bit hash of (model, version, feature or role) so neither the join nor the GROUP BY
-- hashes strings per value; counts and sums are aggregated per (key, window, bin). No value is
-- sorted and no edges array travels with a row. Settings are resolved once per refresh into
-- constants (one scalar subquery over ml_settings_lookup, 00_config.sql) and looked up with transform().
-- Numeric (bins: reference quantiles and point masses, 10_reference_bins.sql; finite values only;
-- p = reference share, q = current share):
--   psi             Σ (q−p)·ln(q/p) over bins, p and q floored at 1e-4 (no renormalisation)
--   jensen_shannon  sqrt(JS divergence), natural log (scipy.spatial.distance.jensenshannon)
--                   (both written once, as functions of (p, q): 01_functions.sql)
--   ks              binned KS: max over edges |P−Q| of the cumulative shares; replaced by the
--                   exact D from ml_drift_ks_exact when the reference sample is small enough
--   wasserstein     Σ over bins |∫bin (F_ref − F_cur)| / max(ref std, 0.001). Per bin the integral
--                   is (P−Q before the bin)·width + p·(u − m_ref) − q·(u − m_cur), m = the bin's mean
--                   value: m_cur from the window's per-bin sums; m_ref from the reference sample's
--                   per-bin sums, or, for a profile (no sums), the current bin's mean (both
--                   samples given the same within-bin shape, so ties and heavy tails do not bias
--                   it), the bin's midpoint when the window has no value there (outer bins end at
--                   the reference min/max). The open outer bins need no bound: their width
--                   cancels. |W − exact| bounds: docs/statistics.md.
-- Categorical (categories of the reference ∪ current window; NULL excluded):
--   chi2            Pearson chi-square of the 2×k contingency table, df = k − 1; p-value by
--                   heron_collector.analytics.finalize (scipy), as is the KS p-value
--   jensen_shannon, psi as above on category shares; unseen_share = current share of categories
--                   absent from the reference.
-- Verdict (is_primary = 1): the most specific ml_drift_config row, else by sample size as
-- ml_drift_methods (00_config.sql) says: when min(n_current, n_reference) <= small_sample, ks /
-- chi2 on Holm-adjusted p-values across the window's feature tests; otherwise wasserstein
-- (numeric) and jensen_shannon (categorical). Every method is stored with its threshold: the
-- ml_drift_config override, else the method's default_threshold.
-- Scheduling: APPEND into a ReplacingMergeTree keyed by (model, version, window, feature, role,
-- method) with version computed_at; every refresh recomputes the windows overlapping the
-- model's look-back, older windows keep their last result. p-value rows have p_value NULL and
-- drifted 0 until finalize writes them back (seconds later).
CREATE TABLE IF NOT EXISTS {{db}}.ml_drift {{on_cluster}} (
    model_name        LowCardinality(String),
    model_version     LowCardinality(String),
    window_start      DateTime('UTC'),
    window_end        DateTime('UTC'),
    feature           LowCardinality(String),
    role              LowCardinality(String),      -- feature | prediction | score | label
    feature_type      LowCardinality(String),      -- numeric | categorical
    method            LowCardinality(String),      -- psi | ks | wasserstein | jensen_shannon | chi2 | unseen_share
    statistic         Float64,
    p_value           Nullable(Float64),
    p_value_adjusted  Nullable(Float64),           -- Holm across the window's feature tests
    df                UInt32,                      -- chi2: degrees of freedom
    threshold         Float64,
    drifted           UInt8,
    is_primary        UInt8,                       -- the method that decides the feature's verdict
    exact             UInt8,                       -- 1: exact statistic; 0: on reference bins
    n_current         UInt64,
    n_reference       UInt64,
    reference_source  LowCardinality(String),      -- profile | sample | window
    computed_at       DateTime64(6, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_name, model_version, window_start, feature, role, method);

-- ml_drift_compute: what a refresh computes as of `as_of` (SELECT * FROM ml_drift_compute(as_of = now())
-- previews the next refresh; `heron refresh --from --to` replays past times). The
-- refreshable view below only selects from it: ClickHouse analyses a refreshable view's query
-- once more per refresh, which for these queries costs as much as their planning.
CREATE OR REPLACE VIEW {{db}}.ml_drift_compute {{on_cluster}} AS
WITH
    (SELECT groupArray((model_name, feature_type, feature, method, threshold))
            ::Array(Tuple(model String, feature_type String, feature String, method String, threshold Float64))
     FROM {{db}}.ml_drift_config FINAL) AS config,
    -- ml_drift_methods (00_config.sql), resolved once: the default verdict per feature kind and
    -- sample size (small: at most small_sample rows on either side)
    (SELECT (groupArray(method), groupArray(default_threshold), groupArrayIf(method, test = 'p_value'),
             anyIf(method, default_verdict = 'small' AND applies_to = 'numeric'),
             anyIf(method, default_verdict = 'small' AND applies_to = 'categorical'),
             anyIf(method, default_verdict = 'large' AND applies_to = 'numeric'),
             anyIf(method, default_verdict = 'large' AND applies_to = 'categorical'))
            ::Tuple(names Array(String), thresholds Array(Float64), p_value Array(String), small_numeric String,
                    small_categorical String, large_numeric String, large_categorical String)
     FROM {{db}}.ml_drift_methods) AS methods,
    -- the settings, resolved once into constants (ml_settings_lookup, 00_config.sql)
    assumeNotNull((SELECT settings FROM {{db}}.ml_settings_lookup)) AS ms,
    -- the exact KS D of the look-back windows (ml_drift_ks_exact), looked up by hash: only rows
    -- computed on the version's current reference bins (not older than them)
    (SELECT (groupArray(cityHash64(k.model_name, k.model_version, k.window_start, k.feature, k.role)), groupArray(k.d))
            ::Tuple(key Array(UInt64), d Array(Float64))
     FROM (SELECT * FROM {{db}}.ml_drift_ks_exact FINAL
           WHERE window_start >= {as_of:DateTime} - toIntervalSecond(ms.max_lookback)) AS k
     INNER JOIN (SELECT model_name, model_version, feature, role, computed_at FROM {{db}}.ml_reference_bins FINAL
                 WHERE feature_type = 'numeric' AND source = 'sample') AS b
         ON b.model_name = k.model_name AND b.model_version = k.model_version AND b.feature = k.feature
            AND b.role = k.role
     WHERE k.computed_at >= b.computed_at) AS ks_exact,
    -- versions whose reference has label bins: only those join ground truth
    (SELECT groupUniqArray((model_name, model_version)) FROM {{db}}.ml_reference_bins FINAL
     WHERE role = 'label') AS label_versions,
    (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,   -- plausible timestamps (schema/012_time_bounds.sql)
    (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max,
    -- predictions of the look-back windows, with their window start and (model, version) hash;
    -- an implausible timestamp is in no window (toInt64 of a DateTime64 never overflows)
    current AS (
        SELECT model_name, model_version, cityHash64(model_name, model_version) AS mv,
               transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS ws,
               toDateTime(intDiv(toInt64(timestamp), ws) * ws, 'UTC') AS window_start,
               numeric, categorical, prediction, prediction_value, score, prediction_id
        FROM {{db}}.ml_predictions
        WHERE timestamp >= ts_min AND timestamp < ts_max
          AND timestamp >= {as_of:DateTime} - toIntervalSecond(ms.max_lookback)
          AND {{db}}_v1_in_lookback(timestamp, {as_of:DateTime}, ws,
                                         transform(model_name, ms.model, ms.lookback_seconds, ms.lookback_seconds[ms.star]))
          AND ({since_view:String} = '' OR {{db}}_v1_window_key(model_name, model_version, window_start)
               IN (SELECT key FROM {{db}}.ml_windows_due(as_of = {as_of:DateTime}, since_view = {since_view:String})))
    ),
    labels AS (
        SELECT c.model_name AS model_name, c.model_version AS model_version, c.mv AS mv,
               c.window_start AS window_start, g.label AS label, g.label_value AS label_value
        FROM (SELECT model_name, model_version, mv, window_start, prediction_id FROM current
              WHERE (model_name, model_version) IN (SELECT arrayJoin(label_versions))) AS c
        INNER JOIN (SELECT model_name, prediction_id, argMax(label, inserted_at) AS label,
                           argMax(label_value, inserted_at) AS label_value
                    FROM {{db}}.ml_ground_truth
                    WHERE model_name IN (SELECT model_name FROM {{db}}.ml_reference_bins WHERE role = 'label')
                    GROUP BY model_name, prediction_id) AS g
            ON g.model_name = c.model_name AND g.prediction_id = c.prediction_id
    ),
    -- finite numeric values, keyed by hash(model, version) xor hash(feature | '\0' role)
    numeric_values AS (
        SELECT bitXor(mv, cityHash64(feature)) AS key, window_start, assumeNotNull(x) AS v
        FROM current ARRAY JOIN numeric.keys AS feature, numeric.values AS x
        WHERE isFinite(x) -- NULL is not finite either
        UNION ALL
        SELECT bitXor(mv, cityHash64('\0prediction')), window_start, assumeNotNull(prediction_value)
        FROM current WHERE isFinite(prediction_value)
        UNION ALL
        SELECT bitXor(mv, cityHash64('\0score')), window_start, assumeNotNull(score)
        FROM current WHERE isFinite(score)
        UNION ALL
        SELECT bitXor(mv, cityHash64('\0label')), window_start, assumeNotNull(label_value)
        FROM labels WHERE isFinite(label_value)
    ),
    -- the reference bins, keyed like the values
    reference AS (
        SELECT *, bitXor(cityHash64(model_name, model_version),
                         cityHash64(if(role = 'feature', toString(feature), concat('\0', role)))) AS key
        FROM {{db}}.ml_reference_bins FINAL WHERE n > 0
    ),
    -- one pass: each value into its bin (ASOF: the largest edge <= v, its 1-based position,
    -- below the first edge nothing matches and i is the default 0: join_use_nulls stays off)
    numeric_binned AS (
        SELECT v.key AS key, v.window_start AS window_start, e.i AS bin,
               count() AS c, sum(v.v) AS s
        FROM numeric_values AS v
        ASOF LEFT JOIN (SELECT key, edge, toUInt32(i) AS i FROM reference
                        ARRAY JOIN edges AS edge, arrayEnumerate(edges) AS i) AS e
            ON e.key = v.key AND v.v >= e.edge
        GROUP BY key, window_start, bin
    ),
    numeric_windows AS (
        SELECT key, window_start, sum(c) AS n_cur,
               groupArrayInsertAt(toFloat64(c), bin) AS cc0, groupArrayInsertAt(s, bin) AS cs0
        FROM numeric_binned GROUP BY key, window_start
    ),
    numeric_stats AS (
        SELECT b.model_name AS model_name, b.model_version AS model_version,
               w.window_start AS window_start, b.feature AS feature, b.role AS role,
               'numeric' AS feature_type, w.n_cur AS n_cur, b.n AS n_ref, b.source AS source,
               length(b.counts) AS k,
               transform(cityHash64(b.model_name, b.model_version, w.window_start, b.feature, b.role),
                         ks_exact.key, ks_exact.d, nan) AS exact_d,
               arrayResize(w.cc0, k, 0.) AS cc,
               arrayResize(w.cs0, k, 0.) AS cs,
               arrayMap(x -> x / b.n, b.counts) AS p,
               arrayMap(x -> x / w.n_cur, cc) AS q,
               arrayConcat([0.], arrayPopBack(arrayCumSum(p))) AS p_before,
               arrayConcat([0.], arrayPopBack(arrayCumSum(q))) AS q_before,
               -- bin bounds; the open outer bins get width 0 (their width cancels, see header)
               if(k = 1, [0.], arrayConcat([b.edges[1]], b.edges)) AS lower,
               if(k = 1, [0.], arrayConcat(b.edges, [b.edges[-1]])) AS upper,
               length(b.sums) = k AS has_sums,
               -- mean value of each reference bin (see header)
               arrayMap((rc, rs, c, s, l, u, i) -> multiIf(
                            rc = 0, 0.,
                            has_sums, rs / rc,
                            c > 0, s / c,
                            k = 1, b.mean,
                            i = 1, (least(b.min, u) + u) / 2,
                            i = k, (l + greatest(b.max, l)) / 2,
                            (l + u) / 2),
                        b.counts, if(has_sums, b.sums, arrayResize([0.], k, 0.)), cc, cs, lower, upper,
                        arrayEnumerate(b.counts)) AS ref_mean,
               arrayMap((pb, Pb, Qb, l, u, m) -> (Pb - Qb) * (u - l) + pb * (u - m),
                        p, p_before, q_before, lower, upper, ref_mean) AS ref_part,
               arrayMap((qb, u, s) -> qb * u - s / w.n_cur, q, upper, cs) AS cur_part,
               [
                 ('psi', {{db}}_v1_psi(p, q), 0, 0),                        -- 01_functions.sql
                 ('jensen_shannon', {{db}}_v1_jensen_shannon(p, q), 0, 0),
                 if(isNaN(exact_d),
                    ('ks', arrayMax(arrayMap((a, c) -> abs(a - c), arrayPopBack(arrayCumSum(p)),
                                             arrayPopBack(arrayCumSum(q)))), 0, 0),
                    ('ks', exact_d, 0, 1)),
                 ('wasserstein', arraySum(arrayMap((a, c) -> abs(a - c), ref_part, cur_part))
                                  / greatest(b.std, 0.001), 0, 0)
               ]::Array(Tuple(method String, statistic Float64, df UInt32, exact UInt8)) AS stats
        FROM numeric_windows AS w
        INNER JOIN (SELECT * FROM reference WHERE feature_type = 'numeric') AS b ON b.key = w.key
    ),
    -- non-NULL categories, keyed like the numeric values
    categorical_values AS (
        SELECT bitXor(mv, cityHash64(feature)) AS key, window_start, cat
        FROM current ARRAY JOIN categorical.keys AS feature, categorical.values AS cat
        WHERE cat IS NOT NULL
        UNION ALL
        SELECT bitXor(mv, cityHash64('\0prediction')), window_start, prediction
        FROM current WHERE prediction IS NOT NULL
        UNION ALL
        SELECT bitXor(mv, cityHash64('\0label')), window_start, label FROM labels WHERE label IS NOT NULL
    ),
    categorical_windows AS (
        SELECT key, window_start, sum(c) AS n_cur,
               groupArray((category, c)::Tuple(category String, n UInt64)) AS cells
        FROM (SELECT key, window_start, assumeNotNull(cat) AS category, count() AS c
              FROM categorical_values GROUP BY key, window_start, category)
        GROUP BY key, window_start
    ),
    categorical_stats AS (
        SELECT b.model_name AS model_name, b.model_version AS model_version,
               w.window_start AS window_start, b.feature AS feature, b.role AS role,
               'categorical' AS feature_type, w.n_cur AS n_cur, b.n AS n_ref, b.source AS source,
               arrayDistinct(arrayConcat(b.categories, arrayMap(t -> t.category, w.cells))) AS cats,
               arrayMap(u -> if(indexOf(b.categories, u) > 0, b.counts[indexOf(b.categories, u)], 0.),
                        cats) AS r,
               arrayMap(u -> toFloat64(arraySum(arrayMap(t -> if(t.category = u, t.n, 0), w.cells))), cats) AS c,
               arrayMap(x -> x / b.n, r) AS p,
               arrayMap(x -> x / w.n_cur, c) AS q,
               toFloat64(b.n + w.n_cur) AS total,
               [
                 ('chi2', arraySum(arrayMap((a, z) ->
                      pow(a - b.n * (a + z) / total, 2) / (b.n * (a + z) / total)
                    + pow(z - w.n_cur * (a + z) / total, 2) / (w.n_cur * (a + z) / total), r, c)),
                  toUInt32(length(cats) - 1), 0),
                 ('psi', {{db}}_v1_psi(p, q), 0, 0),                        -- 01_functions.sql
                 ('jensen_shannon', {{db}}_v1_jensen_shannon(p, q), 0, 0),
                 ('unseen_share', arraySum(arrayMap((a, z) -> if(a = 0, z, 0.), p, q)), 0, 0)
               ]::Array(Tuple(method String, statistic Float64, df UInt32, exact UInt8)) AS stats
        FROM categorical_windows AS w
        INNER JOIN (SELECT * FROM reference WHERE feature_type = 'categorical') AS b ON b.key = w.key
    ),
    all_stats AS (
        SELECT model_name, model_version, window_start, feature, role, feature_type, n_cur, n_ref,
               source, stats FROM numeric_stats
        UNION ALL
        SELECT model_name, model_version, window_start, feature, role, feature_type, n_cur, n_ref,
               source, stats FROM categorical_stats
    )
SELECT
    a.model_name AS model_name,
    a.model_version AS model_version,
    a.window_start AS window_start,
    a.window_start + toIntervalSecond(a.ws) AS window_end,
    a.feature AS feature,
    a.role AS role,
    a.feature_type AS feature_type,
    st.method AS method,
    st.statistic AS statistic,
    CAST(NULL, 'Nullable(Float64)') AS p_value,
    CAST(NULL, 'Nullable(Float64)') AS p_value_adjusted,
    st.df AS df,
    if(a.cfg.method = st.method, a.cfg.threshold,
       transform(st.method, methods.names, methods.thresholds, nan)) AS threshold,
    toUInt8(NOT has(methods.p_value, st.method) AND st.statistic >= threshold) AS drifted,   -- p-values: finalize
    toUInt8(st.method = a.primary_method) AS is_primary,
    st.exact AS exact,
    a.n_cur AS n_current,
    a.n_ref AS n_reference,
    a.source AS reference_source,
    now64(6) AS computed_at
FROM
(
    -- per feature row, once: the window width and the verdict's method (the most specific
    -- ml_drift_config row, an empty tuple when none, else by sample size)
    SELECT *, transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS ws,
           arrayFirst(t -> (t.model IN ('*', model_name)) AND (t.feature IN ('*', feature))
                           AND (t.feature_type IN ('*', feature_type, role)),
                      arrayReverseSort(t -> (t.model != '*') * 4 + (t.feature != '*') * 2
                                            + (t.feature_type != '*'), config)) AS cfg,
           if(cfg.method != '', cfg.method,
              if(least(n_cur, n_ref) <= transform(model_name, ms.model, ms.small_sample,
                                                  ms.small_sample[ms.star]),
                 if(feature_type = 'numeric', methods.small_numeric, methods.small_categorical),
                 if(feature_type = 'numeric', methods.large_numeric, methods.large_categorical))) AS primary_method
    FROM all_stats
) AS a
ARRAY JOIN a.stats AS st;

CREATE MATERIALIZED VIEW {{db}}.ml_drift_mv {{on_cluster}}
{{refresh}} DEPENDS ON {{db}}.ml_reference_bins_mv, {{db}}.ml_drift_ks_exact_mv
APPEND TO {{db}}.ml_drift {{empty}} AS
SELECT * FROM {{db}}.ml_drift_compute(as_of = now(), since_view = 'ml_drift_mv');
