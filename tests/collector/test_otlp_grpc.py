"""The OTLP/gRPC receiver: partial success, bearer token, and the message size limit."""

from __future__ import annotations

import json

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2

from heron_collector.collector import Collector

from .conftest import local_settings, query, seeded


def request(*models: str, body_bytes: int = 0) -> logs_service_pb2.ExportLogsServiceRequest:
    message = logs_service_pb2.ExportLogsServiceRequest()
    scope = message.resource_logs.add().scope_logs.add()
    for i, model in enumerate(models):
        attributes = [common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in
                      {"ml.model.name": model, "ml.model.version": "1", "heron.layout": "row"}.items() if v]
        body = json.dumps({"id": f"g{i}", "pad": "x" * body_bytes})
        scope.log_records.add(event_name="heron.prediction", body=common_pb2.AnyValue(string_value=body),
                              attributes=attributes)
    return message


@pytest.fixture
def guarded(tmp_path, migrated_copy):
    settings = seeded(migrated_copy, local_settings(tmp_path, token="s3cret", max_body_bytes=1 << 20))
    with Collector(settings) as running:
        yield running


def stub(collector):
    channel = grpc.insecure_channel(collector.grpc_address)
    return logs_service_pb2_grpc.LogsServiceStub(channel), channel


def test_partial_success_names_the_rejected_record_and_keeps_the_rest(guarded):
    logs, channel = stub(guarded)
    with channel:
        reply = logs.Export(request("m", ""), metadata=[("authorization", "Bearer s3cret")], timeout=30)
    assert reply.partial_success.rejected_log_records == 1
    assert "ml.model.name is missing" in reply.partial_success.error_message
    assert query(guarded, "SELECT prediction_id FROM heron.ml_predictions") == [("g0",)]


def test_missing_token_is_unauthenticated(guarded):
    logs, channel = stub(guarded)
    with channel, pytest.raises(grpc.RpcError) as failure:
        logs.Export(request("m"), timeout=30)
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_message_over_the_limit_is_resource_exhausted_and_the_server_keeps_serving(guarded):
    logs, channel = stub(guarded)
    auth = [("authorization", "Bearer s3cret")]
    with channel:
        with pytest.raises(grpc.RpcError) as failure:
            logs.Export(request("m", body_bytes=2 << 20), metadata=auth, timeout=30)
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert logs.Export(request("m"), metadata=auth, timeout=30).partial_success.rejected_log_records == 0
