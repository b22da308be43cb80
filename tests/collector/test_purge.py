"""`heron purge`: a model, a version or a set of prediction ids leaves every table of the database
(enumerated from the engine, not listed here), a dry run counts first, the views recompute."""

from __future__ import annotations

import json
import subprocess
import time

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from heron_collector import analytics, config, purge
from heron_collector.collector import Collector

from ..conftest import HERON_CLI
from ._otlp import MODEL, batch, kv, logs_request, post, prediction
from .conftest import local_settings, seeded


def event(kind: str, body: dict, model: str, **attrs: str) -> logs_pb2.LogRecord:
    attributes = {**MODEL, "ml.model.name": model, **attrs}
    return logs_pb2.LogRecord(time_unix_nano=time.time_ns(), event_name=kind,
                              body={"string_value": json.dumps(body)},
                              attributes=[kv(k, v) for k, v in attributes.items()])


def span(model: str, trace: int) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    scope = request.resource_spans.add(resource={"attributes": [kv("service.name", "svc")]}).scope_spans.add()
    now = time.time_ns()
    scope.spans.append(trace_pb2.Span(trace_id=trace.to_bytes(16, "big"), span_id=b"\1" * 8, name="heron.predict",
                                      start_time_unix_nano=now, end_time_unix_nano=now + 5_000_000,
                                      attributes=[kv("ml.model.name", model), kv("ml.model.version", "v1")]))
    return request.SerializeToString()


def load(collector, model: str, trace: int) -> None:
    records = [
        prediction(f"{model}-single", model=model, trace_id=trace.to_bytes(16, "big")),
        batch([f"{model}-{i}" for i in range(20)], model=model),
        event("heron.ground_truth", {"id": f"{model}-single", "label": 1}, model, **{"heron.layout": "row"}),
        event("heron.reference", {"offset": 0, "numeric": {"x": [1.0, 2.0]}, "prediction": [0, 1]}, model,
              **{"heron.layout": "columnar", "heron.reference.kind": "sample", "heron.reference.id": "r1"}),
        event("heron.model", {"task": "binary_classification"}, model),
    ]
    assert post(collector.http_address, "/v1/logs", logs_request(*records).SerializeToString())[0] == 200
    assert post(collector.http_address, "/v1/traces", span(model, trace))[0] == 200
    config.set_values(collector.store.client, "heron", model, {"window_seconds": "600", "slo_p99_ms": "100"})


def rows_of(client, model: str) -> dict[str, int]:
    """Rows mentioning `model` in every MergeTree table of the database, found by their columns
    (Replacing tables read FINAL: a refresh appends a window's new version beside the old)."""
    tables = client.query("SELECT c.table, groupArray(c.name), any(t.engine) FROM system.columns AS c "
                          "JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
                          "WHERE c.database = 'heron' AND t.engine LIKE '%MergeTree%' "
                          "AND NOT startsWith(c.table, '.') GROUP BY c.table").result_rows
    found = {}
    for table, columns, engine in tables:
        if "model_name" in columns:
            where = "model_name = {m:String}"
        elif "LogAttributes" in columns:
            where = "LogAttributes['ml.model.name'] = {m:String}"
        elif "SpanAttributes" in columns:
            where = "SpanAttributes['ml.model.name'] = {m:String}"
        else:  # any other table: its rows as text
            where = "position(toString(tuple(*)), {m:String}) > 0" if table != "heron_migrations" else "0"
        final = "FINAL" if "Replacing" in engine else ""
        found[table] = int(client.command(f"SELECT count() FROM heron.{table} {final} WHERE {where}",
                                          parameters={"m": model}))
    return found


def test_purging_a_model_leaves_no_row_of_it_anywhere_and_keeps_the_other(tmp_path, migrated_copy):
    # Views refresh only when the test asks: a scheduled refresh in a new minute would add the
    # SLA's current (empty) window of "kept" between the two counts.
    settings = local_settings(tmp_path, batch_seconds=0.1, refresh_seconds=86400)
    with Collector(seeded(migrated_copy, settings)) as collector:
        client = collector.store.client
        load(collector, "gone", 0xAB)
        load(collector, "kept", 0xCD)
        assert collector.flush(timeout=30)
        analytics.refresh(client, "heron", wait=True)
        before = rows_of(client, "gone")
        for table in ("otel_logs", "otel_traces", "ml_predictions", "ml_ground_truth", "ml_reference", "ml_models",
                      "ml_monitor_config", "ml_slo", "ml_sla", "ml_data_quality"):
            assert before[table] > 0, f"the test data does not reach {table}"
        kept_before = rows_of(client, "kept")

        dry = purge.purge(client, "heron", purge.Selection.parse({"model": "gone"}), dry_run=True)
        assert {t["table"]: t["rows"] for t in dry}["ml_predictions"] == 21
        assert rows_of(client, "gone") == before, "a dry run deletes nothing"

        status = post_admin(collector, {"model": "gone", "dry_run": False})
        assert status == 200
        after = rows_of(client, "gone")
        assert after == dict.fromkeys(after, 0), {t: n for t, n in after.items() if n}
        assert rows_of(client, "kept") == kept_before
        analytics.refresh(client, "heron", wait=True)
        assert rows_of(client, "gone") == dict.fromkeys(after, 0), "the views recompute without it"

        nothing = purge.purge(client, "heron", purge.Selection.parse({"model": "kept", "version": "v9"}), False)
        assert sum(t["rows"] for t in nothing) == 0
        purge.purge(client, "heron", purge.Selection.parse({"model": "kept", "version": "v1"}), dry_run=False)
        version_gone = rows_of(client, "kept")
        assert version_gone["ml_predictions"] == version_gone["ml_ground_truth"] == version_gone["otel_logs"] == 0
        assert version_gone["ml_monitor_config"] == 1, "a model's settings outlive the purge of one version"


def post_admin(collector, body: dict) -> int:
    import http.client

    host, port = collector.admin_address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    conn.request("POST", "/admin/purge", body=json.dumps(body), headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    reply.read()
    return reply.status


def test_purging_ids_with_the_cli_through_a_running_collector(collector_process):
    url, data_dir = collector_process
    records = [prediction("erase-me", model="m"), prediction("keep-me", model="m"), prediction("other", model="m")]
    assert post(url.removeprefix("http://"), "/v1/logs", logs_request(*records).SerializeToString())[0] == 200

    def heron(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*HERON_CLI, *args, "--data-dir", str(data_dir)], capture_output=True, text=True,
                              timeout=300)

    deadline = time.monotonic() + 120  # bounds a failure only: the three rows are stored before the purge
    while heron("sql", "--format", "tsv", "SELECT count() FROM heron.ml_predictions").stdout.split() != ["3"]:
        assert time.monotonic() < deadline, "the three predictions were never stored"
        time.sleep(0.2)

    dry = heron("purge", "--model", "m", "--id", "erase-me")
    assert dry.returncode == 0 and "dry run" in dry.stderr
    assert "ml_predictions" in dry.stdout
    done = heron("purge", "--model", "m", "--id", "erase-me", "--yes")
    assert done.returncode == 0, done.stderr
    left = heron("sql", "--format", "tsv", "SELECT prediction_id FROM heron.ml_predictions ORDER BY prediction_id")
    assert left.stdout.split() == ["keep-me", "other"]
    raw = heron("sql", "--format", "tsv", "SELECT count() FROM heron.otel_logs WHERE position(Body, 'erase-me') > 0")
    assert raw.stdout.split() == ["0"]
    bad = heron("purge", "--model", "*")
    assert bad.returncode == 2 and "--model NAME" in bad.stderr
