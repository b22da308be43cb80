"""The real SDK into the real store, without a socket.

heron.log_reference / heron.observe emit records through Heron's own pipeline into an in-memory
OTLP log exporter; `ship` encodes them with the OTLP exporter's own protobuf encoder, converts them
with the collector's own otlp_rows (every limit and wire-format check included) and inserts them
into otel_logs, where the parse views turn them into ml_* rows — what `heron collector` does with
an OTLP request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import heron
from heron_collector.ingest.limits import Limits
from heron_collector.ingest.rows import LOG_COLUMNS, log_rows

from ..conftest import reset_sdk


class Sdk:
    def __init__(self) -> None:
        self.logs = InMemoryLogRecordExporter()
        heron.configure(span_exporter=InMemorySpanExporter(), log_exporter=self.logs, metrics=False)

    def ship(self, store: Any) -> int:
        """Deliver every record emitted so far into the store; returns how many rows were inserted."""
        assert heron.flush(timeout_s=30)
        records = list(self.logs.get_finished_logs())
        self.logs.clear()
        converted = log_rows(encode_logs(records), Limits(), time.time_ns())
        assert converted.rejected == 0, converted.error_message
        if converted.rows:
            store.insert("heron.otel_logs", converted.rows, column_names=list(LOG_COLUMNS))
        return len(converted.rows)



@pytest.fixture
def sdk() -> Iterator[Sdk]:
    """Heron configured with an in-memory log exporter; `sdk.ship(store)` delivers its records."""
    reset_sdk()
    try:
        yield Sdk()
    finally:
        reset_sdk()
