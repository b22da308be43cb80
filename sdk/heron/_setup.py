"""Telemetry pipelines: reuse the application's OpenTelemetry providers, or install Heron's own.

Per signal, if the application set a global provider (anything but the API's default proxy),
Heron uses it. Otherwise Heron builds a private SDK provider (not made global, so it never
conflicts with a provider the application sets later) with a batch processor — bounded queue,
background export, never blocking the caller — and the OTLP exporter chosen by
OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL.

When Heron owns the log pipeline, prediction bodies are rendered to JSON lazily, in the export
thread (`Lazy` bodies, rendered by `RenderingLogExporter`); on an application's provider they are
rendered on the caller's thread, because only a string body survives a foreign exporter.
"""

from __future__ import annotations

import atexit
import collections
import copy
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import SeverityNumber

from . import _stats
from ._config import Settings
from ._privacy import Policy

_log = logging.getLogger("heron")
SCHEMA_VERSION = "1"
_INFO = SeverityNumber.INFO
_LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Lazy:
    """A log body rendered later: ``render()`` → [(json, rows, layout)]; [] means emit nothing."""

    __slots__ = ()

    def render(self) -> list[tuple[str, int, str]]:  # pragma: no cover - interface
        raise NotImplementedError


class State:
    """Everything a monitored call needs, resolved once (at first use or configure())."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = not settings.disabled
        self.sample_rate = settings.sample_rate
        self.policy = Policy(
            settings.redact_features, settings.hash_features, settings.hash_salt,
            settings.max_features, settings.max_string_length,
        )
        self.lazy = False
        self.defer = False
        self.owned: list[Any] = []
        self._exporters: list[Any] = []  # Heron's own OTLP exporters, to abort their retries at exit
        self._aborted = False
        self._failed_seen = _stats.total("failed.")
        self._span_exporter: DerivingSpanExporter | None = None
        tracer_api: Any = trace.NoOpTracer()
        logger_api: Any = _logs.NoOpLogger("heron")
        meter: Any = metrics.NoOpMeter("heron")
        if self.enabled:
            try:
                tracer_api, logger_api, meter = self._pipelines(settings)
            except Exception as exc:
                _stats.fault("setup", exc)
                self.enabled = False
        self.tracer = tracer_api
        self.logger = logger_api
        self.predictions = meter.create_counter(
            "heron.predictions", unit="{prediction}",
            description="Predictions made by monitored models (rows, including sampled-out ones).",
        )
        self.duration = meter.create_histogram(
            "heron.predict.duration", unit="s", description="Duration of monitored predict calls.",
            explicit_bucket_boundaries_advisory=_LATENCY_BOUNDS,
        )
        if self._span_exporter is not None:
            self._span_exporter.state = self
            self.defer = True
        if self.owned:
            # One exit hook for Heron's own providers, in pipeline order: spans first (their export
            # emits the prediction records), then logs, then metrics. The providers' own exit hooks
            # are off: they would run in reverse creation order and close the log pipeline before
            # the last spans had produced their records.
            atexit.register(self._at_exit)

    # -- provider selection -------------------------------------------------------------------
    def _pipelines(self, s: Settings) -> tuple[Any, Any, Any]:
        from opentelemetry.sdk.resources import Resource

        from . import __version__

        explicit = s.span_exporter is not None or s.log_exporter is not None or s.metric_reader is not None
        use_global = s.use_global_providers
        if use_global is None:
            use_global = not explicit

        attrs: dict[str, Any] = dict(s.resource_attributes)
        if s.service_name:
            attrs["service.name"] = s.service_name
        resource = Resource.create(attrs)
        if s.environment and "deployment.environment.name" not in resource.attributes:
            resource = resource.merge(Resource({"deployment.environment.name": s.environment}))

        tp = trace.get_tracer_provider()
        if use_global and not _is_proxy(tp):
            tracer = tp.get_tracer("heron", __version__)
        else:
            tracer = self._own_tracer(s, resource).get_tracer("heron", __version__)

        lp = _logs.get_logger_provider()
        if use_global and not _is_proxy(lp):
            logger = lp.get_logger("heron", __version__)
        else:
            logger = self._own_logger(s, resource).get_logger("heron", __version__)
            self.lazy = True

        mp = metrics.get_meter_provider()
        if use_global and not _is_proxy(mp):
            meter = mp.get_meter("heron", __version__)
        elif s.metric_reader is not None or (s.metrics and not explicit):
            meter = self._own_meter(s, resource).get_meter("heron", __version__)
        else:
            meter = metrics.NoOpMeter("heron")
        return tracer, logger, meter

    def _own_tracer(self, s: Settings, resource: Any) -> Any:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        exporter = s.span_exporter if s.span_exporter is not None else _otlp(s, "traces")
        if exporter is not None:
            self._exporters.append(exporter)
            self._span_exporter = DerivingSpanExporter(exporter)
            provider.add_span_processor(counting(BatchSpanProcessor(self._span_exporter, **_queue("BSP")), "spans"))
        self.owned.append(provider)
        return provider

    def _own_logger(self, s: Settings, resource: Any) -> Any:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        exporter = s.log_exporter if s.log_exporter is not None else _otlp(s, "logs")
        if exporter is not None:
            self._exporters.append(exporter)
            processor = counting(BatchLogRecordProcessor(RenderingLogExporter(exporter), **_queue("BLRP")), "records")
            provider.add_log_record_processor(processor)
        self.owned.append(provider)
        return provider

    def _own_meter(self, s: Settings, resource: Any) -> Any:
        from opentelemetry.sdk.metrics import MeterProvider

        reader = s.metric_reader
        if reader is None:
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            exporter = _otlp(s, "metrics")
            reader = PeriodicExportingMetricReader(exporter) if exporter is not None else None
            if exporter is not None:
                self._exporters.append(exporter)
        provider = MeterProvider(resource=resource, metric_readers=[reader] if reader is not None else [],
                                 shutdown_on_exit=False)
        self.owned.append(provider)
        return provider

    # -- lifecycle ----------------------------------------------------------------------------
    def flush(self, timeout_s: float) -> bool:
        """Export what is queued; False when a pipeline did not flush in time or anything failed to
        be delivered since the previous flush (heron.stats() says how much)."""
        ok = self._flush(timeout_s)
        failed = _stats.total("failed.")
        ok = ok and failed == self._failed_seen
        self._failed_seen = failed
        return ok

    def _flush(self, timeout_s: float) -> bool:
        ok = True
        providers = self.owned or [
            p for p in (trace.get_tracer_provider(), _logs.get_logger_provider(), metrics.get_meter_provider())
            if hasattr(p, "force_flush")
        ]
        for p in providers:
            try:
                result = p.force_flush(int(timeout_s * 1000))
                ok = ok and result is not False
            except Exception as exc:
                _stats.fault("flush", exc)
                ok = False
        return ok

    def close(self) -> None:
        """Deliver what is queued and shut down, within `exit_timeout` in all.

        An exporter retrying an unreachable collector would otherwise hold the process for its
        whole retry schedule, batch after batch. Past the deadline Heron's own exporters are shut
        down (which ends their retry waits), what is still queued is counted as `dropped.exit`,
        and one warning says so.
        """
        limit = self.settings.exit_timeout
        worker = threading.Thread(target=self._flush_and_shutdown, args=(limit,), name="heron-exit", daemon=True)
        worker.start()
        worker.join(limit)
        if not worker.is_alive():
            return
        left = self._queued()
        self._aborted = True
        for exporter in self._exporters:
            try:
                exporter.shutdown()
            except Exception as exc:
                _stats.fault("shutdown", exc)
        worker.join(1.0)
        _stats.count("dropped.exit", left)
        _log.warning("heron: stopped delivering after %.1f s (HERON_EXIT_TIMEOUT_SECONDS) with about %d log "
                     "records and spans undelivered; is the collector reachable?", limit, left)

    def _flush_and_shutdown(self, timeout_s: float) -> None:
        self._flush(timeout_s)
        self.shutdown()

    def _queued(self) -> int:
        """Records and spans still waiting in Heron's batch processors (0 when it cannot tell)."""
        total = 0
        for provider in self.owned:
            holders = (getattr(provider, "_active_span_processor", None),
                       getattr(provider, "_multi_log_record_processor", None))
            for holder in holders:
                processors = getattr(holder, "_span_processors", None) or getattr(holder, "_log_record_processors", ())
                for processor in processors or ():
                    queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
                    total += len(queue) if queue is not None else 0
        return total

    def _at_exit(self) -> None:
        self.close()

    def shutdown(self) -> None:
        atexit.unregister(self._at_exit)
        if self._aborted:  # close() already shut the exporters down: nothing left to do
            self.owned = []
            return
        for p in self.owned:
            try:
                p.shutdown()
            except Exception as exc:
                _stats.fault("shutdown", exc)
        self.owned = []


def _is_proxy(provider: Any) -> bool:
    return "Proxy" in type(provider).__name__


def protocol_for(signal: str, s: Settings) -> str:
    proto = (
        s.protocol
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if proto == "http/json":
        _stats.fault(
            "otlp_http_json",
            ValueError("the OpenTelemetry Python SDK has no OTLP http/json exporter; using http/protobuf"),
        )
        return "http/protobuf"
    if proto not in ("http/protobuf", "grpc"):
        _stats.fault("otlp_protocol", ValueError(f"unknown OTLP protocol {proto!r}; using http/protobuf"))
        return "http/protobuf"
    return proto


def _otlp(s: Settings, signal: str) -> Any:
    """An OTLP exporter for ``signal``; arguments left None are read by the exporter from OTEL_*."""
    proto = protocol_for(signal, s)
    kwargs: dict[str, Any] = {}
    if s.headers is not None:
        kwargs["headers"] = dict(s.headers)
    if s.timeout is not None:
        kwargs["timeout"] = s.timeout
    if proto == "grpc":
        if s.endpoint:
            kwargs["endpoint"] = s.endpoint
            kwargs["insecure"] = s.endpoint.startswith("http://")
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpan

            return GrpcSpan(**kwargs)
        if signal == "logs":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLog

            return GrpcLog(**kwargs)
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetric

        return GrpcMetric(**kwargs)
    if s.endpoint:
        kwargs["endpoint"] = s.endpoint.rstrip("/") + f"/v1/{signal}"
    if signal == "traces":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**kwargs)
    if signal == "logs":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(**kwargs)


# span id → the prediction record to emit when that span is exported (deferred mode)
_pending: dict[int, tuple[str, dict[str, Any], Lazy, int, int]] = {}
_MAX_PENDING = 65_536


def defer(span: Any, event: str, attributes: dict[str, Any], body: Lazy, rows: int, timestamp_ns: int) -> None:
    """Emit this record from the export thread, when ``span`` (recording, Heron's own) is exported."""
    if len(_pending) >= _MAX_PENDING:
        try:
            _pending.pop(next(iter(_pending)))
            _stats.count("records_dropped_queue_full")
        except (StopIteration, KeyError, RuntimeError):
            pass
    _pending[span.get_span_context().span_id] = (event, attributes, body, rows, timestamp_ns)


# Heron's own batch processors hold a burst: 20,000 single predictions at ~5,000 calls/s would
# overflow the SDK's default 2,048-item queue. The standard OTEL_BSP_* / OTEL_BLRP_* variables win.
QUEUE_SIZE = 32_768
EXPORT_BATCH_SIZE = 2_048


def _queue(prefix: str) -> dict[str, int]:
    out = {}
    if not os.environ.get(f"OTEL_{prefix}_MAX_QUEUE_SIZE"):
        out["max_queue_size"] = QUEUE_SIZE
    if not os.environ.get(f"OTEL_{prefix}_MAX_EXPORT_BATCH_SIZE"):
        out["max_export_batch_size"] = EXPORT_BATCH_SIZE
    return out


def _rows(item: Any) -> int:
    """Prediction rows in a queued log record (0 for other records and for spans)."""
    record = getattr(item, "log_record", None)
    if record is None or getattr(record, "event_name", None) != "heron.prediction":
        return 0
    return int((record.attributes or {}).get("heron.rows", 1))


class _CountingQueue(collections.deque):
    """A batch processor's queue that drops its oldest item itself when full, and counts it.

    The SDK's own deque drops silently on `appendleft`; dropping explicitly, under a lock that
    only appenders take (the export thread only removes), makes the count exact."""

    kind = "records"
    _lock = threading.Lock()

    def appendleft(self, item: Any) -> None:
        with self._lock:
            if self.maxlen is not None and len(self) >= self.maxlen:
                try:
                    victim = self.pop()
                except IndexError:
                    victim = None
                if victim is not None:
                    _stats.count(f"dropped.queue_full.{self.kind}")
                    _stats.count("dropped.queue_full.prediction_rows", _rows(victim))
                    _stats.notice(f"queue_full.{self.kind}", f"the export queue of {self.kind} is full and the "
                                  "oldest are dropped (the collector is slower than the calls; raise "
                                  "OTEL_BLRP/BSP_MAX_QUEUE_SIZE)")
            super().appendleft(item)


def counting(processor: Any, kind: str) -> Any:
    """`processor` (a batch processor) whose full queue counts what it drops:
    `dropped.queue_full.<kind>` and `dropped.queue_full.prediction_rows`, with one warning."""
    try:
        inner = processor._batch_processor
        queue = _CountingQueue(inner._queue, maxlen=inner._queue.maxlen)
        queue.kind = kind
        inner._queue = queue
    except AttributeError:  # the SDK's internals moved: nothing to count, nothing to break
        pass
    return processor


def delivered(result: Any, kind: str, items: int, prediction_rows: int) -> None:
    """Count an export's outcome: `exported.<kind>` (and `.prediction_rows`) when the receiver
    acknowledged it, else `failed.<kind>`, with one warning per kind the first time."""
    ok = getattr(result, "name", str(result)) == "SUCCESS"
    outcome = "exported" if ok else "failed"
    _stats.count(f"{outcome}.{kind}", items)
    _stats.count(f"{outcome}.prediction_rows", prediction_rows)
    if not ok:
        _stats.notice(f"export_failed.{kind}", f"{items} {kind} could not be delivered (the exporter gave up: is the "
                      "collector reachable, and is the token right?)")


class DerivingSpanExporter:
    """Wraps Heron's own span exporter. In the export thread, for each exported `heron.predict`
    span it records the prediction counter and latency histogram (from the span's attributes and
    duration) and emits the prediction record deferred by `defer` — under that span's context.
    This is what keeps the caller's path shorter than a hand-written span + log record."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.state: State | None = None

    def export(self, spans: Sequence[Any]) -> Any:
        state = self.state
        if state is not None:
            try:
                self._derive(state, spans)
            except Exception as exc:
                _stats.fault("derive", exc)
        return self._export(spans)

    def _derive(self, state: State, spans: Sequence[Any]) -> None:
        for span in spans:
            if span.name != "heron.predict":
                continue
            a = span.attributes or {}
            attrs = {"ml.model.name": a.get("ml.model.name", ""), "ml.model.version": a.get("ml.model.version", "")}
            if "error.type" in a:
                attrs["error.type"] = a["error.type"]
            state.predictions.add(int(a.get("heron.rows", 1)), attrs)
            if span.end_time is not None and span.start_time is not None:
                state.duration.record((span.end_time - span.start_time) / 1e9, attrs)
            entry = _pending.pop(span.context.span_id, None)
            if entry is not None:
                event, attributes, body, rows, ts = entry
                ctx = trace.set_span_in_context(trace.NonRecordingSpan(span.context))
                try:
                    emit(state, event, attributes, body, rows, ts, ctx)
                except Exception as exc:
                    _stats.fault("emit", exc)

    def _export(self, spans: Sequence[Any]) -> Any:
        result = self._inner.export(spans)
        delivered(result, "spans", len(spans), 0)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        flush = getattr(self._inner, "force_flush", None)
        return True if flush is None else bool(flush(timeout_millis))

    def shutdown(self) -> None:
        self._inner.shutdown()


class RenderingLogExporter:
    """Wraps a log exporter: renders `Lazy` bodies to JSON strings (chunking them) in the export
    thread, then hands the batch on. A body that fails to render is dropped and counted."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def export(self, batch: Sequence[Any]) -> Any:
        from opentelemetry.sdk._logs import ReadWriteLogRecord
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        out: list[Any] = []
        for rec in batch:
            body = rec.log_record.body
            if not isinstance(body, Lazy):
                out.append(rec)
                continue
            try:
                parts = body.render()
            except Exception as exc:
                _stats.fault("render", exc)
                continue
            for i, (text, rows, layout) in enumerate(parts):
                if i == 0:
                    target = rec
                else:
                    lr = copy.copy(rec.log_record)
                    lr.attributes = dict(rec.log_record.attributes or {})
                    target = ReadWriteLogRecord(
                        log_record=lr, resource=rec.resource,
                        instrumentation_scope=rec.instrumentation_scope, limits=rec.limits,
                    )
                target.log_record.body = text
                target.log_record.attributes["heron.rows"] = rows
                target.log_record.attributes["heron.layout"] = layout
                out.append(target)
        if not out:
            return LogRecordExportResult.SUCCESS
        result = self._inner.export(out)
        rows = sum(int(r.log_record.attributes.get("heron.rows", 0)) for r in out
                   if r.log_record.event_name == "heron.prediction")
        delivered(result, "records", len(out), rows)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        flush = getattr(self._inner, "force_flush", None)
        return True if flush is None else bool(flush(timeout_millis))

    def shutdown(self) -> None:
        self._inner.shutdown()


# --- the current state -------------------------------------------------------------------------
_state: State | None = None
_lock = threading.Lock()
_overrides: dict[str, Any] = {}


def get() -> State:
    """The current state, configured from the environment on first use. Never raises."""
    global _state
    state = _state
    if state is not None:
        return state
    with _lock:
        if _state is None:
            try:
                _state = State(Settings.from_env().override(**_overrides))
            except Exception as exc:
                _stats.fault("setup", exc)
                _state = State(Settings(disabled=True))
        return _state


def configure(**kwargs: Any) -> State:
    """Replace the state: environment, then earlier configure() arguments, then ``kwargs``."""
    global _state
    settings = Settings.from_env().override(**{**_overrides, **kwargs})  # raises on bad arguments
    with _lock:
        old = _state
        _overrides.update(kwargs)
        _state = State(settings)
    if old is not None:
        old.close()
    return _state


def reset() -> None:
    """Forget configure() arguments and providers (tests); the next use configures afresh."""
    global _state
    with _lock:
        old, _state = _state, None
        _overrides.clear()
    if old is not None:
        old.shutdown()


def emit(
    state: State,
    event: str,
    attributes: dict[str, Any],
    body: Lazy,
    rows: int,
    timestamp_ns: int | None = None,
    context: Any = None,
) -> None:
    """Emit one Heron record (lazy on Heron's pipeline, rendered now on a foreign one)."""
    if state.lazy:
        attrs = dict(attributes)
        attrs["heron.rows"] = rows
        attrs["heron.layout"] = "row"
        state.logger.emit(
            timestamp=timestamp_ns, context=context, severity_number=_INFO, body=body,  # type: ignore[arg-type]
            attributes=attrs, event_name=event,
        )
        return
    for text, n, layout in body.render():
        attrs = dict(attributes)
        attrs["heron.rows"] = n
        attrs["heron.layout"] = layout
        state.logger.emit(
            timestamp=timestamp_ns, context=context, severity_number=_INFO, body=text,
            attributes=attrs, event_name=event,
        )
