-- ml_drift: drift of every feature, the prediction, the score and the label, per model, version
-- and time window, against the reference in ml_reference_bins (docs/statistics.md has the exact
-- definitions; this header is the summary).
--
-- One-pass: each current value is counted into its feature's reference bins, so memory is
-- O(windows × features × bins) whatever the row count; no value is sorted.
-- Numeric (bins: reference quantiles, i = number of edges <= x; finite values only):
--   psi             Σ (q−p)·ln(q/p) over bins, p and q floored at 1e-4 (no renormalisation)
--   jensen_shannon  sqrt(JS divergence), natural log (scipy.spatial.distance.jensenshannon)
--   ks              binned KS: max over edges |P−Q| of the cumulative shares; replaced by the
--                   exact D from ml_drift_ks_exact when the reference sample is small enough
--   wasserstein     Σ over bins |∫(F_ref − F_cur)| (exact inside each bin from per-bin counts and
--                   sums; profile bins assume uniform values) divided by max(ref std, 0.001)
-- Categorical (categories of the reference ∪ current window; NULL excluded):
--   chi2            Pearson chi-square of the 2×k contingency table, df = k − 1; p-value by
--                   heron_collector.analytics.finalize (scipy), as is the KS p-value
--   jensen_shannon, psi as above on category shares; unseen_share = current share of categories
--                   absent from the reference.
-- Verdict (is_primary = 1): the most specific ml_drift_config row, else by sample size: when
-- min(n_current, n_reference) <= small_sample, ks / chi2 at alpha 0.05 on Holm-adjusted
-- p-values across the window's feature tests; otherwise wasserstein >= 0.1 (numeric) and
-- jensen_shannon >= 0.1 (categorical). Other methods are stored with their default thresholds
-- (psi 0.2, ks/chi2 alpha 0.05, wasserstein 0.1, jensen_shannon 0.1, unseen_share 0.05).
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

CREATE MATERIALIZED VIEW {{db}}.ml_drift_mv {{on_cluster}}
{{refresh}} DEPENDS ON {{db}}.ml_reference_bins_mv, {{db}}.ml_drift_ks_exact_mv
APPEND TO {{db}}.ml_drift AS
WITH
    (SELECT groupArray((model_name, feature_type, feature, method, threshold))
     FROM {{db}}.ml_drift_config FINAL) AS config,
    (SELECT max(lookback_seconds + window_seconds) FROM {{db}}.ml_monitor_settings) AS max_lookback,
    settings AS (SELECT model_name, window_seconds, lookback_seconds, small_sample
                 FROM {{db}}.ml_monitor_settings),
    regression AS (SELECT model_name, model_version FROM {{db}}.ml_models FINAL WHERE task = 'regression'),
    -- predictions of the look-back windows, with their window start
    current AS (
        SELECT p.model_name AS model_name, p.model_version AS model_version,
               toDateTime(intDiv(toUnixTimestamp(p.timestamp), s.window_seconds) * s.window_seconds, 'UTC')
                   AS window_start,
               p.numeric AS numeric, p.categorical AS categorical, p.prediction AS prediction,
               p.prediction_value AS prediction_value, p.score AS score, p.prediction_id AS prediction_id
        FROM {{db}}.ml_predictions AS p INNER JOIN settings AS s ON s.model_name = p.model_name
        WHERE p.timestamp >= now() - toIntervalSecond(max_lookback)
          AND toUnixTimestamp(p.timestamp) >= intDiv(toUnixTimestamp(now()) - s.lookback_seconds,
                                                     s.window_seconds) * s.window_seconds
    ),
    labels AS (
        SELECT c.model_name AS model_name, c.model_version AS model_version,
               c.window_start AS window_start, g.label AS label, g.label_value AS label_value
        FROM (SELECT model_name, model_version, window_start, prediction_id FROM current) AS c
        INNER JOIN (SELECT model_name, prediction_id, argMax(label, inserted_at) AS label,
                           argMax(label_value, inserted_at) AS label_value
                    FROM {{db}}.ml_ground_truth
                    WHERE model_name IN (SELECT model_name FROM settings)
                    GROUP BY model_name, prediction_id) AS g
            ON g.model_name = c.model_name AND g.prediction_id = c.prediction_id
    ),
    numeric_cells AS (
        SELECT model_name, model_version, window_start, kv.1 AS feature, 'feature' AS role,
               kv.2 AS x
        FROM current ARRAY JOIN CAST(numeric, 'Array(Tuple(String, Nullable(Float64)))') AS kv
        UNION ALL
        SELECT model_name, model_version, window_start, 'prediction', 'prediction', prediction_value
        FROM current WHERE (model_name, model_version) IN (SELECT * FROM regression)
        UNION ALL
        SELECT model_name, model_version, window_start, 'score', 'score', score FROM current
        WHERE score IS NOT NULL
        UNION ALL
        SELECT model_name, model_version, window_start, 'label', 'label', label_value FROM labels
        WHERE (model_name, model_version) IN (SELECT * FROM regression)
    ),
    categorical_cells AS (
        SELECT model_name, model_version, window_start, kv.1 AS feature, 'feature' AS role,
               kv.2 AS cat
        FROM current ARRAY JOIN CAST(categorical, 'Array(Tuple(String, Nullable(String)))') AS kv
        UNION ALL
        SELECT model_name, model_version, window_start, 'prediction', 'prediction', prediction
        FROM current WHERE (model_name, model_version) NOT IN (SELECT * FROM regression)
        UNION ALL
        SELECT model_name, model_version, window_start, 'label', 'label', label FROM labels
        WHERE (model_name, model_version) NOT IN (SELECT * FROM regression)
    ),
    -- one pass: finite values counted into the reference bins
    numeric_binned AS (
        SELECT model_name, model_version, window_start, feature, role, bin,
               count() AS c, sum(v) AS s, min(v) AS lo, max(v) AS hi
        FROM (
            SELECT n.model_name AS model_name, n.model_version AS model_version,
                   n.window_start AS window_start, n.feature AS feature, n.role AS role,
                   assumeNotNull(n.x) AS v, arrayCount(e -> e <= v, b.edges) AS bin
            FROM numeric_cells AS n
            INNER JOIN (SELECT model_name, model_version, feature, role, edges
                        FROM {{db}}.ml_reference_bins FINAL WHERE feature_type = 'numeric') AS b
                ON b.model_name = n.model_name AND b.model_version = n.model_version
               AND b.feature = n.feature AND b.role = n.role
            WHERE isFinite(n.x) -- NULL is not finite either
        )
        GROUP BY model_name, model_version, window_start, feature, role, bin
    ),
    numeric_windows AS (
        SELECT model_name, model_version, window_start, feature, role, sum(c) AS n_cur,
               min(lo) AS cur_min, max(hi) AS cur_max,
               groupArray((bin, c, s)) AS cells
        FROM numeric_binned GROUP BY model_name, model_version, window_start, feature, role
    ),
    numeric_stats AS (
        SELECT w.model_name AS model_name, w.model_version AS model_version,
               w.window_start AS window_start, w.feature AS feature, w.role AS role,
               'numeric' AS feature_type, w.n_cur AS n_cur, b.n AS n_ref, b.source AS source,
               length(b.counts) AS k,
               arrayMap(i -> toFloat64(arraySum(arrayMap(t -> if(t.1 + 1 = i, t.2, 0), w.cells))),
                        range(1, k + 1)) AS cc,
               arrayMap(i -> arraySum(arrayMap(t -> if(t.1 + 1 = i, t.3, 0.), w.cells)),
                        range(1, k + 1)) AS cs,
               arrayMap(x -> x / b.n, b.counts) AS p,
               arrayMap(x -> x / w.n_cur, cc) AS q,
               least(b.min, w.cur_min) AS lo, greatest(b.max, w.cur_max) AS hi,
               arrayConcat([lo], b.edges) AS lower, arrayConcat(b.edges, [hi]) AS upper,
               -- ∫ over each bin of the empirical CDF: share before the bin × width + (c·upper − Σx)/n
               arrayMap((pb, Pb, l, u, sb) -> Pb * (u - l) + pb * u - sb,
                        p, arrayConcat([0.], arrayPopBack(arrayCumSum(p))), lower, upper,
                        if(length(b.sums) = k, arrayMap(x -> x / b.n, b.sums),
                           arrayMap((pb, l, u) -> pb * (l + u) / 2, p, lower, upper))) AS ref_int,
               arrayMap((qb, Qb, l, u, sb) -> Qb * (u - l) + qb * u - sb / w.n_cur,
                        q, arrayConcat([0.], arrayPopBack(arrayCumSum(q))), lower, upper, cs) AS cur_int,
               [
                 ('psi', arraySum(arrayMap((a, c) -> (greatest(c, 1e-4) - greatest(a, 1e-4))
                                  * log(greatest(c, 1e-4) / greatest(a, 1e-4)), p, q)), 0),
                 ('jensen_shannon', sqrt(greatest(0., arraySum(arrayMap((a, c) ->
                      if(a > 0, 0.5 * a * log(2 * a / (a + c)), 0.) + if(c > 0, 0.5 * c * log(2 * c / (a + c)), 0.),
                      p, q)))), 0),
                 ('ks', arrayMax(arrayMap((a, c) -> abs(a - c), arrayPopBack(arrayCumSum(p)),
                                          arrayPopBack(arrayCumSum(q)))), 0),
                 ('wasserstein', arraySum(arrayMap((a, c) -> abs(a - c), ref_int, cur_int))
                                  / greatest(b.std, 0.001), 0)
               ] AS stats
        FROM numeric_windows AS w
        INNER JOIN (SELECT * FROM {{db}}.ml_reference_bins FINAL WHERE feature_type = 'numeric') AS b
            ON b.model_name = w.model_name AND b.model_version = w.model_version
           AND b.feature = w.feature AND b.role = w.role
        WHERE b.n > 0
    ),
    categorical_windows AS (
        SELECT model_name, model_version, window_start, feature, role, sum(c) AS n_cur,
               groupArray((category, c)) AS cells
        FROM (SELECT model_name, model_version, window_start, feature, role,
                     assumeNotNull(cat) AS category, count() AS c
              FROM categorical_cells WHERE cat IS NOT NULL
              GROUP BY model_name, model_version, window_start, feature, role, category)
        GROUP BY model_name, model_version, window_start, feature, role
    ),
    categorical_stats AS (
        SELECT w.model_name AS model_name, w.model_version AS model_version,
               w.window_start AS window_start, w.feature AS feature, w.role AS role,
               'categorical' AS feature_type, w.n_cur AS n_cur, b.n AS n_ref, b.source AS source,
               arrayDistinct(arrayConcat(b.categories, arrayMap(t -> t.1, w.cells))) AS cats,
               arrayMap(u -> if(indexOf(b.categories, u) > 0, b.counts[indexOf(b.categories, u)], 0.),
                        cats) AS r,
               arrayMap(u -> toFloat64(arraySum(arrayMap(t -> if(t.1 = u, t.2, 0), w.cells))), cats) AS c,
               arrayMap(x -> x / b.n, r) AS p,
               arrayMap(x -> x / w.n_cur, c) AS q,
               toFloat64(b.n + w.n_cur) AS total,
               [
                 ('chi2', arraySum(arrayMap((a, z) ->
                      pow(a - b.n * (a + z) / total, 2) / (b.n * (a + z) / total)
                    + pow(z - w.n_cur * (a + z) / total, 2) / (w.n_cur * (a + z) / total), r, c)),
                  toUInt32(length(cats) - 1)),
                 ('psi', arraySum(arrayMap((a, z) -> (greatest(z, 1e-4) - greatest(a, 1e-4))
                                  * log(greatest(z, 1e-4) / greatest(a, 1e-4)), p, q)), 0),
                 ('jensen_shannon', sqrt(greatest(0., arraySum(arrayMap((a, z) ->
                      if(a > 0, 0.5 * a * log(2 * a / (a + z)), 0.) + if(z > 0, 0.5 * z * log(2 * z / (a + z)), 0.),
                      p, q)))), 0),
                 ('unseen_share', arraySum(arrayMap((a, z) -> if(a = 0, z, 0.), p, q)), 0)
               ] AS stats
        FROM categorical_windows AS w
        INNER JOIN (SELECT * FROM {{db}}.ml_reference_bins FINAL WHERE feature_type = 'categorical') AS b
            ON b.model_name = w.model_name AND b.model_version = w.model_version
           AND b.feature = w.feature AND b.role = w.role
        WHERE b.n > 0
    ),
    all_stats AS (
        SELECT model_name, model_version, window_start, feature, role, feature_type, n_cur, n_ref,
               source, stats FROM numeric_stats
        UNION ALL
        SELECT model_name, model_version, window_start, feature, role, feature_type, n_cur, n_ref,
               source, stats FROM categorical_stats
    )
SELECT model_name, model_version, window_start, window_end, feature, role, feature_type, method,
       statistic, p_value, p_value_adjusted, df, threshold, drifted, is_primary, exact, n_current,
       n_reference, reference_source, computed_at
FROM
(
    SELECT
        a.model_name AS model_name,
        a.model_version AS model_version,
        a.window_start AS window_start,
        a.window_start + toIntervalSecond(s.window_seconds) AS window_end,
        a.feature AS feature,
        a.role AS role,
        a.feature_type AS feature_type,
        st.1 AS method,
        if(method = 'ks' AND x.d IS NOT NULL, assumeNotNull(x.d), st.2) AS statistic,
        CAST(NULL, 'Nullable(Float64)') AS p_value,
        CAST(NULL, 'Nullable(Float64)') AS p_value_adjusted,
        st.3 AS df,
        -- the most specific ml_drift_config row for this feature (empty tuple when none)
        arrayFirst(t -> (t.1 IN ('*', a.model_name)) AND (t.3 IN ('*', a.feature))
                        AND (t.2 IN ('*', a.feature_type, a.role)),
                   arrayReverseSort(t -> (t.1 != '*') * 4 + (t.3 != '*') * 2 + (t.2 != '*'), config)) AS cfg,
        if(cfg.4 != '', cfg.4,
           if(least(a.n_cur, a.n_ref) <= s.small_sample,
              if(a.feature_type = 'numeric', 'ks', 'chi2'),
              if(a.feature_type = 'numeric', 'wasserstein', 'jensen_shannon'))) AS primary_method,
        if(cfg.4 = method, cfg.5,
           transform(method, ['psi', 'ks', 'wasserstein', 'jensen_shannon', 'chi2', 'unseen_share'],
                     [0.2, 0.05, 0.1, 0.1, 0.05, 0.05], 0.1)) AS threshold,
        toUInt8(method NOT IN ('ks', 'chi2') AND statistic >= threshold) AS drifted,
        toUInt8(method = primary_method) AS is_primary,
        toUInt8(method = 'ks' AND x.d IS NOT NULL) AS exact,
        a.n_cur AS n_current,
        a.n_ref AS n_reference,
        a.source AS reference_source,
        now64(6) AS computed_at
    FROM all_stats AS a
    ARRAY JOIN a.stats AS st
    INNER JOIN settings AS s ON s.model_name = a.model_name
    LEFT JOIN (SELECT model_name, model_version, window_start, feature, role,
                      CAST(d, 'Nullable(Float64)') AS d
               FROM {{db}}.ml_drift_ks_exact FINAL) AS x
        ON x.model_name = a.model_name AND x.model_version = a.model_version
       AND x.window_start = a.window_start AND x.feature = a.feature AND x.role = a.role
)
SETTINGS join_use_nulls = 1;
