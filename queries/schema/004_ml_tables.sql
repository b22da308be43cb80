-- The ML tables, one row per prediction / label / reference row / model version. They are filled
-- only by the parse/ materialized views over otel_logs (wire format v1, docs/wire-format.md), so
-- any OTLP sender that follows the wire format — Heron's SDK or another — lands here.
--
-- Feature maps keep types apart: `numeric` holds numbers (NULL = missing, NaN/±Inf kept as such),
-- `categorical` holds strings (NULL = missing). A feature absent from the map was not sent.

CREATE TABLE IF NOT EXISTS {{db}}.ml_predictions {{on_cluster}} (
    model_name        LowCardinality(String),
    model_version     LowCardinality(String),
    timestamp         DateTime64(6, 'UTC') CODEC(Delta(8), ZSTD(1)),
    prediction_id     String CODEC(ZSTD(1)),
    numeric           Map(LowCardinality(String), Nullable(Float64)) CODEC(ZSTD(1)),
    categorical       Map(LowCardinality(String), Nullable(String)) CODEC(ZSTD(1)),
    prediction        Nullable(String) CODEC(ZSTD(1)),   -- label text; numbers in canonical form ('1', '0.25')
    prediction_value  Nullable(Float64),                 -- the prediction when it is a number
    score             Nullable(Float64),                 -- positive-class probability / confidence
    probabilities     Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
    tags              Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    latency_ms        Nullable(Float64),                 -- of the whole call (a batch shares it)
    batch_rows        UInt32,                            -- rows of the call this row came from
    trace_id          String CODEC(ZSTD(1)),
    span_id           String CODEC(ZSTD(1)),
    service_name      LowCardinality(String),
    environment       LowCardinality(String),
    inserted_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_prediction_id prediction_id TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = {{replicated}}MergeTree()
PARTITION BY toYYYYMM(timestamp)
ORDER BY (model_name, model_version, timestamp)
{{ttl_ml}};

-- Delayed labels, joined to predictions by (model_name, prediction_id). A label sent twice for the
-- same id keeps the newest (ReplacingMergeTree by received time; read with FINAL or argMax).
CREATE TABLE IF NOT EXISTS {{db}}.ml_ground_truth {{on_cluster}} (
    model_name     LowCardinality(String),
    prediction_id  String CODEC(ZSTD(1)),
    label          Nullable(String) CODEC(ZSTD(1)),    -- canonical text, as ml_predictions.prediction
    label_value    Nullable(Float64),
    timestamp      DateTime64(6, 'UTC'),               -- when the label became known
    service_name   LowCardinality(String),
    inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (model_name, prediction_id)
{{ttl_ml}};

-- Reference (training / validation) sample rows, per model version and upload.
CREATE TABLE IF NOT EXISTS {{db}}.ml_reference {{on_cluster}} (
    model_name        LowCardinality(String),
    model_version     LowCardinality(String),
    reference_id      String,                          -- one upload; the newest upload wins
    row_index         UInt32,
    numeric           Map(LowCardinality(String), Nullable(Float64)) CODEC(ZSTD(1)),
    categorical       Map(LowCardinality(String), Nullable(String)) CODEC(ZSTD(1)),
    prediction        Nullable(String),
    prediction_value  Nullable(Float64),
    score             Nullable(Float64),
    label             Nullable(String),
    label_value       Nullable(Float64),
    timestamp         DateTime64(6, 'UTC'),
    inserted_at       DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(inserted_at)
ORDER BY (model_name, model_version, reference_id, row_index);

-- Reference profiles built client-side (numpy) from the full training set, one row per feature:
-- quantile bin edges with counts for numeric features, frequencies for categorical ones.
CREATE TABLE IF NOT EXISTS {{db}}.ml_reference_profile {{on_cluster}} (
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    reference_id   String,
    feature        LowCardinality(String),
    kind           Enum8('numeric' = 1, 'categorical' = 2, 'prediction' = 3, 'label' = 4),
    count          UInt64,                             -- values seen, missing included
    missing        UInt64,                             -- null / None
    non_finite     UInt64,                             -- NaN and ±Inf (numeric; wire key "nan")
    edges          Array(Float64),                     -- numeric: ascending quantile edges
    counts         Array(UInt64),                      -- numeric: values per bin, length(edges) + 1
    categories     Map(String, UInt64),                -- categorical: value → count
    min            Nullable(Float64),
    max            Nullable(Float64),
    mean           Nullable(Float64),
    std            Nullable(Float64),
    timestamp      DateTime64(6, 'UTC'),
    inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(inserted_at)
ORDER BY (model_name, model_version, reference_id, kind, feature);

-- Model registry: one row per (model, version); re-registration replaces it.
CREATE TABLE IF NOT EXISTS {{db}}.ml_models {{on_cluster}} (
    model_name             LowCardinality(String),
    model_version          LowCardinality(String),
    task                   LowCardinality(String),     -- binary_classification | multiclass_classification | regression | ''
    positive_class         String,                     -- binary: the label counted as positive
    framework              LowCardinality(String),
    owner                  String,
    training_data_version  String,
    params                 String,                     -- hyperparameters, JSON
    tags                   Map(LowCardinality(String), String),
    libraries              Map(LowCardinality(String), String),
    git_sha                String,
    service_name           LowCardinality(String),
    registered_at          DateTime64(6, 'UTC'),
    inserted_at            DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(inserted_at)
ORDER BY (model_name, model_version);
