"""ml_versions (queries/schema/013_ml_versions.sql): the per-version state that the monitor settings
and the no_predictions signal read instead of scanning ml_predictions. Both must say what the scan
said (the SQL they replaced is the oracle here), on a store with several models: a late row
arriving after newer ones, a model with only implausible timestamps, rows timestamped days after
their arrival, a model registered without predictions, and after purges."""

from __future__ import annotations

import datetime as dt

from heron_collector import purge

from ._data import insert_predictions

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)

# the SQL ml_alert_signals ran before ml_versions, per version: the newest plausible prediction
# timestamped before a day from now, and how many there are
ORACLE = """
SELECT model_name, model_version, toDateTime(max(timestamp), 'UTC') AS last, count() AS n
FROM heron.ml_predictions
WHERE timestamp >= (SELECT ts_min FROM heron.ml_time_bounds) AND timestamp < now() + INTERVAL 1 DAY
GROUP BY model_name, model_version ORDER BY model_name, model_version"""
SIGNAL = """
SELECT model_name, model_version, window_start, n FROM heron.ml_alert_signals
WHERE signal = 'no_predictions' ORDER BY model_name, model_version"""
# ml_monitor_settings' models before ml_versions: every source it unites, predictions scanned
MODELS = """
SELECT DISTINCT model_name FROM heron.ml_predictions
UNION DISTINCT SELECT DISTINCT model_name FROM heron.ml_models
UNION DISTINCT SELECT DISTINCT model_name FROM heron.ml_reference
UNION DISTINCT SELECT DISTINCT model_name FROM heron.ml_reference_profile
UNION DISTINCT SELECT model_name FROM heron.ml_monitor_config
UNION DISTINCT SELECT '*'"""


def _fill(store):
    hour = dt.timedelta(hours=1)
    insert_predictions(store, "a", "1", NOW - 5 * hour, {"x": [1.0] * 5}, id_prefix="a1-", spacing_s=600)
    insert_predictions(store, "a", "2", NOW - 2 * hour, {"x": [1.0] * 3}, id_prefix="a2-")
    # late and out of order: older than what a/1 already stored, arriving after it
    insert_predictions(store, "a", "1", NOW - 72 * hour, {"x": [2.0]}, id_prefix="a1-late-")
    insert_predictions(store, "a", "1", NOW - 30 * hour, {"x": [2.0, 3.0]}, id_prefix="a1-later-")
    insert_predictions(store, "b", "1", NOW - 10 * hour, {"x": [1.0] * 4}, id_prefix="b-")
    # only implausible timestamps (the epoch a sender without a clock sends): no signal, but a model
    insert_predictions(store, "c", "1", dt.datetime(1970, 1, 1), {"x": [1.0] * 2}, id_prefix="c-")
    # timestamped two days after they arrived: not the newest until their time is within a day
    insert_predictions(store, "d", "1", NOW - hour, {"x": [1.0] * 2}, id_prefix="d-")
    insert_predictions(store, "d", "1", NOW + 48 * hour, {"x": [1.0]}, id_prefix="d-ahead-")
    insert_predictions(store, "e", "1", NOW + 48 * hour, {"x": [1.0]}, id_prefix="e-ahead-")
    # from a clock two days fast, three days ago: ahead when it arrived, within a day of now since
    store.command("INSERT INTO heron.ml_predictions (model_name, model_version, timestamp, prediction_id, inserted_at) "
                  "VALUES ('d', '1', {ts:DateTime64(6, 'UTC')}, 'd-fast', {at:DateTime64(3, 'UTC')})",
                  parameters={"ts": NOW - hour / 2, "at": NOW - 72 * hour})
    store.command("INSERT INTO heron.ml_models (model_name, model_version, task) VALUES ('registered', '1', "
                  "'regression')")


def _same_as_the_scan(store):
    oracle = store.query(ORACLE).result_rows
    signal = store.query(SIGNAL).result_rows
    assert signal == oracle
    settings = sorted(r[0] for r in store.query("SELECT model_name FROM heron.ml_monitor_settings").result_rows)
    assert settings == sorted(r[0] for r in store.query(MODELS).result_rows)
    return oracle, settings


def test_the_signal_and_the_settings_read_from_ml_versions_say_what_the_scan_said(store):
    hour = dt.timedelta(hours=1)
    _fill(store)
    oracle, settings = _same_as_the_scan(store)
    assert [(m, v, n) for m, v, _, n in oracle] == [("a", "1", 8), ("a", "2", 3), ("b", "1", 4), ("d", "1", 3)]
    newest = {(m, v): last for m, v, last, _ in oracle}
    assert (newest[("a", "1")], newest[("d", "1")]) == (NOW - dt.timedelta(hours=4, minutes=20), NOW - hour / 2)
    assert settings == ["*", "a", "b", "c", "d", "e", "registered"]
    # a version has a state row per insert until a merge, one after: the same answer either way
    store.command("OPTIMIZE TABLE heron.ml_versions FINAL")
    _same_as_the_scan(store)
    [(rows, ahead)] = store.query("SELECT sum(rows), sum(ahead_rows) FROM heron.ml_versions").result_rows
    assert (rows, ahead) == (store.command("SELECT count() FROM heron.ml_predictions"), 3)


def test_purges_leave_the_state_as_the_rows_that_remain(store):
    _fill(store)
    for request in ({"model": "a", "since": (NOW - dt.timedelta(hours=48)).isoformat() + "Z",
                     "until": (NOW - dt.timedelta(hours=4)).isoformat() + "Z"},
                    {"model": "b", "ids": ["b-0", "b-1"]}, {"model": "d"}, {"model": "a", "version": "2"}):
        purge.purge(store, "heron", purge.Selection.parse(request), dry_run=False)
    oracle, settings = _same_as_the_scan(store)
    assert [(m, v, n) for m, v, _, n in oracle] == [("a", "1", 1), ("b", "1", 2)]  # a/1: the 72 h old row
    assert "d" not in settings and "a" in settings


def test_a_store_with_predictions_before_ml_versions_is_backfilled(store):
    """What schema/013_ml_versions.sql does once on a store that held predictions before it."""
    _fill(store)
    store.command("TRUNCATE TABLE heron.ml_versions")
    store.command("INSERT INTO heron.ml_versions SELECT * FROM heron.ml_versions_scan")
    _same_as_the_scan(store)
