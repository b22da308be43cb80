"""One observation = one prediction call: span, prediction record, metrics.

`Observation` is the single context manager behind both ``heron.observe(...)`` and every
``@heron.monitor`` wrapper shape. Its methods never raise into the caller: a fault in telemetry
is counted (heron.stats()) and the caller's code runs on unaffected.
"""

from __future__ import annotations

import datetime as _dt
import random
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from time import perf_counter
from types import TracebackType
from typing import Any

import numpy as np
from opentelemetry import context as _context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from . import _calls, _env, _extract, _ids, _record, _registry, _setup, _stats
from ._extract import Outputs, Table
from ._privacy import Policy

_last: ContextVar[Observation | None] = ContextVar("heron_last_observation", default=None)
_ERROR = StatusCode.ERROR
_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
_current_span = trace.get_current_span
_randbits = random.getrandbits


# A number given as a timestamp is Unix time; its size tells the unit (now is ~1.8e9 s, 1.8e12 ms,
# 1.8e15 µs, 1.8e18 ns, and a window of ten years around it never overlaps the next unit's).
_UNITS = ((1e11, 1.0, "seconds"), (1e14, 1e3, "milliseconds"), (1e17, 1e6, "microseconds"),
          (1e20, 1e9, "nanoseconds"))


def to_seconds(ts: Any, what: str = "timestamp") -> float:
    """Unix seconds from a datetime, numpy/pandas time or a number in s, ms, µs or ns (told apart by
    size, converted with a warning); ValueError naming `what` when it is not a plausible time."""
    if isinstance(ts, _dt.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=_dt.timezone.utc)
        return _plausible(ts.timestamp(), what)
    if isinstance(ts, np.datetime64):
        return _plausible(float(ts.astype("datetime64[us]").astype(np.int64)) / 1e6, what)
    if hasattr(ts, "timestamp") and callable(ts.timestamp):  # pandas.Timestamp
        return _plausible(float(ts.timestamp()), what)
    if isinstance(ts, bool) or not isinstance(ts, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} is {type(ts).__name__}; pass a datetime or Unix seconds")
    value = float(ts)
    for limit, per_second, unit in _UNITS:
        if abs(value) < limit:
            if per_second != 1.0:
                _stats.notice("timestamp_converted", f"{what} = {ts!r} looks like {unit} since the epoch; "
                              "Heron converted it to seconds (pass Unix seconds or a datetime)")
            return _plausible(value / per_second, what)
    raise ValueError(f"{what} = {ts!r} is not a Unix time in seconds, ms, µs or ns")


def _plausible(seconds: float, what: str) -> float:
    now = time.time()
    low, high = now - _env.HERON_MAX_PAST_DAYS.get() * 86400, now + _env.HERON_MAX_FUTURE_SECONDS.get()
    if not low <= seconds <= high:
        when = _dt.datetime.fromtimestamp(min(max(seconds, -6e10), 2.5e11), _dt.timezone.utc).date() \
            if seconds == seconds else "NaN"
        raise ValueError(f"{what} = {seconds!r} s ({when}) is outside the accepted window of "
                         f"HERON_MAX_PAST_DAYS before and HERON_MAX_FUTURE_SECONDS after now")
    return seconds


def timestamps(ts: Any, what: str = "timestamp") -> float | list[float]:
    """Explicit timestamps as Unix seconds: one float, or one per row (see to_seconds)."""
    if isinstance(ts, np.ndarray) and ts.dtype.kind == "M":
        return [_plausible(v, what) for v in (ts.astype("datetime64[us]").astype(np.int64) / 1e6).tolist()]
    if type(ts).__name__ in ("Series", "DatetimeIndex") and hasattr(ts, "to_numpy"):
        return timestamps(np.asarray(ts.to_numpy(dtype="datetime64[us]")), what)
    if isinstance(ts, (list, tuple, np.ndarray)):
        return [to_seconds(t, what) for t in ts]
    return to_seconds(ts, what)


def normalise_ids(ids: Any) -> list[str]:
    if isinstance(ids, (str, int, np.integer)):
        return [str(ids)]
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return [str(i) for i in ids]


class PredictionBody(_setup.Lazy):
    """A `heron.prediction` body, rendered (possibly in the export thread) by `render()`."""

    __slots__ = ("ids", "kinds", "latency_ms", "max_bytes", "outputs", "policy", "rate", "table", "tags", "ts")

    def __init__(
        self, kinds: dict[str, str], policy: Policy, table: Table | None, outputs: Outputs | None,
        ids: list[str], tags: dict[str, str] | None, latency_ms: float | None, ts: Any, rate: float,
        max_bytes: int,
    ) -> None:
        self.kinds = kinds
        self.policy = policy
        self.table = table
        self.outputs = outputs
        self.ids = ids
        self.tags = tags
        self.latency_ms = latency_ms
        self.ts = ts
        self.rate = rate
        self.max_bytes = max_bytes

    def render(self) -> list[tuple[str, int, str]]:
        document = self.document()
        if document is None:
            return []
        body, rows, single = document
        return _record.chunks(body, rows, not single, self.max_bytes)

    def document(self) -> tuple[dict[str, Any], int, bool] | None:
        """(body, rows, single): the record before chunking; None when every row was sampled out."""
        if isinstance(self.ids, _ids.Batch):
            self.ids = self.ids.tolist()
        rows = len(self.ids)
        single = rows == 1 and (self.table is None or self.table.row is not None or self.table.rows == 1)
        body: dict[str, Any] = {"id": self.ids[0] if single else self.ids}
        if self.table is not None:
            numeric, categorical = _record.features(self.table, self.policy, self.kinds)
            if single and self.table.row is None:
                numeric = {k: _record.first(v) for k, v in numeric.items()}
                categorical = {k: _record.first(v) for k, v in categorical.items()}
            if numeric:
                body["numeric"] = numeric
            if categorical:
                body["categorical"] = categorical
        if self.outputs is not None:
            out = _record.outputs(self.outputs, columnar=self.outputs.rows != 1 or not single, policy=self.policy)
            if single and self.outputs.rows != 1:
                out = _unwrap(out)
            body.update(out)
        if self.tags:
            body["tags"] = self.tags
        if self.latency_ms is not None:
            body["latency_ms"] = round(self.latency_ms, 4)
        if self.ts is not None:
            ts = _record.seconds(self.ts)
            body["ts"] = _record.first(ts) if single else ts  # a scalar is broadcast below
        if single:
            return body, 1, True
        _record.broadcast(body, rows)
        if self.rate < 1.0:
            mask = _ids.keep_mask(self.ids, self.rate)
            kept = sum(mask)
            if kept < rows:
                _stats.count("predictions_sampled_out", rows - kept)
                if not kept:
                    return None
                _record.apply_mask(body, mask)
                rows = kept
        return body, rows, False


def _unwrap(section: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in section.items():
        if isinstance(v, dict):
            out[k] = {n: _record.first(c) for n, c in v.items()}
        else:
            out[k] = _record.first(v)
    return out


class Observation:
    """The features, predictions and tags of one predict call (or one back-filled batch).

    Use it as ``with heron.observe(model=..., version=...) as obs:`` (or ``async with``)::

        with heron.observe(model="churn", version="3") as obs:
            obs.features(row)                 # dict, DataFrame, array, dataclass, keywords …
            obs.prediction(model.predict(x))  # label, value, array, probabilities, dict
            obs.tag(segment="eu")
        save(obs.id)                          # join ground truth later with this id
    """

    __slots__ = (
        "_attach", "_classes", "_done", "_feature_names", "_ids", "_model", "_ns", "_outputs", "_parent",
        "_refused", "_result", "_span", "_span_id", "_span_rows", "_state", "_t0", "_table", "_tags", "_token",
        "_trace_id", "_ts",
    )

    def __init__(
        self,
        model: _registry.Model,
        state: _setup.State,
        *,
        tags: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        ids: Any = None,
        attach: bool = True,
        feature_names: Sequence[str] | None = None,
        classes: Sequence[Any] | None = None,
    ) -> None:
        self._model = model
        self._state = state
        self._tags: dict[str, str] | None = None
        self._ts: Any = None
        self._ids: list[str] | None = None
        self._table: Table | None = None
        self._outputs: Outputs | None = None
        self._result: Any = _MISSING
        self._span: Any = None
        self._span_id = 0  # set when Heron's own pipeline makes the span (heron._calls)
        self._trace_id = 0
        self._parent: Any = None
        self._span_rows = -1
        self._token: Any = None
        self._attach = attach
        self._feature_names = feature_names
        self._classes = classes
        self._done = False
        self._t0 = 0.0
        self._ns = 0
        if tags:
            self.tag(**tags)
        self._refused = False
        if timestamp is not None:
            try:
                self._ts = timestamps(timestamp)
            except Exception as exc:  # the record is dropped and counted: stamped now it would lie
                self._refused = True
                _stats.fault("timestamp", exc)
        if ids is not None:
            try:
                self._ids = normalise_ids(ids)
            except Exception as exc:
                _stats.fault("ids", exc)

    # -- what the caller tells us -------------------------------------------------------------
    def features(self, data: Any = None, /, *, ids: Any = None, **named: Any) -> Observation:
        """Record the model's input: a dict, DataFrame, Series, numpy array, list, dataclass,
        pydantic model, or keyword arguments (one row). ``ids`` gives the prediction ids."""
        try:
            if data is None and named:
                data = named
            elif named and isinstance(data, dict):
                data = {**data, **named}
            if data is not None:
                table = _extract.features_of(data, self._feature_names)
                if table is None:
                    _stats.fault("features", TypeError(
                        f"cannot read features from {type(data).__name__}; pass a dict, DataFrame, "
                        "numpy array, list, dataclass or pydantic model, or give monitor(features=...) "
                        "an extractor function"))
                self._table = table
            if ids is not None:
                self._ids = normalise_ids(ids)
        except Exception as exc:
            _stats.fault("features", exc)
        return self

    def prediction(
        self, result: Any = None, /, *, score: Any = None, probabilities: Mapping[str, Any] | None = None
    ) -> Observation:
        """Record the model's output: a label or value, an array of them, class probabilities
        (2-D array), or a dict with prediction / score / probabilities keys."""
        try:
            rows = self._table.rows if self._table is not None else None
            out = _extract.outputs_of(result, rows, self._classes) if result is not None else None
            if out is None and (score is not None or probabilities is not None):
                out = Outputs(rows if rows is not None else 1)
            if out is None:
                if result is not None:
                    _stats.fault("prediction", TypeError(
                        f"cannot read predictions from {type(result).__name__}; give monitor(prediction=...) "
                        "an extractor function"))
                return self
            if rows is not None and rows > 1 and out.rows == 1:
                _stats.count("predictions_not_per_row")  # one value for a batch: not a per-row prediction
                return self
            if score is not None:
                out.score = _extract._column_or_scalar(score)
            if probabilities is not None:
                out.probabilities = {str(k): _extract._column_or_scalar(v) for k, v in probabilities.items()}
            self._outputs = out
        except Exception as exc:
            _stats.fault("prediction", exc)
        return self

    def tag(self, **tags: Any) -> Observation:
        """Segments of this call (string → string), e.g. ``obs.tag(region="eu", route="canary")``."""
        try:
            if self._tags is None:
                self._tags = {}
            for k, v in tags.items():
                self._tags[str(k)] = _record.text(v, self._state.policy) or ""
        except Exception as exc:
            _stats.fault("tags", exc)
        return self

    @property
    def rows(self) -> int:
        if self._table is not None:
            return self._table.rows
        if self._outputs is not None and self._outputs.rows is not None:
            return self._outputs.rows
        return 1

    @property
    def ids(self) -> list[str]:
        """The prediction ids of this call, one per row (generated unless given)."""
        rows = self.rows
        if self._ids is None or (len(self._ids) != rows and not self._done):
            self._ids = [_ids.one()] if rows == 1 else _ids.Batch(rows)  # type: ignore[assignment]
        return self._ids

    @property
    def id(self) -> str:
        """The prediction id (the first one, for a batch)."""
        return self.ids[0]

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Observation:
        self._start()
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        self._finish(exc)
        return False

    async def __aenter__(self) -> Observation:
        self._start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._finish(exc)
        return False

    def _start(self) -> None:
        self._ns = time.time_ns()
        self._t0 = perf_counter()
        state = self._state
        if not state.enabled or self._ts is not None or self._refused:
            return  # disabled, or a back-fill: no span, no metrics
        try:
            if state.calls is not None:
                self._start_call()
            else:
                self._start_span(state)
        except Exception as exc:
            _stats.fault("span", exc)

    def _start_call(self) -> None:
        """Heron's own pipeline: the span's ids now (for children and the records), the span later."""
        parent = _current_span().get_span_context()
        if parent.is_valid:
            self._parent, trace_id, flags = parent, parent.trace_id, parent.trace_flags
        else:
            self._parent, trace_id, flags = None, _randbits(128), _SAMPLED
        self._trace_id = trace_id
        self._span_id = _randbits(64) or 1
        if self._attach:
            span = trace.NonRecordingSpan(trace.SpanContext(trace_id, self._span_id, False, flags))
            self._token = _context.attach(trace.set_span_in_context(span))

    def _start_span(self, state: _setup.State) -> None:
        """An application's tracer: a real span on the caller's thread."""
        if self._table is not None:
            self._span_rows = self._table.rows
            attrs = {**self._model.metric_attrs, "heron.rows": self._span_rows}
        else:
            attrs = self._model.metric_attrs
        span = state.tracer.start_span("heron.predict", attributes=attrs)
        self._span = span
        if self._attach:
            self._token = _context.attach(trace.set_span_in_context(span))

    def _finish(self, exc: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        state = self._state
        try:
            if not state.enabled:
                return
            seconds = perf_counter() - self._t0
            if self._result is not _MISSING and exc is None:
                self.prediction(self._result)
                self._result = _MISSING
            if self._span_id:
                state.calls.put(_calls.Call(self._model, self.rows, self._ns, seconds, self._trace_id, self._span_id,
                                            self._parent, exc, self._body(exc, seconds)))
            else:
                self._finish_span(exc, seconds)
            if not self._model.registered:
                _registry.emit_registration(self._model)
        except Exception as err:
            _stats.fault("observe", err)
        finally:
            self._end()

    def _body(self, exc: BaseException | None, seconds: float | None) -> PredictionBody | None:
        """The prediction record of this call; None when there is none to send (failed, refused,
        nothing observed, sampled out)."""
        rows = self.rows
        if self._refused:
            _stats.count("dropped.timestamp", rows)
            return None
        if exc is not None or (self._table is None and self._outputs is None):
            return None
        ids = self.ids
        if len(ids) != rows:
            raise ValueError(f"{len(ids)} prediction ids given for {rows} rows")
        state = self._state
        rate = state.sample_rate
        if rows == 1 and rate < 1.0 and not _ids.keep(ids[0], rate):
            _stats.count("predictions_sampled_out")
            return None
        return PredictionBody(
            self._model.kinds, state.policy, self._table, self._outputs, ids, self._tags,
            seconds * 1000.0 if seconds is not None else None, self._ts, rate, state.settings.max_record_bytes,
        )

    def _finish_span(self, exc: BaseException | None, seconds: float) -> None:
        """An application's tracer (or a back-fill, with no span): metrics and the record now."""
        state = self._state
        model = self._model
        span = self._span
        rows = self.rows
        if span is not None:
            if rows != self._span_rows:
                span.set_attribute("heron.rows", rows)
            attrs = _calls.metric_attrs(model, exc)
            if _calls.is_failure(exc):
                etype = attrs["error.type"]
                span.record_exception(exc)
                span.set_status(Status(_ERROR, f"{etype}: {exc}"[:1024]))
                span.set_attribute("error.type", etype)
            elif exc is not None:
                span.set_attribute("heron.cancelled", True)
            state.predictions.add(rows, attrs)
            state.duration.record(seconds, attrs)
        body = self._body(exc, seconds if span is not None else None)
        if body is not None:
            ts_ns = self._ns
            if self._ts is not None:
                ts_ns = int((self._ts[0] if isinstance(self._ts, list) else self._ts) * 1e9)
            ctx = trace.set_span_in_context(span) if span is not None and self._token is None else None
            _setup.emit(state, "heron.prediction", model.attrs, body, rows, ts_ns, ctx)

    def _end(self) -> None:
        if self._token is not None:
            try:
                _context.detach(self._token)
            except Exception as err:
                _stats.fault("context", err)
            self._token = None
        if self._span is not None:
            try:
                self._span.end()
            except Exception as err:
                _stats.fault("span", err)


class _Missing:
    __slots__ = ()


_MISSING: Any = _Missing()


def observe(
    model: str,
    version: str = "unversioned",
    *,
    task: str | None = None,
    tags: Mapping[str, Any] | None = None,
    timestamp: Any = None,
    ids: Any = None,
    classes: Sequence[Any] | None = None,
    feature_names: Sequence[str] | None = None,
) -> Observation:
    """Observe a prediction made by code that cannot be decorated.

    ``timestamp`` (a datetime, Unix seconds, or one per row) back-fills historical predictions:
    they get no span and no metrics, only prediction records stamped with that time. ``classes``
    labels the columns of class probabilities (``predict_proba``), ``feature_names`` those of a
    plain numpy feature array, as in ``@monitor``.
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"heron.observe(model=...): expected a non-empty model name, got {model!r}")
    m = _registry.model(model, str(version), _registry.check_task(task))
    return Observation(m, _setup.get(), tags=tags, timestamp=timestamp, ids=ids, classes=classes,
                       feature_names=feature_names)


def last_prediction_ids() -> list[str]:
    """Prediction ids of the latest ``@heron.monitor`` call made in this thread / task.

    Call it right after the decorated call returns (``[]`` when there was none)."""
    obs = _last.get()
    return list(obs.ids) if obs is not None else []


# --- ground truth ------------------------------------------------------------------------------
class GroundTruthBody(_setup.Lazy):
    __slots__ = ("ids", "labels", "max_bytes", "policy", "ts")

    def __init__(self, ids: list[str], labels: Any, ts: Any, policy: Policy, max_bytes: int) -> None:
        self.ids = ids
        self.labels = labels
        self.ts = ts
        self.policy = policy
        self.max_bytes = max_bytes

    def render(self) -> list[tuple[str, int, str]]:
        rows = len(self.ids)
        ts = None if self.ts is None else _record.seconds(self.ts)
        if rows == 1 and not isinstance(self.labels, (list, np.ndarray)):
            body: dict[str, Any] = {"id": self.ids[0], "label": _record.label(self.labels, self.policy)}
            if ts is not None:
                body["ts"] = _record.first(ts)
            return _record.chunks(body, 1, False, self.max_bytes)
        body = {"id": self.ids, "label": _record.label_list(self.labels, self.policy)}
        if ts is not None:
            body["ts"] = ts
        _record.broadcast(body, rows)
        return _record.chunks(body, rows, True, self.max_bytes)


def log_ground_truth(
    model: str,
    ids: Any,
    labels: Any,
    *,
    version: str | None = None,
    timestamp: Any = None,
) -> None:
    """Send true outcomes for earlier predictions, by prediction id, from any process.

    ``ids`` and ``labels`` are one id and one label, or equally long sequences (lists, numpy
    arrays, pandas Series). A wrong argument raises ValueError; a telemetry fault never raises.
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"log_ground_truth(model=...): expected a non-empty model name, got {model!r}")
    single = isinstance(ids, (str, int, np.integer))
    id_list = normalise_ids(ids)
    if single:
        if isinstance(labels, (list, tuple, np.ndarray)):
            raise ValueError("log_ground_truth: one id was given with a sequence of labels; pass one label")
        label_col: Any = labels
    else:
        if type(labels).__name__ == "Series":
            labels = labels.to_numpy()
        label_col = labels if isinstance(labels, np.ndarray) else list(labels)
        if len(label_col) != len(id_list):
            raise ValueError(
                f"log_ground_truth: {len(id_list)} ids but {len(label_col)} labels; pass one label per id"
            )
        if isinstance(label_col, np.ndarray):
            label_col = np.array(label_col, copy=True)
    ts = timestamps(timestamp, "log_ground_truth(timestamp=...)") if timestamp is not None else None
    if isinstance(ts, list) and len(ts) != len(id_list):
        raise ValueError(f"log_ground_truth: {len(id_list)} ids but {len(ts)} timestamps")
    state = _setup.get()
    if not state.enabled or not id_list:
        return
    try:
        attrs = {"ml.model.name": model, "heron.schema.version": _setup.SCHEMA_VERSION}
        if version is not None:
            attrs["ml.model.version"] = str(version)
        body = GroundTruthBody(id_list, label_col, ts, state.policy, state.settings.max_record_bytes)
        _setup.emit(state, "heron.ground_truth", attrs, body, len(id_list), time.time_ns())
    except Exception as exc:
        _stats.fault("ground_truth", exc)
