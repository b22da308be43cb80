"""End to end: the official OpenTelemetry exporters → Heron's collector → ClickHouse rows.

Real OTLP over loopback (HTTP/protobuf and gRPC), the real embedded engine, and the parse views
that turn heron.prediction records into ml_predictions rows.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

from .conftest import query

ROWS = 1_000
ATTRS = {"ml.model.name": "churn", "ml.model.version": "v3", "heron.schema.version": "1"}


def exporters(collector, protocol: str):
    if protocol == "http":
        base = f"http://{collector.http_address}"
        return HttpLogExporter(endpoint=f"{base}/v1/logs"), HttpSpanExporter(endpoint=f"{base}/v1/traces")
    return (GrpcLogExporter(endpoint=collector.grpc_address, insecure=True),
            GrpcSpanExporter(endpoint=collector.grpc_address, insecure=True))


def send_predictions(collector, protocol: str):
    """One single prediction and one 1,000-row columnar batch, each inside its heron.predict span."""
    resource = Resource.create({"service.name": f"scorer-{protocol}", "deployment.environment.name": "prod"})
    log_exporter, span_exporter = exporters(collector, protocol)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    tracer, logger = tracer_provider.get_tracer("heron"), logger_provider.get_logger("heron")
    ids = {}

    with tracer.start_as_current_span("heron.predict", attributes={**ATTRS, "heron.rows": 1}) as span:
        single = {"id": f"{protocol}-single", "numeric": {"age": 42, "income": 52000.5, "debt": None},
                  "categorical": {"country": "DE"}, "prediction": 1, "score": 0.93, "tags": {"segment": "eu"}}
        logger.emit(event_name="heron.prediction", body=json.dumps(single),
                    attributes={**ATTRS, "heron.layout": "row", "heron.rows": 1})
        ids["single"] = format(span.get_span_context().trace_id, "032x")

    with tracer.start_as_current_span("heron.predict", attributes={**ATTRS, "heron.rows": ROWS}) as span:
        batch = {
            "id": [f"{protocol}-{i}" for i in range(ROWS)],
            "numeric": {"age": [float(20 + i % 50) for i in range(ROWS)], "income": [i * 10.5 for i in range(ROWS)]},
            "categorical": {"country": [("DE", "FR", "US")[i % 3] for i in range(ROWS)]},
            "prediction": [i % 2 for i in range(ROWS)],
            "score": [i / ROWS for i in range(ROWS)],
            "latency_ms": 12.5,
        }
        logger.emit(event_name="heron.prediction", body=json.dumps(batch),
                    attributes={**ATTRS, "heron.layout": "columnar", "heron.rows": ROWS})
        ids["batch"] = format(span.get_span_context().trace_id, "032x")

    with tracer.start_as_current_span("heron.predict", attributes={**ATTRS, "heron.rows": 1}) as span:
        span.set_status(StatusCode.ERROR, "model raised ValueError")

    tracer_provider.shutdown()
    logger_provider.shutdown()
    return ids


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_official_exporters_land_in_otel_tables_and_ml_predictions(collector, protocol):
    trace_ids = send_predictions(collector, protocol)
    service = f"scorer-{protocol}"

    logs = query(collector, "SELECT EventName, ServiceName, LogAttributes['ml.model.name'], TraceId "
                            "FROM heron.otel_logs ORDER BY Timestamp")
    assert [(r[0], r[1], r[2]) for r in logs] == [("heron.prediction", service, "churn")] * 2
    assert [r[3] for r in logs] == [trace_ids["single"], trace_ids["batch"]]

    spans = query(collector, "SELECT SpanName, SpanKind, StatusCode, StatusMessage, SpanAttributes['heron.rows'], "
                             "Duration > 0 FROM heron.otel_traces ORDER BY Timestamp")
    assert spans == [
        ("heron.predict", "Internal", "Unset", "", "1", 1),
        ("heron.predict", "Internal", "Unset", "", str(ROWS), 1),
        ("heron.predict", "Internal", "Error", "model raised ValueError", "1", 1),
    ]

    single = query(collector, f"SELECT model_name, model_version, numeric, categorical, prediction, prediction_value, "
                              f"score, tags, trace_id, service_name, environment, batch_rows "
                              f"FROM heron.ml_predictions WHERE prediction_id = '{protocol}-single'")
    assert single == [("churn", "v3", {"age": 42.0, "income": 52000.5, "debt": None}, {"country": "DE"},
                       "1", 1.0, 0.93, {"segment": "eu"}, trace_ids["single"], service, "prod", 1)]

    batch = query(collector, f"SELECT count(), uniqExact(prediction_id), countIf(trace_id = '{trace_ids['batch']}'), "
                             f"sum(numeric['age']), sum(numeric['income']), countIf(categorical['country'] = 'FR'), "
                             f"countIf(prediction = '1'), sum(score), min(latency_ms), max(batch_rows) "
                             f"FROM heron.ml_predictions WHERE prediction_id LIKE '{protocol}-%' "
                             f"AND prediction_id != '{protocol}-single'")
    expected_age = sum(float(20 + i % 50) for i in range(ROWS))
    expected_income = sum(i * 10.5 for i in range(ROWS))
    n, unique, linked, age, income, fr, positives, score, latency, rows = batch[0]
    assert (n, unique, linked, fr, positives, rows) == (ROWS, ROWS, ROWS, 333, 500, ROWS)
    assert age == pytest.approx(expected_age, rel=1e-12)
    assert income == pytest.approx(expected_income, rel=1e-12)
    assert score == pytest.approx(sum(i / ROWS for i in range(ROWS)), rel=1e-12)
    assert latency == 12.5

    row_500 = query(collector, f"SELECT numeric['age'], numeric['income'], categorical['country'], prediction, score "
                               f"FROM heron.ml_predictions WHERE prediction_id = '{protocol}-500'")
    assert row_500 == [(20.0 + 500 % 50, 500 * 10.5, ("DE", "FR", "US")[500 % 3], "0", 0.5)]
