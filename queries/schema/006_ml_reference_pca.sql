-- Reference PCA fits for multivariate drift (heron.reference records of kind `pca`, built by the
-- SDK with numpy from the whole training set; docs/wire-format.md). One row per upload; the
-- newest upload of a version is the one queries/views/14_drift_multivariate.sql uses.
-- `components` holds the kept principal axes (each of length(features)) of the features
-- standardised by `mean` and `std`; `error_mean` / `error_std` are the mean and the sample
-- standard deviation of the mean reconstruction error over `chunks` reference chunks of
-- `chunk_size` rows (docs/statistics.md, "Multivariate drift").
CREATE TABLE IF NOT EXISTS {{db}}.ml_reference_pca {{on_cluster}} (
    model_name                LowCardinality(String),
    model_version             LowCardinality(String),
    reference_id              String,
    features                  Array(String),
    mean                      Array(Float64),
    std                       Array(Float64),
    components                Array(Array(Float64)),
    explained_variance_ratio  Array(Float64),      -- of each kept component
    variance_share            Float64,             -- components kept until they explain more than this
    rows                      UInt64,              -- reference rows fitted
    chunk_size                UInt64,
    chunks                    UInt32,
    error_mean                Float64,
    error_std                 Float64,
    timestamp                 DateTime64(6, 'UTC'),
    inserted_at               DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(inserted_at)
ORDER BY (model_name, model_version, reference_id)
SETTINGS non_replicated_deduplication_window = 1000;
