-- ml_drift_multivariate: multivariate drift by PCA reconstruction error (NannyML's "data
-- reconstruction drift"), per model, version and time window (docs/statistics.md,
-- "Multivariate drift", has the exact definitions; this header is the summary).
--
-- Grain   one row per (model, version, window) of a version with an uploaded PCA fit.
-- Reads   ml_predictions (the look-back's windows), ml_reference_pca (the newest fit of each
--         version, built by the SDK: heron.log_reference), ml_monitor_settings (windows and
--         look-back, as ml_drift), ml_drift_config (the band's k), ml_time_bounds.
-- Writes  ml_drift_multivariate, APPEND into a ReplacingMergeTree keyed by (model, version,
--         window) with version computed_at (read with FINAL).
-- Schedule REFRESH EVERY HERON_REFRESH_SECONDS; each refresh recomputes the windows that overlap
--         the model's look-back.
--
-- Per prediction row, for the fit's features f (in the fit's order), mean μ, std σ and kept
-- components W (k × p, orthonormal rows):
--   z_f  = (x_f − μ_f) / σ_f, and z_f = 0 (the reference mean) when x_f is absent, NULL, NaN or ±Inf
--   t    = W·z (the projection), ẑ = Wᵀ·t (the reconstruction)
--   e    = ‖z − ẑ‖₂ (Euclidean)
-- reconstruction_error = mean of e over the window's rows (all rows of the version; imputed
-- values are counted in imputed_values). The band comes from the reference: the SDK computed
-- the mean error of each of `chunks` contiguous chunks of chunk_size reference rows, and
-- uploaded their mean m and sample standard deviation s. For a window of n rows the band is
--   m ± max(k · s · sqrt(chunk_size / n), 1e-6), the lower end floored at 0
-- (the spread of a mean of n rows, scaled from that of chunk_size rows, so a window smaller than
-- a chunk gets the wider band it needs; with n = chunk_size it is exactly m ± k·s). k = 3 unless
-- ml_drift_config has a row (model or '*', feature_type 'multivariate', feature '*', method
-- 'pca_reconstruction') whose threshold is k; the model's row wins. drifted = outside the band.
CREATE TABLE IF NOT EXISTS {{db}}.ml_drift_multivariate {{on_cluster}} (
    model_name            LowCardinality(String),
    model_version         LowCardinality(String),
    window_start          DateTime('UTC'),
    window_end            DateTime('UTC'),
    method                LowCardinality(String),   -- pca_reconstruction
    reconstruction_error  Float64,                  -- mean over the window's rows
    reference_error_mean  Float64,                  -- m: mean of the reference chunks' errors
    reference_error_std   Float64,                  -- s: their sample standard deviation
    reference_chunk_size  UInt64,
    k                     Float64,                  -- band half-width in s (scaled to the window)
    lower_threshold       Float64,
    upper_threshold       Float64,
    drifted               UInt8,
    n_current             UInt64,                   -- rows of the window
    imputed_values        UInt64,                   -- feature values taken as the reference mean
    n_features            UInt32,
    n_components          UInt32,
    reference_id          String,                   -- the upload whose fit was used
    computed_at           DateTime64(6, 'UTC')
) ENGINE = {{replicated}}ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (model_name, model_version, window_start);

-- ml_drift_multivariate_compute: what a refresh computes as of `as_of` (SELECT * FROM
-- ml_drift_multivariate_compute(as_of = now()) previews the next refresh; `heron refresh --from
-- --to` replays past times). The refreshable view below only selects from it.
CREATE OR REPLACE VIEW {{db}}.ml_drift_multivariate_compute {{on_cluster}} AS
WITH
    -- the settings, resolved once into constants (ml_settings_lookup, 00_config.sql)
    assumeNotNull((SELECT settings FROM {{db}}.ml_settings_lookup)) AS ms,
    -- the band's k per model ('*' = every model without its own row; built-in 3)
    (SELECT (groupArray(model_name), groupArray(threshold))::Tuple(model Array(String), k Array(Float64))
     FROM {{db}}.ml_drift_config FINAL
     WHERE feature_type = 'multivariate' AND feature = '*' AND method = 'pca_reconstruction') AS k_config,
    k_config.model AS k_model,
    k_config.k AS k_value,
    if(has(k_model, '*'), k_value[indexOf(k_model, '*')], 3.) AS k_default,
    (SELECT ts_min FROM {{db}}.ml_time_bounds) AS ts_min,   -- plausible timestamps (schema/012_time_bounds.sql)
    (SELECT ts_max FROM {{db}}.ml_time_bounds) AS ts_max,
    -- the newest fit of each version (by upload time, then arrival)
    newest AS (
        SELECT model_name, model_version,
               argMax((reference_id, features, mean, std, components, chunk_size, error_mean, error_std)
                          ::Tuple(reference_id String, features Array(String), mean Array(Float64),
                                  std Array(Float64), components Array(Array(Float64)), chunk_size UInt64,
                                  error_mean Float64, error_std Float64),
                      (timestamp, inserted_at)) AS fit
        FROM {{db}}.ml_reference_pca FINAL
        GROUP BY model_name, model_version
    ),
    fits AS (
        SELECT model_name, model_version, fit.reference_id AS reference_id, fit.features AS features,
               fit.mean AS mean, fit.std AS std, fit.components AS components, fit.chunk_size AS chunk_size,
               fit.error_mean AS error_mean, fit.error_std AS error_std
        FROM newest
    ),
    -- predictions of the look-back windows of versions with a fit; an implausible timestamp is
    -- in no window (toInt64 of a DateTime64 never overflows)
    current AS (
        SELECT model_name, model_version, numeric,
               transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS ws,
               toDateTime(intDiv(toInt64(timestamp), ws) * ws, 'UTC') AS window_start
        FROM {{db}}.ml_predictions
        WHERE (model_name, model_version) IN (SELECT model_name, model_version FROM fits)
          AND timestamp >= ts_min AND timestamp < ts_max
          AND timestamp >= {as_of:DateTime} - toIntervalSecond(ms.max_lookback)
          AND {{db}}_v1_in_lookback(timestamp, {as_of:DateTime}, ws,
                                         transform(model_name, ms.model, ms.lookback_seconds, ms.lookback_seconds[ms.star]))
          AND ({since_view:String} = '' OR {{db}}_v1_window_key(model_name, model_version, window_start)
               IN (SELECT key FROM {{db}}.ml_windows_due(as_of = {as_of:DateTime}, since_view = {since_view:String})))
    ),
    -- per row: the values in the fit's feature order, standardised, projected, reconstructed
    row_errors AS (
        SELECT c.model_name AS model_name, c.model_version AS model_version,
               c.window_start AS window_start, c.ws AS ws,
               arrayMap(name -> c.numeric[name], f.features) AS x,
               arrayMap((v, mu, sd) -> if(isFinite(ifNull(v, nan)), (assumeNotNull(v) - mu) / sd, 0.),
                        x, f.mean, f.std) AS z,
               arrayCount(v -> NOT isFinite(ifNull(v, nan)), x) AS imputed,
               arrayMap(w -> arraySum(arrayMap((a, b) -> a * b, w, z)), f.components) AS t,
               arrayReduce('sumForEach', arrayMap((tk, w) -> arrayMap(e -> tk * e, w), t, f.components)) AS z_hat,
               sqrt(arraySum(arrayMap((a, b) -> (a - b) * (a - b), z, z_hat))) AS error
        FROM current AS c
        INNER JOIN fits AS f ON f.model_name = c.model_name AND f.model_version = c.model_version
    ),
    windows AS (
        SELECT model_name, model_version, window_start, any(ws) AS ws,
               avg(error) AS reconstruction_error, count() AS n_current, sum(imputed) AS imputed_values
        FROM row_errors
        GROUP BY model_name, model_version, window_start
    ),
    banded AS (
        SELECT w.*, f.reference_id AS reference_id, f.error_mean AS error_mean, f.error_std AS error_std,
               f.chunk_size AS chunk_size, length(f.features) AS n_features,
               length(f.components) AS n_components,
               if(has(k_model, w.model_name), k_value[indexOf(k_model, w.model_name)], k_default) AS k,
               greatest(k * f.error_std * sqrt(f.chunk_size / w.n_current), 1e-6) AS half_width
        FROM windows AS w
        INNER JOIN fits AS f ON f.model_name = w.model_name AND f.model_version = w.model_version
    )
SELECT
    model_name,
    model_version,
    window_start,
    window_start + toIntervalSecond(ws) AS window_end,
    'pca_reconstruction' AS method,
    reconstruction_error,
    error_mean AS reference_error_mean,
    error_std AS reference_error_std,
    chunk_size AS reference_chunk_size,
    k,
    greatest(error_mean - half_width, 0.) AS lower_threshold,
    error_mean + half_width AS upper_threshold,
    toUInt8(reconstruction_error < lower_threshold OR reconstruction_error > upper_threshold) AS drifted,
    n_current,
    imputed_values,
    toUInt32(n_features) AS n_features,
    toUInt32(n_components) AS n_components,
    reference_id,
    now64(6) AS computed_at
FROM banded;

CREATE MATERIALIZED VIEW {{db}}.ml_drift_multivariate_mv {{on_cluster}}
{{refresh}} APPEND
TO {{db}}.ml_drift_multivariate {{empty}} AS
SELECT * FROM {{db}}.ml_drift_multivariate_compute(as_of = now(), since_view = 'ml_drift_multivariate_mv');
