"""Acknowledged means durable: a collector killed for real, a store that fails at the real writer's
insert, a stop during the outage. Every count is of what the sender saw acknowledged against what
the tables hold, by prediction id."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import time

import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from heron_collector.collector import Collector

from ..conftest import free_port, spawn_collector, wait_ready
from ._otlp import MODEL, admin_sql, batch, logs_request, post
from .conftest import local_settings, seeded


class Capture:
    """An exporter that only keeps what it is given, so the test can hand batches to the real one."""

    def __init__(self) -> None:
        self.records: list = []

    def export(self, batch):
        self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


class Sender:
    """The real OTLP/HTTP log exporter sending 100-prediction requests at a steady rate."""

    def __init__(self, endpoint: str, per_request: int = 100, interval: float = 0.02) -> None:
        self.exporter = OTLPLogExporter(endpoint=endpoint, timeout=3)
        self.capture = Capture()
        provider = LoggerProvider(resource=Resource.create({"service.name": "crash-test"}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(self.capture))
        self.logger = provider.get_logger("heron")
        self.per_request, self.interval = per_request, interval
        self.sent: set[str] = set()
        self.acknowledged: set[str] = set()
        self.failed_requests = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            ids = [f"p{n + i:07d}" for i in range(self.per_request)]
            n += self.per_request
            for pid in ids:
                body = json.dumps({"id": pid, "numeric": {"x": 1.0}, "prediction": 1})
                self.logger.emit(
                    event_name="heron.prediction",
                    body=body,
                    attributes={**MODEL, "heron.layout": "row", "heron.rows": 1},
                )
            records, self.capture.records = self.capture.records, []
            self.sent.update(ids)
            if self.exporter.export(records) == LogRecordExportResult.SUCCESS:
                self.acknowledged.update(ids)
            else:
                self.failed_requests += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=60)


def stored_ids(base_url: str) -> tuple[dict[str, int], dict[str, int]]:
    """prediction id → copies, in otel_logs and in ml_predictions."""
    logs = admin_sql(
        base_url,
        "SELECT JSONExtractString(Body, 'id') AS id, count() FROM heron.otel_logs "
        "WHERE EventName = 'heron.prediction' GROUP BY id",
    )
    predictions = admin_sql(base_url, "SELECT prediction_id, count() FROM heron.ml_predictions GROUP BY prediction_id")
    return dict(logs), dict(predictions)


def until(condition, failure: str, timeout: float = 120) -> None:
    """Wait for `condition`; the timeout only bounds how long a failure takes to show."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def test_sigkill_mid_load_loses_no_acknowledged_prediction_and_duplicates_none(tmp_path):
    http_port, grpc_port, admin_port = free_port(), free_port(), free_port()
    url, admin = f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{admin_port}"
    process = spawn_collector(tmp_path, http_port, grpc_port, admin_port, HERON_BATCH_SECONDS="0.5")
    wait_ready(url, process)
    sender = Sender(f"{url}/v1/logs")
    sender.thread.start()
    try:
        until(lambda: len(sender.acknowledged) >= 1_000, "the sender had barely started before the kill")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        acknowledged_before_kill = len(sender.acknowledged)
        process = spawn_collector(tmp_path, http_port, grpc_port, admin_port, HERON_BATCH_SECONDS="0.5")
        wait_ready(url, process)
        until(lambda: len(sender.acknowledged) >= acknowledged_before_kill + 1_000,
              "nothing was acknowledged after the restart")
    finally:
        sender.stop()
    try:
        deadline = time.monotonic() + 60
        while True:
            logs, predictions = stored_ids(admin)
            if sender.acknowledged <= set(predictions) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        lost = sender.acknowledged - set(logs)
        assert not lost, f"{len(lost)} acknowledged predictions are not in otel_logs"
        assert not sender.acknowledged - set(predictions), "acknowledged predictions missing from ml_predictions"
        assert set(logs) <= sender.sent
        duplicated = {pid: n for pid, n in logs.items() if n > 1}
        assert not duplicated, f"{len(duplicated)} predictions stored twice in otel_logs"
        assert max(predictions.values()) == 1, "a prediction is in ml_predictions twice"
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0


def test_a_store_outage_during_100k_predictions_then_a_stop_and_a_restart_lose_and_duplicate_nothing(
        tmp_path, migrated_copy):
    settings = seeded(migrated_copy, local_settings(
        tmp_path,
        batch_rows=20_000,
        batch_seconds=0.2,
        shutdown_seconds=2,
    ))
    collector = Collector(settings).start()
    real_insert = collector.store.insert
    outage = threading.Event()
    failures = []

    def insert(table, rows, columns, token):  # the fault, at the real writer's insert
        if outage.is_set():
            failures.append(table)
            raise OperationalError("injected: connection refused (store down)")
        real_insert(table, rows, columns, token)

    collector.store.insert = insert
    acknowledged, n = 0, 0
    try:
        for i in range(100):  # 100 requests of one 1,000-row columnar record
            if i == 20:
                outage.set()
            ids = [f"o{n + k:06d}" for k in range(1_000)]
            n += 1_000
            status, _, _ = post(collector.http_address, "/v1/logs", logs_request(batch(ids)).SerializeToString())
            assert status == 200, "the spool takes what the store cannot"
            acknowledged += len(ids)
        until(lambda: failures, "the outage did not reach the writer")
        until(lambda: not collector.health()["ready"], "the collector stayed ready while writes failed")
        health = collector.health()
        assert not health["ready"] and any("writes failing" in r for r in health["reasons"]), health
        assert health["spool_rows"] > 0
    finally:
        assert collector.stop(), "a stop during the outage keeps every acknowledged row in the spool"
    assert any(name.endswith(".wal") for name in os.listdir(tmp_path / "spool"))
    with Collector(settings) as again:  # the store is back
        assert again.flush(timeout=120)
        client = again.store.client
        count, distinct = client.query(
            "SELECT count(), uniqExact(prediction_id) FROM heron.ml_predictions"
        ).result_rows[0]
        logs = client.query("SELECT sum(toUInt64(LogAttributes['heron.rows'])) FROM heron.otel_logs").result_rows[0][0]
        from heron_collector import analytics

        analytics.refresh(client, "heron", wait=True, views=["ml_data_quality_mv"])
        quality = client.query(
            "SELECT sum(n_rows), sum(duplicate_ids) FROM heron.ml_data_quality FINAL "
            "WHERE feature = '*' AND model_name = 'durable'"
        ).result_rows[0]
        dead = client.query("SELECT count() FROM heron.heron_dead_letter").result_rows[0][0]
    assert (count, distinct, logs) == (acknowledged, acknowledged, acknowledged)
    assert quality == (acknowledged, 0)
    assert dead == 0


@pytest.fixture
def small_disk(tmp_path):
    """A real 150 MiB filesystem (tmpfs), so the disk can be filled for real."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=150m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode:
        pytest.fail(f"this test mounts a small tmpfs and needs root (run the suite as root): {result.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path) -> None:
    """Write zeros until the filesystem is full. Unbuffered: a buffered file would flush its last
    partial chunk on close and raise ENOSPC there, outside the handler."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_refuses_with_503_and_never_leaves_the_store_unopenable(small_disk):
    settings = local_settings(
        small_disk / "data",
        batch_seconds=0.1,
        shutdown_seconds=1,
    )
    collector = Collector(settings).start()
    from heron_collector import analytics

    try:
        for i in range(5):
            ids = [f"f{i}-{k}" for k in range(1_000)]
            assert post(collector.http_address, "/v1/logs", logs_request(batch(ids)).SerializeToString())[0] == 200
        assert collector.flush(timeout=60)
        fill(small_disk / "filler")
        refused = [
            post(collector.http_address, "/v1/logs", logs_request(batch([f"x{i}"])).SerializeToString())[0]
            for i in range(5)
        ]
        assert set(refused) == {503}, "nothing is acknowledged that cannot be made durable"
        with pytest.raises(Exception, match="space"):
            analytics.refresh(collector.store.client, "heron", wait=True)  # a refresh on a full disk
    finally:
        assert collector.stop()
    (small_disk / "filler").unlink()
    with Collector(settings) as again:
        assert again.flush(timeout=60)
        count = again.store.client.query("SELECT count() FROM heron.ml_predictions").result_rows[0][0]
        analytics.refresh(again.store.client, "heron", wait=True)
    assert count == 5_000
