"""OTLP/gRPC receiver: the logs, trace and metrics services on one server.

Same semantics as the HTTP receiver through `Collector.ingest`: partial success in the
response, UNAVAILABLE when the buffer is full (retryable), RESOURCE_EXHAUSTED above the
message limit (grpc enforces it), UNAUTHENTICATED without the bearer token.
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from .otlp_decode import partial_success

if TYPE_CHECKING:
    from .collector import Collector

log = logging.getLogger("heron.collector")


def _export(collector: Collector, signal: str, request: Any, context: grpc.ServicerContext, response: Any) -> Any:
    from .collector import Busy

    metadata = dict(context.invocation_metadata())
    if not collector.authorized(metadata.get("authorization")):
        context.abort(grpc.StatusCode.UNAUTHENTICATED,
                      "missing or wrong bearer token: send authorization: Bearer $HERON_COLLECTOR_TOKEN")
    try:
        rejected, message = collector.ingest(signal, request)
    except Busy as exc:
        context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
    return partial_success(response, signal, rejected, message)


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def Export(self, request, context):
        return _export(self.collector, "logs", request, context, logs_service_pb2.ExportLogsServiceResponse())


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def Export(self, request, context):
        return _export(self.collector, "traces", request, context, trace_service_pb2.ExportTraceServiceResponse())


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def Export(self, request, context):
        return _export(self.collector, "metrics", request, context,
                       metrics_service_pb2.ExportMetricsServiceResponse())


def start_grpc(collector: Collector, address: str) -> tuple[grpc.Server, str]:
    """Serve OTLP/gRPC on `address` (port 0 picks a free one); returns the server and host:port."""
    limit = collector.settings.max_body_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="heron-otlp-grpc"),
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", 4 << 20)],
    )
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(collector), server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(collector), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {address} (in use?); set --otlp-grpc / HERON_OTLP_GRPC")
    server.start()
    host = address.rpartition(":")[0]
    return server, f"{host}:{port}"
