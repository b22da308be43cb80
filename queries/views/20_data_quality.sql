-- ml_data_quality: data quality per model, version, time window and feature, against the
-- reference (ml_reference_bins). One row per feature seen in the window or in the reference,
-- plus one row with feature = '*' for the window as a whole (duplicate prediction ids, predictions
-- with an implausible timestamp).
--   n_rows            predictions in the window
--   n_values          predictions whose map holds the feature (NULL included)
--   missing_rate      (n_rows − n_values + nulls) / n_rows: absent or NULL
--   nan_rate          NaN / n_rows;  inf_rate: ±Inf / n_rows (numeric)
--   out_of_range_rate finite values outside [reference min, reference max] / finite values
--   new_category_rate non-NULL values whose category the reference lacks / non-NULL values
--   new_categories    up to 20 of them, most frequent first
--   type_mismatch     values sent in the other type's map than the reference's type
--   status            ok | appeared (not in the reference) | disappeared (in the reference, no
--                     value in the window) | type_mismatch
--   duplicate_ids     ('*' row) predictions − distinct prediction ids
--   implausible_timestamps ('*' row) predictions stored in this window (by inserted_at, the time
--                     they arrived) whose own timestamp is outside ml_time_bounds (schema/012_time_bounds.sql:
--                     [1970-01-02, 2105-01-01) UTC). They are in no window and in no other
--                     column: their own time cannot place them. A window with only such rows
--                     has a '*' row with n_rows = 0.
-- Scheduling as ml_drift: APPEND into ReplacingMergeTree(computed_at), the look-back recomputed.
-- Cost: as ml_drift, the settings and the numeric reference ranges are resolved once per refresh
-- into constants and looked up with transform() (no join per row or per value); categorical
-- values are grouped by category before they meet the reference.
CREATE TABLE IF NOT EXISTS {{db}}.ml_data_quality {{on_cluster}} (
    model_name         LowCardinality(String),
    model_version      LowCardinality(String),
    window_start       DateTime('UTC'),
    window_end         DateTime('UTC'),
    feature            LowCardinality(String),
    feature_type       LowCardinality(String),   -- numeric | categorical (as sent); '' for '*'
    reference_type     LowCardinality(String),   -- the reference's type; '' when not in it
    status             LowCardinality(String),
    n_rows             UInt64,
    n_values           UInt64,
    nulls              UInt64,
    missing_rate       Float64,
    nan_rate           Float64,
    inf_rate           Float64,
    out_of_range_rate  Float64,
    new_category_rate  Float64,
    new_categories     Array(String),
    type_mismatch      UInt64,
    duplicate_ids      UInt64,
    implausible_timestamps UInt64,
    computed_at        DateTime64(6, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_name, model_version, window_start, feature);

-- ml_data_quality_compute: what a refresh computes as of `as_of` (SELECT * FROM ml_data_quality_compute(as_of = now())
-- previews the next refresh; `heron refresh --from --to` replays past times). The
-- refreshable view below only selects from it: ClickHouse analyses a refreshable view's query
-- once more per refresh, which for these queries costs as much as their planning.
CREATE OR REPLACE VIEW {{db}}.ml_data_quality_compute {{on_cluster}} AS
WITH
    -- the settings, resolved once into constants (ml_settings_lookup, 00_config.sql)
    assumeNotNull((SELECT settings FROM {{db}}.ml_settings_lookup)) AS ms,
    -- numeric reference ranges, resolved once, keyed by hash(model, version) xor hash(feature)
    (SELECT groupArray((bitXor(cityHash64(model_name, model_version), cityHash64(toString(feature))),
                        min, max)::Tuple(key UInt64, min Float64, max Float64))
     FROM {{db}}.ml_reference_bins FINAL
     WHERE role = 'feature' AND feature_type = 'numeric') AS ranges,
    arrayMap(t -> t.key, ranges) AS r_key,
    arrayMap(t -> t.min, ranges) AS r_min,
    arrayMap(t -> t.max, ranges) AS r_max,
    -- plausible timestamps (schema/012_time_bounds.sql); toInt64 of a DateTime64 never overflows, so nothing
    -- here throws whichever condition the engine evaluates first
    (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,
    (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max,
    current AS (
        SELECT model_name, model_version, cityHash64(model_name, model_version) AS mv,
               transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS window_seconds,
               toDateTime(intDiv(toInt64(timestamp), window_seconds) * window_seconds, 'UTC')
                   AS window_start,
               numeric, categorical, prediction_id
        FROM {{db}}.ml_predictions
        WHERE timestamp >= ts_min AND timestamp < ts_max
          AND timestamp >= {as_of:DateTime} - toIntervalSecond(ms.max_lookback)
          AND {{db}}_v1_in_lookback(timestamp, {as_of:DateTime}, window_seconds,
                                         transform(model_name, ms.model, ms.lookback_seconds, ms.lookback_seconds[ms.star]))
          AND ({since_view:String} = '' OR {{db}}_v1_window_key(model_name, model_version, window_start)
               IN (SELECT key FROM {{db}}.ml_windows_due(as_of = {as_of:DateTime}, since_view = {since_view:String})))
    ),
    -- predictions whose timestamp is implausible, counted in the window they arrived in
    implausible AS (
        SELECT model_name, model_version,
               transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS window_seconds,
               toDateTime(intDiv(toInt64(inserted_at), window_seconds) * window_seconds, 'UTC')
                   AS window_start,
               count() AS n
        FROM {{db}}.ml_predictions
        WHERE NOT (timestamp >= ts_min AND timestamp < ts_max)
          AND inserted_at >= ts_min AND inserted_at < ts_max
          AND inserted_at >= {as_of:DateTime} - toIntervalSecond(ms.max_lookback)
          AND {{db}}_v1_in_lookback(inserted_at, {as_of:DateTime}, window_seconds,
                                         transform(model_name, ms.model, ms.lookback_seconds, ms.lookback_seconds[ms.star]))
          AND ({since_view:String} = '' OR {{db}}_v1_window_key(model_name, model_version, window_start)
               IN (SELECT key FROM {{db}}.ml_windows_due(as_of = {as_of:DateTime}, since_view = {since_view:String})))
        GROUP BY model_name, model_version, window_start, window_seconds
    ),
    windows AS (
        SELECT model_name, model_version, window_start, any(window_seconds) AS window_seconds,
               count() AS n_rows, count() - uniqExact(prediction_id) AS duplicate_ids
        FROM current GROUP BY model_name, model_version, window_start
    ),
    reference AS (
        SELECT model_name, model_version, feature, feature_type, min, max, categories
        FROM {{db}}.ml_reference_bins FINAL WHERE role = 'feature'
    ),
    -- out of range: against the constant ranges (a feature without a numeric reference has
    -- (-inf, +inf), so none of its values is outside)
    numeric_seen AS (
        SELECT model_name, model_version, window_start, feature, 'numeric' AS feature_type,
               count() AS n_values, countIf(x IS NULL) AS nulls, countIf(isNaN(x)) AS nans,
               countIf(isInfinite(x)) AS infs, countIf(isFinite(x)) AS finite,
               countIf(isFinite(x) AND (x < transform(key, r_key, r_min, -inf)
                                        OR x > transform(key, r_key, r_max, inf))) AS outside,
               0 AS new_values, CAST([], 'Array(String)') AS new_categories
        FROM (SELECT model_name, model_version, window_start, feature, x,
                     bitXor(mv, cityHash64(toString(feature))) AS key
              FROM current ARRAY JOIN numeric.keys AS feature, numeric.values AS x)
        GROUP BY model_name, model_version, window_start, feature
    ),
    categorical_seen AS (
        SELECT g.model_name AS model_name, g.model_version AS model_version,
               g.window_start AS window_start, g.feature AS feature, 'categorical' AS feature_type,
               sum(g.k) AS n_values, sumIf(g.k, g.is_null) AS nulls, 0 AS nans, 0 AS infs,
               0 AS finite, 0 AS outside,
               sumIf(g.k, NOT g.is_null AND r.feature_type = 'categorical' AND NOT has(r.categories, g.category))
                   AS new_values,
               arrayMap(t -> t.category, arraySlice(arrayReverseSort(groupArrayIf(
                   (g.k, g.category)::Tuple(k UInt64, category String),
                   NOT g.is_null AND r.feature_type = 'categorical' AND NOT has(r.categories, g.category))), 1, 20))
                   AS new_categories
        FROM (SELECT model_name, model_version, window_start, kv.feature AS feature, kv.value IS NULL AS is_null,
                     ifNull(kv.value, '') AS category, count() AS k
              FROM current
              ARRAY JOIN CAST(categorical, 'Array(Tuple(feature String, value Nullable(String)))') AS kv
              GROUP BY model_name, model_version, window_start, feature, is_null, category) AS g
        LEFT JOIN reference AS r
            ON r.model_name = g.model_name AND r.model_version = g.model_version AND r.feature = g.feature
        GROUP BY model_name, model_version, window_start, feature
    ),
    seen AS (SELECT * FROM numeric_seen UNION ALL SELECT * FROM categorical_seen),
    expected AS (
        SELECT w.model_name AS model_name, w.model_version AS model_version,
               w.window_start AS window_start, r.feature AS feature, r.feature_type AS reference_type
        FROM windows AS w INNER JOIN reference AS r
            ON r.model_name = w.model_name AND r.model_version = w.model_version
    )
SELECT
    w.model_name AS model_name, w.model_version AS model_version, w.window_start AS window_start,
    w.window_start + toIntervalSecond(w.window_seconds) AS window_end,
    f.feature AS feature, f.feature_type AS feature_type, f.reference_type AS reference_type,
    multiIf(f.reference_type = '', 'appeared', f.n_values = 0, 'disappeared',
            f.type_mismatch > 0, 'type_mismatch', 'ok') AS status,
    w.n_rows AS n_rows, f.n_values AS n_values, f.nulls AS nulls,
    (w.n_rows - f.n_values + f.nulls) / w.n_rows AS missing_rate,
    f.nans / w.n_rows AS nan_rate, f.infs / w.n_rows AS inf_rate,
    if(f.finite > 0, f.outside / f.finite, 0) AS out_of_range_rate,
    if(f.n_values - f.nulls > 0 AND f.feature_type = 'categorical', f.new_values / (f.n_values - f.nulls), 0)
        AS new_category_rate,
    f.new_categories AS new_categories, f.type_mismatch AS type_mismatch,
    0 AS duplicate_ids, 0 AS implausible_timestamps, now64(6) AS computed_at
FROM
(
    SELECT model_name, model_version, window_start, feature,
           argMax(ft, nv) AS feature_type,   -- the type it was mostly sent as
           max(rt) AS reference_type,
           sum(nv) AS n_values, sum(nn) AS nulls, sum(na) AS nans, sum(ni) AS infs,
           sum(nf) AS finite, sum(no) AS outside, sum(nw) AS new_values,
           arrayFlatten(groupArray(nc)) AS new_categories,
           multiIf(reference_type = 'numeric', sumIf(nv, ft = 'categorical'),
                   reference_type = 'categorical', sumIf(nv, ft = 'numeric'), 0) AS type_mismatch
    FROM
    (
        SELECT model_name, model_version, window_start, feature, feature_type AS ft, '' AS rt,
               n_values AS nv, nulls AS nn, nans AS na, infs AS ni, finite AS nf, outside AS no,
               new_values AS nw, new_categories AS nc FROM seen
        UNION ALL
        SELECT model_name, model_version, window_start, feature, '', reference_type,
               0, 0, 0, 0, 0, 0, 0, CAST([], 'Array(String)') FROM expected
    )
    GROUP BY model_name, model_version, window_start, feature
) AS f
INNER JOIN windows AS w
    ON w.model_name = f.model_name AND w.model_version = f.model_version AND w.window_start = f.window_start
UNION ALL
SELECT model_name, model_version, window_start, window_start + toIntervalSecond(any(window_seconds)), '*', '',
       '', 'ok', sum(n_rows), sum(n_rows), 0, 0, 0, 0, 0, 0, [], 0, sum(duplicate_ids), sum(implausible),
       now64(6)
FROM
(
    SELECT model_name, model_version, window_start, window_seconds, n_rows, duplicate_ids,
           toUInt64(0) AS implausible
    FROM windows
    UNION ALL
    SELECT model_name, model_version, window_start, window_seconds, 0, 0, n FROM implausible
)
GROUP BY model_name, model_version, window_start;

CREATE MATERIALIZED VIEW {{db}}.ml_data_quality_mv {{on_cluster}}
{{refresh}} DEPENDS ON {{db}}.ml_reference_bins_mv
APPEND TO {{db}}.ml_data_quality {{empty}} AS
SELECT * FROM {{db}}.ml_data_quality_compute(as_of = now(), since_view = 'ml_data_quality_mv');
