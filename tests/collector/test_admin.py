"""Admin SQL is read-only for real, through every path (raw HTTP, the CLI through a running
collector, the CLI opening the store itself); limits stop long queries; a long admin query never
holds up ingestion; an exposed admin endpoint needs a token."""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import threading
import time

import pytest

from heron_collector.collector import Collector

from ..conftest import HERON_CLI
from ._otlp import batch, logs_request, post
from .conftest import local_settings, seeded

REFUSED = {
    "into outfile": ("SELECT 1 INTO OUTFILE '{path}' TRUNCATE", "INTO OUTFILE"),
    "into outfile append": ("SELECT 'x' INTO OUTFILE '{path}' APPEND", "INTO OUTFILE"),
    "multi-statement": ("SELECT 1; SELECT 2", "one statement"),
    "file()": ("SELECT * FROM file('{path}', 'TSV', 'x String')", "file()"),
    "file() scalar": ("SELECT file('{path}')", "file()"),
    "url()": ("SELECT * FROM url('http://127.0.0.1:1/x', 'TSV', 'x String')", "url()"),
    "remote()": ("SELECT * FROM remote('127.0.0.1', system.one)", "remote()"),
    "executable()": ("SELECT * FROM executable('id', 'TSV', 'x String')", "executable()"),
    "system": ("SYSTEM STOP MERGES", "SYSTEM"),
    "kill": ("KILL QUERY WHERE 1", "KILL"),
    "set": ("SET readonly = 0", "SET"),
    "settings clause": ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
    "insert": ("INSERT INTO heron.ml_slo (model_name) VALUES ('x')", "INSERT"),
    "ddl": ("CREATE TABLE heron.x (a UInt8) ENGINE = Memory", "CREATE"),
    "drop": ("DROP TABLE heron.otel_logs", "DROP"),
}


def admin_post(collector, sql: str, timeout: float = 60) -> tuple[int, dict]:
    host, port = collector.admin_address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("POST", "/admin/sql", body=json.dumps({"sql": sql}), headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    return reply.status, json.loads(reply.read())


@pytest.mark.parametrize("case", list(REFUSED))
def test_raw_http_refuses_with_a_clear_message_and_writes_no_file(collector, tmp_path, case):
    target = tmp_path / "target.txt"
    target.write_text("untouched\n")
    sql, expected = REFUSED[case]
    status, answer = admin_post(collector, sql.format(path=target))
    assert status == 403, answer
    assert expected in answer["error"], answer["error"]
    assert target.read_text() == "untouched\n"
    assert admin_post(collector, "SELECT 41 + 1 AS answer") == (200, {"columns": ["answer"], "types": ["UInt16"],
                                                                      "rows": [[42]]}), "the next query is unchanged"


def heron_sql(data_dir, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HERON_CLI, "sql", "--data-dir", str(data_dir), sql], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("case", ["into outfile", "multi-statement", "file()", "url()", "remote()", "executable()",
                                  "system", "kill", "set", "insert", "ddl"])
def test_the_cli_refuses_through_a_running_collector_and_on_its_own(collector_process, tmp_path, case):
    _, data_dir = collector_process
    target = tmp_path / "target.txt"
    target.write_text("untouched\n")
    sql, expected = REFUSED[case]
    through = heron_sql(data_dir, sql.format(path=target))
    assert through.returncode == 2 and expected in through.stderr, through.stderr
    assert "Traceback" not in through.stderr and len(through.stderr.strip().splitlines()) == 1
    assert target.read_text() == "untouched\n"


def test_the_cli_refuses_when_it_opens_the_store_itself(tmp_path):
    data_dir = tmp_path / "data"
    subprocess.run([*HERON_CLI, "migrate", "--data-dir", str(data_dir)], check=True, capture_output=True, timeout=120)
    target = tmp_path / "target.txt"
    for case in ("into outfile", "multi-statement", "file()", "system", "insert"):
        sql, expected = REFUSED[case]
        result = heron_sql(data_dir, sql.format(path=target))
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not target.exists()
    ok = heron_sql(data_dir, "SELECT 1 AS one")
    assert ok.returncode == 0 and ok.stdout.split() == ["one", "---", "1"]


SLOW = "SELECT sum(sipHash64(number)) AS held_open_by_the_test FROM numbers(100000000000)"


def running(collector, marker: str) -> bool:
    """Whether a query holding `marker` is executing now, as the engine itself reports it."""
    return collector.store.client.query(
        "SELECT count() FROM system.processes WHERE position(query, {m:String}) > 0 AND position(query, "
        "'system.processes') = 0", parameters={"m": marker}).result_rows[0][0] > 0


def test_a_query_over_the_time_limit_is_stopped_by_it_and_ingestion_goes_on(tmp_path, monkeypatch, migrated_copy):
    """Causal, not a rate comparison: while the engine reports the admin query running, predictions
    are acknowledged and stored; then the query ends by its time limit, with the documented error.
    The waits below only bound how long a failure takes to show."""
    monkeypatch.setenv("HERON_ADMIN_MAX_SECONDS", "5")
    with Collector(seeded(migrated_copy, local_settings(tmp_path, batch_seconds=0.1))) as collector:
        answer: dict = {}
        thread = threading.Thread(target=lambda: answer.update(reply=admin_post(collector, SLOW)))
        thread.start()
        deadline = time.monotonic() + 30
        while not running(collector, "held_open_by_the_test"):
            assert thread.is_alive() and time.monotonic() < deadline, \
                f"the admin query was never seen running (did the writer's session wait for it?): {answer}"
            time.sleep(0.02)
        ids = [f"during-{n}-{k}" for n in range(5) for k in range(100)]
        for n in range(5):
            status = post(collector.http_address, "/v1/logs", logs_request(batch(ids[n * 100:(n + 1) * 100])
                                                                          ).SerializeToString())[0]
            assert status == 200, f"request {n} was not acknowledged during the admin query"
        assert collector.flush(timeout=30), "the writer did not drain"
        stored = collector.store.client.query(
            "SELECT count() FROM heron.ml_predictions WHERE startsWith(prediction_id, 'during-')").result_rows[0][0]
        assert stored == len(ids), f"{stored} of {len(ids)} predictions stored"
        assert running(collector, "held_open_by_the_test"), \
            "the admin query ended before the predictions were stored: ingestion waited for it"
        thread.join(timeout=60)
        assert not thread.is_alive(), "the admin query outlived its time limit"
    status, reply = answer["reply"]
    assert status == 400 and "HERON_ADMIN_MAX_SECONDS" in reply["error"], reply


def test_a_non_loopback_admin_without_a_token_refuses_to_start_and_otlp_warns(tmp_path, caplog, migrated_copy):
    with pytest.raises(ValueError, match="HERON_COLLECTOR_TOKEN"):
        Collector(local_settings(tmp_path, admin="0.0.0.0:0")).start()
    with caplog.at_level(logging.WARNING, logger="heron.collector"), \
            Collector(seeded(migrated_copy, local_settings(tmp_path, otlp_http="0.0.0.0:0"))):
        pass
    assert any("HERON_COLLECTOR_TOKEN" in r.getMessage() and "OTLP/HTTP" in r.getMessage() for r in caplog.records)
    with Collector(local_settings(tmp_path, admin="0.0.0.0:0", token="t0ken")) as guarded:
        assert guarded.admin_address.startswith("0.0.0.0:")


def test_a_cli_without_the_token_is_told_which_variable_to_set(tmp_path):
    import os

    from ..conftest import free_port, spawn_collector, wait_ready

    http_port = free_port()
    process = spawn_collector(tmp_path, http_port, free_port(), HERON_COLLECTOR_TOKEN="s3cret")
    try:
        wait_ready(f"http://127.0.0.1:{http_port}", process)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
        result = subprocess.run([*HERON_CLI, "sql", "--data-dir", str(tmp_path), "SELECT 1"], capture_output=True,
                                text=True, timeout=120, env=env)
        assert result.returncode == 2 and "HERON_COLLECTOR_TOKEN" in result.stderr, result.stderr
        ok = subprocess.run([*HERON_CLI, "sql", "--data-dir", str(tmp_path), "SELECT 1 AS one"], capture_output=True,
                            text=True, timeout=120, env={**env, "HERON_COLLECTOR_TOKEN": "s3cret"})
        assert ok.returncode == 0 and ok.stdout.split() == ["one", "---", "1"], ok.stderr
    finally:
        process.terminate()
        process.wait(timeout=60)
