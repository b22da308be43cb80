-- ml_time_bounds: the plausible range of a stored timestamp, [ts_min, ts_max), defined here once
-- and read by every scheduled view and by ml_versions (013_ml_versions.sql). A prediction (or
-- span) timestamped outside it is left out of every window (ml_data_quality counts such predictions in implausible_timestamps); nothing
-- outside it is ever converted to a window, so no stored value can make a refresh throw.
--   ts_min  1970-01-02 00:00:00 UTC: excludes the Unix epoch, which the parse views store for a
--           `ts` that is not a finite number inside DateTime64's range (wire-format.md), and the
--           zero timestamp of a sender that never set one.
--   ts_max  2105-01-01 00:00:00 UTC: windows are DateTime (UInt32 seconds, last second
--           2106-02-07 06:28:15); below this bound a window of up to a year still ends in range.
-- See docs/statistics.md, "Implausible timestamps".
CREATE OR REPLACE VIEW {{db}}.ml_time_bounds {{on_cluster}} AS
SELECT toDateTime64('1970-01-02 00:00:00', 6, 'UTC') AS ts_min,
       toDateTime64('2105-01-01 00:00:00', 6, 'UTC') AS ts_max;
-- (A versioned file, applied once: a new bound is a new schema file that replaces this view; it is
-- here, before the parse and view files, because the insert-time ml_versions_mv reads it.)
