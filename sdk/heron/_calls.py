"""Monitored calls become spans, prediction records and metrics in one background thread.

On Heron's own pipelines the caller's thread only times the call, copies its inputs and appends
a `Call` to a bounded queue (`Calls.put`); the ``heron-calls`` thread turns each into its
``heron.predict`` span (handed to the span batch processor), records the prediction counter and
latency histogram, and coalesces single predictions of one model into columnar records: each row
keeps its own ``ts``, ``latency_ms``, ``trace_id`` and ``span_id`` (docs/wire-format.md), so a
burst of 5,000 calls is a handful of records, not 5,000. A batch call stays one columnar record.

The queue is bounded in rows (HERON_QUEUE_ROWS); a call that finds it full is dropped and counted
(``dropped.queue_full.*``), never waited for.
"""

from __future__ import annotations

import collections
import threading
import traceback
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from . import _record, _stats

BATCH_CALLS = 2_048  # calls taken per pass, and the queue length that wakes the thread early
DELAY_SECONDS = 0.5  # the longest a call waits in the queue when traffic is light
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_ERROR = StatusCode.ERROR
_INFO = SeverityNumber.INFO
_MAP_KEYS = ("numeric", "categorical", "probabilities")


class Call:
    """One finished monitored call, as the caller's thread leaves it (references, no rendering).

    ``body`` is the prediction record to send (a `PredictionBody`), None for a failed call, a
    sampled-out one, or one with nothing to record."""

    __slots__ = ("body", "error", "model", "parent", "rows", "seconds", "span_id", "start_ns", "trace_id")

    def __init__(self, model: Any, rows: int, start_ns: int, seconds: float, trace_id: int, span_id: int,
                 parent: SpanContext | None, error: BaseException | None, body: Any) -> None:
        self.model = model
        self.rows = rows
        self.start_ns = start_ns
        self.seconds = seconds
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent = parent
        self.error = error
        self.body = body


class Calls:
    """The queue of finished calls and the thread that turns them into telemetry."""

    def __init__(self, state: Any, span_processor: Any, resource: Any, scope: Any, sampler: Any) -> None:
        self._state = state
        self._processor = span_processor
        self._resource = resource
        self._scope = scope
        self._sampler = sampler
        self._queue: collections.deque[Call] = collections.deque()
        self._limit = state.settings.queue_rows
        self._added = 0  # rows ever queued (written by callers only)
        self._taken = 0  # rows ever taken (written under _lock only)
        self._lock = threading.Lock()  # one drain at a time: the thread's or a flush's
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="heron-calls", daemon=True)
        self._thread.start()

    # -- the caller's side ----------------------------------------------------------------------
    def put(self, call: Call) -> None:
        """Queue `call`, or drop and count it when HERON_QUEUE_ROWS rows are already waiting."""
        waiting = self._added - self._taken
        if self._closed or (waiting and waiting + call.rows > self._limit):  # a big batch may fill it alone
            reason = "shutdown" if self._closed else "queue_full"
            dropped(reason, call, self._state.lazy)
            _stats.notice(f"calls.{reason}", "a monitored call could not be queued for export "
                          + ("after shutdown" if self._closed else f"({self._limit} rows were waiting: the "
                             "export thread or the collector is slower than the calls)"))
            return
        self._added += call.rows
        self._queue.append(call)
        if len(self._queue) >= BATCH_CALLS and not self._wake.is_set():
            self._wake.set()

    def take_all(self) -> list[Call]:
        """Empty the queue (at shutdown): the calls it held, never to be exported."""
        taken = []
        while True:
            try:
                taken.append(self._queue.popleft())
            except IndexError:
                return taken

    # -- the thread's side ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(DELAY_SECONDS)
            self._wake.clear()
            self.drain()

    def drain(self) -> None:
        """Turn everything queued into spans, records and metrics (the thread, flush and close)."""
        with self._lock:
            queue = self._queue
            while queue:
                batch = [queue.popleft() for _ in range(min(BATCH_CALLS, len(queue)))]
                self._taken += sum(c.rows for c in batch)
                try:
                    self._process(batch)
                except Exception as exc:  # a bug here must not stop the thread
                    _stats.fault("calls", exc)

    def close(self, timeout_s: float) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout_s)

    def _process(self, batch: list[Call]) -> None:
        state = self._state
        records: dict[Any, list[tuple[Call, dict[str, Any], int, bool]]] = {}
        counts: dict[Any, list[Any]] = {}
        for call in batch:
            _stats.count("produced.spans")
            try:
                self._span(call)
            except Exception as exc:
                _stats.count("failed.could_not_encode.spans")
                _stats.fault("span", exc)
            attrs = metric_attrs(call.model, call.error)
            entry = counts.get(id(attrs))
            if entry is None:
                counts[id(attrs)] = [attrs, call.rows]
            else:
                entry[1] += call.rows
            state.duration.record(call.seconds, attrs)
            if call.body is None:
                continue
            try:
                document = call.body.document()
            except Exception as exc:
                document = None
                if state.lazy:
                    _stats.count("produced.prediction_rows", call.rows)
                    _stats.count("failed.could_not_encode.prediction_rows", call.rows)
                _stats.fault("render", exc)
            if document is None:  # not renderable, or every row sampled out
                continue
            body, rows, single = document
            if state.lazy:  # rows are counted through delivery on Heron's own log pipeline only
                _stats.count("produced.prediction_rows", rows)
            # records go out in the order of their first call; single predictions join their group's
            key = (id(call.model), _shape(body)) if single else id(call)
            records.setdefault(key, []).append((call, body, rows, single))
        for attrs, rows in counts.values():
            state.predictions.add(rows, attrs)
        for group in records.values():
            first, body, rows, single = group[0]
            if not single:
                self._emit_safely(first, body, rows, True)
            elif len(group) == 1:
                self._emit_safely(first, body, 1, False)
            else:
                self._emit_safely(first, _coalesce(group), len(group), True)

    def _span(self, call: Call) -> None:
        parent = call.parent
        model = call.model
        attrs: dict[str, Any] = {**model.metric_attrs, "heron.rows": call.rows}
        flags = parent.trace_flags if parent is not None else _SAMPLED
        if self._sampler is not None:  # the provider's sampler (OTEL_TRACES_SAMPLER), as the SDK would ask it
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent is not None else None
            decision = self._sampler.should_sample(context, call.trace_id, "heron.predict", SpanKind.INTERNAL, attrs)
            flags = _SAMPLED if decision.decision.is_sampled() else TraceFlags(TraceFlags.DEFAULT)
        if not flags.sampled:
            _stats.count("produced.spans", -1)  # sampled out by design, not lost
            return
        end_ns = call.start_ns + int(call.seconds * 1e9)
        status = Status(StatusCode.UNSET)
        events: tuple[Event, ...] = ()
        error = call.error
        if error is not None and not isinstance(error, Exception):
            attrs["heron.cancelled"] = True  # cancellation is not a failure of the model (see is_failure)
        elif error is not None:
            etype = error_type(error)
            attrs["error.type"] = etype
            status = Status(_ERROR, f"{etype}: {error}"[:1024])
            events = (Event("exception", {  # as OpenTelemetry's span.record_exception
                "exception.type": etype, "exception.message": str(error),
                "exception.stacktrace": "".join(traceback.format_exception(error)),
            }, end_ns),)
        span = ReadableSpan(
            name="heron.predict",
            context=SpanContext(call.trace_id, call.span_id, False, flags),
            parent=parent, resource=self._resource, attributes=attrs, events=events, kind=SpanKind.INTERNAL,
            status=status, start_time=call.start_ns, end_time=end_ns, instrumentation_scope=self._scope,
        )
        self._processor.on_end(span)

    def _emit_safely(self, call: Call, body: dict[str, Any], rows: int, columnar: bool) -> None:
        try:
            self._emit(call, body, rows, columnar, call.start_ns)
        except Exception as exc:
            if self._state.lazy:
                _stats.count("failed.could_not_encode.prediction_rows", rows)
            _stats.fault("render", exc)

    def _emit(self, call: Call, body: dict[str, Any], rows: int, columnar: bool, ts_ns: int) -> None:
        state = self._state
        try:
            parts = _record.chunks(body, rows, columnar, call.body.max_bytes)
        except _record.Oversize as exc:
            if state.lazy:
                _stats.count("produced.records")
                _stats.count("dropped.oversize.records")
                _stats.count("dropped.oversize.prediction_rows", rows)
            _stats.notice("dropped.oversize.records", f"a prediction record was not sent ({exc})")
            return
        context = trace.set_span_in_context(trace.NonRecordingSpan(
            SpanContext(call.trace_id, call.span_id, False, _SAMPLED)))
        for text, n, layout in parts:
            attrs = dict(call.model.attrs)
            attrs["heron.rows"] = n
            attrs["heron.layout"] = layout
            if state.lazy:
                _stats.count("produced.records")
            state.logger.emit(timestamp=ts_ns, context=context, severity_number=_INFO, body=text,
                              attributes=attrs, event_name="heron.prediction")


def _coalesce(group: list[tuple[Call, dict[str, Any], int, bool]]) -> dict[str, Any]:
    """One columnar body from single predictions of one model and shape, each row keeping its own
    time, latency, trace and span id."""
    first = group[0][1]
    bodies = [g[1] for g in group]
    body: dict[str, Any] = {}
    for key, value in first.items():
        if key in _MAP_KEYS:
            body[key] = {name: [b[key][name] for b in bodies] for name in value}
        elif key == "tags":
            body[key] = value
        else:
            body[key] = [b.get(key) for b in bodies]
    calls = [g[0] for g in group]
    body["ts"] = [c.start_ns / 1e9 for c in calls]
    body["trace_id"] = [f"{c.trace_id:032x}" for c in calls]
    body["span_id"] = [f"{c.span_id:016x}" for c in calls]
    return body


def _shape(body: dict[str, Any]) -> tuple[Any, ...]:
    """What single predictions must share to be one columnar record: the same keys, the same tags."""
    shape: list[Any] = []
    for key, value in body.items():
        if key == "tags":
            shape.append(("tags", tuple(sorted(value.items()))))
        elif isinstance(value, dict):
            shape.append((key, tuple(value)))
        else:
            shape.append(key)
    return tuple(shape)


def dropped(reason: str, call: Call, rows_counted: bool) -> None:
    """Count a call that never reached the export thread (its span, and its rows if it had a record)."""
    _stats.count("produced.spans")
    _stats.count(f"dropped.{reason}.spans")
    if call.body is not None and rows_counted:
        _stats.count("produced.prediction_rows", call.rows)
        _stats.count(f"dropped.{reason}.prediction_rows", call.rows)


def metric_attrs(model: Any, error: BaseException | None) -> dict[str, Any]:
    """The attributes of the prediction counter and latency histogram for one call (both paths)."""
    if is_failure(error):
        return {**model.metric_attrs, "error.type": error_type(error)}  # type: ignore[arg-type]
    return model.metric_attrs


def is_failure(exc: BaseException | None) -> bool:
    """Whether a call that raised `exc` failed. A cancelled call (asyncio.CancelledError,
    KeyboardInterrupt, SystemExit: BaseException but not Exception) did not: it was stopped from
    outside, as OpenTelemetry treats it (record_exception and error status only for Exception).
    Its span says ``heron.cancelled``, it sends no prediction record, and the SLA views skip it."""
    return isinstance(exc, Exception)


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"

