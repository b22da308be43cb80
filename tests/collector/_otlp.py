"""Building OTLP requests of Heron predictions for the collector tests (protobuf, as exporters send)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

MODEL = {"ml.model.name": "durable", "ml.model.version": "v1", "heron.schema.version": "1"}


def kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def prediction(pid: str, model: str = "durable", **overrides: Any) -> logs_pb2.LogRecord:
    """One row-layout heron.prediction record."""
    attrs = {**MODEL, "ml.model.name": model, "heron.layout": "row", "heron.rows": "1"}
    body = overrides.pop("body", None) or json.dumps({"id": pid, "numeric": {"x": 1.5}, "prediction": 1})
    fields = {"time_unix_nano": time.time_ns(), "event_name": "heron.prediction", **overrides}
    return logs_pb2.LogRecord(
        body=common_pb2.AnyValue(string_value=body), attributes=[kv(k, v) for k, v in attrs.items()], **fields
    )


def batch(ids: list[str], model: str = "durable") -> logs_pb2.LogRecord:
    """One columnar heron.prediction record holding `ids`."""
    attrs = {**MODEL, "ml.model.name": model, "heron.layout": "columnar", "heron.rows": str(len(ids))}
    body = json.dumps(
        {
            "id": ids,
            "numeric": {"x": [float(i) for i in range(len(ids))]},
            "prediction": [i % 2 for i in range(len(ids))],
        }
    )
    return logs_pb2.LogRecord(
        time_unix_nano=time.time_ns(),
        event_name="heron.prediction",
        body=common_pb2.AnyValue(string_value=body),
        attributes=[kv(k, v) for k, v in attrs.items()],
    )


def logs_request(*records: logs_pb2.LogRecord, service: str = "svc") -> logs_service_pb2.ExportLogsServiceRequest:
    request = logs_service_pb2.ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add(resource={"attributes": [kv("service.name", service)]}).scope_logs.add()
    scope_logs.log_records.extend(records)
    return request


def post(
    address: str,
    path: str,
    body: bytes,
    content_type: str = "application/x-protobuf",
    timeout: float = 30,
    **headers: str,
) -> tuple[int, Any, bytes]:
    host, port = address.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type, **headers})
        reply = conn.getresponse()
        return reply.status, reply.headers, reply.read()
    finally:
        conn.close()


def admin_sql(base_url: str, sql: str) -> list[list[Any]]:
    request = urllib.request.Request(
        base_url + "/admin/sql",
        data=json.dumps({"sql": sql}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())["rows"]


def partial(body: bytes) -> logs_service_pb2.ExportLogsServiceResponse:
    return logs_service_pb2.ExportLogsServiceResponse.FromString(body)
