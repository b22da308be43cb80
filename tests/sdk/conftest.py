"""Heron wired to the real OpenTelemetry SDK with in-memory exporters (no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import heron

from ..conftest import reset_sdk


@dataclass
class Telemetry:
    spans_out: InMemorySpanExporter
    logs_out: InMemoryLogRecordExporter
    metrics_in: InMemoryMetricReader

    def configure(self, **settings: Any) -> None:
        """heron.configure(**settings) with fresh in-memory exporters (the old ones are shut down)."""
        self.spans_out, self.logs_out = InMemorySpanExporter(), InMemoryLogRecordExporter()
        self.metrics_in = InMemoryMetricReader()
        heron.configure(span_exporter=self.spans_out, log_exporter=self.logs_out, metric_reader=self.metrics_in,
                        **settings)

    def spans(self) -> list[Any]:
        heron.flush()
        return list(self.spans_out.get_finished_spans())

    def records(self, event: str = "heron.prediction") -> list[Any]:
        """Exported log records of one event, in emission order (log_record objects)."""
        heron.flush()
        return [r.log_record for r in self.logs_out.get_finished_logs() if r.log_record.event_name == event]

    def bodies(self, event: str = "heron.prediction") -> list[dict[str, Any]]:
        """Record bodies, in emission order; single predictions the SDK coalesced into one columnar
        record (the ones with per-row `span_id`) come back one row body per call, as they were made."""
        out: list[dict[str, Any]] = []
        for record in self.records(event):
            body = json.loads(record.body)
            out.extend(split_coalesced(body) if isinstance(body.get("span_id"), list) else [body])
        return out

    def raw(self) -> list[Any]:
        heron.flush()
        return list(self.logs_out.get_finished_logs())

    def metric_points(self, name: str) -> list[Any]:
        heron.flush()
        data = self.metrics_in.get_metrics_data()
        points = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


def split_coalesced(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The row bodies of a coalesced record, without the per-row keys coalescing added."""
    rows = []
    for i in range(len(body["id"])):
        row: dict[str, Any] = {}
        for key, value in body.items():
            if key in ("ts", "trace_id", "span_id"):
                continue
            if key in ("numeric", "categorical", "probabilities"):
                row[key] = {name: column[i] for name, column in value.items()}
            elif key == "tags":
                row[key] = value
            else:
                row[key] = value[i]
        rows.append(row)
    return rows



@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """Heron configured with in-memory span, log and metric exporters."""
    reset_sdk()
    t = Telemetry(InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader())
    t.configure()
    try:
        yield t
    finally:
        reset_sdk()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees another's configuration, or an OTEL_/HERON_ variable from the shell."""
    import os

    for name in list(os.environ):
        if name.startswith(("OTEL_", "HERON_")):
            monkeypatch.delenv(name)
    reset_sdk()
    yield
    reset_sdk()
