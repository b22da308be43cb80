"""The report of the demo's store, in a real browser: every chart draws with data, the console
stays clean, nothing is fetched, and the file is one self-contained document. The same report
through a running collector's admin endpoint carries the same data."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from heron_collector import analytics, cli, config, report
from heron_collector.alerts import evaluate, rules

from ..conftest import free_port, open_demo_store, spawn_collector, wait_ready
from .conftest import open_report

MODEL = "credit-default"
CHARTS = ["drift_heatmap", "distribution_1", "distribution_2", "distribution_3", "distribution_4",
          "multivariate_drift", "performance", "latency", "alerts"]


def _data(text: str) -> dict:
    match = re.search(r'<script type="application/json" id="heron-data">(.*?)</script>', text, re.S)
    assert match, "the report has no data block"
    return json.loads(match[1])


@pytest.fixture(scope="module")
def demo_report(demo_data_dir, tmp_path_factory):
    """The demo's store with its alert rules evaluated once after the last window and a baseline
    period over the first four windows, and the report written from it."""
    tmp = tmp_path_factory.mktemp("demo-report")
    client = open_demo_store(demo_data_dir, tmp)
    try:
        windows = [r[0] for r in client.query(
            "SELECT DISTINCT window_start FROM heron.ml_performance FINAL WHERE model_name = {m:String} "
            "ORDER BY 1", parameters={"m": MODEL}).result_rows]
        config.set_values(client, "heron", MODEL, {"baseline_start": windows[0].isoformat(),
                                                  "baseline_end": windows[4].isoformat()})
        analytics.refresh(client, "heron", wait=True, views=["ml_baselines_mv"])
        [(last,)] = client.query("SELECT max(window_end) FROM heron.ml_drift").result_rows
        evaluate.evaluate(client, "heron", rules.default_rules(),
                          now=last.replace(tzinfo=dt.timezone.utc) + dt.timedelta(seconds=1))
        [(predictions,)] = client.query("SELECT count() FROM heron.ml_predictions WHERE model_name = {m:String}",
                                        parameters={"m": MODEL}).result_rows
        path = tmp / "report.html"
        stats = report.write(client, MODEL, None, "7d", str(path))
    finally:
        client.close()
    return path, {**stats, "stored": predictions}


def test_every_chart_draws_with_data_offline_and_the_console_stays_clean(chromium, demo_report, tmp_path):
    path, stats = demo_report
    result, dom, console = open_report(chromium, path, tmp_path)
    assert result["errors"] == [] and console == [], (result["errors"], console)
    drawn = {name: n for name, n in result["charts"].items() if n > 0}
    assert sorted(drawn) == sorted(CHARTS), result["charts"]
    data = _data(path.read_text())
    # what the page drew is what the views hold: a heat-map cell per (feature, window), every window
    assert result["charts"]["drift_heatmap"] == sum(v is not None for row in data["drift"]["severity"] for v in row)
    assert len(data["drift"]["times"]) == stats["windows"] == 8
    assert stats["version"] == "1.0" and stats["predictions"] == stats["stored"] > 0  # a slow machine serves fewer
    # the drifted features of the demo are the worst ones shown against the reference
    assert {d["feature"] for d in data["distributions"]} >= {"channel", "credit_score", "income"}
    perf = data["performance"]
    assert perf["band"]["lower"] < perf["band"]["upper"] and perf["band"]["source"] == "period"
    # each window is drawn with its own limits: a period band's are the stored ones
    assert len(perf["lower"]) == len(perf["t"]) and set(perf["lower"]) == {perf["band"]["lower"]}
    assert any(a["state"] == "firing" for a in data["alerts"])
    assert "training_data_version" not in dom and "generated-2026-11" in dom  # lineage from ml_models


def test_the_file_is_self_contained(demo_report):
    path, stats = demo_report
    text = path.read_text()
    assert stats["bytes"] == len(text.encode()) < 300_000
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text, re.I)  # nothing loaded from outside
    assert "default-src 'none'" in text and "uPlot" in text


def test_the_cli_reads_directly_or_through_a_running_collector_and_gets_the_same_data(demo_data_dir, tmp_path,
                                                                                     capsys):
    """`heron report` opens the store itself when no collector holds it, and goes through a running
    collector's admin endpoint (read-only SQL) when one does: the same data either way. Bad
    arguments get one line and exit 2. The CLI runs in this process; the collector is a process
    of its own."""
    import shutil

    store = tmp_path / "store"
    shutil.copytree(demo_data_dir, store, symlinks=True)
    command = ["report", "--model", MODEL, "--data-dir", str(store), "-o"]
    assert cli.main([*command, str(tmp_path / "direct.html")]) == 0, capsys.readouterr().err
    assert "wrote" in capsys.readouterr().out
    http = free_port()
    process = spawn_collector(store, http, free_port())
    try:
        wait_ready(f"http://127.0.0.1:{http}", process)
        assert cli.main([*command, str(tmp_path / "remote.html")]) == 0, capsys.readouterr().err
        assert "wrote" in capsys.readouterr().out
        remote, direct = _data((tmp_path / "remote.html").read_text()), _data((tmp_path / "direct.html").read_text())
        assert remote == direct and remote["drift"]["rows"]
        for argv, says in ((["--model", "no-such-model"], "no such model"), (["--since", "7x"], "--since '7x'"),
                           (["--version", "9"], "no such version")):
            assert cli.main([*command, str(tmp_path / "bad.html"), *argv]) == 2
            err = capsys.readouterr().err
            assert says in err and len(err.strip().splitlines()) == 1, err
    finally:
        process.terminate()
        process.wait(timeout=60)
