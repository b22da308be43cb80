"""The OTLP/HTTP receiver answers per the OTLP spec and keeps serving after every bad request."""

from __future__ import annotations

import gzip
import http.client
import json
import resource
import zlib

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from heron_collector.collector import Collector

from .conftest import local_settings, query, seeded

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def post(collector, path: str, body: bytes, content_type: str = "application/x-protobuf", **headers: str):
    host, port = collector.http_address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": content_type, **headers})
    reply = conn.getresponse()
    return reply.status, reply.headers, reply.read()


def kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def log_request(*records: logs_pb2.LogRecord) -> bytes:
    request = logs_service_pb2.ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add(resource={"attributes": [kv("service.name", "svc")]}).scope_logs.add()
    scope_logs.log_records.extend(records)
    return request.SerializeToString()


def prediction(pid: str, model: str = "m") -> logs_pb2.LogRecord:
    attributes = [kv("ml.model.version", "1"), kv("heron.layout", "row")]
    if model:
        attributes.append(kv("ml.model.name", model))
    return logs_pb2.LogRecord(time_unix_nano=1_700_000_000_000_000_000, event_name="heron.prediction",
                              body=common_pb2.AnyValue(string_value=json.dumps({"id": pid, "prediction": 1})),
                              attributes=attributes)


def still_serving(collector) -> None:
    status, _, _ = post(collector, "/v1/logs", log_request(prediction("after")))
    assert status == 200


SPEC_JSON = {
    "resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeLogs": [{
            "scope": {"name": "heron", "version": "0.1.0"},
            "logRecords": [{
                "timeUnixNano": "1700000000000000001",
                "observedTimeUnixNano": 1700000000000000002,
                "severityNumber": 9,
                "severityText": "INFO",
                "eventName": "heron.prediction",
                "traceId": TRACE_ID.upper(),
                "spanId": SPAN_ID,
                "flags": 1,
                "body": {"stringValue": json.dumps({"id": "j1", "numeric": {"x": 1.5}, "prediction": "yes"})},
                "attributes": [
                    {"key": "ml.model.name", "value": {"stringValue": "json-model"}},
                    {"key": "ml.model.version", "value": {"stringValue": "7"}},
                    {"key": "heron.layout", "value": {"stringValue": "row"}},
                    {"key": "heron.rows", "value": {"intValue": "1"}},
                    {"key": "ratio", "value": {"doubleValue": 1.0}},
                    {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 2}]}}},
                ],
                "someFutureField": {"ignored": True},
            }],
        }],
    }],
}


def test_otlp_json_with_hex_ids_and_string_int64(collector):
    status, headers, body = post(collector, "/v1/logs", json.dumps(SPEC_JSON).encode(), "application/json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {}
    rows = query(collector, "SELECT toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, TraceFlags, ServiceName, "
                            "ScopeName, LogAttributes['heron.rows'], LogAttributes['ratio'], LogAttributes['tags'] "
                            "FROM heron.otel_logs")
    assert rows == [(1700000000000000001, TRACE_ID, SPAN_ID, 1, "json-svc", "heron", "1", "1", '["a",2]')]
    assert query(collector, "SELECT model_name, model_version, numeric, prediction, trace_id "
                            "FROM heron.ml_predictions") == [("json-model", "7", {"x": 1.5}, "yes", TRACE_ID)]


def test_malformed_protobuf_is_400_with_a_status_naming_the_problem(collector):
    status, headers, body = post(collector, "/v1/logs", b"\xff\xff\xff not protobuf")
    assert status == 400
    assert headers["Content-Type"] == "application/x-protobuf"
    assert "ExportLogsServiceRequest" in status_pb2.Status.FromString(body).message
    still_serving(collector)


def test_malformed_json_is_400_naming_the_problem(collector):
    status, _, body = post(collector, "/v1/traces", b'{"resourceSpans": [', "application/json")
    assert status == 400
    assert "not valid JSON" in json.loads(body)["message"]
    status, _, body = post(collector, "/v1/logs", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": "not-hex"}]}]}]}).encode(), "application/json")
    assert status == 400
    assert "traceId" in json.loads(body)["message"]
    still_serving(collector)


def test_body_over_the_limit_is_413(collector):
    status, _, body = post(collector, "/v1/logs", b"\0" * (collector.settings.max_body_bytes + 1))
    assert status == 413
    assert "HERON_MAX_BODY_BYTES" in status_pb2.Status.FromString(body).message
    still_serving(collector)


def test_gzip_bomb_is_refused_without_inflating_it(collector):
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(deflate.compress(zeros) for _ in range(256)) + deflate.flush()  # 256 MiB → ~250 KiB
    assert len(bomb) < collector.settings.max_body_bytes
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status, _, body = post(collector, "/v1/logs", bomb, **{"Content-Encoding": "gzip"})
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert status == 413
    assert "decompresses to more than" in status_pb2.Status.FromString(body).message
    assert grown_mib < 64, f"peak memory grew by {grown_mib:.0f} MiB"
    still_serving(collector)


def test_gzip_bodies_are_accepted(collector):
    status, _, _ = post(collector, "/v1/logs", gzip.compress(log_request(prediction("gz"))),
                        **{"Content-Encoding": "gzip"})
    assert status == 200
    assert query(collector, "SELECT prediction_id FROM heron.ml_predictions") == [("gz",)]


def test_invalid_heron_record_is_rejected_by_partial_success_and_the_valid_one_kept(collector):
    status, _, body = post(collector, "/v1/logs", log_request(prediction("good"), prediction("bad", model="")))
    assert status == 200
    reply = logs_service_pb2.ExportLogsServiceResponse.FromString(body)
    assert reply.partial_success.rejected_log_records == 1
    assert "log record 1 (heron.prediction): attribute ml.model.name is missing" in reply.partial_success.error_message
    assert query(collector, "SELECT prediction_id FROM heron.ml_predictions") == [("good",)]


def test_metrics_are_answered_with_partial_success(collector):
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    request = metrics_service_pb2.ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="calls")
    metric.sum.data_points.add(as_int=3)
    metric.sum.data_points.add(as_int=4)
    status, _, body = post(collector, "/v1/metrics", request.SerializeToString())
    assert status == 200
    reply = metrics_service_pb2.ExportMetricsServiceResponse.FromString(body)
    assert reply.partial_success.rejected_data_points == 2
    assert "metric data points are not kept" in reply.partial_success.error_message


def test_unknown_path_and_content_type(collector):
    assert post(collector, "/v1/nope", b"")[0] == 404
    status, _, body = post(collector, "/v1/logs", b"x", "text/plain")
    assert status == 400
    assert "Content-Type" in status_pb2.Status.FromString(body).message
    still_serving(collector)


def test_healthz_reports_ready(collector):
    host, port = collector.http_address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/healthz")
    reply = conn.getresponse()
    assert reply.status == 200
    assert json.loads(reply.read())["status"] == "ok"


@pytest.fixture
def guarded(tmp_path, migrated_copy):
    settings = seeded(migrated_copy, local_settings(tmp_path, token="s3cret"))
    with Collector(settings) as running:
        yield running


def post_admin(collector, body: dict, **headers: str):
    host, port = collector.admin_address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/admin/sql", body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    reply = conn.getresponse()
    return reply.status, json.loads(reply.read())


def test_bearer_token_is_required_on_otlp_and_admin_and_its_scheme_is_case_insensitive(guarded):
    assert post(guarded, "/v1/logs", log_request(prediction("x")))[0] == 401
    assert post(guarded, "/v1/logs", log_request(prediction("x")), Authorization="Bearer wrong")[0] == 401
    status, answer = post_admin(guarded, {"sql": "SELECT 1"})
    assert status == 401 and "HERON_COLLECTOR_TOKEN" in answer["error"]
    assert post(guarded, "/v1/logs", log_request(prediction("x")), Authorization="Bearer s3cret")[0] == 200
    assert post(guarded, "/v1/logs", log_request(prediction("y")), Authorization="bearer s3cret")[0] == 200
    status, answer = post_admin(guarded, {"sql": "SELECT 1 AS one"}, Authorization="BEARER s3cret")
    assert (status, answer["rows"]) == (200, [[1]])


def test_the_admin_endpoint_is_not_on_the_otlp_port(collector):
    status, _, body = post(collector, "/admin/sql", b'{"sql": "SELECT 1"}', "application/json")
    assert status == 404
    assert collector.admin_address in json.loads(body)["error"]
    assert collector.admin_address != collector.http_address


def test_admin_sql_is_read_only(collector):
    status, answer = post_admin(collector, {"sql": "DROP TABLE heron.otel_logs"})
    assert status == 403
    assert "not allowed" in answer["error"]
    status, answer = post_admin(collector, {"sql": "SELECT count() AS n FROM heron.otel_logs WHERE ServiceName = "
                                                   "{s:String}", "parameters": {"s": "svc"}})
    assert (status, answer["columns"]) == (200, ["n"])
