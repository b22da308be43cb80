"""`heron config`: each model's settings shown and set through a typed endpoint, with and without a
running collector; bad values refused naming what is allowed; a refresh uses the new windows."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from heron_collector import analytics, config
from heron_collector.collector import Collector

from ..conftest import HERON_CLI
from ._otlp import batch, logs_request, post
from .conftest import local_settings, seeded


def heron(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HERON_CLI, *args], capture_output=True, text=True, timeout=120)


def settings_of(rows) -> dict:
    return {r["setting"]: (r["value"], r["source"]) for r in rows}


def test_set_keeps_what_it_does_not_change_and_a_refresh_uses_the_new_window(tmp_path, migrated_copy):
    with Collector(seeded(migrated_copy, local_settings(tmp_path, batch_seconds=0.1))) as collector:
        client = collector.store.client
        ids = [f"c{i}" for i in range(50)]
        assert post(collector.http_address, "/v1/logs", logs_request(batch(ids)).SerializeToString())[0] == 200
        assert collector.flush(timeout=30)
        config.set_values(client, "heron", "*", {"bins": "30"})
        shown = settings_of(config.set_values(client, "heron", "durable", {"window_seconds": "86400",
                                                                           "slo_p99_ms": "250"}))
        assert shown["window_seconds"] == (86400, "model")
        assert shown["bins"] == (30, "'*'"), "what the model did not set inherits, column by column"
        assert shown["slo_p99_ms"] == (250.0, "model") and shown["slo_error_rate"] == (0.01, "built-in")
        shown = settings_of(config.set_values(client, "heron", "durable", {"lookback_seconds": "172800"}))
        assert shown["window_seconds"] == (86400, "model"), "setting one value keeps the others"
        config.set_values(client, "heron", "*", {"slo_error_rate": "0.05", "bins": "40"})
        shown = settings_of(config.show(client, "heron", "durable"))
        assert shown["slo_error_rate"] == (0.05, "'*'") and shown["bins"] == (40, "'*'"), "later '*' edits reach it"
        resolved = client.query("SELECT window_seconds, lookback_seconds, bins, label_lookback_seconds "
                                "FROM heron.ml_monitor_settings WHERE model_name = 'durable'").result_rows
        assert resolved == [(86400, 172800, 40, 1209600)], "the views resolve it as `show` does"
        shown = settings_of(config.set_values(client, "heron", "durable", {"lookback_seconds": "inherit"}))
        assert shown["lookback_seconds"] == (259200, "built-in") and shown["window_seconds"] == (86400, "model")
        # the collector's own refreshes may have written hour windows before the settings changed
        client.command("SYSTEM WAIT VIEW heron.ml_data_quality_mv")
        client.command("TRUNCATE TABLE heron.ml_data_quality")
        analytics.refresh(client, "heron", wait=True, views=["ml_data_quality_mv"])
        widths = client.query("SELECT DISTINCT toUInt32(window_end - window_start) FROM heron.ml_data_quality FINAL "
                              "WHERE model_name = 'durable'").result_rows
    assert widths == [(86400,)]


@pytest.mark.parametrize(("values", "expected"), [
    ({"window_seconds": "10"}, "window_seconds = '10' is not allowed: whole seconds from 60"),
    ({"window_seconds": "an hour"}, "whole seconds from 60"),
    ({"reference": "yesterday"}, "auto, profile, sample or window"),
    ({"drift_share": "1.5"}, "above 0 and at most 1"),
    ({"slo_error_rate": "nan"}, "a share from 0 to 1"),
    ({"reference_start": "soon"}, "an ISO time"),
    ({"windows": "3600"}, "unknown setting 'windows'; the settings are: window_seconds"),
    ({}, "name at least one setting"),
])
def test_bad_values_are_refused_naming_the_setting_and_what_is_allowed(store, values, expected):
    with pytest.raises(config.ConfigError, match=expected.replace("(", r"\(")):
        config.set_values(store, "heron", "churn", values)
    assert store.query("SELECT count() FROM heron.ml_monitor_config WHERE model_name = 'churn'").result_rows == [(0,)]


def test_the_cli_sets_through_a_running_collector_and_on_its_own(collector_process, tmp_path):
    _, data_dir = collector_process
    result = heron("config", "set", "--model", "churn", "--data-dir", str(data_dir), "window_seconds=7200",
                   "reference=sample")
    assert result.returncode == 0, result.stderr
    assert "7200" in result.stdout and "model" in result.stdout
    bad = heron("config", "set", "--model", "churn", "--data-dir", str(data_dir), "bins=1")
    assert bad.returncode == 2 and "bins = '1' is not allowed: a whole number from 2 to 1000" in bad.stderr
    shown = heron("config", "show", "--model", "churn", "--data-dir", str(data_dir))
    assert shown.returncode == 0 and "7200" in shown.stdout and "sample" in shown.stdout

    alone = tmp_path / "alone"
    assert heron("migrate", "--data-dir", str(alone)).returncode == 0
    result = heron("config", "set", "--model", "*", "--data-dir", str(alone), "slo_p99_ms=300",
                   f"reference_end={dt.datetime(2026, 11, 8, tzinfo=dt.timezone.utc).isoformat()}")
    assert result.returncode == 0, result.stderr
    shown = heron("config", "show", "--model", "fraud", "--data-dir", str(alone))
    assert "300" in shown.stdout and "2026-11-08" in shown.stdout

    # no collector: predictions written straight into the store, then the CLI's refresh uses the window
    assert heron("config", "set", "--model", "fraud", "--data-dir", str(alone), "window_seconds=900").returncode == 0
    import clickhouse_connect

    from heron_collector.ingest.rows import LOG_COLUMNS

    client = clickhouse_connect.get_client(dsn=f"chdb://{alone / 'chdb'}")
    try:
        body = '{"id": "f1", "numeric": {"x": 1.0}, "prediction": 1}'
        attrs = {"ml.model.name": "fraud", "ml.model.version": "1", "heron.layout": "row"}
        row = [dt.datetime.now(dt.timezone.utc), "", "", 0, "", 9, "svc", body, "", {}, "", "", "", {}, attrs,
               "heron.prediction"]
        client.insert("heron.otel_logs", [row], column_names=list(LOG_COLUMNS))
    finally:
        client.close()
    assert heron("refresh", "--wait", "--view", "ml_data_quality_mv", "--data-dir", str(alone)).returncode == 0
    width = heron("sql", "--format", "tsv", "--data-dir", str(alone), "SELECT DISTINCT toUInt32(window_end - "
                  "window_start) FROM heron.ml_data_quality FINAL WHERE model_name = 'fraud'")
    assert width.stdout.split() == ["900"], width.stderr


def test_drift_overrides_are_set_per_feature_and_checked(store):
    shown = settings_of(config.set_values(store, "heron", "churn", {"drift.age": "psi:0.25", "drift.*": "ks:0.01"}))
    assert shown["drift.age"] == ("psi:0.25", "model") and shown["drift.*"] == ("ks:0.01", "model")
    rows = store.query("SELECT feature, method, threshold FROM heron.ml_drift_config FINAL WHERE model_name = 'churn' "
                       "ORDER BY feature").result_rows
    assert rows == [("*", "ks", 0.01), ("age", "psi", 0.25)]
    for value, expected in (("magic:1", "METHOD one of ks, chi2, psi"), ("ks:1.5", "alpha above 0 and below 1"),
                            ("psi", "METHOD:THRESHOLD")):
        with pytest.raises(config.ConfigError, match=expected):
            config.set_values(store, "heron", "churn", {"drift.age": value})


def test_the_drift_registry_names_every_method_config_accepts_and_finalize_computes(store):
    """ml_drift_methods is the one list: `heron config` accepts its methods, and finalize has a
    p-value for each of its p-value methods."""
    from heron_collector.analytics._finalize import P_VALUES

    methods = dict(store.query("SELECT method, test FROM heron.ml_drift_methods").result_rows)
    assert set(config.DRIFT_METHODS) <= set(methods), "config accepts a method the views never compute"
    assert {m for m, test in methods.items() if test == "p_value"} == set(P_VALUES)
    assert set(methods.values()) == {"p_value", "effect_size"}
