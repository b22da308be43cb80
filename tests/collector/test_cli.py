"""The `heron` command as a user runs it: a collector process, then `heron sql` beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from ..conftest import free_port

HERON = [sys.executable, "-m", "heron_collector"]


def heron(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*HERON, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def send_predictions(url: str, n: int) -> None:
    request = logs_service_pb2.ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    body = json.dumps({"id": [f"p{i}" for i in range(n)], "numeric": {"x": list(range(n))}})
    scope.log_records.add(event_name="heron.prediction", body=common_pb2.AnyValue(string_value=body), attributes=[
        common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in
        {"ml.model.name": "m", "ml.model.version": "1", "heron.layout": "columnar", "heron.rows": str(n)}.items()])
    post = urllib.request.Request(url + "/v1/logs", data=request.SerializeToString(),
                                  headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(post, timeout=30) as reply:
        assert reply.status == 200


def test_heron_sql_prints_the_count_through_the_running_collector(collector_process):
    url, data_dir = collector_process
    send_predictions(url, 25)
    deadline = time.monotonic() + 30
    while True:
        result = heron("sql", "--data-dir", str(data_dir), "SELECT count() AS n FROM heron.ml_predictions")
        assert result.returncode == 0, result.stderr
        if result.stdout.split()[-1] == "25" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert result.stdout.split() == ["n", "--", "25"]


def test_heron_sql_refuses_writes_with_a_clear_error(collector_process):
    _, data_dir = collector_process
    result = heron("sql", "--data-dir", str(data_dir), "DROP TABLE heron.ml_predictions")
    assert result.returncode == 2
    assert "DROP statements are not allowed" in result.stderr and "read-only" in result.stderr


def test_a_wrong_data_dir_beside_a_running_collector_is_told_to_pass_the_collectors(collector_process, tmp_path):
    _, data_dir = collector_process
    from heron_collector.admin.access import state_path
    from heron_collector.settings import resolve_url

    with open(state_path(resolve_url(data_dir=str(data_dir)))) as f:
        admin = json.load(f)["admin"]
    result = heron("sql", "--data-dir", str(tmp_path / "elsewhere"), "SELECT 1",
                   env={"HERON_ADMIN": admin.removeprefix("http://")})
    assert result.returncode != 0
    assert f"a collector answers on {admin}; pass the --data-dir it was started with" in result.stderr, result.stderr


def test_migrate_then_sql_open_the_store_directly_when_no_collector_runs(tmp_path):
    first = heron("migrate", "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "schema/004_ml_tables.sql" in first.stdout
    assert heron("migrate", "--data-dir", str(tmp_path)).stdout.strip() == "up to date"
    result = heron("sql", "--format", "json", "--data-dir", str(tmp_path),
                   "SELECT count() AS n FROM heron.ml_predictions")
    assert json.loads(result.stdout) == [{"n": 0}]


def test_bad_store_url_names_the_variable_and_the_fix(tmp_path):
    result = heron("sql", "SELECT 1", env={"HERON_CLICKHOUSE_URL": "postgres://x"})
    assert result.returncode == 2
    assert "HERON_CLICKHOUSE_URL" in result.stderr and "chdb://" in result.stderr


def test_refresh_then_views_through_the_running_collector(collector_process):
    url, data_dir = collector_process
    send_predictions(url, 10)
    refreshed = heron("refresh", "--wait", "--data-dir", str(data_dir))
    assert refreshed.returncode == 0, refreshed.stderr
    assert "ml_drift_mv" in refreshed.stdout and "ml_sla_mv" in refreshed.stdout
    views = heron("views", "--data-dir", str(data_dir))
    assert views.returncode == 0, views.stdout + views.stderr
    lines = views.stdout.splitlines()
    assert lines[0].split() == ["view", "status", "last_success_time", "next_refresh_time", "exception"]
    listed = {line.split()[0] for line in lines[2:]}
    assert {"ml_drift_mv", "ml_performance_mv", "ml_sla_mv"} <= listed


def test_empty_results_say_so_and_control_characters_do_not_break_the_table(tmp_path):
    data_dir = tmp_path / "data"
    assert heron("migrate", "--data-dir", str(data_dir)).returncode == 0
    empty = heron("sql", "--data-dir", str(data_dir), "SELECT * FROM heron.ml_predictions")
    assert (empty.returncode, empty.stdout.strip()) == (0, "(no rows)")
    tricky = heron("sql", "--data-dir", str(data_dir), "SELECT 'a\\nb\\tc' AS name, 1 AS n")
    lines = tricky.stdout.splitlines()
    assert len(lines) == 3 and lines[2].startswith("a\\nb\\tc"), tricky.stdout


def test_errors_are_one_line_with_the_fix_and_every_option_has_help(tmp_path):
    nobody = f"127.0.0.1:{free_port()}"  # no collector answers there
    result = heron("sql", "--data-dir", str(tmp_path / "none"), "SELECT 1", env={"HERON_ADMIN": nobody})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "start `heron collector`" in result.stderr
    data_dir = tmp_path / "data"
    assert heron("migrate", "--data-dir", str(data_dir)).returncode == 0
    bad = heron("sql", "--data-dir", str(data_dir), "SELECT no_such_column FROM heron.ml_predictions")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert "tab-separated" in heron("sql", "--help").stdout


def test_every_command_and_option_has_help():
    import argparse

    from heron_collector.cli import parser

    root = parser()
    commands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    assert {"collector", "migrate", "sql", "refresh", "views", "demo"} <= set(commands.choices)
    for name, sub in commands.choices.items():
        assert any(c.dest == name and c.help for c in commands._choices_actions), f"{name} has no help"
        for action in sub._actions:
            assert action.help, f"heron {name} {action.option_strings or action.dest} has no help"
