"""The public API is exactly what heron/__init__.py exports; everything else is private."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import heron
from heron import _env, _setup


def test_exported_names_are_pinned():
    assert heron.__all__ == [
        "HERON_MAX_FUTURE_SECONDS", "HERON_MAX_PAST_DAYS", "Observation", "Var", "__version__", "configure",
        "flush", "last_prediction_ids", "log_ground_truth",
        "log_reference", "monitor", "observe", "register_model", "shutdown", "stats",
    ]
    for name in heron.__all__:
        assert getattr(heron, name) is not None


def test_the_sdk_does_not_import_the_collector_side():
    import subprocess
    import sys

    code = ("import heron, sys; "
            "print({'clickhouse_connect', 'chdb', 'scipy', 'heron_collector'} & set(sys.modules))")

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "set()"


def test_otel_sdk_disabled_turns_heron_into_a_no_op(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

    @heron.monitor(model="m", version="1")
    def predict(x: dict) -> int:
        return 5

    assert predict({"a": 1}) == 5
    assert not _setup.get().enabled and _setup.get().owned == []


def test_bad_environment_values_warn_and_fall_back(monkeypatch, caplog):
    monkeypatch.setenv("HERON_SAMPLE_RATE", "lots")
    with caplog.at_level(logging.WARNING, logger="heron"):
        assert _setup.get().sample_rate == 1.0
    assert "HERON_SAMPLE_RATE" in caplog.text


def test_bad_configure_arguments_raise_naming_the_argument():
    with pytest.raises(ValueError, match="sample_rate"):
        heron.configure(sample_rate=2)
    with pytest.raises(TypeError, match="unknown argument 'sampel_rate'"):
        heron.configure(sampel_rate=0.5)
    with pytest.raises(ValueError, match="protocol"):
        heron.configure(protocol="smoke-signals")


def test_http_json_falls_back_to_protobuf_with_one_warning(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with caplog.at_level(logging.WARNING, logger="heron"):
        from heron._config import Settings

        assert _setup.protocol_for("logs", Settings()) == "http/protobuf"
        assert _setup.protocol_for("traces", Settings()) == "http/protobuf"
    assert caplog.text.count("http/json") == 1


def test_an_application_tracer_provider_is_used_instead_of_heron_s_own(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    # the application's logs and metrics are its own too (in memory: nothing retries a closed port)
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))
    monkeypatch.setattr(_logs._internal, "_LOGGER_PROVIDER", logs)
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", MeterProvider(metric_readers=[InMemoryMetricReader()]))

    @heron.monitor(model="m", version="1")
    def predict(x: dict) -> int:
        return 1

    predict({"a": 1})
    assert [s.name for s in exporter.get_finished_spans()] == ["heron.predict"]
    assert provider not in _setup.get().owned


def test_every_heron_variable_is_documented():
    from pathlib import Path

    with open(Path(__file__).parents[2] / "docs" / "configuration.md", encoding="utf-8") as doc:
        text = doc.read()
    sdk_vars = [v.name for v in _env.ALL if v.name in {
        "HERON_ENVIRONMENT", "HERON_SAMPLE_RATE", "HERON_REDACT_FEATURES", "HERON_HASH_FEATURES",
        "HERON_HASH_SALT", "HERON_MAX_FEATURES", "HERON_MAX_STRING_LENGTH", "HERON_MAX_RECORD_BYTES",
        "HERON_DISABLED", "HERON_METRICS", "HERON_REFERENCE_SAMPLE_ROWS", "HERON_MAX_CATEGORIES"}]
    assert len(sdk_vars) == 12
    assert [v for v in sdk_vars if v not in text] == []


def test_the_one_api_parameters_are_pinned():
    import inspect

    def params(function) -> list[str]:
        return list(inspect.signature(function).parameters)

    assert params(heron.register_model)[:2] == ["model", "version"] and "name" in params(heron.register_model)
    assert {"classes", "feature_names", "timestamp", "ids"} <= set(params(heron.observe))
    assert {"feature_names", "predictions", "labels", "scores", "classes"} <= set(params(heron.log_reference))
    settings = {f.name for f in __import__("dataclasses").fields(heron._config.Settings)}
    assert {"exit_timeout", "queue_rows"} <= settings
    heron.configure(queue_rows=1_000, exit_timeout=2.0)
    with pytest.raises(ValueError, match="queue_rows"):
        heron.configure(queue_rows=0)
