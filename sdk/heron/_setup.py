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
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import SeverityNumber

from . import _delivery, _record, _stats
from ._config import Settings, otel_is_set, otel_protocol
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


class RowBody(Lazy):
    """A ready body (a profile, a fit) sent as one row record, rendered on the export thread."""

    __slots__ = ("body", "max_bytes")

    def __init__(self, body: dict[str, Any], max_bytes: int) -> None:
        self.body = body
        self.max_bytes = max_bytes

    def render(self) -> list[tuple[str, int, str]]:
        return _record.chunks(self.body, 1, False, self.max_bytes)


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
        self.calls: Any = None  # heron._calls.Calls when Heron owns the tracer pipeline
        self.owned: list[Any] = []
        self._exporters: list[Any] = []  # Heron's own OTLP exporters, to abort their retries at exit
        self._wrappers: list[Any] = []  # Heron's counting wrappers around them
        self._aborted = False
        self._failed_seen = _stats.total("failed.")
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
        meter.create_observable_up_down_counter(
            "heron.sdk.delivery", callbacks=[_delivery_points], unit="{item}",
            description="What became of Heron's telemetry in this process (heron.stats()): produced, exported, "
                        "failed and dropped spans, records and prediction rows, by reason.",
        )
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

    def _wrap(self, exporter: Any, wrapper: type[_Wrapped]) -> _Wrapped | None:
        """`exporter` (None: no pipeline) watched at its transport and wrapped to count delivery."""
        if exporter is None:
            return None
        _delivery.watch(exporter)
        self._exporters.append(exporter)
        self._wrappers.append(wrapped := wrapper(exporter))
        return wrapped

    def _own_tracer(self, s: Settings, resource: Any) -> Any:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import DEFAULT_ON
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from . import __version__
        from ._calls import Calls

        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        wrapper = self._wrap(s.span_exporter if s.span_exporter is not None else _otlp(s, "traces"),
                             CountingSpanExporter)
        if wrapper is not None:
            processor = counting(BatchSpanProcessor(wrapper, **_queue("BSP")), "spans")
            provider.add_span_processor(processor)
            sampler = None if provider.sampler is DEFAULT_ON else provider.sampler  # DEFAULT_ON: follow the parent
            self.calls = Calls(self, processor, resource, InstrumentationScope("heron", __version__), sampler)
        self.owned.append(provider)
        return provider

    def _own_logger(self, s: Settings, resource: Any) -> Any:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        wrapper = self._wrap(s.log_exporter if s.log_exporter is not None else _otlp(s, "logs"),
                             RenderingLogExporter)
        if wrapper is not None:
            processor = counting(BatchLogRecordProcessor(wrapper, **_queue("BLRP")), "records")
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
        if self.calls is not None:
            self.calls.drain()
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
        down (which ends their retry waits), what is still queued is counted as
        `dropped.shutdown.*`, and one warning says so.
        """
        limit = self.settings.exit_timeout
        worker = threading.Thread(target=self._flush_and_shutdown, args=(limit,), name="heron-exit", daemon=True)
        worker.start()
        worker.join(limit)
        if not worker.is_alive():
            return
        self._aborted = True
        kinds = ("prediction_rows", "records", "spans")
        before = {kind: _stats.total(f"dropped.shutdown.{kind}") for kind in kinds}
        for wrapper in self._wrappers:  # an export starting from now on counts its items as dropped
            wrapper.aborted = True
        if self.calls is not None:
            self.calls.close(0)
        for exporter in self._exporters:  # ends the retry wait of an export in flight
            try:
                exporter.shutdown()
            except Exception as exc:
                _stats.fault("shutdown", exc)
        worker.join(1.0)
        for kind, n in self._take_queued().items():
            _stats.count(f"dropped.shutdown.{kind}", n)
        left = {kind: _stats.total(f"dropped.shutdown.{kind}") - before[kind] for kind in kinds}
        _log.warning("heron: stopped delivering after %.1f s (HERON_EXIT_TIMEOUT_SECONDS) with %d prediction "
                     "rows, %d records and %d spans undelivered (counted as dropped.shutdown.*); is the collector "
                     "reachable?", limit, left["prediction_rows"], left["records"], left["spans"])

    def _flush_and_shutdown(self, timeout_s: float) -> None:
        self._flush(timeout_s)
        self.shutdown()

    def _take_queued(self) -> dict[str, int]:
        """Empty Heron's own queues (they will not be exported now); the spans, records and
        prediction rows they held. Taking them one by one keeps each counted once: what an export
        thread took first is counted by that export."""
        left = {"spans": 0, "records": 0, "prediction_rows": 0}
        if self.calls is not None:
            for call in self.calls.take_all():
                _stats.count("produced.spans")
                left["spans"] += 1
                if call.body is not None and self.lazy:
                    _stats.count("produced.prediction_rows", call.rows)
                    left["prediction_rows"] += call.rows
        for provider in self.owned:
            holders = (getattr(provider, "_active_span_processor", None),
                       getattr(provider, "_multi_log_record_processor", None))
            for holder in holders:
                processors = getattr(holder, "_span_processors", None) or getattr(holder, "_log_record_processors", ())
                for processor in processors or ():
                    queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
                    while queue:
                        try:
                            item = queue.pop()
                        except IndexError:
                            break
                        record = getattr(item, "log_record", None)
                        if record is None:
                            left["spans"] += 1
                            continue
                        if isinstance(record.body, Lazy):
                            _stats.count("produced.records")  # rendered (and counted) only when exported
                        left["records"] += 1
                        left["prediction_rows"] += _rows(item)
        return left

    def _at_exit(self) -> None:
        self.close()

    def shutdown(self) -> None:
        atexit.unregister(self._at_exit)
        if self.calls is not None:
            self.calls.drain()
            self.calls.close(1.0)
        if self._aborted:  # close() already shut the exporters down: nothing left to do
            self.owned = []
            return
        for p in self.owned:
            try:
                p.shutdown()
            except Exception as exc:
                _stats.fault("shutdown", exc)
        self.owned = []


def _delivery_points(options: Any) -> list[Any]:
    from opentelemetry.metrics import Observation

    return [Observation(n, attrs) for n, attrs in _stats.delivery()]


def _is_proxy(provider: Any) -> bool:
    return "Proxy" in type(provider).__name__


def protocol_for(signal: str, s: Settings) -> str:
    proto = (
        s.protocol
        or otel_protocol(signal)
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


# Heron's own batch processors hold a burst: 20,000 single predictions at ~5,000 calls/s would
# overflow the SDK's default 2,048-item queue. The standard OTEL_BSP_* / OTEL_BLRP_* variables win.
QUEUE_SIZE = 32_768
EXPORT_BATCH_SIZE = 2_048


def _queue(prefix: str) -> dict[str, int]:
    out = {}
    if not otel_is_set(f"OTEL_{prefix}_MAX_QUEUE_SIZE"):
        out["max_queue_size"] = QUEUE_SIZE
    if not otel_is_set(f"OTEL_{prefix}_MAX_EXPORT_BATCH_SIZE"):
        out["max_export_batch_size"] = EXPORT_BATCH_SIZE
    return out


def _no_rows(item: Any) -> int:
    return 0


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

    def __init__(self, items: Any = (), maxlen: int | None = None) -> None:
        super().__init__(items, maxlen)
        # one lock per queue: a lock shared by the span and log queues convoys with the GIL
        # (the span export thread appends records while the caller appends spans)
        self._lock = threading.Lock()

    def appendleft(self, item: Any) -> None:
        with self._lock:
            if self.maxlen is not None and len(self) >= self.maxlen:
                try:
                    victim = self.pop()
                except IndexError:
                    victim = None
                if victim is not None:
                    record = getattr(victim, "log_record", None)
                    if record is not None and isinstance(record.body, Lazy):
                        _stats.count("produced.records")  # rendered (and counted) only when exported
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


class _Wrapped:
    """An exporter of Heron's own pipeline wrapped to count what it delivers; `aborted` (set at the
    exit deadline) turns every later export into a counted drop."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.aborted = False

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        flush = getattr(self._inner, "force_flush", None)
        return True if flush is None else bool(flush(timeout_millis))

    def shutdown(self) -> None:
        self._inner.shutdown()


class CountingSpanExporter(_Wrapped):
    """Wraps Heron's own span exporter: counts what each export delivered (`delivered`)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        if self.aborted:
            _stats.count("dropped.shutdown.spans", len(spans))
            return SpanExportResult.FAILURE
        ok = _delivery.export(self._inner, list(spans), "spans", _no_rows)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


class RenderingLogExporter(_Wrapped):
    """Wraps a log exporter: renders `Lazy` bodies to JSON strings (chunking them) in the export
    thread, then hands the batch on. A body that fails to render is dropped and counted."""

    def export(self, batch: Sequence[Any]) -> Any:
        from opentelemetry.sdk._logs import ReadWriteLogRecord
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        if self.aborted:
            for rec in batch:
                if isinstance(rec.log_record.body, Lazy):
                    _stats.count("produced.records")
                _stats.count("dropped.shutdown.records")
                _stats.count("dropped.shutdown.prediction_rows", _rows(rec))
            return LogRecordExportResult.FAILURE
        out: list[Any] = []
        for rec in batch:
            body = rec.log_record.body
            if not isinstance(body, Lazy):
                out.append(rec)
                continue
            rows_in = _rows(rec)
            try:
                parts = body.render()
            except Exception as exc:  # counted as produced, and lost: too large or not encodable
                reason = "dropped.oversize" if isinstance(exc, _record.Oversize) else "failed.could_not_encode"
                _stats.count("produced.records")
                _stats.count(f"{reason}.records")
                _stats.count(f"{reason}.prediction_rows", rows_in)
                _stats.notice(f"{reason}.records", f"a record was not sent ({exc})")
                continue
            _stats.count("produced.records", len(parts))
            if rows_in:  # rows sampled out at rendering were never meant to be sent
                _stats.count("produced.prediction_rows", sum(n for _, n, _ in parts) - rows_in)
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
        ok = _delivery.export(self._inner, out, "records", _rows)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE


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
        if event == "heron.prediction":
            _stats.count("produced.prediction_rows", rows)
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
