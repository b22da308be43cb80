-- Functions the scheduled views share: an expression several views would otherwise each write,
-- written once. A SQL function is global in ClickHouse (one namespace per server, not per
-- database), so each name starts with the database and a version: two Heron databases on one
-- server never call each other's, and a changed definition gets a new version in its name
-- (…_v2_…) rather than replacing one that views of an older release still call. Migrations
-- create them (CREATE OR REPLACE: applying this file again changes nothing) before any view.

-- {{db}}_v1_in_lookback(t, as_of, window_seconds, lookback_seconds): 1 when time t (DateTime,
-- DateTime64 or Unix seconds) lies in a window that overlaps the look-back [as_of − lookback_seconds,
-- as_of]. Windows are window_seconds wide, UTC, aligned to the Unix epoch; the first one is the
-- window that holds as_of − lookback_seconds. Every scheduled view selects the windows it
-- recomputes with it (11_drift_ks_exact, 12_drift, 14_drift_multivariate, 20_data_quality,
-- 30_performance, 31_performance_estimated, 41_sla). toInt64 of a DateTime64 never overflows.
CREATE OR REPLACE FUNCTION {{db}}_v1_in_lookback {{on_cluster}} AS (t, as_of, window_seconds, lookback_seconds) ->
    toInt64(t) >= intDiv(toUnixTimestamp(as_of) - lookback_seconds, window_seconds) * window_seconds;

-- {{db}}_v1_psi(p, q): the population stability index of two distributions given as shares over the
-- same bins or categories (p the reference's, q the current window's): Σ (q − p)·ln(q/p), each
-- share floored at 1e-4 (no renormalisation). ml_drift's psi, numeric and categorical (12_drift.sql).
CREATE OR REPLACE FUNCTION {{db}}_v1_psi {{on_cluster}} AS (p, q) ->
    arraySum(arrayMap((ref_share, cur_share) -> (greatest(cur_share, 1e-4) - greatest(ref_share, 1e-4))
                          * log(greatest(cur_share, 1e-4) / greatest(ref_share, 1e-4)), p, q));

-- {{db}}_v1_jensen_shannon(p, q): the Jensen–Shannon distance of the same two share vectors: the
-- square root of the JS divergence, natural log (scipy.spatial.distance.jensenshannon); a
-- rounding-negative divergence counts as 0. ml_drift's jensen_shannon, numeric and categorical.
CREATE OR REPLACE FUNCTION {{db}}_v1_jensen_shannon {{on_cluster}} AS (p, q) ->
    sqrt(greatest(0., arraySum(arrayMap((ref_share, cur_share) ->
        if(ref_share > 0, 0.5 * ref_share * log(2 * ref_share / (ref_share + cur_share)), 0.)
        + if(cur_share > 0, 0.5 * cur_share * log(2 * cur_share / (ref_share + cur_share)), 0.), p, q))));

-- {{db}}_v1_window_key(model, version, window_start): the key of one window of one model version
-- (window_start as DateTime or Unix seconds): what ml_windows_due (02_windows_due.sql) returns and
-- every windowed view matches its rows' windows against, so both sides hash the same types.
CREATE OR REPLACE FUNCTION {{db}}_v1_window_key {{on_cluster}} AS (model, version, window_start) ->
    cityHash64(toString(model), toString(version), toInt64(window_start));
