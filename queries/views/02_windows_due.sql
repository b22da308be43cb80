-- Which windows a scheduled refresh recomputes: those that changed since the view's last run, not
-- the whole look-back. Every windowed view (11_drift_ks_exact, 12_drift, 14_drift_multivariate,
-- 20_data_quality, 30_performance, 31_performance_estimated) keeps its rows in a
-- ReplacingMergeTree keyed by window, so recomputing only these windows leaves the others' last
-- result in place, and recomputing a window twice is harmless. docs/architecture.md,
-- "Incremental refresh", has the rule and its limits.

-- ml_refresh_since: per refreshable view of this database, the time (Unix seconds) from which its
-- next scheduled refresh takes changes: the start of its last successful refresh (whole seconds)
-- less a margin (Layout.refresh_margin_seconds, 300 s) for an insert that stamped its rows before
-- that refresh began and committed after (a block of a large insert, a spool replay), and for
-- clocks that differ between servers. 0 = recompute the whole look-back: no successful
-- refresh known (a view just created or re-created by a migration, an embedded store just
-- reopened: system.view_refreshes starts empty), or the last one is older than ml_windows_touched
-- keeps its rows (6 days of its 7).
CREATE OR REPLACE VIEW {{db}}.ml_refresh_since {{on_cluster}} AS
SELECT view,
       if(last_success_time IS NULL OR last_success_time < now() - INTERVAL 6 DAY, 0,
          toInt64(last_success_time) - {{refresh_margin}}) AS since
FROM system.view_refreshes
WHERE database = '{{db}}';

-- ml_windows_due(as_of, since_view): the windows the refresh of `since_view` recomputes as of
-- `as_of`, as {{db}}_v1_window_key(model, version, window start) keys (01_functions.sql). A window
-- is due when, since ml_refresh_since of that view:
--   * predictions were stored in it (ml_windows_touched, schema/014_windows_touched.sql), at any
--     timestamp: late and out-of-order rows included;
--   * a label arrived for one of its predictions (ml_ground_truth.inserted_at), a corrected label
--     too: the views take the newest label per id;
--   * the basis of its version changed, which makes every window of the version's look-back due:
--     its reference bins were recomputed (ml_reference_bins.computed_at: a new reference, new
--     bins; a `window` reference is recomputed by every refresh, so its model is recomputed
--     whole every time), a new PCA fit, a registration that changed the task or positive class
--     (ml_models), or a changed setting of the model or of '*' (ml_monitor_config, ml_drift_config).
-- With since = 0 every window of every version's look-back is due. The look-back enumerated is
-- the longest a view uses (performance: at least label_lookback_seconds); each view still applies
-- its own. Windows are each model's window_seconds (ml_monitor_settings, shared by every view).
CREATE OR REPLACE VIEW {{db}}.ml_windows_due {{on_cluster}} AS
WITH
    assumeNotNull((SELECT settings FROM {{db}}.ml_settings_lookup)) AS ms,
    (SELECT min(since) FROM {{db}}.ml_refresh_since WHERE view = {since_view:String}) AS since_s,
    toDateTime64(since_s, 6, 'UTC') AS since,
    -- per model: the longest look-back any view uses, and the window width
    (SELECT (groupArray(model_name), groupArray(toUInt64(greatest(lookback_seconds, label_lookback_seconds))))
            ::Tuple(model Array(String), lookback Array(UInt64))
     FROM {{db}}.ml_monitor_settings) AS lb,
    arrayMax(lb.lookback) + arrayMax(ms.window_seconds) AS span,
    -- models whose settings changed ('*': all of them)
    (SELECT groupUniqArray(model_name) FROM
        (SELECT model_name FROM {{db}}.ml_monitor_config WHERE updated_at >= since
         UNION ALL SELECT model_name FROM {{db}}.ml_drift_config WHERE updated_at >= since)) AS changed_models,
    -- versions whose basis changed
    rebuilt AS (
        SELECT DISTINCT model_name, model_version FROM
        (
            SELECT model_name, model_version FROM {{db}}.ml_versions
            WHERE since_s = 0 OR has(changed_models, '*') OR has(changed_models, model_name)
            UNION ALL
            SELECT model_name, model_version FROM {{db}}.ml_reference_bins WHERE computed_at >= since
            UNION ALL
            SELECT model_name, model_version FROM {{db}}.ml_reference_pca WHERE inserted_at >= since
            UNION ALL
            -- a registration that changed what the views read (task, positive class), or the first
            -- one; an application restart registers the same again, which changes nothing
            SELECT model_name, model_version FROM {{db}}.ml_models
            GROUP BY model_name, model_version
            HAVING max(inserted_at) >= since
               AND (countIf(inserted_at < since) = 0
                    OR argMax((task, positive_class), inserted_at)
                       != argMaxIf((task, positive_class), inserted_at, inserted_at < since))
        )
    )
SELECT DISTINCT {{db}}_v1_window_key(model_name, model_version, intDiv(t, ws) * ws) AS key
FROM
(
    SELECT model_name, model_version, t,
           transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS ws
    FROM
    (
        -- stored predictions: a minute may straddle two windows (window_seconds need not be a
        -- multiple of 60), so both its ends count
        SELECT model_name, model_version, arrayJoin([toInt64(minute), toInt64(minute) + 59]) AS t
        FROM {{db}}.ml_windows_touched
        WHERE inserted_at >= since AND since_s > 0
        UNION ALL
        -- labels: the windows of the predictions they label
        SELECT model_name, model_version, toInt64(timestamp)
        FROM {{db}}.ml_predictions
        WHERE since_s > 0 AND timestamp >= {as_of:DateTime} - toIntervalSecond(span)
          AND (model_name, prediction_id) IN (SELECT model_name, prediction_id FROM {{db}}.ml_ground_truth
                                              WHERE inserted_at >= since)
        UNION ALL
        -- rebuilt versions: every window of the look-back
        SELECT model_name, model_version,
               arrayJoin(range(intDiv(toInt64(toUnixTimestamp({as_of:DateTime}))
                                      - toInt64(transform(model_name, lb.model, lb.lookback, lb.lookback[indexOf(lb.model, '*')])),
                                      toInt64(w)) * toInt64(w),
                               toInt64(toUnixTimestamp({as_of:DateTime})) + 1, toInt64(w)))
        FROM (SELECT model_name, model_version,
                     transform(model_name, ms.model, ms.window_seconds, ms.window_seconds[ms.star]) AS w
              FROM rebuilt)
    )
);
