"""OTLP/HTTP receiver (/v1/logs, /v1/traces, /v1/metrics), health, /metrics and the admin endpoint.

Served by Hypercorn (an asyncio HTTP/1.1 server on h11) on a thread of its own: it speaks what every
OTLP exporter sends — Content-Length or chunked bodies, keep-alive, `Expect: 100-continue` — and
a silent connection costs a coroutine, not a thread, until HERON_READ_TIMEOUT closes it. The
decoding and the wait for the spool's fsync run on a bounded thread pool (HERON_INGEST_THREADS);
admin queries on a pool of their own, so they never take ingestion's threads.

Answers follow the OTLP spec: 200 with an Export*ServiceResponse (partial_success when records
were rejected), 400 with a google.rpc.Status naming the problem for undecodable bodies, 413 for
bodies over the limit (counted while the body streams in), 503 with Retry-After when the spool
cannot take the request (the Python exporter retries 5xx but not 429), 401 without the configured
bearer token. The response's Content-Type echoes the request's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from ..admin import operations as admin
from .decode import JSON, PROTOBUF, decompress, media_type, response
from .errors import RETRY_AFTER_S, BadRequest, Busy, TooLarge
from .signals import BY_HTTP_PATH, Signal

Collector = Any  # heron_collector.collector.Collector, not imported: the collector imports this module

log = logging.getLogger("heron.collector")
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]
UNAUTHORIZED_ADMIN = ("missing or wrong bearer token: the collector requires one; set HERON_COLLECTOR_TOKEN "
                      "to the collector's token (sent as Authorization: Bearer …)")


def _status(http_status: int, grpc_code: int, message: str, content_type: str,
            headers: dict[str, str] | None = None) -> Reply:
    """An OTLP error: google.rpc.Status, encoded like the request."""
    status = status_pb2.Status(code=grpc_code, message=message)
    if media_type(content_type) == JSON:
        body, kind = json_format.MessageToJson(status, indent=None).encode(), JSON
    else:
        body, kind = status.SerializeToString(), PROTOBUF
    return _reply(http_status, body, kind, headers)


def _reply(status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Reply:
    pairs = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    pairs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return status, pairs, body


def _json(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return _reply(status, json.dumps(document, default=str).encode(), "application/json", headers)


class App:
    """The ASGI application: routing and body limits here, the work on thread pools.

    One class serves both listeners: OTLP (`admin=False`) and admin (`admin=True`); each answers
    health and /metrics, and only its own routes besides."""

    def __init__(self, collector: Collector, admin: bool = False) -> None:
        self.collector = collector
        self.admin = admin
        threads = collector.settings.ingest_threads
        self.ingest_pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="heron-otlp-http")
        self.admin_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="heron-admin")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            status, pairs, body = await self._route(scope, headers, receive)
        except _Disconnected:  # the client went away or stalled past HERON_READ_TIMEOUT: no answer
            return
        except Exception:  # a bug answers 500 to this request only
            log.exception("unexpected error handling %s %s", scope["method"], scope["path"])
            status, pairs, body = _json(500, {"error": "internal error (see the collector's log)"})
        await send({"type": "http.response.start", "status": status, "headers": pairs})
        await send({"type": "http.response.body", "body": body})

    async def _route(self, scope: dict, headers: dict[str, str], receive: Any) -> Reply:
        collector, method, path = self.collector, scope["method"], scope["path"]
        content_type = headers.get("content-type", "")
        if method == "GET":
            if path in ("/healthz", "/readyz"):
                health = collector.health()
                return _json(200 if health["ready"] else 503, health)
            if path == "/livez":
                return _json(200, {"status": "alive", "uptime_s": collector.health()["uptime_s"]})
            if path == "/metrics":
                from ..metrics import CONTENT_TYPE

                return _reply(200, collector.metrics.render(), CONTENT_TYPE)
            if path.startswith("/admin/") and self.admin:
                if not collector.authorized(headers.get("authorization")):
                    return _json(401, {"error": UNAUTHORIZED_ADMIN})
                query = scope.get("query_string", b"").decode("latin-1")
                return await self._admin("GET", path + ("?" + query if query else ""), b"")
            return _json(404, {"error": self._no_route(method, path)})
        signal = None if self.admin else BY_HTTP_PATH.get(path)
        if method != "POST" or (signal is None and not (self.admin and path.startswith("/admin/"))):
            return _json(404, {"error": self._no_route(method, path)}, {"connection": "close"})
        if not collector.authorized(headers.get("authorization")):
            if self.admin:
                return _json(401, {"error": UNAUTHORIZED_ADMIN}, {"connection": "close"})
            return _status(401, code_pb2.UNAUTHENTICATED,
                           "missing or wrong bearer token: set Authorization: Bearer $HERON_COLLECTOR_TOKEN",
                           content_type, {"connection": "close"})
        limit = collector.settings.max_body_bytes
        raw = await _read_body(receive, headers, limit)
        if raw is None:
            return _status(413, code_pb2.RESOURCE_EXHAUSTED,
                           f"body is over {limit} bytes (HERON_MAX_BODY_BYTES)", content_type, {"connection": "close"})
        if signal is None:
            return await self._admin("POST", path, raw)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.ingest_pool, self._ingest, signal, raw, headers, content_type)

    def _no_route(self, method: str, path: str) -> str:
        if self.admin:
            return f"no admin route {method} {path}; try {admin.route_hints()} (OTLP is on HERON_OTLP_HTTP)"
        if path.startswith("/admin/"):
            return f"the admin endpoint is not on the OTLP port: it listens on {self.collector.admin_address}"
        *paths, last = BY_HTTP_PATH
        return f"no route {method} {path}; OTLP/HTTP takes POST {', '.join(paths)} or {last}"

    def _ingest(self, signal: Signal, raw: bytes, headers: dict[str, str], content_type: str) -> Reply:
        collector, outcome = self.collector, "ok"
        try:
            body = decompress(raw, headers.get("content-encoding", ""), collector.settings.max_body_bytes)
            rejected, message = collector.ingest(signal, body, content_type)
        except TooLarge as exc:
            outcome = "too_large"
            return _status(413, code_pb2.RESOURCE_EXHAUSTED, str(exc), content_type)
        except BadRequest as exc:
            outcome = "malformed"
            return _status(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
        except Busy as exc:
            outcome = "busy"
            return _status(503, code_pb2.UNAVAILABLE, str(exc), content_type, {"retry-after": str(RETRY_AFTER_S)})
        finally:
            collector.metrics.requests.labels("http", signal.name, outcome).inc()
        kind = JSON if media_type(content_type) == JSON else PROTOBUF
        return _reply(200, response(signal, rejected, message, kind), kind)

    async def _admin(self, method: str, path: str, body: bytes) -> Reply:
        def run() -> Reply:
            try:
                status, document = admin.handle(self.collector, method, path, body)
            except Exception as exc:  # an admin failure is reported, never fatal
                status, document = 500, {"error": str(exc)}
            return _json(status, document)

        return await asyncio.get_running_loop().run_in_executor(self.admin_pool, run)


class _Disconnected(Exception):
    """The connection closed (or timed out) before the body was complete."""


async def _read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes | None:
    """The whole body (Content-Length or chunked), or None once it passes `limit`.

    An oversized body is read on and discarded up to twice the limit, so a client that writes it
    all before reading gets its 413 rather than a broken pipe; beyond that the connection closes.
    Nothing past the limit is kept.
    """
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > 2 * limit:
        return None
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        total += len(chunk)
        if total <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()
        more = message.get("more_body", False)
        if total > limit and (not more or total > 2 * limit):
            return None
        if not more:
            return b"".join(chunks)


class HttpServer:
    """Hypercorn serving `App` on an event loop in a daemon thread."""

    def __init__(self, collector: Collector, address: str, admin: bool = False) -> None:
        from hypercorn.config import Config

        host, _, port = address.rpartition(":")
        config = Config()
        config.bind = [f"{host or '127.0.0.1'}:{port}"]
        config.read_timeout = max(1, round(collector.settings.read_timeout))
        config.keep_alive_timeout = collector.settings.read_timeout
        config.h11_max_incomplete_size = 64 * 1024  # request line and headers
        config.accesslog = None
        config.errorlog = logging.getLogger("heron.collector.http")
        config.graceful_timeout = 5.0
        config.backlog = 1024
        tls = collector.settings.tls()
        if tls:
            config.certfile, config.keyfile = tls
        self.app = App(collector, admin)
        self._config = config
        try:
            self._sockets = config.create_sockets()
        except OSError as exc:
            what, setting = ("the admin endpoint", "--admin / HERON_ADMIN") if admin else \
                ("OTLP/HTTP", "--otlp-http / HERON_OTLP_HTTP")
            raise OSError(f"cannot listen for {what} on {address} ({exc}); set {setting}") from exc
        bound = (self._sockets.secure_sockets or self._sockets.insecure_sockets)[0].getsockname()
        self.address = f"{bound[0]}:{bound[1]}"
        self._loop = asyncio.new_event_loop()
        self._stopped: asyncio.Event | None = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="heron-otlp-http-loop",
                                        daemon=True)
        self._thread.start()
        started.wait(10)

    def _serve(self, started: threading.Event) -> None:
        from hypercorn.app_wrappers import ASGIWrapper
        from hypercorn.asyncio.run import worker_serve

        asyncio.set_event_loop(self._loop)
        self._stopped = asyncio.Event()
        started.set()
        try:
            self._loop.run_until_complete(worker_serve(ASGIWrapper(self.app), self._config, sockets=self._sockets,
                                                       shutdown_trigger=self._stopped.wait))
        except Exception:
            log.exception("the OTLP/HTTP server stopped")
        finally:
            self._loop.close()

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to the graceful timeout), close."""
        if self._stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=15)
        self.app.ingest_pool.shutdown(wait=True, cancel_futures=False)
        self.app.admin_pool.shutdown(wait=False, cancel_futures=True)


def start_http(collector: Collector, address: str, admin: bool = False) -> tuple[HttpServer, str]:
    """Bind and serve in a daemon thread; returns the server and its actual host:port."""
    server = HttpServer(collector, address, admin)
    return server, server.address
