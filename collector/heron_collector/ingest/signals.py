"""The OTLP signals the collector receives: one row each, read by both receivers and the ingest path.

As the OpenTelemetry Collector's OTLP receiver has one handler per signal, a signal here is one
`Signal`: its name (the metrics label), its OTLP/HTTP path, its gRPC service and method, the
protobuf request and response it decodes and answers with, the partial-success field that counts
what it rejected, and where it goes: the table and columns its rows fill, and the function that
builds them (request, limits, now in ns → rows.Converted). A signal with no table is answered
and counted but not kept. Adding a signal is one row here and its row builder in rows.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from .limits import Limits
from .rows import LOG_COLUMNS, TRACE_COLUMNS, Converted, log_rows, metric_points, trace_rows


@dataclass(frozen=True)
class Signal:
    name: str
    http_path: str
    grpc_service: str
    request: type  # the Export*ServiceRequest body
    response: type  # the Export*ServiceResponse answer
    rejected_field: str  # of the response's partial_success
    table: str | None  # None: answered, not kept
    columns: tuple[str, ...]
    rows: Callable[[Any, Limits, int], Converted]
    grpc_method: str = "Export"


SIGNALS: dict[str, Signal] = {s.name: s for s in (
    Signal("logs", "/v1/logs", "opentelemetry.proto.collector.logs.v1.LogsService",
           logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse,
           "rejected_log_records", "otel_logs", LOG_COLUMNS, log_rows),
    Signal("traces", "/v1/traces", "opentelemetry.proto.collector.trace.v1.TraceService",
           trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse,
           "rejected_spans", "otel_traces", TRACE_COLUMNS, trace_rows),
    Signal("metrics", "/v1/metrics", "opentelemetry.proto.collector.metrics.v1.MetricsService",
           metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse,
           "rejected_data_points", None, (), metric_points),
)}
BY_HTTP_PATH: dict[str, Signal] = {s.http_path: s for s in SIGNALS.values()}
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {s.table: s.columns for s in SIGNALS.values() if s.table}
