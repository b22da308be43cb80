"""Liveness, readiness and /metrics tell the truth about the store, the spool and the writer; a store
that cannot be opened says why."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import grpc
from clickhouse_connect.driver.exceptions import OperationalError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

from heron_collector.collector import Collector

from ..conftest import HERON_CLI, free_port
from ._otlp import logs_request, post, prediction
from .conftest import local_settings, seeded


def get(collector, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{collector.http_address}{path}", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_metrics_count_received_rejected_spooled_and_written(collector):
    bad = prediction("old", time_unix_nano=1)
    status, _, _ = post(collector.http_address, "/v1/logs", logs_request(bad, prediction("ok")).SerializeToString())
    assert status == 200
    assert collector.flush(timeout=30)
    status, text = get(collector, "/metrics")
    assert status == 200
    assert metric(text, 'heron_collector_received_records_total{signal="logs"}') == 2
    assert metric(text, 'heron_collector_rejected_records_total{reason="timestamp",signal="logs"}') == 1
    assert metric(text, 'heron_collector_spooled_rows_total{table="otel_logs"}') == 1
    assert metric(text, 'heron_collector_written_rows_total{table="otel_logs"}') == 1
    assert metric(text, 'heron_collector_requests_total{outcome="ok",signal="logs",transport="http"}') == 1
    assert metric(text, "heron_collector_spool_rows ") == 0
    assert metric(text, 'heron_collector_insert_duration_seconds_count{table="otel_logs"}') >= 1
    assert metric(text, "heron_collector_ready ") == 1


def test_readiness_follows_the_store_and_last_error_clears_after_recovery(collector):
    real = collector.store.insert
    down = [True]

    def insert(table, rows, columns, token):
        if down[0]:
            raise OperationalError("injected: connection refused")
        real(table, rows, columns, token)

    collector.store.insert = insert
    post(collector.http_address, "/v1/logs", logs_request(prediction("during-outage")).SerializeToString())
    deadline = time.monotonic() + 10
    while collector.health()["ready"] and time.monotonic() < deadline:
        time.sleep(0.1)
    status, text = get(collector, "/readyz")
    assert status == 503 and "writes failing" in text and "connection refused" in text
    assert get(collector, "/livez")[0] == 200, "the process is alive: do not restart it"
    assert metric(get(collector, "/metrics")[1], "heron_collector_ready ") == 0
    down[0] = False
    assert collector.flush(timeout=60)
    status, text = get(collector, "/readyz")
    assert status == 200, text
    assert collector.health()["last_error"] == ""


def test_a_full_spool_answers_503_with_retry_after_and_grpc_unavailable_with_retry_info(tmp_path, migrated_copy):
    settings = seeded(migrated_copy, local_settings(
        tmp_path,
        batch_seconds=0.1,
        spool_bytes=20_000,
    ))
    with Collector(settings) as collector:
        collector.store.insert = lambda *a: (_ for _ in ()).throw(OperationalError("injected: store down"))
        statuses = []
        for i in range(100):
            status, headers, _ = post(
                collector.http_address, "/v1/logs", logs_request(prediction(f"fill-{i}")).SerializeToString()
            )
            statuses.append(status)
            if status == 503:
                assert headers["Retry-After"] == "2"
                break
        assert statuses[-1] == 503 and statuses[0] == 200
        assert any("spool" in r for r in collector.health()["reasons"])
        with grpc.insecure_channel(collector.grpc_address) as channel:
            stub = logs_service_pb2_grpc.LogsServiceStub(channel)
            try:
                stub.Export(logs_request(prediction("grpc-full")))
                raise AssertionError("a full spool must refuse")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE
                trailers = dict(error.trailing_metadata())
                status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
                info = error_details_pb2.RetryInfo()
                assert status.details[0].Unpack(info) and info.retry_delay.seconds == 2


def test_opening_a_store_held_by_a_collector_names_its_pid(collector_process):
    _, data_dir = collector_process
    with open(os.path.join(data_dir, "chdb.collector.json")) as f:
        pid = json.load(f)["pid"]
    result = subprocess.run(
        [*HERON_CLI, "migrate", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert f"pid {pid}" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_server_that_is_not_up_is_waited_for_with_logged_retries(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
    env.update(
        HERON_CLICKHOUSE_URL=f"http://127.0.0.1:{port}/heron",
        HERON_STORE_WAIT_SECONDS="3",
        HERON_DATA_DIR=str(tmp_path),
    )
    started = time.monotonic()
    result = subprocess.run(
        [*HERON_CLI, "collector", "--otlp-http", f"127.0.0.1:{free_port()}", "--otlp-grpc", f"127.0.0.1:{free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert result.returncode == 2
    assert took >= 2.5, f"gave up after {took:.1f} s without waiting"
    output = result.stdout + result.stderr
    assert "retrying in" in output and "HERON_STORE_WAIT_SECONDS" in output, output
