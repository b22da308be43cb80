-- Alert state, kept (never recomputed): every transition of every alert, what was sent, silences
-- and the feedback people give. Read by heron_collector.alerts (docs/alerts.md).

-- ml_alerts: one row per transition of one alert (fingerprint = rule + model + version + subject):
-- pending → firing → recovering → resolved (or pending → inactive), with the value and the
-- threshold that caused it. The latest row of a fingerprint is its state.
CREATE TABLE IF NOT EXISTS {{db}}.ml_alerts {{on_cluster}} (
    fingerprint    String,
    rule           LowCardinality(String),
    model_name     LowCardinality(String),
    model_version  LowCardinality(String),
    subject        String,                           -- feature / metric subject, '' when none
    severity       LowCardinality(String),           -- warning | critical
    state          LowCardinality(String),           -- pending | firing | recovering | resolved | inactive
    value          Nullable(Float64),
    threshold      Nullable(Float64),
    window_start   Nullable(DateTime('UTC')),
    summary        String,
    labels         Map(String, String),
    since          DateTime64(3, 'UTC'),             -- when the alert entered this state's episode
    at             DateTime64(3, 'UTC')              -- when this transition was evaluated
) ENGINE = {{replicated}}MergeTree
ORDER BY (model_name, fingerprint, at);

-- ml_alert_notifications: one row per group notification and channel, with its outcome.
CREATE TABLE IF NOT EXISTS {{db}}.ml_alert_notifications {{on_cluster}} (
    group_key      String,                           -- model/severity
    status         LowCardinality(String),           -- firing | resolved
    channel        LowCardinality(String),
    outcome        LowCardinality(String),           -- queued | delivered | failed | dropped | silenced
    alerts         Array(String),                    -- fingerprints in the notification
    http_status    Nullable(UInt16),
    attempts       UInt16,
    error          String,
    at             DateTime64(3, 'UTC')
) ENGINE = {{replicated}}MergeTree
ORDER BY (group_key, at);

-- ml_alert_silences: alerts matching model (and rule, subject when given) send nothing until `until`.
CREATE TABLE IF NOT EXISTS {{db}}.ml_alert_silences {{on_cluster}} (
    id             String,
    model_name     String,
    rule           String DEFAULT '',                -- '' = every rule
    subject        String DEFAULT '',                -- '' = every subject
    until          DateTime64(3, 'UTC'),
    comment        String DEFAULT '',
    created_at     DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}MergeTree
ORDER BY (model_name, created_at);

-- ml_alert_feedback: whether an alert episode was real (heron alerts label ID --true|--false).
CREATE TABLE IF NOT EXISTS {{db}}.ml_alert_feedback {{on_cluster}} (
    fingerprint    String,
    since          DateTime64(3, 'UTC'),             -- the episode (its firing transition's since)
    real           UInt8,
    comment        String DEFAULT '',
    at             DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {{replicated}}ReplacingMergeTree(at)
ORDER BY (fingerprint, since);
