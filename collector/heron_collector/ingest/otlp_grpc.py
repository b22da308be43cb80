"""OTLP/gRPC receiver: the logs, trace and metrics services on one server.

Same semantics as the HTTP receiver through `Collector.ingest`, which decodes the raw message
itself (so undecodable input is INVALID_ARGUMENT, not INTERNAL, and a retried request is known by
its bytes): partial success in the response; UNAVAILABLE with a RetryInfo when the spool cannot
take the request (retryable); RESOURCE_EXHAUSTED above the message limit (grpc enforces it);
UNAUTHENTICATED without the bearer token.
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from .decode import PROTOBUF, response
from .errors import RETRY_AFTER_S, BadRequest, Busy
from .signals import SIGNALS, Signal

Collector = Any  # heron_collector.collector.Collector, not imported: the collector imports this module

log = logging.getLogger("heron.collector")


def _retry_metadata(message: str, seconds: int) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying google.rpc.RetryInfo, as the OTLP spec asks for UNAVAILABLE."""
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),
            ("google.rpc.retryinfo-bin", info.SerializeToString()))


def _handler(collector: Collector, signal: Signal):
    def export(raw: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata())
        outcome = "ok"
        try:
            if not collector.authorized(metadata.get("authorization")):
                outcome = "unauthorized"
                context.abort(grpc.StatusCode.UNAUTHENTICATED,
                              "missing or wrong bearer token: send authorization: Bearer $HERON_COLLECTOR_TOKEN")
            try:
                rejected, message = collector.ingest(signal, raw, PROTOBUF)
            except BadRequest as exc:
                outcome = "malformed"
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except Busy as exc:
                outcome = "busy"
                context.set_trailing_metadata(_retry_metadata(str(exc), RETRY_AFTER_S))
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            return response(signal, rejected, message, PROTOBUF)
        finally:
            collector.metrics.requests.labels("grpc", signal.name, outcome).inc()

    return grpc.unary_unary_rpc_method_handler(export)  # raw bytes in and out


def start_grpc(collector: Collector, address: str) -> tuple[grpc.Server, str]:
    """Serve OTLP/gRPC on `address` (port 0 picks a free one); returns the server and host:port."""
    limit = collector.settings.max_body_bytes
    threads = collector.settings.ingest_threads
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="heron-otlp-grpc"),
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", 4 << 20)],
        maximum_concurrent_rpcs=threads * 8,
    )
    handlers: list[Any] = [
        grpc.method_handlers_generic_handler(signal.grpc_service, {signal.grpc_method: _handler(collector, signal)})
        for signal in SIGNALS.values()
    ]
    server.add_generic_rpc_handlers(handlers)
    tls = collector.settings.tls()
    if tls:
        with open(tls[0], "rb") as cert, open(tls[1], "rb") as key:
            credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {address} (in use?); set --otlp-grpc / HERON_OTLP_GRPC")
    server.start()
    host = address.rpartition(":")[0]
    return server, f"{host}:{port}"
