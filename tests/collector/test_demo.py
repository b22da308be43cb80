"""The store `make demo` leaves behind tells the story the demo injected: drift on the drifted
features only, accuracy falling after the concept shift while the estimate holds, the latency
and error regression, and alerts fired, delivered to the webhook receiver and resolved. Its
stdout prints the views' own numbers. Built once per session (tests/conftest.py, demo_data_dir)."""

from __future__ import annotations

import re

import pytest

from heron_collector import cli, demo, status

from ..conftest import demo_stdout, open_demo_store

M, V = demo.MODEL, demo.VERSION


@pytest.fixture(scope="module")
def client(demo_data_dir, tmp_path_factory):
    client = open_demo_store(demo_data_dir, tmp_path_factory.mktemp("demo-test"))
    try:
        yield client
    finally:
        client.close()


def by_day(client, sql: str) -> dict[int, tuple]:
    """Rows of `sql` (window_start first) by simulated day: the demo's windows are its days."""
    rows = client.query(sql, parameters={"m": M, "v": V}).result_rows
    windows = sorted({r[0] for r in rows})
    return {windows.index(r[0]) + 1: tuple(r[1:]) for r in rows}


def test_every_day_is_one_window_and_drift_is_found_on_the_drifted_features_only(client):
    drift = by_day(client, "SELECT window_start, drifted_features, n_features FROM heron.ml_drift_summary "
                           "WHERE model_name = {m:String} AND model_version = {v:String}")
    assert sorted(drift) == list(range(1, demo.DAYS + 1))
    for day, (drifted, n_features) in drift.items():
        assert n_features == len(demo.NUMERIC) + len(demo.CATEGORICAL)
        assert drifted == (sorted(demo.DRIFTED) if day >= demo.DRIFT_FROM else []), day


def test_accuracy_falls_after_the_concept_shift_while_the_estimate_holds(client):
    perf = by_day(client, "SELECT r.window_start, r.value, r.labelled, e.value "
                          "FROM heron.ml_performance AS r FINAL "
                          "JOIN heron.ml_performance_estimated AS e FINAL USING (model_name, model_version, "
                          "window_start, segment_key, metric) WHERE r.model_name = {m:String} "
                          "AND r.model_version = {v:String} AND r.segment_key = '' AND r.metric = 'accuracy'")
    before = [perf[d][0] for d in range(1, demo.SHIFT_FROM)]
    after = [perf[d][0] for d in range(demo.SHIFT_FROM, demo.LABELLED_DAYS + 1)]
    assert min(before) > max(after) + 0.10, perf
    assert all(perf[d][1] == 0 and perf[d][0] is None for d in range(demo.LABELLED_DAYS + 1, demo.DAYS + 1)), perf
    estimates = [perf[d][2] for d in range(1, demo.DAYS + 1)]
    assert max(estimates) - min(estimates) < 0.05, estimates  # CBPE sees the scores, not the new world


def test_the_latency_regression_and_the_failing_calls_show_in_the_sla_view(client):
    sla = by_day(client, "SELECT window_start, latency_p99_ms, latency_p50_ms, error_rate, calls, slo_p99_ms, "
                         "slo_error_rate FROM heron.ml_sla FINAL WHERE model_name = {m:String} "
                         "AND model_version = {v:String} AND calls > 0")
    assert sorted(sla) == list(range(1, demo.DAYS + 1))
    for day, (p99, p50, error_rate, calls, slo_p99, slo_errors) in sla.items():
        assert calls >= 20, (day, calls)  # enough for the SLA rules to judge the window
        if day in demo.SLOW_DAYS:
            assert p99 >= demo.SLOW_MS > slo_p99 > p50, (day, p99, p50)
        assert (error_rate > slo_errors) == (day == demo.FAIL_DAY), (day, error_rate)
    assert sla[demo.DAYS][0] < demo.SLOW_MS, sla  # the last day is healthy again


def transitions(client, rule: str) -> dict[str, list[str]]:
    rows = client.query("SELECT subject, arrayMap(t -> t.2, arraySort(groupArray((at, state)))) "
                        "FROM heron.ml_alerts WHERE model_name = {m:String} AND model_version = {v:String} "
                        "AND rule = {r:String} GROUP BY subject", parameters={"m": M, "v": V, "r": rule}).result_rows
    return dict(rows)


def test_alerts_fire_on_the_faults_and_the_service_level_alerts_resolve(client):
    assert set(transitions(client, "feature_drift")) == set(demo.DRIFTED)
    assert all("firing" in states for states in transitions(client, "feature_drift").values())
    assert "firing" in transitions(client, "performance_baseline")["accuracy"]
    last_p99, slo_p99 = client.query("SELECT argMax(latency_p99_ms, window_start), any(slo_p99_ms) FROM heron.ml_sla "
                                     "FINAL WHERE model_name = {m:String} AND model_version = {v:String} "
                                     "AND calls > 0", parameters={"m": M, "v": V}).result_rows[0]
    for rule, healthy_again in (("sla_error_rate", True), ("sla_latency_p99", last_p99 <= slo_p99)):
        states = transitions(client, rule)[""]
        assert "firing" in states, (rule, states)
        if healthy_again:  # on a machine loaded enough to slow day 8 past the SLO, latency stays firing
            assert states[-1] == "resolved" and states.index("firing") < states.index("resolved"), (rule, states)
    assert "resolved" not in transitions(client, "feature_drift")["income"]  # the drift goes on


def test_notifications_were_delivered_firing_and_resolved(client):
    outcomes = dict(client.query("SELECT (status, outcome), count() FROM heron.ml_alert_notifications "
                                 "WHERE channel = {c:String} GROUP BY ALL", parameters={"c": demo.SINK}).result_rows)
    assert outcomes.get(("firing", "delivered"), 0) >= 3, outcomes
    assert outcomes.get(("resolved", "delivered"), 0) >= 1, outcomes  # the critical error-rate group cleared
    assert not any(outcome in ("failed", "dropped") for _, outcome in outcomes), outcomes
    queued = sum(n for (_, outcome), n in outcomes.items() if outcome == "queued")
    assert queued == sum(n for (_, outcome), n in outcomes.items() if outcome == "delivered")


def test_the_demo_prints_the_views_numbers_and_heron_status(client, demo_data_dir):
    out = demo_stdout(demo_data_dir)
    day_rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^(\d)  .*$", out, re.MULTILINE)}
    assert sorted(day_rows) == list(range(1, demo.DAYS + 1)), out
    accuracy = by_day(client, "SELECT window_start, value, labelled FROM heron.ml_performance FINAL "
                              "WHERE model_name = {m:String} AND model_version = {v:String} AND segment_key = '' "
                              "AND metric = 'accuracy'")
    for day, line in day_rows.items():
        assert (", ".join(sorted(demo.DRIFTED)) in line) == (day >= demo.DRIFT_FROM), line
        value, labelled = accuracy[day]
        assert (f"{100 * value:.1f} % ({labelled:,})" if labelled else "no labels yet") in line, line

    sink = re.search(r"The webhook receiver verified (\d+) signed notifications \((\d+) firing, (\d+) resolved; "
                     r"(\d+) alerts reported resolved\) and refused (\d+)", out)
    assert sink, out
    delivered = client.command("SELECT countIf(outcome = 'delivered') FROM heron.ml_alert_notifications")
    assert int(sink.group(1)) == int(delivered) > 0 and int(sink.group(3)) >= 1 and sink.group(5) == "0"

    status_rows = status.table_rows(status.read(client, "heron"))
    printed = out.split("heron status\n", 1)[1].splitlines()[2]
    assert printed.split() == " ".join(status_rows[0]).split(), (printed, status_rows)
    report = demo_data_dir / "report.html"
    assert f"report: {report} ({report.stat().st_size:,} bytes;" in out, out


def test_heron_demo_takes_its_own_options_and_refuses_a_directory_with_data(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("a previous run")
    with pytest.raises(SystemExit) as refused:
        cli.main(["demo", "--data-dir", str(tmp_path), "--day-seconds", "3"])
    assert refused.value.code == 2
    assert f"--data-dir {tmp_path} is not empty" in capsys.readouterr().err
