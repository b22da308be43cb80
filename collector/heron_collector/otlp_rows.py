"""OTLP requests → rows of otel_logs / otel_traces, with the contrib exporter's value mapping.

Field by field as ../shared/reference/otel-clickhouse.md §2 describes: hex ids ('' when all zero),
log Timestamp from time_unix_nano else observed_time_unix_nano, SpanKind/StatusCode by name,
Duration = end − start in ns, attributes stringified with pdata's AsString.

Heron's own events (`heron.*`) are checked lightly here so a sender learns at once, through OTLP
partial success, which record was wrong and how to fix it; everything valid beside a rejected
record is stored. Full parsing stays in ClickHouse (queries/parse/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .otlp_values import as_string, attributes

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
MAX_MESSAGES = 5


def hex_id(raw: bytes) -> str:
    """Lowercase hex, and '' for an absent or all-zero id (as the exporter writes it)."""
    return raw.hex() if raw and any(raw) else ""


@dataclass
class Converted:
    rows: list[list[Any]] = field(default_factory=list)
    rejected: int = 0
    messages: list[str] = field(default_factory=list)

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)

    @property
    def error_message(self) -> str:
        if not self.rejected:
            return ""
        more = self.rejected - len(self.messages)
        return "; ".join(self.messages) + (f"; and {more} more" if more > 0 else "")


def heron_problem(event: str, attrs: dict[str, str], body: Any) -> str | None:
    """Why a heron.* record cannot be used, naming the field and the fix; None when it is fine."""
    if event not in HERON_EVENTS:
        return f"event name {event!r} is not a Heron event; expected one of {', '.join(HERON_EVENTS)}"
    if not attrs.get("ml.model.name"):
        return "attribute ml.model.name is missing or empty; pass model= (the model's name)"
    if event != "heron.ground_truth" and not attrs.get("ml.model.version"):
        return "attribute ml.model.version is missing or empty; pass version= (the model's version)"
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
        if kind not in ("sample", "profile"):
            return f"attribute heron.reference.kind is {kind!r}; expected 'sample' or 'profile'"
    if event != "heron.model" and attrs.get("heron.layout", "row") not in ("row", "columnar"):
        return f"attribute heron.layout is {attrs.get('heron.layout')!r}; expected 'row' or 'columnar'"
    return None


def log_rows(request: Any) -> Converted:
    """ExportLogsServiceRequest → otel_logs rows (in LOG_COLUMNS order)."""
    out = Converted()
    index = 0
    for resource_logs in request.resource_logs:
        resource_attrs = attributes(resource_logs.resource.attributes)
        service = resource_attrs.get("service.name", "")
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_attrs = attributes(scope.attributes)
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                event = record.event_name or attrs.get("event.name", "")
                if event.startswith("heron."):
                    problem = heron_problem(event, attrs, record.body)
                    if problem:
                        out.reject(f"log record {index} ({event}): {problem}")
                        index += 1
                        continue
                index += 1
                out.rows.append([
                    record.time_unix_nano or record.observed_time_unix_nano,
                    hex_id(record.trace_id),
                    hex_id(record.span_id),
                    record.flags & 0xFF,
                    record.severity_text,
                    record.severity_number & 0xFF,
                    service,
                    as_string(record.body),
                    resource_logs.schema_url,
                    resource_attrs,
                    scope_logs.schema_url,
                    scope.name,
                    scope.version,
                    scope_attrs,
                    attrs,
                    record.event_name,
                ])
    return out


def trace_rows(request: Any) -> Converted:
    """ExportTraceServiceRequest → otel_traces rows (in TRACE_COLUMNS order)."""
    out = Converted()
    for resource_spans in request.resource_spans:
        resource_attrs = attributes(resource_spans.resource.attributes)
        service = resource_attrs.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
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
                    attributes(span.attributes),
                    (span.end_time_unix_nano - span.start_time_unix_nano) % (1 << 64),
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
