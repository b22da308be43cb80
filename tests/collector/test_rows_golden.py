"""The fast ingest path builds and stores exactly what the straightforward one did.

`log_rows` checks each record in one inlined pass and asks the full checks only when a quick one
fails; `Store.insert` hands clickhouse-connect columns instead of rows. Both are compared here
with the code they replaced, on a fixed set of records that covers every branch: Heron and
other events, every AnyValue kind, limits just inside and just past, bad bodies and timestamps.
"""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from heron_collector.ingest import rows as rows_module
from heron_collector.ingest.limits import Limits
from heron_collector.ingest.rows import LOG_COLUMNS, Converted, hex_id, log_rows
from heron_collector.ingest.values import as_string, attributes
from heron_collector.settings import StoreURL
from heron_collector.store import INSERT_SETTINGS, Store

LIMITS = Limits(max_name_bytes=64, max_value_bytes=256, max_body_bytes=2048)
NOW = 1_765_000_000_000_000_000


def reference_log_rows(request, limits: Limits, now_ns: int) -> Converted:
    """log_rows as it was before the inlined pass (every record through the full checks)."""
    out = Converted()
    window = limits.window(now_ns)
    index = 0
    for resource_logs in request.resource_logs:
        resource_attrs = attributes(resource_logs.resource.attributes)
        service = resource_attrs.get("service.name", "")
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_attrs = attributes(scope.attributes)
            shared = rows_module._scope_problem(resource_attrs, scope, scope_attrs, limits,
                                                (resource_logs.schema_url, scope_logs.schema_url))
            for record in scope_logs.log_records:
                where = f"log record {index}"
                index += 1
                if shared:
                    out.reject(f"{where}: {shared}", "size")
                    continue
                attrs = attributes(record.attributes)
                timestamp = record.time_unix_nano or record.observed_time_unix_nano or now_ns
                problem = rows_module._log_problem(record, timestamp, attrs, window, limits)
                if problem:
                    out.reject(f"{where}: {problem[1]}", problem[0])
                    continue
                event = record.event_name or attrs.get("event.name", "")
                if event.startswith("heron."):
                    heron = rows_module.heron_problem(event, attrs, record.body, window, limits)
                    if heron:
                        out.reject(f"{where} ({event}): {heron}", "heron_record")
                        continue
                out.rows.append([
                    timestamp, hex_id(record.trace_id), hex_id(record.span_id), record.flags & 0xFF,
                    record.severity_text, record.severity_number & 0xFF, service, as_string(record.body),
                    resource_logs.schema_url, resource_attrs, scope_logs.schema_url, scope.name, scope.version,
                    scope_attrs, attrs, record.event_name,
                ])
    return out


def value(v) -> common_pb2.AnyValue:
    if isinstance(v, common_pb2.AnyValue):
        return v
    if isinstance(v, bool):
        return common_pb2.AnyValue(bool_value=v)
    if isinstance(v, int):
        return common_pb2.AnyValue(int_value=v)
    if isinstance(v, float):
        return common_pb2.AnyValue(double_value=v)
    if isinstance(v, bytes):
        return common_pb2.AnyValue(bytes_value=v)
    if isinstance(v, list):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[value(x) for x in v]))
    if isinstance(v, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(
            values=[common_pb2.KeyValue(key=k, value=value(x)) for k, x in v.items()]))
    return common_pb2.AnyValue(string_value=v)


def kvs(pairs) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=value(v)) for k, v in pairs]


MODEL = [("ml.model.name", "m"), ("ml.model.version", "1"), ("heron.schema.version", "1")]
BODY = json.dumps({"id": "p1", "numeric": {"x": 1.5, "é": None}, "categorical": {"c": "DE"}, "prediction": 1})
T = NOW - 5_000_000_000


def record(body="plain text", event="", attrs=(), time_ns=T, **fields) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(time_unix_nano=time_ns, event_name=event, body=value(body),
                              attributes=kvs(attrs), **fields)


def heron(body=BODY, event="heron.prediction", extra=(), model=MODEL, **fields) -> logs_pb2.LogRecord:
    return record(body, event, [*model, *extra], **fields)


RECORDS = [
    record(),
    record("", severity_text="INFO", severity_number=9, flags=0x1FF, trace_id=b"\x01" * 16, span_id=b"\x02" * 8),
    record(trace_id=b"\x00" * 16, span_id=b""),
    record(12, attrs=[("i", -3), ("d", 1.0), ("small", 1e-7), ("b", True), ("raw", b"\x00\xff"),
                      ("arr", [1, "a", 2.5, None]), ("map", {"z": 1, "a": {"k": [True]}})]),
    record({"k": "v", "n": 1}),
    record(b"\x00bytes"),
    record(common_pb2.AnyValue()),
    record(time_ns=0, observed_time_unix_nano=T + 1),
    record(time_ns=0),
    record(time_ns=1),
    record(time_ns=NOW + 10**18),
    record(attrs=[("dup", "first"), ("dup", "second")]),
    record(attrs=[("dup", "x" * 300), ("dup", "short")]),  # an overwritten long duplicate is fine
    record(attrs=[("v", "x" * 64)]),  # 4 bytes per char would not fit, the bytes do
    record(attrs=[("v", "é" * 128)]),  # 256 bytes: at the limit
    record(attrs=[("v", "é" * 129)]),  # 258 bytes: over
    record(attrs=[("k" * 65, "v")]),
    record(attrs=[("ключ" * 8, "v")]),
    record("x" * 2048),
    record("é" * 1025),
    record(event="e" * 65),
    record(severity_text="S" * 64),
    record(event="other.event"),
    heron(),
    heron(extra=[("heron.layout", "row"), ("heron.rows", "1")]),
    heron(json.dumps({"id": ["a", "b"], "numeric": {"x": [1, 2]}}), extra=[("heron.layout", "columnar")]),
    heron(extra=[("heron.layout", "sideways")]),
    heron(event="", extra=[("event.name", "heron.prediction")]),
    heron(event="heron.unknown"),
    heron(model=[("ml.model.version", "1")]),
    heron(model=[("ml.model.name", ""), ("ml.model.version", "1")]),
    heron(model=[("ml.model.name", "m")]),
    heron(event="heron.ground_truth", model=[("ml.model.name", "m")],
          body=json.dumps({"id": "p1", "label": 1, "ts": (T / 1e9)})),
    heron(model=[("ml.model.name", "m" * 17), ("ml.model.version", "1")]),
    heron(model=[("ml.model.name", "m" * 65), ("ml.model.version", "1")]),
    heron(extra=[("heron.schema.version", "2")]),
    heron(body=7),
    heron(body="[1, 2]"),
    heron(body="  " + BODY + "\n"),
    heron(body="{not json}"),
    heron(body='{"score": NaN}'),
    heron(body=json.dumps({"ts": T / 1e9})),
    heron(body=json.dumps({"ts": T})),
    heron(body=json.dumps({"ts": True})),
    heron(body=json.dumps({"ts": "now"})),
    heron(body=json.dumps({"ts": [T / 1e9, None]})),
    heron(body=json.dumps({"ts": [T / 1e9, 5]})),
    heron(body=json.dumps({"ts": None})),
    heron(event="heron.reference", extra=[("heron.reference.kind", "sample")]),
    heron(event="heron.reference", extra=[("heron.reference.kind", "other")]),
    heron(event="heron.model", extra=[("heron.layout", "whatever")]),
    heron(body="{" + "x" * 3000 + "}"),
]


def requests() -> list[logs_service_pb2.ExportLogsServiceRequest]:
    good = logs_service_pb2.ExportLogsServiceRequest()
    resource = good.resource_logs.add(schema_url="https://schema/1")
    resource.resource.attributes.extend(kvs([("service.name", "svc"), ("deployment.environment.name", "prod")]))
    scope = resource.scope_logs.add(schema_url="s")
    scope.scope.name, scope.scope.version = "heron", "0.1"
    scope.scope.attributes.extend(kvs([("lib", 1)]))
    scope.log_records.extend(RECORDS)
    second = good.resource_logs.add().scope_logs.add()
    second.log_records.extend(RECORDS[:5])
    bad_scope = logs_service_pb2.ExportLogsServiceRequest()
    bad = bad_scope.resource_logs.add().scope_logs.add()
    bad.scope.name = "n" * 100
    bad.log_records.extend(RECORDS[:3])
    return [good, bad_scope, logs_service_pb2.ExportLogsServiceRequest()]


def test_log_rows_matches_the_full_checks_record_for_record():
    for request in requests():
        got, want = log_rows(request, LIMITS, NOW), reference_log_rows(request, LIMITS, NOW)
        assert got.rows == want.rows
        assert (got.rejected, got.reasons, got.error_message) == (want.rejected, want.reasons, want.error_message)
    # the set is worth its name: it stores some, and rejects for every reason
    converted = log_rows(requests()[0], LIMITS, NOW)
    assert len(converted.rows) > 20 and set(converted.reasons) == {"size", "timestamp", "heron_record"}


def test_default_limits_give_the_same_rows_too():
    request = requests()[0]
    got, want = log_rows(request, Limits(), NOW), reference_log_rows(request, Limits(), NOW)
    assert got.rows == want.rows and got.error_message == want.error_message


def test_column_oriented_insert_stores_the_same_otel_logs_rows(tmp_path):
    rows = reference_log_rows(requests()[0], LIMITS, NOW).rows
    url = StoreURL(f"chdb://{tmp_path}/chdb", True, "heron", f"{tmp_path}/chdb")
    store = Store(url, {})
    try:
        client = store.client
        client.command("CREATE DATABASE IF NOT EXISTS heron")
        ddl = Path(rows_module.__file__).parents[3].joinpath("queries/schema/002_otel_logs.sql").read_text()
        for table in ("otel_logs", "otel_logs_rowwise"):
            sql = (ddl.replace("{{db}}.otel_logs", f"heron.{table}").replace("{{on_cluster}}", "")
                   .replace("{{replicated}}", "").replace("{{ttl_logs}}", ""))
            client.command(sql)
        store.insert("otel_logs", rows, LOG_COLUMNS, "golden")  # the writer's sink
        client.insert("heron.otel_logs_rowwise", rows, column_names=list(LOG_COLUMNS),  # the previous sink
                      settings={**INSERT_SETTINGS, "insert_deduplication_token": "golden"})
        select = ("SELECT * FROM heron.{} ORDER BY Timestamp, Body, toString(LogAttributes) "
                  "FORMAT JSONCompactEachRow")
        stored = client.raw_query(select.format("otel_logs"))
        assert stored == client.raw_query(select.format("otel_logs_rowwise"))
        assert stored.count(b"\n") == len(rows)
    finally:
        store.close()
