"""OTLP requests → rows of otel_logs / otel_traces, with the contrib exporter's value mapping.

Field by field as ../shared/reference/otel-clickhouse.md §2 describes: hex ids ('' when all zero),
log Timestamp from time_unix_nano else observed_time_unix_nano, SpanKind/StatusCode by name,
Duration = end − start in ns, attributes stringified with pdata's AsString.

Every record is checked against `Limits` (timestamps, byte sizes) and Heron's own events
(`heron.*`) against the wire format, so a sender learns at once, through OTLP partial success,
which record was wrong and how to fix it; everything valid beside a rejected record is stored.
Full parsing stays in ClickHouse (queries/parse/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .limits import Limits, Window, attributes_problem, heron_body_problem, name_problem, too_long
from .values import as_string, attributes

LOG_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber", "ServiceName",
    "Body", "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl", "ScopeName", "ScopeVersion",
    "ScopeAttributes", "LogAttributes", "EventName",
)
TRACE_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind",
    "ServiceName", "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration",
    "StatusCode", "StatusMessage", "Events.Timestamp", "Events.Name", "Events.Attributes",
    "Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Attributes",
)
SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")

HERON_EVENTS = ("heron.prediction", "heron.ground_truth", "heron.reference", "heron.model")
SCHEMA_VERSIONS = ("1",)
REFERENCE_KINDS = ("sample", "profile", "pca")  # pca: a compatible addition to version 1
MAX_MESSAGES = 5


def hex_id(raw: bytes) -> str:
    """Lowercase hex, and '' for an absent or all-zero id (as the exporter writes it)."""
    return raw.hex() if raw and any(raw) else ""


@dataclass
class Converted:
    rows: list[list[Any]] = field(default_factory=list)
    rejected: int = 0
    messages: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)  # rejected records per reason (metrics)
    summary: str = ""  # said of the whole request instead of per record (a signal not kept)

    def reject(self, message: str, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)

    @property
    def error_message(self) -> str:
        if self.summary:
            return self.summary
        if not self.rejected:
            return ""
        more = self.rejected - len(self.messages)
        return "; ".join(self.messages) + (f"; and {more} more" if more > 0 else "")


def heron_problem(event: str, attrs: dict[str, str], body: Any, window: Window, limits: Limits) -> str | None:
    """Why a heron.* record cannot be used, naming the field and the fix; None when it is fine."""
    if event not in HERON_EVENTS:
        return f"event name {event!r} is not a Heron event; expected one of {', '.join(HERON_EVENTS)}"
    if not attrs.get("ml.model.name"):
        return "attribute ml.model.name is missing or empty; pass model= (the model's name)"
    if event != "heron.ground_truth" and not attrs.get("ml.model.version"):
        return "attribute ml.model.version is missing or empty; pass version= (the model's version)"
    for key in ("ml.model.name", "ml.model.version"):
        problem = name_problem(f"attribute {key}", attrs.get(key, ""), limits)
        if problem:
            return problem
    version = attrs.get("heron.schema.version", "1")
    if version not in SCHEMA_VERSIONS:
        return (f"attribute heron.schema.version is {version!r}; this collector reads "
                f"{', '.join(SCHEMA_VERSIONS)}: upgrade the collector or pin the SDK")
    if body.WhichOneof("value") != "string_value":
        return "body must be a string holding a JSON object (see docs/wire-format.md)"
    text = body.string_value.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return f"body is not a JSON object (starts with {text[:20]!r}); see docs/wire-format.md"
    if event == "heron.reference":
        kind = attrs.get("heron.reference.kind")
        if kind not in REFERENCE_KINDS:
            return f"attribute heron.reference.kind is {kind!r}; expected 'sample', 'profile' or 'pca'"
    if event != "heron.model" and attrs.get("heron.layout", "row") not in ("row", "columnar"):
        return f"attribute heron.layout is {attrs.get('heron.layout')!r}; expected 'row' or 'columnar'"
    return heron_body_problem(text, window)


def _log_problem(record: Any, timestamp: int, attrs: dict[str, str], window: Window,
                 limits: Limits) -> tuple[str, str] | None:
    """(reason, message) when a log record breaks a limit; None when it may be stored."""
    field_name = "time_unix_nano" if record.time_unix_nano else "observed_time_unix_nano"
    problem = window.problem(field_name, timestamp)
    if problem:
        return "timestamp", problem
    if record.body.WhichOneof("value") == "string_value" and too_long(record.body.string_value,
                                                                       limits.max_body_bytes):
        return "size", (f"body is over {limits.max_body_bytes} bytes (HERON_MAX_LOG_BODY_BYTES); "
                        "send smaller records (the SDK chunks below HERON_MAX_RECORD_BYTES)")
    problem = (name_problem("event_name", record.event_name, limits)
               or name_problem("severity_text", record.severity_text, limits)
               or attributes_problem("attributes", attrs, limits))
    return ("size", problem) if problem else None


def _scope_problem(resource_attrs: dict[str, str], scope: Any, scope_attrs: dict[str, str],
                   limits: Limits, schema_urls: tuple[str, ...] = ()) -> str | None:
    long_url = next((u for u in schema_urls if too_long(u, limits.max_value_bytes)), None)
    if long_url is not None:
        return f"schema_url is over {limits.max_value_bytes} bytes (HERON_MAX_VALUE_BYTES)"
    return (attributes_problem("resource attributes", resource_attrs, limits)
            or name_problem("scope name", scope.name, limits)
            or name_problem("scope version", scope.version, limits)
            or attributes_problem("scope attributes", scope_attrs, limits))


def _quick_heron_ok(event: str, attrs: dict[str, str], text: str, window: Window, limits: Limits) -> bool:
    """True only when `heron_problem` would find nothing; False means 'ask it' (it names the fault).

    The same checks in the common case's cheapest form: one pass, no messages built."""
    if event not in HERON_EVENTS or event == "heron.reference":
        return False
    name, version = attrs.get("ml.model.name"), attrs.get("ml.model.version", "")
    name_limit = limits.max_name_bytes
    if (not name or (not version and event != "heron.ground_truth")
            or len(name) * 4 > name_limit or len(version) * 4 > name_limit
            or attrs.get("heron.schema.version", "1") not in SCHEMA_VERSIONS
            or (event != "heron.model" and attrs.get("heron.layout", "row") not in ("row", "columnar"))
            or not text or text[0] != "{" or text[-1] != "}"):
        return False
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(document, dict):
        return False
    stamps = document.get("ts")
    return stamps is None or (not isinstance(stamps, list) and window.seconds_problem("body.ts", stamps) is None)


def log_rows(request: Any, limits: Limits, now_ns: int) -> Converted:
    """ExportLogsServiceRequest → otel_logs rows (in LOG_COLUMNS order).

    A record with neither timestamp is stamped with the time the collector received it (its
    observed time, as the OTLP spec defines it).

    One pass per record with the checks inlined in their cheapest form (a byte limit is surely
    met when 4 bytes per character fit); a record that fails a quick check is judged by the full
    checks (`_log_problem`, `heron_problem`), which name the fault, so the result is the same as
    running those on every record (tests/collector/test_rows_golden.py)."""
    out = Converted()
    append, window = out.rows.append, limits.window(now_ns)
    low, high = window.low_ns, window.high_ns
    name_limit, value_limit, body_limit = limits.max_name_bytes, limits.max_value_bytes, limits.max_body_bytes
    index = 0
    for resource_logs in request.resource_logs:
        resource_attrs = attributes(resource_logs.resource.attributes)
        service = resource_attrs.get("service.name", "")
        resource_url = resource_logs.schema_url
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_attrs = attributes(scope.attributes)
            scope_url, scope_name, scope_version = scope_logs.schema_url, scope.name, scope.version
            shared = _scope_problem(resource_attrs, scope, scope_attrs, limits, (resource_url, scope_url))
            for record in scope_logs.log_records:
                index += 1
                if shared:
                    out.reject(f"log record {index - 1}: {shared}", "size")
                    continue
                attrs, fits = {}, True
                for kv in record.attributes:
                    key, value = kv.key, kv.value
                    text = value.string_value if value.WhichOneof("value") == "string_value" else as_string(value)
                    attrs[key] = text
                    if len(key) * 4 > name_limit or len(text) * 4 > value_limit:
                        fits = False
                timestamp = record.time_unix_nano or record.observed_time_unix_nano or now_ns
                body = record.body
                kind = body.WhichOneof("value")
                text = body.string_value if kind == "string_value" else as_string(body)
                event_name, severity_text = record.event_name, record.severity_text
                if not (fits and low <= timestamp <= high and len(event_name) * 4 <= name_limit
                        and len(severity_text) * 4 <= name_limit
                        and (kind != "string_value" or len(text) * 4 <= body_limit)):
                    problem = _log_problem(record, timestamp, attrs, window, limits)
                    if problem:
                        out.reject(f"log record {index - 1}: {problem[1]}", problem[0])
                        continue
                event = event_name or attrs.get("event.name", "")
                if event.startswith("heron.") and not (
                        kind == "string_value" and _quick_heron_ok(event, attrs, text, window, limits)):
                    heron = heron_problem(event, attrs, body, window, limits)
                    if heron:
                        out.reject(f"log record {index - 1} ({event}): {heron}", "heron_record")
                        continue
                append([
                    timestamp,
                    hex_id(record.trace_id),
                    hex_id(record.span_id),
                    record.flags & 0xFF,
                    severity_text,
                    record.severity_number & 0xFF,
                    service,
                    text,
                    resource_url,
                    resource_attrs,
                    scope_url,
                    scope_name,
                    scope_version,
                    scope_attrs,
                    attrs,
                    event_name,
                ])
    return out


def _span_problem(span: Any, attrs: dict[str, str], window: Window, limits: Limits) -> tuple[str, str] | None:
    """(reason, message) when a span breaks a limit; None when it may be stored."""
    problem = window.problem("start_time_unix_nano", span.start_time_unix_nano)
    if not problem and span.end_time_unix_nano < span.start_time_unix_nano:
        problem = (f"end_time_unix_nano = {span.end_time_unix_nano} is before start_time_unix_nano = "
                   f"{span.start_time_unix_nano}; end a span after it starts")
    if not problem:
        problem = window.problem("end_time_unix_nano", span.end_time_unix_nano)
    for i, event in enumerate(span.events):
        if problem:
            break
        problem = window.problem(f"events[{i}].time_unix_nano", event.time_unix_nano)
    if problem:
        return "timestamp", problem
    problem = (name_problem("name", span.name, limits)
               or attributes_problem("attributes", attrs, limits)
               or (f"trace_state is over {limits.max_value_bytes} bytes (HERON_MAX_VALUE_BYTES)"
                   if too_long(span.trace_state, limits.max_value_bytes) else None)
               or (f"status.message is over {limits.max_value_bytes} bytes (HERON_MAX_VALUE_BYTES)"
                   if too_long(span.status.message, limits.max_value_bytes) else None))
    for i, event in enumerate(span.events):
        if problem:
            break
        problem = (name_problem(f"events[{i}].name", event.name, limits)
                   or attributes_problem(f"events[{i}].attributes", attributes(event.attributes), limits))
    for i, link in enumerate(span.links):
        if problem:
            break
        problem = (attributes_problem(f"links[{i}].attributes", attributes(link.attributes), limits)
                   or (f"links[{i}].trace_state is over {limits.max_value_bytes} bytes (HERON_MAX_VALUE_BYTES)"
                       if too_long(link.trace_state, limits.max_value_bytes) else None))
    return ("size", problem) if problem else None


def trace_rows(request: Any, limits: Limits, now_ns: int) -> Converted:
    """ExportTraceServiceRequest → otel_traces rows (in TRACE_COLUMNS order)."""
    out = Converted()
    window = limits.window(now_ns)
    index = 0
    for resource_spans in request.resource_spans:
        resource_attrs = attributes(resource_spans.resource.attributes)
        service = resource_attrs.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            shared = _scope_problem(resource_attrs, scope, {}, limits,
                                    (resource_spans.schema_url, scope_spans.schema_url))
            for span in scope_spans.spans:
                where = f"span {index}"
                index += 1
                if shared:
                    out.reject(f"{where}: {shared}", "size")
                    continue
                attrs = attributes(span.attributes)
                problem = _span_problem(span, attrs, window, limits)
                if problem:
                    out.reject(f"{where}: {problem[1]}", problem[0])
                    continue
                events, links = span.events, span.links
                out.rows.append([
                    span.start_time_unix_nano,
                    hex_id(span.trace_id),
                    hex_id(span.span_id),
                    hex_id(span.parent_span_id),
                    span.trace_state,
                    span.name,
                    SPAN_KINDS[span.kind] if 0 <= span.kind < len(SPAN_KINDS) else str(span.kind),
                    service,
                    resource_attrs,
                    scope.name,
                    scope.version,
                    attrs,
                    span.end_time_unix_nano - span.start_time_unix_nano,
                    STATUS_CODES[span.status.code] if 0 <= span.status.code < 3 else str(span.status.code),
                    span.status.message,
                    [e.time_unix_nano for e in events],
                    [e.name for e in events],
                    [attributes(e.attributes) for e in events],
                    [hex_id(link.trace_id) for link in links],
                    [hex_id(link.span_id) for link in links],
                    [link.trace_state for link in links],
                    [attributes(link.attributes) for link in links],
                ])
    return out


def count_data_points(request: Any) -> int:
    """Data points in an ExportMetricsServiceRequest (Heron does not store metrics; see http docs)."""
    total = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    total += len(getattr(metric, kind).data_points)
    return total


def metric_points(request: Any, limits: Limits, now_ns: int) -> Converted:
    """ExportMetricsServiceRequest → no rows: Heron keeps logs and traces only, so every data point
    is reported back by partial success, and an empty request gets a plain success."""
    points = count_data_points(request)
    if not points:
        return Converted()
    return Converted(rejected=points, summary="heron stores logs and traces only: metric data points are not "
                                              "kept; send metrics to your metrics backend (OTEL_METRICS_EXPORTER)")
