"""The collector's own Prometheus metrics, served at GET /metrics in the text format.

Each collector has a registry of its own (several may run in one test process). Counters are
incremented where the event happens; gauges of the spool and the writer are read at scrape time,
so they are never stale. The models' health gauges (model_health.py) come from a snapshot read
after each analytics refresh, never from a query at scrape time.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

Collector = Any  # heron_collector.collector.Collector, not imported: the collector imports this module

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    def __init__(self, collector: Collector) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("heron_collector_requests", "OTLP requests answered, by transport, signal and outcome",
                                ["transport", "signal", "outcome"], registry=registry)
        self.received = Counter("heron_collector_received_records", "Log records and spans received",
                                ["signal"], registry=registry)
        self.rejected = Counter("heron_collector_rejected_records",
                                "Records rejected by partial success, by reason", ["signal", "reason"],
                                registry=registry)
        self.spooled = Counter("heron_collector_spooled_rows", "Rows made durable in the spool (acknowledged)",
                               ["table"], registry=registry)
        self.written = Counter("heron_collector_written_rows", "Rows committed to the store", ["table"],
                               registry=registry)
        self.replayed = Counter("heron_collector_replayed_rows",
                                "Rows written from a previous run's spool (deduplicated by token)", ["table"],
                                registry=registry)
        self.dead_letter = Counter("heron_collector_dead_letter_rows",
                                     "Rows the store refused, kept in heron_dead_letter", ["table"], registry=registry)
        self.insert_failures = Counter("heron_collector_insert_failures",
                                       "Failed inserts: transient (kept, retried) or data (split)", ["table", "kind"],
                                       registry=registry)
        self.insert_seconds = Histogram("heron_collector_insert_duration_seconds", "Insert latency per segment",
                                        ["table"], registry=registry,
                                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        spool = lambda: collector.spool  # noqa: E731 - read at scrape time
        self._gauge("heron_collector_spool_bytes", "Bytes in the spool", lambda: spool().bytes if spool() else 0)
        self._gauge("heron_collector_spool_rows", "Rows acknowledged and not yet committed (queue depth)",
                    lambda: spool().rows if spool() else 0)
        self._gauge("heron_collector_spool_segments", "Spool segments waiting",
                    lambda: spool().segments if spool() else 0)
        self._gauge("heron_collector_spool_limit_bytes", "HERON_SPOOL_BYTES", lambda: collector.settings.spool_bytes)
        self._gauge("heron_collector_memory_buffer_bytes", "Spooled bytes also held in memory",
                    lambda: spool().memory if spool() else 0)
        self._gauge("heron_collector_ready", "1 when /readyz answers 200", lambda: 1 if collector.readiness()[0] else 0)
        registry.register(collector.model_health)  # the models' newest health values, read after each refresh

    def _gauge(self, name: str, doc: str, read) -> None:
        Gauge(name, doc, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # --- the writer's Observer ---------------------------------------------------------------
    def inserted(self, table: str, rows: int, seconds: float, replayed: bool) -> None:
        self.written.labels(table).inc(rows)
        if replayed:
            self.replayed.labels(table).inc(rows)
        self.insert_seconds.labels(table).observe(seconds)

    def insert_failed(self, table: str, kind: str) -> None:
        self.insert_failures.labels(table, kind).inc()

    def dead_lettered(self, table: str, rows: int) -> None:
        self.dead_letter.labels(table).inc(rows)
