-- ml_reference_bins: the reference distribution of every feature, prediction and label, per model
-- version, in the form the drift views compare against (one row per model/version/feature).
--
-- Source, per model (ml_monitor_settings.reference):
--   profile  the newest uploaded ml_reference_profile: its edges and counts as given;
--   sample   the newest uploaded ml_reference sample: Heron bins it here;
--   window   production predictions of [reference_start, reference_end), all versions together,
--            as the reference of every version of the model (its task decides whether prediction
--            is numeric: a regression version makes it so for the window);
--   auto     per feature: the version's uploaded sample when it is the whole reference (at least as
--            many rows as the profile) or has at least 10,000 rows; else the profile when it has
--            the feature, else the sample.
-- Numeric bins: `edges` are the distinct reference quantiles at k/bins, k = 1 … bins−1, taken as
-- numpy's np.quantile(x, k/bins, method='inverted_cdf') (the ⌈k·n/bins⌉-th smallest value), and the
-- edges v and v⁺ (the next float64 above v) of every point mass v: a value holding at least 1/bins
-- of the values, zero holding at least 1/(10·bins), every value when there are at most `bins`
-- distinct ones — so [v, v⁺) holds v alone and mass moving onto or off it is measured. A value
-- x falls in bin i = number of edges <= x (np.searchsorted(edges, x, 'right')), so there are
-- length(edges)+1 bins and the outer two are open-ended. Only finite values are binned (NULL, NaN
-- and ±Inf are data-quality findings, not drift). `sums` hold each bin's sum of values (empty for
-- profiles: ml_drift then gives the reference the current window's within-bin shape, see its header).
-- Categorical: `categories` (sorted) with `counts`; NULL is not a category.
-- Roles: feature (numeric/categorical maps), prediction (`prediction`: numeric prediction_value
-- for regression models, else the class label text), score, label (numeric for regression); a
-- profile's prediction and label summaries follow the same rule.
-- Full refresh (atomic swap of the table), but only versions whose inputs changed are binned
-- again: each row carries the `signature` of what it was computed from (the model's reference
-- mode, bins and task, and per uploaded sample/profile the newest upload's id, rows and last
-- insert time). A version whose signature is unchanged keeps its rows, read back from this
-- table; a new or grown upload, a settings change or a new task recomputes it. Window references
-- are recomputed every refresh (production data keeps arriving).
-- Cost: settings, the newest upload ids and the regression versions are resolved once into
-- constants; the sample is read once per family (numeric: map, prediction, score, label in one
-- ARRAY JOIN; categorical likewise); predictions are read only for models whose reference is a
-- window (an empty model list prunes the whole table by its primary key), once per model, not
-- per version (rows of version '*', expanded to the versions at the end). Per numeric feature
-- the values are sorted once; each edge's count and sum of the values below it come from
-- element-wise passes over the sorted array (where each run of equal values starts, prefix
-- sums), so time and memory are O(n) per feature, whatever the number of bins.
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
    computed_at    DateTime64(6, 'UTC'),
    signature      String                      -- the inputs these bins were computed from (header)
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
ORDER BY (model_name, model_version, feature, role);

-- ml_reference_bins_compute: what a refresh computes now (SELECT * FROM it to preview the next refresh). The
-- refreshable view below only selects from it: ClickHouse analyses a refreshable view's query
-- once more per refresh, which for these queries costs as much as their planning.
CREATE OR REPLACE VIEW {{db}}.ml_reference_bins_compute {{on_cluster}} AS
WITH
    (SELECT groupArray((model_name, reference, reference_start, reference_end, bins))
            ::Array(Tuple(model String, reference String, reference_start Nullable(DateTime64(6, 'UTC')),
                          reference_end Nullable(DateTime64(6, 'UTC')), bins UInt16))
     FROM {{db}}.ml_monitor_settings) AS settings,
    arrayMap(t -> t.model, settings) AS s_model,
    arrayMap(t -> t.reference, settings) AS s_reference,
    arrayMap(t -> toUInt64(t.bins), settings) AS s_bins,
    arrayFilter(t -> t.reference = 'window' AND t.reference_start IS NOT NULL, settings) AS window_cfg,
    arrayMap(t -> t.model, window_cfg) AS window_models,
    arrayMap(t -> toUnixTimestamp64Micro(assumeNotNull(t.reference_start)), window_cfg) AS window_from,
    arrayMap(t -> toUnixTimestamp64Micro(ifNull(t.reference_end, now64(6))), window_cfg) AS window_to,
    (SELECT groupArray((model_name, model_version))::Array(Tuple(model String, version String))
     FROM {{db}}.ml_models FINAL WHERE task = 'regression') AS regression,
    arrayMap(t -> t.model, regression) AS regression_models,
    (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,   -- plausible timestamps (schema/012_time_bounds.sql)
    (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max,
    -- per version and kind of upload (sample, profile): the newest upload's id, rows, last insert
    (SELECT groupArray((model_name, model_version, kind, rid, rows, last))
            ::Array(Tuple(model String, version String, kind String, reference_id String, rows UInt64,
                          last DateTime64(3, 'UTC')))
     FROM (SELECT model_name, model_version, kind, argMax(reference_id, uploaded) AS rid,
                  argMax(n_rows, uploaded) AS rows, max(uploaded) AS last
           FROM (SELECT model_name, model_version, 'sample' AS kind, reference_id, count() AS n_rows,
                        max(inserted_at) AS uploaded
                 FROM {{db}}.ml_reference GROUP BY model_name, model_version, reference_id
                 UNION ALL
                 SELECT model_name, model_version, 'profile', reference_id, count(), max(inserted_at)
                 FROM {{db}}.ml_reference_profile GROUP BY model_name, model_version, reference_id)
           GROUP BY model_name, model_version, kind)) AS uploads,
    -- what each uploaded version's bins are computed from (window references: never reused)
    (SELECT groupArray((model_name, model_version, signature))::Array(Tuple(model String, version String,
                                                                              signature String))
     FROM (SELECT t.model AS model_name, t.version AS model_version,
                  concat(transform(t.model, s_model, s_reference, 'auto'), '|',
                         toString(transform(t.model, s_model, s_bins, toUInt64(20))), '|',
                         toString(has(regression, (t.model, t.version))), '|',
                         arrayStringConcat(arraySort(groupArray(concat(t.kind, ':', t.reference_id, ':',
                                                                       toString(t.rows), ':', toString(t.last)))),
                                           '|')) AS signature
           FROM (SELECT arrayJoin(uploads) AS t)
           WHERE transform(t.model, s_model, s_reference, 'auto') != 'window'
           GROUP BY t.model, t.version)) AS signatures,
    -- versions whose stored bins are current, and those to bin now
    (SELECT groupUniqArray((model_name, model_version)) FROM {{db}}.ml_reference_bins
     WHERE (model_name, model_version, signature) IN (SELECT arrayJoin(signatures))) AS current_versions,
    arrayFilter(t -> NOT has(current_versions, (t.model, t.version)), signatures) AS stale,
    arrayMap(t -> (t.model, t.version), stale) AS stale_versions,
    -- newest sample upload of each version to bin
    arrayMap(t -> (t.model, t.version, t.reference_id),
             arrayFilter(t -> t.kind = 'sample' AND has(stale_versions, (t.model, t.version)), uploads))
        AS newest_sample,
    -- versions of each window-reference model (its production window is every version's reference)
    (SELECT groupArray((model_name, versions))
     FROM (SELECT model_name, groupUniqArray(model_version) AS versions FROM {{db}}.ml_predictions
           WHERE model_name IN (SELECT arrayJoin(window_models)) GROUP BY model_name))
        ::Array(Tuple(model String, versions Array(String))) AS window_versions,
    -- the rows to bin: the newest sample of each stale version, and each window model's
    -- production window once, as version '*' (expanded to the model's versions at the end);
    -- is_regression: prediction and label are numbers (else class labels)
    raw AS (
        SELECT model_name, model_version, 'sample' AS source, numeric, categorical, prediction,
               prediction_value, score, label, label_value,
               (model_name, model_version) IN (SELECT arrayJoin(regression)) AS is_regression
        FROM {{db}}.ml_reference FINAL
        WHERE (model_name, model_version, reference_id) IN (SELECT arrayJoin(newest_sample))
        UNION ALL
        SELECT model_name, '*', 'window', numeric, categorical, prediction, prediction_value, score,
               CAST(NULL, 'Nullable(String)'), CAST(NULL, 'Nullable(Float64)'),
               model_name IN (SELECT arrayJoin(regression_models))
        FROM {{db}}.ml_predictions
        WHERE model_name IN (SELECT arrayJoin(window_models))
          AND toUnixTimestamp64Micro(timestamp) >= transform(model_name, window_models, window_from, 0)
          AND toUnixTimestamp64Micro(timestamp) < transform(model_name, window_models, window_to, 0)
          AND timestamp >= ts_min AND timestamp < ts_max   -- implausible: in no window
    ),
    -- long form, one pass per family: (model, version, source, name, value); name is the feature,
    -- or '\0' and the role for prediction, score and label
    numeric_cells AS (
        SELECT model_name, model_version, source, name, assumeNotNull(x) + 0. AS v
        FROM raw
        ARRAY JOIN arrayConcat(CAST(numeric.keys, 'Array(String)'), ['\0prediction', '\0score', '\0label']) AS name,
                   arrayConcat(numeric.values, [if(is_regression, prediction_value, NULL), score,
                                                if(is_regression, label_value, NULL)]) AS x
        WHERE isFinite(x)
    ),
    categorical_cells AS (
        SELECT model_name, model_version, source, name, assumeNotNull(x) AS cat
        FROM raw
        ARRAY JOIN arrayConcat(CAST(categorical.keys, 'Array(String)'), ['\0prediction', '\0label']) AS name,
                   arrayConcat(categorical.values, [if(is_regression, NULL, prediction),
                                                    if(is_regression, NULL, label)]) AS x
        WHERE x IS NOT NULL
    ),
    numeric_sorted AS (
        SELECT any(model_name) AS model_name, any(model_version) AS model_version, any(source) AS source,
               any(name) AS name,
               arraySort(groupArray(v)) AS sorted, min(v) AS min, max(v) AS max, avg(v) AS mean,
               stddevPopStable(v) AS std
        FROM (SELECT *, cityHash64(model_name, model_version, name) AS k FROM numeric_cells)
        GROUP BY k
    ),
    -- Every step is element-wise over the sorted values (or over the few quantiles): a lambda that
    -- captured `sorted` would copy it once per edge (100k reference rows × 20 features: ~300 MB).
    -- One step per CTE: a column of the step before is computed once, where an alias used by
    -- several expressions of one SELECT is expanded into each (and analysed again: planning time).
    numeric_runs AS (
        SELECT model_name, model_version, source, name, sorted, length(sorted) AS n,
               transform(model_name, s_model, s_bins, toUInt64(20)) AS nbins,
               -- the ⌈k·n/bins⌉-th positions, k = 1 … bins − 1, as a 0/1 mask over the sorted values
               arrayDistinct(arrayMap(k -> toUInt64(intDiv(k * n + nbins - 1, nbins)), range(1, nbins))) AS positions,
               arrayResize(arrayFlatten(arrayMap((p, q) -> arrayPushBack(arrayWithConstant(p - q - 1, 0), 1),
                                                 positions, arrayPushFront(arrayPopBack(positions), 0))),
                           n, 0) AS is_quantile,
               -- per value: where its run of equal values starts, and the sum of the values before it
               arrayMap((x, prev) -> x != prev, sorted, arrayPushFront(arrayPopBack(sorted), nan)) AS run_start,
               arrayFill(p -> p > 0, arrayMap((r, i) -> if(r, i, 0), run_start, arrayEnumerate(sorted))) AS first_pos,
               arrayCumSum(sorted) AS cs,
               arrayFill(c -> NOT isNaN(c),
                         arrayMap((r, c) -> if(r, c, nan), run_start, arrayPushFront(arrayPopBack(cs), 0.))) AS sum_before,
               -- per value: where its run ends (1-based), and the sum of the values through it
               arrayMap((x, nxt) -> x != nxt, sorted, arrayPushBack(arrayPopFront(sorted), nan)) AS run_end,
               arrayReverseFill(p -> p > 0, arrayMap((r, i) -> if(r, i, 0), run_end, arrayEnumerate(sorted))) AS last_pos,
               arrayReverseFill(c -> NOT isNaN(c), arrayMap((r, c) -> if(r, c, nan), run_end, cs)) AS sum_through,
               min, max, mean, std
        FROM numeric_sorted
    ),
    -- point masses, at their run's first value: a value holding >= 1/bins of the values, zero
    -- holding >= 1/(10·bins), or every value when there are at most `bins` distinct ones
    numeric_points AS (
        SELECT *, arrayMap((r, f, l, x) -> r AND (n_distinct <= nbins OR (l - f + 1) * nbins >= n
                                                 OR (x = 0 AND (l - f + 1) * 10 * nbins >= n)),
                           run_start, first_pos, last_pos, sorted) AS is_point
        FROM (SELECT *, arraySum(run_start) AS n_distinct FROM numeric_runs)
    ),
    -- (edge, values below it, their sum): the quantiles, and per point mass v the edges v and v⁺
    -- (the next float64 above v: its bin [v, v⁺) holds v alone); equal edges coincide
    numeric_edges AS (
        SELECT model_name, model_version, source, name, n, cs[-1] AS total, min, max, mean, std,
               arraySort(arrayDistinct(arrayConcat(
                   arrayZip(arrayFilter((x, m) -> m, sorted, at_lower),
                            arrayMap(f -> toUInt64(f - 1), arrayFilter((f, m) -> m, first_pos, at_lower)),
                            arrayFilter((s, m) -> m, sum_before, at_lower)),
                   arrayFilter(t -> isFinite(t.edge),
                               arrayZip(arrayMap(x -> multiIf(x = 0, reinterpretAsFloat64(toUInt64(1)),
                                                              x > 0, reinterpretAsFloat64(reinterpretAsUInt64(x) + 1),
                                                              reinterpretAsFloat64(reinterpretAsUInt64(x) - 1)),
                                                 arrayFilter((x, p) -> p, sorted, is_point)),
                                        arrayMap(l -> toUInt64(l), arrayFilter((l, p) -> p, last_pos, is_point)),
                                        arrayFilter((s, p) -> p, sum_through, is_point))
                                   ::Array(Tuple(edge Float64, below UInt64, below_sum Float64))))))
                   ::Array(Tuple(edge Float64, below UInt64, below_sum Float64)) AS edge_rows
        FROM (SELECT *, arrayMap((q, p) -> q OR p, is_quantile, is_point) AS at_lower FROM numeric_points)
    ),
    numeric_bins AS (
        SELECT model_name, model_version, source, name, n, arrayMap(t -> t.edge, edge_rows) AS edges,
               arrayConcat([0], arrayMap(t -> t.below, edge_rows), [n]) AS below,
               arrayConcat([0.], arrayMap(t -> t.below_sum, edge_rows), [total]) AS below_sum,
               arrayMap((a, b) -> toFloat64(b - a), arrayPopBack(below), arrayPopFront(below)) AS counts,
               arrayMap((a, b) -> b - a, arrayPopBack(below_sum), arrayPopFront(below_sum)) AS sums,
               min, max, mean, std
        FROM numeric_edges
    ),
    categorical_bins AS (
        SELECT any(model_name) AS model_name, any(model_version) AS model_version, any(source) AS source,
               any(name) AS name,
               sum(k) AS n, arraySort(groupArray((category, k)::Tuple(category String, n UInt64))) AS pairs
        FROM (SELECT key, any(model_name) AS model_name, any(model_version) AS model_version,
                     any(source) AS source, any(name) AS name, cat AS category, count() AS k
              FROM (SELECT *, cityHash64(model_name, model_version, name) AS key FROM categorical_cells)
              GROUP BY key, cat)
        GROUP BY key
    ),
    profiles AS (
        SELECT p.model_name AS model_name, p.model_version AS model_version, 'profile' AS source,
               p.feature AS feature,
               multiIf(p.kind = 'prediction', 'prediction', p.kind = 'label', 'label', p.kind = 'score', 'score',
                       'feature') AS role,
               -- a prediction or label summary is compared as the model's task says (numbers of a
               -- regression, classes otherwise), in the form it has: the SDK sends both forms when
               -- it did not know the task; an older SDK's summary has one, which is used as it is
               multiIf(role NOT IN ('prediction', 'label'),
                       if(length(p.edges) > 0 OR (length(p.categories) = 0 AND p.kind IN ('numeric', 'score')),
                          'numeric', 'categorical'),
                       has(regression, (p.model_name, p.model_version)),
                       if(length(p.edges) > 0 OR length(p.categories) = 0, 'numeric', 'categorical'),
                       if(length(p.categories) > 0 OR length(p.edges) = 0, 'categorical', 'numeric')) AS feature_type,
               if(feature_type = 'numeric', arraySum(p.counts),
                  arraySum(mapValues(p.categories))) AS n,
               p.edges AS edges,
               if(feature_type = 'numeric', arrayMap(c -> toFloat64(c), p.counts),
                  arrayMap(c -> toFloat64(c), mapValues(p.categories))) AS counts,
               CAST([], 'Array(Float64)') AS sums,
               if(feature_type = 'numeric', [], mapKeys(p.categories)) AS categories,
               ifNull(p.min, 0) AS min, ifNull(p.max, 0) AS max, ifNull(p.mean, 0) AS mean,
               ifNull(p.std, 0) AS std, p.count AS rows
        FROM {{db}}.ml_reference_profile AS p FINAL
        WHERE (p.model_name, p.model_version, p.reference_id) IN (
            SELECT arrayJoin(arrayMap(t -> (t.model, t.version, t.reference_id),
                                      arrayFilter(t -> t.kind = 'profile' AND has(stale_versions, (t.model, t.version)),
                                                  uploads))))
    ),
    -- a cell name '\0role' is the prediction, score or label row: feature = role = its name
    candidates AS (
        SELECT model_name, model_version, if(startsWith(name, '\0'), substring(name, 2), name) AS feature,
               if(startsWith(name, '\0'), feature, 'feature') AS role, feature_type, source, n, edges,
               counts, sums, categories, min, max, mean, std,
               if(source = 'sample', arrayFirst(t -> t.model = model_name AND t.version = model_version
                                                     AND t.kind = 'sample', uploads).rows, 0) AS rows
        FROM
        (
            SELECT model_name, model_version, name, 'numeric' AS feature_type, source, n, edges, counts,
                   sums, CAST([], 'Array(String)') AS categories, min, max, mean, std
            FROM numeric_bins
            UNION ALL
            SELECT model_name, model_version, name, 'categorical', source, n, [],
                   arrayMap(x -> toFloat64(x.n), pairs), [], arrayMap(x -> x.category, pairs), 0, 0, 0, 0
            FROM categorical_bins
        )
        UNION ALL
        SELECT model_name, model_version, feature, role, feature_type, source, n, edges, counts, sums,
               categories, min, max, mean, std, rows
        FROM profiles
    )
SELECT model_name, version AS model_version, feature, role, feature_type, source, n, edges, counts, sums,
       categories, min, max, mean, std, now64(6) AS computed_at, signature
FROM
(
    -- per (model, version, feature, role): the candidate of the highest rank
    SELECT c.model_name AS model_name, c.model_version AS model_version, c.feature AS feature,
           c.role AS role,
           argMax(c.feature_type, rank) AS feature_type, argMax(c.source, rank) AS source,
           argMax(c.n, rank) AS n, argMax(c.edges, rank) AS edges, argMax(c.counts, rank) AS counts,
           argMax(c.sums, rank) AS sums, argMax(c.categories, rank) AS categories,
           argMax(c.min, rank) AS min, argMax(c.max, rank) AS max, argMax(c.mean, rank) AS mean,
           argMax(c.std, rank) AS std,
           arrayFirst(t -> t.model = c.model_name AND t.version = c.model_version, signatures).signature AS signature
    FROM
    (
        SELECT c.*, transform(c.model_name, s_model, s_reference, 'auto') AS reference,
               -- auto: the sample when it is the whole reference (as many rows as the profile) or
               -- large enough (>= 10,000 rows, the SDK's default sample): its exact values give the
               -- exact KS and exact in-bin means; else the profile, else the sample
               max(if(c.source = 'profile', c.rows, 0)) OVER (PARTITION BY c.model_name, c.model_version)
                   AS profile_rows,
               multiIf(reference = 'window', if(c.source = 'window', 3, 0),
                       reference = 'profile', if(c.source = 'profile', 3, 0),
                       reference = 'sample', if(c.source = 'sample', 3, 0),
                       c.source = 'sample' AND (c.rows >= 10000 OR c.rows >= profile_rows), 3,
                       c.source = 'profile', 2, c.source = 'sample', 1, 0) AS rank
        FROM candidates AS c
    ) AS c
    WHERE rank > 0
    GROUP BY c.model_name, c.model_version, c.feature, c.role
)
-- a window reference (version '*') is every version's
ARRAY JOIN if(model_version = '*', arrayFirst(t -> t.model = model_name, window_versions).versions, [model_version])
           AS version
UNION ALL
SELECT model_name, model_version, feature, role, feature_type, source, n, edges, counts, sums, categories,
       min, max, mean, std, computed_at, signature
FROM {{db}}.ml_reference_bins
WHERE (model_name, model_version) IN (SELECT arrayJoin(current_versions));

CREATE MATERIALIZED VIEW {{db}}.ml_reference_bins_mv {{on_cluster}}
{{refresh}}
TO {{db}}.ml_reference_bins {{empty}} AS
SELECT * FROM {{db}}.ml_reference_bins_compute;

-- ml_reference_chunks: the rows of each version's newest uploaded sample that carry a prediction
-- or a score, in 10 chunks of consecutive rows (row_index order; NannyML's default chunker also
-- makes 10): the reference periods whose spread gives performance and CBPE baselines their
-- control limits (ml_performance_rows, ml_performance_estimated_rows, 50_baselines.sql).
CREATE OR REPLACE VIEW {{db}}.ml_reference_chunks {{on_cluster}} AS
WITH 10 AS chunks
SELECT model_name, model_version, reference_id,
       toUInt32(intDiv((row_number() OVER w - 1) * chunks, count() OVER w)) AS chunk,
       prediction, prediction_value, score, label, label_value
FROM {{db}}.ml_reference FINAL
WHERE (model_name, model_version, reference_id) IN (
        SELECT model_name, model_version, argMax(reference_id, uploaded)
        FROM (SELECT model_name, model_version, reference_id, max(inserted_at) AS uploaded
              FROM {{db}}.ml_reference GROUP BY model_name, model_version, reference_id)
        GROUP BY model_name, model_version)
  AND (prediction IS NOT NULL OR isFinite(prediction_value) OR isFinite(score))
WINDOW w AS (PARTITION BY model_name, model_version ORDER BY row_index
             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);
