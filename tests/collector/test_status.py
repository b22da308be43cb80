"""`heron status` on the demo's store: every model version listed, each value equal to what the
views say (queried here on their own), names printed on one line each; and the same table from
the CLI on the store directly and through a running collector's admin endpoint."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest

from heron_collector import cli, demo, status, table
from heron_collector.admin.access import Remote, open_access
from heron_collector.settings import resolve_url

from ..conftest import open_demo_store

M, V = demo.MODEL, demo.VERSION
HOSTILE = "fraud\n\x1b[2J"  # a model name that would break a table and clear a terminal


def one(client, sql: str, **parameters):
    rows = client.query(sql, parameters={"m": M, "v": V, **parameters}).result_rows
    return rows[0] if rows else None


def test_status_lists_every_model_with_the_views_values(demo_data_dir, tmp_path):
    client = open_demo_store(demo_data_dir, tmp_path)
    try:
        now = dt.datetime.now(dt.timezone.utc)
        client.insert("heron.ml_models", [["churn", "2", "regression", "", now]],
                      column_names=["model_name", "model_version", "task", "positive_class", "registered_at"])
        client.insert("heron.ml_predictions", [[HOSTILE, "v\t1", now, "p1", {"x": 1.0}]],
                      column_names=["model_name", "model_version", "timestamp", "prediction_id", "numeric"])
        rows = {(r["model_name"], r["model_version"]): r for r in status.read(client, "heron")}
        assert set(rows) == {(M, V), ("churn", "2"), (HOSTILE, "v\t1")}

        latest: dict[str, tuple] = {}  # each alert's newest transition
        for fp, at, state, severity in client.query("SELECT fingerprint, at, state, severity FROM heron.ml_alerts "
                                                    "WHERE model_name = {m:String} AND model_version = {v:String}",
                                                    parameters={"m": M, "v": V}).result_rows:
            if fp not in latest or at > latest[fp][0]:
                latest[fp] = (at, state, severity)
        live = [severity for _, state, severity in latest.values() if state in ("firing", "recovering")]
        ours = rows[(M, V)]
        assert ours["alerts_firing"] == len(live) > 0
        assert ours["health"] == ("critical" if "critical" in live else "warning")

        n_drifted, n_features, names = one(client, "SELECT n_drifted, n_features, drifted_features "
                                                   "FROM heron.ml_drift_summary WHERE model_name = {m:String} "
                                                   "AND model_version = {v:String} ORDER BY window_start DESC LIMIT 1")
        assert (ours["n_drifted"], ours["n_features"], ours["drifted_features"]) == (n_drifted, n_features, names)
        assert names == sorted(demo.DRIFTED)

        assert ours["metric"] == "accuracy"
        realised = one(client, "SELECT value FROM heron.ml_performance FINAL WHERE model_name = {m:String} AND "
                               "model_version = {v:String} AND segment_key = '' AND metric = 'accuracy' AND "
                               "labelled > 0 ORDER BY window_start DESC LIMIT 1")[0]
        estimated = one(client, "SELECT value FROM heron.ml_performance_estimated FINAL WHERE model_name = {m:String} "
                                "AND model_version = {v:String} AND segment_key = '' AND metric = 'accuracy' "
                                "ORDER BY window_start DESC LIMIT 1")[0]
        baseline = one(client, "SELECT mean FROM heron.ml_baselines FINAL WHERE model_name = {m:String} AND "
                               "model_version = {v:String} AND kind = 'performance' AND metric = 'accuracy'")[0]
        assert (ours["realised"], ours["estimated"], ours["baseline"]) == (realised, estimated, baseline)
        assert baseline - realised > 0.1  # the demo's concept shift, seen against the baseline

        p99, error_rate = one(client, "SELECT latency_p99_ms, error_rate FROM heron.ml_sla FINAL WHERE "
                                      "model_name = {m:String} AND model_version = {v:String} AND calls > 0 "
                                      "ORDER BY window_start DESC LIMIT 1")
        assert ours["p99_ms"] == pytest.approx(p99, rel=1e-9) and ours["error_rate"] == error_rate
        last_prediction = one(client, "SELECT max(timestamp) FROM heron.ml_predictions WHERE model_name = {m:String} "
                                      "AND model_version = {v:String}")[0]
        last_label = one(client, "SELECT max(timestamp) FROM heron.ml_ground_truth WHERE model_name = {m:String}")[0]
        assert ours["last_prediction"] == f"{last_prediction:%Y-%m-%d %H:%M:%S}"
        assert ours["last_label"] == f"{last_label:%Y-%m-%d %H:%M:%S}"

        for key in (("churn", "2"), (HOSTILE, "v\t1")):  # nothing measured yet: nothing made up
            r = rows[key]
            assert (r["health"], r["alerts_firing"], r["n_features"], r["metric"], r["realised"], r["p99_ms"]) == \
                   ("ok", 0, 0, "", None, None)
        assert rows[("churn", "2")]["last_prediction"] is None

        out = io.StringIO()
        table.print_table(status.COLUMNS, status.table_rows(list(rows.values())), out=out)
        lines = out.getvalue().splitlines()
        assert len(lines) == 2 + len(rows) and "\x1b" not in out.getvalue()
        assert any(line.split()[:3] == ["fraud\\n\\x1b[2J", "v\\t1", "ok"] for line in lines), lines
    finally:
        client.close()


def test_the_cli_prints_the_same_status_directly_and_through_the_admin_endpoint(demo_data_dir, tmp_path, capsys):
    client = open_demo_store(demo_data_dir, tmp_path)
    try:
        expected = io.StringIO()
        table.print_table(status.COLUMNS, status.table_rows(status.read(client, "heron")), out=expected)
    finally:
        client.close()
    data_dir = os.path.join(tmp_path, "demo-store")

    assert cli.main(["status", "--data-dir", data_dir]) == 0  # no collector: the store opened directly
    assert capsys.readouterr().out == expected.getvalue()

    from heron_collector.collector import Collector, Settings

    settings = Settings(otlp_http="127.0.0.1:0", otlp_grpc="127.0.0.1:0", admin="127.0.0.1:0", data_dir=data_dir,
                        clickhouse_url="")
    with Collector(settings) as collector:  # it holds the store now: the CLI must go through its admin endpoint
        access = open_access(resolve_url(None, data_dir=data_dir))
        assert isinstance(access, Remote) and access.admin_url.endswith(collector.admin_address)
        assert cli.main(["status", "--data-dir", data_dir]) == 0
    assert capsys.readouterr().out == expected.getvalue()
