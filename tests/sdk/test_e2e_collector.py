"""End to end: the SDK → OTLP/HTTP on loopback → a real `heron collector` process → ml_* rows.

Single, numpy batch, pandas batch and async predictions, ground truth and a reference, read back
with `heron sql` through the running collector.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import heron

HERON = [sys.executable, "-m", "heron_collector"]
pytestmark = pytest.mark.slow


@pytest.fixture
def collector(collector_process):
    return collector_process


def sql(data_dir: Path, query: str) -> list[dict]:
    done = subprocess.run([*HERON, "sql", "--format", "json", "--data-dir", str(data_dir), query],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = done.stdout.strip()
    if not text:
        return []
    try:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else parsed.get("data", [parsed])
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def outcomes(stats: dict[str, int], kind: str) -> int:
    """exported + failed (every reason) + dropped (every reason) of one kind in heron.stats()."""
    return sum(n for key, n in stats.items()
               if key.endswith("." + kind) and key.split(".")[0] in ("exported", "failed", "dropped"))


def wait_for(data_dir: Path, query: str, expected: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        rows = sql(data_dir, query)
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def test_sdk_predictions_ground_truth_and_reference_land_in_clickhouse(collector):
    url, data_dir = collector
    heron.configure(endpoint=url, service_name="e2e-service", environment="staging", metrics=False)

    @heron.monitor(model="churn", version="3", task="binary_classification")
    def predict(x: object) -> object:
        if isinstance(x, dict):
            return 1
        return np.asarray(x)[:, 0] > 0 if isinstance(x, np.ndarray) else (x["age"].to_numpy() > 40).astype(int)

    @heron.monitor(model="churn", version="3")
    async def apredict(x: dict) -> int:
        return 0

    predict({"age": 42.0, "country": "DE", "ratio": float("nan")})
    single_id = heron.last_prediction_ids()[0]
    predict(np.array([[1.0, 2.0], [-1.0, 3.0], [2.0, np.inf]]))
    predict(pd.DataFrame({"age": [30.0, 50.0], "country": ["FR", None]}))
    asyncio.run(apredict({"age": 1.0}))
    heron.log_ground_truth(model="churn", ids=[single_id], labels=[1])
    heron.log_reference(model="churn", version="3", features=pd.DataFrame({"age": np.arange(100.0)}),
                        labels=np.arange(100) % 2, sample_rows=10)
    assert heron.flush(timeout_s=30)

    rows = wait_for(data_dir, "SELECT prediction_id, numeric, categorical, prediction, batch_rows, trace_id, "
                              "service_name, environment FROM heron.ml_predictions ORDER BY timestamp", 7)
    assert len(rows) == 7
    by_id = {r["prediction_id"]: r for r in rows}
    single = by_id[single_id]
    assert single["numeric"]["age"] == 42.0 and single["categorical"] == {"country": "DE"}
    assert single["prediction"] == "1" and single["batch_rows"] == 1 and single["trace_id"]
    assert (single["service_name"], single["environment"]) == ("e2e-service", "staging")
    assert sorted(r["batch_rows"] for r in rows) == [1, 1, 2, 2, 3, 3, 3]

    truth = wait_for(data_dir, "SELECT prediction_id, label FROM heron.ml_ground_truth", 1)
    assert truth == [{"prediction_id": single_id, "label": "1"}]
    sample = wait_for(data_dir, "SELECT row_index FROM heron.ml_reference ORDER BY row_index", 10)
    assert len(sample) == 10
    profile = wait_for(data_dir, "SELECT feature, count FROM heron.ml_reference_profile ORDER BY feature", 2)
    assert {r["feature"]: r["count"] for r in profile}["age"] == 100
    models = wait_for(data_dir, "SELECT task FROM heron.ml_models FINAL", 1)
    assert models[0]["task"] == "binary_classification"


EXITING_SERVICE = """
import heron
@heron.monitor(model="exiting", version="1")
def predict(x):
    return x["a"] * 2
for i in range(5):
    predict({"a": float(i)})
# no flush, no shutdown: the interpreter's exit must deliver everything
"""


def test_a_process_that_just_exits_still_delivers_its_predictions(collector):
    url, data_dir = collector
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
    done = subprocess.run([sys.executable, "-c", EXITING_SERVICE], env={**env, "OTEL_EXPORTER_OTLP_ENDPOINT": url},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = wait_for(data_dir, "SELECT prediction_value FROM heron.ml_predictions WHERE model_name = 'exiting' "
                              "ORDER BY prediction_value", 5)
    assert [r["prediction_value"] for r in rows] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_a_20k_burst_is_stored_and_every_prediction_is_accounted_for(collector):
    url, data_dir = collector
    heron.configure(endpoint=url, metrics=False)

    @heron.monitor(model="burst", version="1")
    def predict(x: dict) -> float:
        return x["a"]

    for i in range(20_000):
        predict({"a": float(i), "b": 1.0})
    assert heron.flush(timeout_s=120)
    [row] = wait_for(data_dir, "SELECT count() AS n FROM heron.ml_predictions WHERE model_name = 'burst' "
                               "HAVING n >= 19980", 1)
    stored = int(row["n"])
    stats = heron.stats()
    assert stored >= 19_980, f"only {stored} of 20,000 stored"
    assert stats["produced.prediction_rows"] == outcomes(stats, "prediction_rows") == 20_000, stats
    assert stats.get("exported.prediction_rows", 0) == stored


def test_a_queue_that_overflows_counts_every_dropped_prediction(monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("HERON_QUEUE_ROWS", "16")
    heron.configure(endpoint=f"http://127.0.0.1:{closed}", timeout=1.0, metrics=False)

    @heron.monitor(model="small", version="1")
    def predict(x: dict) -> float:
        return x["a"]

    for i in range(300):
        predict({"a": float(i)})
    assert heron.flush(timeout_s=30) is False
    stats = heron.stats()
    assert stats.get("dropped.queue_full.prediction_rows", 0) > 0, stats
    assert stats["produced.prediction_rows"] == 300, stats
    assert outcomes(stats, "prediction_rows") == 300, stats
    assert outcomes(stats, "spans") == stats["produced.spans"] == 300, stats


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_wrong_token_shows_every_row_as_failed_unauthorized(tmp_path, protocol):
    from ..conftest import free_port, spawn_collector, wait_ready

    http_port, grpc_port = free_port(), free_port()
    process = spawn_collector(tmp_path, http_port, grpc_port, HERON_COLLECTOR_TOKEN="the-right-one")
    try:
        wait_ready(f"http://127.0.0.1:{http_port}", process)
        port = grpc_port if protocol == "grpc" else http_port
        heron.configure(endpoint=f"http://127.0.0.1:{port}", protocol=protocol,
                        headers={"authorization": "Bearer nope"}, timeout=2.0, metrics=False)
        predict = heron.monitor(model="locked-out", version="1")(lambda x: x["a"])
        for i in range(50):
            predict({"a": float(i)})
        assert heron.flush(timeout_s=30) is False
    finally:
        process.terminate()
        process.wait(timeout=60)
    stats = heron.stats()
    assert stats["failed.unauthorized.prediction_rows"] == stats["produced.prediction_rows"] == 50, stats
    assert stats["failed.unauthorized.spans"] == stats["produced.spans"] == 50, stats
    assert not any(key.startswith("exported.") and n for key, n in stats.items()), stats


class _Answer503(BaseHTTPRequestHandler):
    """A receiver that is there but cannot take anything (as a collector whose spool is full)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(503)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_collector_answering_503_is_counted_as_unavailable():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer503)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        heron.configure(endpoint=f"http://127.0.0.1:{server.server_address[1]}", timeout=1.5, metrics=False)
        predict = heron.monitor(model="refused", version="1")(lambda x: x["a"])
        for i in range(40):
            predict({"a": float(i)})
        assert heron.flush(timeout_s=30) is False
    finally:
        server.shutdown()
    stats = heron.stats()
    assert stats["failed.unavailable.prediction_rows"] == stats["produced.prediction_rows"] == 40, stats
    assert stats["failed.unavailable.spans"] == 40, stats


def test_one_bad_record_is_one_lost_record_and_its_neighbours_land(collector, caplog):
    from heron import _setup

    url, data_dir = collector
    heron.configure(endpoint=url, metrics=False)
    predict = heron.monitor(model="neighbour", version="1")(lambda x: x["a"])
    for i in range(200):
        predict({"a": float(i)})
    with heron.observe(model="clock", version="1", timestamp=time.time() * 1000) as obs:  # ms by mistake
        obs.features({"a": 1.0}).prediction(1)
    with heron.observe(model="clock", version="1", timestamp=time.time() + 30 * 86400) as obs:  # a month ahead
        obs.features({"a": 2.0}).prediction(2)
    # a record the OTLP encoder cannot encode (an attribute out of int64's range), beside the others
    _setup.emit(_setup.get(), "heron.model", {"ml.model.name": "bad", "too_big": 2**70}, _Text('{"task": ""}'), 1)
    heron.log_reference("neighbour", "1", {"a": [1.0, 2.0, 3.0]}, predictions=[1.0, 2.0, 3.0])
    assert heron.flush(timeout_s=60) is False, "a record was lost: flush() must say so"
    stats = heron.stats()
    assert stats["failed.could_not_encode.records"] == 1, stats
    assert stats["dropped.timestamp"] == 1 and stats["timestamp_converted"] == 1, stats
    rows = wait_for(data_dir, "SELECT model_name, count() AS n FROM heron.ml_predictions GROUP BY model_name "
                              "ORDER BY model_name", 2)
    assert {r["model_name"]: int(r["n"]) for r in rows} == {"clock": 1, "neighbour": 200}
    assert wait_for(data_dir, "SELECT 1 FROM heron.ml_reference WHERE model_name = 'neighbour'", 3)
    assert any("milliseconds" in r.getMessage() for r in caplog.records)


class _Text:
    """A ready body for `_setup.emit` (what the SDK's own bodies render to)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self) -> list[tuple[str, int, str]]:
        return [(self.text, 1, "row")]


def test_records_the_collector_rejects_are_counted_as_rejected(collector):
    url, _ = collector
    heron.configure(endpoint=url, metrics=False)
    too_long = "m" * 2_000  # over the collector's HERON_MAX_NAME_BYTES (1 KiB): refused, the request kept
    predict = heron.monitor(model=too_long, version="1")(lambda x: x["a"])
    for i in range(10):
        predict({"a": float(i)})
    assert heron.flush(timeout_s=30) is False
    stats = heron.stats()
    assert stats["failed.rejected.prediction_rows"] == stats["produced.prediction_rows"] == 10, stats
    assert stats["failed.rejected.records"] >= 1, stats
    assert stats["exported.spans"] == 10, "spans carry the name as a plain attribute value: within limits"
