-- ml_reference_bins: the reference distribution of every feature, prediction and label, per model
-- version, in the form the drift views compare against (one row per model/version/feature).
--
-- Source, per model (ml_monitor_settings.reference):
--   profile  the newest uploaded ml_reference_profile: its edges and counts as given;
--   sample   the newest uploaded ml_reference sample: Heron bins it here;
--   window   production predictions of [reference_start, reference_end), every version;
--   auto     profile when one is uploaded for the version, else sample.
-- Numeric bins: `edges` are the distinct reference quantiles at k/bins, k = 1 … bins−1, taken as
-- numpy's np.quantile(x, k/bins, method='inverted_cdf') (the ⌈k·n/bins⌉-th smallest value). A value
-- x falls in bin i = number of edges <= x (np.searchsorted(edges, x, 'right')), so there are
-- length(edges)+1 bins and the outer two are open-ended. Only finite values are binned (NULL, NaN
-- and ±Inf are data-quality findings, not drift). `sums` hold each bin's sum of values (empty for
-- profiles, whose values are then taken as uniform within a bin, the outer bins bounded by min/max).
-- Categorical: `categories` (sorted) with `counts`; NULL is not a category.
-- Roles: feature (numeric/categorical maps), prediction (`prediction`: numeric prediction_value
-- for regression models, else the class label text), score, label (numeric for regression).
-- Full recompute each refresh (small: it reads only reference data); atomic swap of the table.
CREATE TABLE IF NOT EXISTS {{db}}.ml_reference_bins {{on_cluster}} (
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    feature        LowCardinality(String),
    role           LowCardinality(String),     -- feature | prediction | score | label
    feature_type   LowCardinality(String),     -- numeric | categorical
    source         LowCardinality(String),     -- profile | sample | window
    n              UInt64,                     -- values binned (finite / non-null)
    edges          Array(Float64),
    counts         Array(Float64),
    sums           Array(Float64),
    categories     Array(String),
    min            Float64,
    max            Float64,
    mean           Float64,
    std            Float64,                    -- population standard deviation (ddof = 0)
    computed_at    DateTime64(6, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
ORDER BY (model_name, model_version, feature, role);

CREATE MATERIALIZED VIEW {{db}}.ml_reference_bins_mv {{on_cluster}}
{{refresh}}
TO {{db}}.ml_reference_bins AS
WITH
    settings AS (SELECT * FROM {{db}}.ml_monitor_settings),
    regression AS (
        SELECT model_name, model_version FROM {{db}}.ml_models FINAL WHERE task = 'regression'
    ),
    -- newest sample upload per version
    sample_rows AS (
        SELECT r.* FROM {{db}}.ml_reference AS r FINAL
        WHERE (r.model_name, r.model_version, r.reference_id) IN (
            SELECT model_name, model_version, argMax(reference_id, inserted_at)
            FROM {{db}}.ml_reference GROUP BY model_name, model_version)
    ),
    -- production reference windows, one copy per version of the model
    window_rows AS (
        SELECT p.model_name AS model_name, v.model_version AS model_version, p.numeric AS numeric,
               p.categorical AS categorical, p.prediction AS prediction,
               p.prediction_value AS prediction_value, p.score AS score,
               CAST(NULL, 'Nullable(String)') AS label, CAST(NULL, 'Nullable(Float64)') AS label_value
        FROM {{db}}.ml_predictions AS p
        INNER JOIN settings AS s ON s.model_name = p.model_name
        INNER JOIN (SELECT DISTINCT model_name, model_version FROM {{db}}.ml_predictions) AS v
            ON v.model_name = p.model_name
        WHERE s.reference = 'window' AND s.reference_start IS NOT NULL
          AND p.timestamp >= s.reference_start AND p.timestamp < ifNull(s.reference_end, now64(6))
    ),
    raw AS (
        SELECT model_name, model_version, 'sample' AS source, numeric, categorical, prediction,
               prediction_value, score, label, label_value FROM sample_rows
        UNION ALL
        SELECT model_name, model_version, 'window', numeric, categorical, prediction,
               prediction_value, score, label, label_value FROM window_rows
    ),
    -- long form: (model, version, source, feature, role, numeric value | category)
    cells AS (
        SELECT model_name, model_version, source, kv.1 AS feature, 'feature' AS role,
               kv.2 AS x, CAST(NULL, 'Nullable(String)') AS cat
        FROM raw ARRAY JOIN CAST(numeric, 'Array(Tuple(String, Nullable(Float64)))') AS kv
        UNION ALL
        SELECT model_name, model_version, source, kv.1, 'feature', NULL, kv.2
        FROM raw ARRAY JOIN CAST(categorical, 'Array(Tuple(String, Nullable(String)))') AS kv
        UNION ALL
        SELECT model_name, model_version, source, 'prediction', 'prediction',
               if(is_reg, prediction_value, NULL), if(is_reg, NULL, prediction)
        FROM (SELECT *, (model_name, model_version) IN (SELECT * FROM regression) AS is_reg FROM raw)
        UNION ALL
        SELECT model_name, model_version, source, 'score', 'score', score, NULL FROM raw
        WHERE score IS NOT NULL
        UNION ALL
        SELECT model_name, model_version, source, 'label', 'label',
               if(is_reg, label_value, NULL), if(is_reg, NULL, label)
        FROM (SELECT *, (model_name, model_version) IN (SELECT * FROM regression) AS is_reg FROM raw)
        WHERE label IS NOT NULL OR label_value IS NOT NULL
    ),
    numeric_sorted AS (
        SELECT c.model_name AS model_name, c.model_version AS model_version, c.source AS source,
               c.feature AS feature, c.role AS role, any(s.bins) AS nbins,
               arraySort(groupArray(assumeNotNull(c.x))) AS sorted
        FROM cells AS c INNER JOIN settings AS s ON s.model_name = c.model_name
        WHERE c.cat IS NULL AND c.x IS NOT NULL AND isFinite(assumeNotNull(c.x))
        GROUP BY model_name, model_version, source, feature, role
    ),
    numeric_bins AS (
        SELECT model_name, model_version, source, feature, role, length(sorted) AS n,
               arrayDistinct(arrayMap(k -> sorted[intDiv(k * n + nbins - 1, nbins)],
                                      range(1, toUInt64(nbins)))) AS edges,
               -- values below each edge, then per-bin counts and sums from them
               arrayConcat([0], arrayMap(e -> toUInt64(if(arrayFirstIndex(v -> v >= e, sorted) = 0, n,
                   arrayFirstIndex(v -> v >= e, sorted) - 1)), edges), [n]) AS below,
               arrayConcat([0.], arrayCumSum(sorted)) AS cs,
               arrayMap(i -> toFloat64(below[i + 1] - below[i]), range(1, length(below))) AS counts,
               arrayMap(i -> cs[below[i + 1] + 1] - cs[below[i] + 1], range(1, length(below))) AS sums,
               sorted[1] AS min, sorted[-1] AS max, arrayAvg(sorted) AS mean,
               sqrt(arrayAvg(arrayMap(v -> (v - mean) * (v - mean), sorted))) AS std
        FROM numeric_sorted
    ),
    categorical_bins AS (
        SELECT model_name, model_version, source, feature, role, sum(k) AS n,
               arraySort(groupArray((category, k))) AS pairs
        FROM (SELECT model_name, model_version, source, feature, role,
                     assumeNotNull(cat) AS category, count() AS k
              FROM cells WHERE cat IS NOT NULL
              GROUP BY model_name, model_version, source, feature, role, category)
        GROUP BY model_name, model_version, source, feature, role
    ),
    profiles AS (
        SELECT p.model_name AS model_name, p.model_version AS model_version, 'profile' AS source,
               p.feature AS feature,
               multiIf(p.kind = 'prediction', 'prediction', p.kind = 'label', 'label', 'feature') AS role,
               if(length(p.edges) > 0 OR (length(p.categories) = 0 AND p.kind IN ('numeric')),
                  'numeric', 'categorical') AS feature_type,
               if(feature_type = 'numeric', arraySum(p.counts),
                  arraySum(mapValues(p.categories))) AS n,
               p.edges AS edges,
               if(feature_type = 'numeric', arrayMap(c -> toFloat64(c), p.counts),
                  arrayMap(c -> toFloat64(c), mapValues(p.categories))) AS counts,
               CAST([], 'Array(Float64)') AS sums,
               if(feature_type = 'numeric', [], mapKeys(p.categories)) AS categories,
               ifNull(p.min, 0) AS min, ifNull(p.max, 0) AS max, ifNull(p.mean, 0) AS mean,
               ifNull(p.std, 0) AS std
        FROM {{db}}.ml_reference_profile AS p FINAL
        WHERE (p.model_name, p.model_version, p.reference_id) IN (
            SELECT model_name, model_version, argMax(reference_id, inserted_at)
            FROM {{db}}.ml_reference_profile GROUP BY model_name, model_version)
    ),
    candidates AS (
        SELECT model_name, model_version, feature, role, 'numeric' AS feature_type, source, n,
               edges, counts, sums, CAST([], 'Array(String)') AS categories, min, max, mean, std
        FROM numeric_bins
        UNION ALL
        SELECT model_name, model_version, feature, role, 'categorical', source, n, [],
               arrayMap(x -> toFloat64(x.2), pairs), [], arrayMap(x -> x.1, pairs), 0, 0, 0, 0
        FROM categorical_bins
        UNION ALL
        SELECT model_name, model_version, feature, role, feature_type, source, n, edges, counts, sums,
               categories, min, max, mean, std
        FROM profiles
    )
SELECT c.model_name AS model_name, c.model_version AS model_version, c.feature AS feature,
       c.role AS role,
       argMax(c.feature_type, rank) AS feature_type, argMax(c.source, rank) AS source,
       argMax(c.n, rank) AS n, argMax(c.edges, rank) AS edges, argMax(c.counts, rank) AS counts,
       argMax(c.sums, rank) AS sums, argMax(c.categories, rank) AS categories,
       argMax(c.min, rank) AS min, argMax(c.max, rank) AS max, argMax(c.mean, rank) AS mean,
       argMax(c.std, rank) AS std, now64(6) AS computed_at
FROM
(
    SELECT c.*, multiIf(
        s.reference = 'window', if(c.source = 'window', 3, 0),
        s.reference = 'profile', if(c.source = 'profile', 3, 0),
        s.reference = 'sample', if(c.source = 'sample', 3, 0),
        c.source = 'profile', 2, c.source = 'sample', 1, 0) AS rank
    FROM candidates AS c INNER JOIN settings AS s ON s.model_name = c.model_name
) AS c
WHERE rank > 0
GROUP BY c.model_name, c.model_version, c.feature, c.role;
