"""OTLP/HTTP receiver (/v1/logs, /v1/traces, /v1/metrics), /healthz and the admin endpoint.

Answers follow the OTLP spec: 200 with an Export*ServiceResponse (partial_success when records
were rejected), 400 with a google.rpc.Status naming the problem for undecodable bodies, 413 for
bodies over the limit, 503 with Retry-After when the buffer is full (the Python exporter
retries 5xx but not 429), 401 without the configured bearer token. The response's
Content-Type echoes the request's. The stdlib threading server is enough here: each request is
parse + enqueue, and the store work happens on the writer thread.
"""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from . import admin
from .otlp_decode import JSON, PROTOBUF, BadRequest, TooLarge, decompress, media_type, parse, response

if TYPE_CHECKING:
    from .collector import Collector

log = logging.getLogger("heron.collector")
PATHS = {"/v1/logs": "logs", "/v1/traces": "traces", "/v1/metrics": "metrics"}
RETRY_AFTER_S = 2


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    collector: Collector


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "heron-collector"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # --- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _status(self, http_status: int, grpc_code: int, message: str, content_type: str,
                headers: dict[str, str] | None = None) -> None:
        """An OTLP error: google.rpc.Status, encoded like the request."""
        status = status_pb2.Status(code=grpc_code, message=message)
        if media_type(content_type) == JSON:
            body, kind = json_format.MessageToJson(status, indent=None).encode(), JSON
        else:
            body, kind = status.SerializeToString(), PROTOBUF
        self._send(http_status, body, kind, headers)

    def _json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document, default=str).encode(), "application/json")

    def _read_body(self, limit: int) -> bytes | None:
        """The request body, or None after answering 411/413 (the connection is then closed)."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._status(411, code_pb2.INVALID_ARGUMENT, "Content-Length is required",
                         self.headers.get("Content-Type", ""))
            return None
        if int(length) > limit:
            # Drain a moderately oversized body so a client that writes it all before reading gets
            # the 413; beyond twice the limit just close (the unread rest must not be parsed as the
            # next request). Drained bytes are discarded, never held.
            if int(length) <= 2 * limit:
                self._discard(int(length))
            else:
                self.close_connection = True
            self._status(413, code_pb2.RESOURCE_EXHAUSTED,
                         f"body is {length} bytes; the limit is {limit} (HERON_MAX_BODY_BYTES)",
                         self.headers.get("Content-Type", ""))
            return None
        return self.rfile.read(int(length))

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)

    # --- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        collector = self.server.collector
        if self.path == "/healthz":
            health = collector.health()
            self._json(200 if collector.ready.is_set() else 503, health)
        elif self.path.startswith("/admin/"):
            if not collector.authorized(self.headers.get("Authorization")):
                self._json(401, {"error": "missing or wrong bearer token (HERON_COLLECTOR_TOKEN)"})
                return
            self._admin("GET", b"")
        else:
            self._json(404, {"error": f"no route GET {self.path}; OTLP/HTTP takes POST /v1/logs, /v1/traces"})

    def do_POST(self) -> None:
        collector = self.server.collector
        content_type = self.headers.get("Content-Type", "")
        signal = PATHS.get(self.path.split("?")[0])
        if signal is None and not self.path.startswith("/admin/"):
            self.close_connection = True
            self._json(404, {"error": f"no route POST {self.path}; use /v1/logs, /v1/traces or /v1/metrics"})
            return
        if not collector.authorized(self.headers.get("Authorization")):
            self.close_connection = True
            self._status(401, code_pb2.UNAUTHENTICATED,
                         "missing or wrong bearer token: set Authorization: Bearer $HERON_COLLECTOR_TOKEN",
                         content_type)
            return
        limit = collector.settings.max_body_bytes
        raw = self._read_body(limit)
        if raw is None:
            return
        if signal is None:
            self._admin("POST", raw)
            return
        if not collector.ready.is_set():
            self._status(503, code_pb2.UNAVAILABLE, "the collector is starting", content_type,
                         {"Retry-After": str(RETRY_AFTER_S)})
            return
        try:
            body = decompress(raw, self.headers.get("Content-Encoding", ""), limit)
            request = parse(signal, body, content_type)
            rejected, message = collector.ingest(signal, request)
        except TooLarge as exc:
            self._status(413, code_pb2.RESOURCE_EXHAUSTED, str(exc), content_type)
            return
        except BadRequest as exc:
            self._status(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
            return
        except Exception as exc:  # Busy, or anything unexpected: retryable, never fatal to the server
            from .collector import Busy

            if not isinstance(exc, Busy):
                log.exception("unexpected error handling %s", self.path)
            self._status(503, code_pb2.UNAVAILABLE, str(exc), content_type, {"Retry-After": str(RETRY_AFTER_S)})
            return
        kind = JSON if media_type(content_type) == JSON else PROTOBUF
        self._send(200, response(signal, rejected, message, kind), kind)

    def _admin(self, method: str, body: bytes) -> None:
        try:
            status, document = admin.handle(self.server.collector, method, self.path, body)
        except Exception as exc:  # an admin failure is reported, never fatal
            status, document = 500, {"error": str(exc)}
        self._json(status, document)


def start_http(collector: Collector, address: str) -> tuple[_Server, str]:
    """Bind and serve in a daemon thread; returns the server and its actual host:port."""
    host, _, port = address.rpartition(":")
    server = _Server((host.strip("[]") or "127.0.0.1", int(port)), Handler)
    server.collector = collector
    Thread(target=server.serve_forever, name="heron-otlp-http", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    return server, f"{bound_host}:{bound_port}"
