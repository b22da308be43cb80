"""What became of each export of Heron's own pipelines: delivered, or failed and why.

The OpenTelemetry exporters answer SUCCESS or FAILURE only. `watch` hooks one of Heron's own
OTLP exporters at its transport (the HTTP client's request, the gRPC stub's Export) so that the
answer of the receiver is kept for the export thread that asked: the HTTP status or gRPC code,
and the rejected count of a partial success. `export` then counts, per kind (``spans``,
``records``, ``prediction_rows``):

    exported.<kind>            acknowledged by the receiver
    failed.<reason>.<kind>     unauthorized | unavailable | rejected | timed_out | could_not_encode | failed

A batch the encoder cannot encode is split: each item that cannot be encoded alone is dropped
and counted (``could_not_encode``), the rest are exported. One warning per kind of failure.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from . import _stats

_local = threading.local()
_UNAUTHORIZED_HTTP = (401, 403)
_UNAVAILABLE_HTTP = (408, 429, 500, 502, 503, 504)
_GRPC = {"UNAUTHENTICATED": "unauthorized", "PERMISSION_DENIED": "unauthorized", "UNAVAILABLE": "unavailable",
         "RESOURCE_EXHAUSTED": "unavailable", "ABORTED": "unavailable", "DEADLINE_EXCEEDED": "timed_out",
         "CANCELLED": "unavailable", "INVALID_ARGUMENT": "rejected", "FAILED_PRECONDITION": "rejected",
         "OUT_OF_RANGE": "rejected", "UNIMPLEMENTED": "rejected", "DATA_LOSS": "rejected"}
_ADVICE = {
    "unauthorized": "the collector refused the credentials: check OTEL_EXPORTER_OTLP_HEADERS (the token)",
    "unavailable": "the collector is unreachable or overloaded (is it running, is OTEL_EXPORTER_OTLP_ENDPOINT right?)",
    "rejected": "the collector refused them as invalid (its answer is in its logs and heron_collector_rejected)",
    "timed_out": "the collector did not answer in time (OTEL_EXPORTER_OTLP_TIMEOUT)",
    "could_not_encode": "they could not be encoded as OTLP",
    "failed": "the exporter gave up",
}


def _note(reason: str | None = None, rejected: int = 0) -> None:
    _local.reason = reason
    _local.rejected = rejected
    _local.sent = True


def _reset() -> None:
    _local.reason = None
    _local.rejected = 0
    _local.sent = False


def _http_reason(result: Any) -> str | None:
    status = getattr(result, "status_code", None)
    if status is None:
        error = getattr(result, "error", None)
        return "timed_out" if error is not None and "Timeout" in type(error).__name__ else "unavailable"
    if 200 <= status < 300:
        return None
    if status in _UNAUTHORIZED_HTTP:
        return "unauthorized"
    if status in _UNAVAILABLE_HTTP or status >= 500:
        return "unavailable"
    return "rejected"


def _rejected(response: Any) -> int:
    partial = getattr(response, "partial_success", None)
    if partial is None:
        return 0
    return int(getattr(partial, "rejected_log_records", 0) or getattr(partial, "rejected_spans", 0) or 0)


def _response_type(url: str) -> Any:
    if url.rstrip("/").endswith("/v1/logs"):
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

        return ExportLogsServiceResponse
    if url.rstrip("/").endswith("/v1/traces"):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return ExportTraceServiceResponse
    return None


class _ObservedStub:
    """A gRPC service stub whose Export keeps the outcome for `export`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def Export(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = self._inner.Export(*args, **kwargs)
        except Exception as exc:
            code = getattr(exc, "code", None)
            name = getattr(code(), "name", "") if callable(code) else ""
            _note(_GRPC.get(name, "failed"))
            raise
        _note(None, _rejected(response))
        return response


def watch(exporter: Any) -> None:
    """Keep the receiver's answers of one of Heron's own OTLP exporters (never raises)."""
    try:
        transport = getattr(getattr(exporter, "_client", None), "_transport", None)
        if transport is not None and callable(getattr(transport, "request", None)):
            request = transport.request

            def observed(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                result = request(method, url, *args, **kwargs)
                reason = _http_reason(result)
                rejected = 0
                if reason is None:
                    response_type = _response_type(url)
                    try:
                        content = result.content() if response_type is not None else b""
                        rejected = _rejected(response_type.FromString(content)) if content else 0
                    except Exception:  # not a protobuf answer: nothing to count
                        rejected = 0
                _note(reason, rejected)
                return result

            transport.request = observed
            return
        stub = getattr(exporter, "_stub", None)
        if stub is not None and hasattr(exporter, "_client"):
            exporter._stub = lambda channel: _ObservedStub(stub(channel))
            if exporter._client is not None:
                exporter._client = _ObservedStub(exporter._client)
    except Exception as exc:  # the exporter's internals moved: only the reasons are lost
        _stats.fault("delivery_watch", exc)


def _encodes(kind: str, item: Any) -> bool:
    try:
        if kind == "spans":
            from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

            encode_spans([item]).SerializeToString()
        else:
            from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

            encode_logs([item]).SerializeToString()
        return True
    except Exception:
        return False


def export(exporter: Any, items: Sequence[Any], kind: str, rows_of: Any) -> bool:
    """Export `items` with `exporter` and count the outcome; True when the receiver took them all.
    `rows_of(item)` is an item's prediction rows (0 for anything else)."""
    _reset()
    try:
        result = exporter.export(items)
        ok = getattr(result, "name", str(result)) == "SUCCESS"
        error: Exception | None = None
    except Exception as exc:  # an exporter raises when it cannot encode (gRPC translates inside its call)
        ok, error = False, exc
    if not ok and not getattr(_local, "sent", False):  # nothing reached the wire: encoding, or shutdown
        bad = [item for item in items if not _encodes(kind, item)]
        if bad:
            _failed("could_not_encode", kind, bad, rows_of)
            bad_ids = {id(item) for item in bad}
            good = [item for item in items if id(item) not in bad_ids]
            if good:
                export(exporter, good, kind, rows_of)
            return False
        if error is not None:
            _stats.fault("export", error)
    if not ok:
        _failed(getattr(_local, "reason", None) or "failed", kind, items, rows_of)
        return False
    rejected = min(int(getattr(_local, "rejected", 0) or 0), len(items))
    rows = sum(rows_of(i) for i in items)
    if rejected:  # a partial success names a count, not the records: rows count as failed only when all were
        _stats.count(f"failed.rejected.{kind}", rejected)
        _warn("rejected", kind, rejected)
    if rejected == len(items):
        _stats.count("failed.rejected.prediction_rows", rows)
        return False
    _stats.count(f"exported.{kind}", len(items) - rejected)
    _stats.count("exported.prediction_rows", rows)
    return not rejected


def _failed(reason: str, kind: str, items: Sequence[Any], rows_of: Any) -> None:
    _stats.count(f"failed.{reason}.{kind}", len(items))
    _stats.count(f"failed.{reason}.prediction_rows", sum(rows_of(i) for i in items))
    _warn(reason, kind, len(items))


def _warn(reason: str, kind: str, n: int) -> None:
    _stats.notice(f"export.{reason}.{kind}", f"{n} {kind} were not delivered: {_ADVICE[reason]}")
