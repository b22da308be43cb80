"""Random and mutated protobuf, OTLP/JSON and gzip at both endpoints: every answer is 200 or a 4xx
(never a retryable 5xx for bad input, never a crash), the collector stays ready, and valid
records sent in between all land."""

from __future__ import annotations

import gzip
import json
import time

import grpc
from google.protobuf.json_format import MessageToJson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._otlp import logs_request, post, prediction
from .conftest import query

VALID = logs_request(prediction("template"), prediction("template-2")).SerializeToString()
VALID_JSON = MessageToJson(logs_request(prediction("template-json")), indent=None).encode()
GRPC_OK_OR_CLIENT_ERROR = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}


def mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        if out:
            out[position % len(out)] = value
    return bytes(out)


bodies = st.one_of(
    st.binary(max_size=2_000),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8).map(
        lambda edits: mutate(VALID, edits)
    ),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(32, 126)), min_size=1, max_size=8).map(
        lambda edits: mutate(VALID_JSON, edits)
    ),
    st.integers(1, len(VALID)).map(lambda n: VALID[:n]),
)
kinds = st.sampled_from(["application/x-protobuf", "application/json"])
paths = st.sampled_from(["/v1/logs", "/v1/traces", "/v1/metrics"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, kind=kinds, path=paths, zipped=st.booleans(), truncate_gzip=st.booleans())
def test_http_answers_200_or_4xx_to_anything(collector, body, kind, path, zipped, truncate_gzip):
    headers = {}
    if zipped:
        body = gzip.compress(body)
        body = body[: len(body) // 2] if truncate_gzip else body
        headers["Content-Encoding"] = "gzip"
    status, _, _ = post(collector.http_address, path, body, kind, **headers)
    assert status == 200 or 400 <= status < 500, status


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, service=st.sampled_from(["logs.v1.LogsService", "trace.v1.TraceService"]))
def test_grpc_answers_ok_or_a_client_error_to_anything(collector, body, service):
    with grpc.insecure_channel(collector.grpc_address) as channel:
        export = channel.unary_unary(f"/opentelemetry.proto.collector.{service}/Export")
        try:
            export(body, timeout=30)
        except grpc.RpcError as error:
            assert error.code() in GRPC_OK_OR_CLIENT_ERROR, (error.code(), error.details())


def test_after_the_fuzz_the_collector_is_ready_and_valid_records_land(collector):
    ids = []
    for round_ in range(20):
        post(collector.http_address, "/v1/logs", bytes([round_]) * 100)
        post(collector.http_address, "/v1/logs", b'{"resourceLogs": [' * 300, "application/json")
        pid = f"between-{round_}"
        status, _, _ = post(collector.http_address, "/v1/logs", logs_request(prediction(pid)).SerializeToString())
        assert status == 200
        ids.append(pid)
    time.sleep(0.1)
    assert collector.health()["ready"]
    stored = {r[0] for r in query(collector, "SELECT prediction_id FROM heron.ml_predictions")}
    assert set(ids) <= stored
    assert json.loads(json.dumps(collector.health()))["failed_inserts"] == 0
