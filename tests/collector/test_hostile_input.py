"""No record, value or client stops the pipeline: poison timestamps and sizes get a 4xx or a partial
success naming the field, valid records sent right after land, nothing is retried forever."""

from __future__ import annotations

import json
import socket
import threading
import time

import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ._otlp import batch, logs_request, partial, post, prediction
from .conftest import local_settings, query, seeded

POISON_NS = {"2^63": 1 << 63, "2^64-1": (1 << 64) - 1, "year 2200": 7_258_118_400 * 10**9, "1970": 1}


def landed(collector, *ids: str) -> bool:
    wanted = ", ".join(f"'{i}'" for i in ids)
    rows = query(collector, f"SELECT count() FROM heron.ml_predictions WHERE prediction_id IN ({wanted})")
    return rows[0][0] == len(ids)


def nothing_stuck(collector) -> None:
    stats = collector.writer.stats
    assert stats.failed_inserts == 0 and stats.dead_lettered == 0, stats
    assert collector.health()["ready"], collector.health()


def spans_request(**span_fields) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    now = time.time_ns()
    fields = {
        "trace_id": b"\1" * 16,
        "span_id": b"\2" * 8,
        "name": "heron.predict",
        "start_time_unix_nano": now,
        "end_time_unix_nano": now + 1000,
        **span_fields,
    }
    scope.spans.append(trace_pb2.Span(**fields))
    return request.SerializeToString()


@pytest.mark.parametrize("field", ["time_unix_nano", "observed_time_unix_nano"])
@pytest.mark.parametrize("label", list(POISON_NS))
def test_a_poison_log_timestamp_is_rejected_by_name_and_the_next_record_lands(collector, field, label):
    bad = prediction("bad", **{"time_unix_nano": 0, field: POISON_NS[label]})
    status, _, body = post(
        collector.http_address, "/v1/logs", logs_request(bad, prediction("beside")).SerializeToString()
    )
    assert status == 200
    reply = partial(body).partial_success
    assert reply.rejected_log_records == 1
    assert field in reply.error_message and "HERON_MAX_" in reply.error_message
    post(collector.http_address, "/v1/logs", logs_request(prediction("after")).SerializeToString())
    assert landed(collector, "beside", "after")
    nothing_stuck(collector)


@pytest.mark.parametrize("where", ["start", "event"])
def test_a_poison_span_timestamp_is_rejected_by_name(collector, where):
    if where == "start":
        body = spans_request(start_time_unix_nano=1 << 63, end_time_unix_nano=(1 << 63) + 5)
    else:
        body = spans_request(events=[trace_pb2.Span.Event(time_unix_nano=(1 << 64) - 1, name="e")])
    status, _, reply = post(collector.http_address, "/v1/traces", body)
    assert status == 200
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(reply).partial_success
    assert answer.rejected_spans == 1
    assert ("start_time_unix_nano" if where == "start" else "events[0].time_unix_nano") in answer.error_message
    status, _, _ = post(collector.http_address, "/v1/traces", spans_request())
    assert status == 200
    assert query(collector, "SELECT count() FROM heron.otel_traces") == [(1,)]
    nothing_stuck(collector)


def test_poison_timestamps_over_otlp_json_and_grpc(collector):
    document = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(1 << 63),
                                "eventName": "heron.prediction",
                                "body": {"stringValue": "{}"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    status, _, body = post(collector.http_address, "/v1/logs", json.dumps(document).encode(), "application/json")
    assert status == 200 and "time_unix_nano" in json.loads(body)["partialSuccess"]["errorMessage"]
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["timeUnixNano"] = "-5"
    status, _, body = post(collector.http_address, "/v1/logs", json.dumps(document).encode(), "application/json")
    assert status == 400, "a negative fixed64 is malformed, not retryable"
    with grpc.insecure_channel(collector.grpc_address) as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        reply = stub.Export(logs_request(prediction("g-bad", time_unix_nano=(1 << 64) - 1), prediction("g-ok")))
    assert reply.partial_success.rejected_log_records == 1
    assert "time_unix_nano" in reply.partial_success.error_message
    assert landed(collector, "g-ok")
    nothing_stuck(collector)


def test_body_timestamps_bare_nan_and_long_names_are_rejected_naming_the_field(collector):
    records = [
        prediction("ms", body=json.dumps({"id": "ms", "ts": time.time() * 1000, "prediction": 1})),
        prediction("far", body=json.dumps({"id": "far", "ts": 1e30, "prediction": 1})),
        prediction("nan", body='{"id": "nan", "numeric": {"x": NaN}, "prediction": 1}'),
        prediction("long", model="m" * 5_000),
        prediction("huge", model="m" * 2_000_000),
        batch(["c1", "c2"]),
    ]
    status, _, body = post(collector.http_address, "/v1/logs", logs_request(*records).SerializeToString())
    assert status == 200
    reply = partial(body).partial_success
    assert reply.rejected_log_records == 5
    for expected in (
        "body.ts",
        "not milliseconds",
        "NaN",
        "ml.model.name",
        "HERON_MAX_NAME_BYTES",
        "HERON_MAX_VALUE_BYTES",
    ):
        assert expected in reply.error_message
    assert landed(collector, "c1", "c2")
    nothing_stuck(collector)


def test_a_request_over_the_limit_is_413_and_a_deep_json_body_is_400(collector):
    huge = logs_request(prediction("huge", model="m" * (collector.settings.max_body_bytes + 10)))
    status, _, _ = post(collector.http_address, "/v1/logs", huge.SerializeToString())
    assert status == 413
    deep = b'{"resourceLogs": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    status, _, body = post(collector.http_address, "/v1/logs", deep, "application/json")
    assert status == 400, body
    assert "JSON" in json.loads(body)["message"]
    post(collector.http_address, "/v1/logs", logs_request(prediction("after-deep")).SerializeToString())
    assert landed(collector, "after-deep")


def test_grpc_undecodable_input_is_invalid_argument(collector):
    with grpc.insecure_channel(collector.grpc_address) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as error:
            export(b"\x0a\xff\xff\xff\xff\x0f")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def raw_http(address: str, payload: bytes, timeout: float = 10) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_chunked_protobuf_and_chunked_json_land_as_the_js_exporter_sends_them(collector):
    protobuf = logs_request(prediction("chunk-pb")).SerializeToString()
    head = (
        b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-protobuf\r\n\r\n"
    )
    answer = raw_http(collector.http_address, head + chunked(protobuf, 7))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    document = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "eventName": "heron.prediction",
                                "body": {"stringValue": json.dumps({"id": "chunk-json", "prediction": 1})},
                                "attributes": [
                                    {"key": k, "value": {"stringValue": v}}
                                    for k, v in {"ml.model.name": "durable", "ml.model.version": "v1"}.items()
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    head = head.replace(b"application/x-protobuf", b"application/json")
    answer = raw_http(collector.http_address, head + chunked(json.dumps(document).encode()))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert landed(collector, "chunk-pb", "chunk-json")


def test_expect_100_continue_and_keep_alive(collector):
    body = logs_request(prediction("continue")).SerializeToString()
    host, port = collector.http_address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 100"), "the server must invite the body"
        sock.sendall(body)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        again = logs_request(prediction("same-connection")).SerializeToString()
        sock.sendall(
            b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(again), again)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "the connection is kept alive"
    assert landed(collector, "continue", "same-connection")


def test_oversized_chunked_body_is_413_without_keeping_it(collector):
    limit = collector.settings.max_body_bytes
    head = (
        b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-protobuf\r\n\r\n"
    )
    answer = raw_http(collector.http_address, head + chunked(b"\0" * (limit + 10), 1 << 20))
    assert answer.startswith(b"HTTP/1.1 413")
    assert "HERON_MAX_BODY_BYTES" in status_pb2.Status.FromString(answer.split(b"\r\n\r\n", 1)[1]).message


def still_open(sock: socket.socket) -> bool:
    """Whether the server still holds this connection: nothing to read, no end, no reset."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_500_stalled_connections_neither_stop_senders_nor_hold_threads_and_are_closed(tmp_path, migrated_copy):
    from heron_collector.collector import Collector

    settings = seeded(migrated_copy, local_settings(
        tmp_path,
        batch_seconds=0.2,
        read_timeout=5,
    ))
    with Collector(settings) as collector:
        threads_before = threading.active_count()
        host, port = collector.http_address.split(":")
        stalled = []
        for _ in range(500):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
            stalled.append(sock)
        status, _, _ = post(
            collector.http_address, "/v1/logs", logs_request(prediction("past-the-stall")).SerializeToString()
        )
        # causal, not a stopwatch: the valid sender was answered while the stalled ones are still
        # held open (the server closes them only after its read timeout)
        assert status == 200 and sum(map(still_open, stalled)) >= 490, "a valid sender waited on stalled ones"
        assert threading.active_count() - threads_before < 20, "stalled connections hold threads"
        deadline = time.monotonic() + settings.read_timeout + 60  # bounds a failure only
        while sum(map(still_open, stalled)) > 10 and time.monotonic() < deadline:
            time.sleep(0.2)
        closed = sum(not still_open(sock) for sock in stalled)
        for sock in stalled:
            sock.close()
        assert closed >= 490, f"only {closed} of 500 stalled connections were closed after the read timeout"
        assert landed(collector, "past-the-stall")


def test_a_20_mb_model_name_under_the_default_request_limit_is_rejected_naming_it(tmp_path, migrated_copy):
    from heron_collector.collector import Collector

    settings = seeded(migrated_copy, local_settings(tmp_path, batch_seconds=0.1))
    assert settings.max_body_bytes >= 64 << 20
    with Collector(settings) as collector:
        huge = logs_request(prediction("huge", model="m" * (20 << 20)), prediction("neighbour"))
        status, _, body = post(collector.http_address, "/v1/logs", huge.SerializeToString())
        assert status == 200
        reply = partial(body).partial_success
        assert reply.rejected_log_records == 1 and "ml.model.name" in reply.error_message
        assert landed(collector, "neighbour")
        assert query(collector, "SELECT max(length(LogAttributes['ml.model.name'])) FROM heron.otel_logs") == [(7,)]
        nothing_stuck(collector)
