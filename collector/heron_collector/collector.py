"""The collector process: store + migrations + batcher + OTLP receivers + admin endpoint.

`Collector` wires the parts and owns their lifecycle; the receivers only translate transport
(HTTP, gRPC) to `ingest`, so both answer identically.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from heron import _env

from .migrations import Layout, migrate
from .otlp_rows import LOG_COLUMNS, TRACE_COLUMNS, count_data_points, log_rows, trace_rows
from .store import Store, StoreURL, resolve_url
from .writer import Batcher

log = logging.getLogger("heron.collector")


def state_path(url: StoreURL) -> str:
    """Where a running embedded collector announces its admin address, beside its chDB path."""
    return url.path.rstrip("/") + ".collector.json"


class Busy(RuntimeError):
    """The buffer is full: answer 503 / UNAVAILABLE so the exporter retries later."""


@dataclass
class Settings:
    otlp_http: str = field(default_factory=_env.HERON_OTLP_HTTP.get)
    otlp_grpc: str = field(default_factory=_env.HERON_OTLP_GRPC.get)
    data_dir: str = field(default_factory=_env.HERON_DATA_DIR.get)
    clickhouse_url: str = field(default_factory=_env.HERON_CLICKHOUSE_URL.get)
    token: str = field(default_factory=_env.HERON_COLLECTOR_TOKEN.get)
    max_body_bytes: int = field(default_factory=_env.HERON_MAX_BODY_BYTES.get)
    batch_rows: int = field(default_factory=_env.HERON_BATCH_ROWS.get)
    batch_seconds: float = field(default_factory=_env.HERON_BATCH_SECONDS.get)
    buffer_rows: int = field(default_factory=_env.HERON_BUFFER_ROWS.get)
    batch_bytes: int = field(default_factory=_env.HERON_BATCH_BYTES.get)
    buffer_bytes: int = field(default_factory=_env.HERON_BUFFER_BYTES.get)
    refresh_seconds: int = field(default_factory=_env.HERON_REFRESH_SECONDS.get)

    def store_url(self) -> StoreURL:
        return resolve_url(self.clickhouse_url or None, data_dir=self.data_dir)


class Collector:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store: Store | None = None
        self.batcher: Batcher | None = None
        self.ready = threading.Event()
        self.started_at = time.time()
        self._http = None
        self._grpc = None
        self._stopping = threading.Event()
        self._finisher: threading.Thread | None = None
        self.http_address = ""
        self.grpc_address = ""

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Collector:
        from .grpc_server import start_grpc
        from .http_server import start_http

        url = self.settings.store_url()
        self._http, self.http_address = start_http(self, self.settings.otlp_http)
        try:
            self.store = Store(url)
            layout = Layout.from_env(url.database)
            layout = Layout(layout.database, layout.cluster, layout.ttl_days, self.settings.refresh_seconds)
            applied = migrate(self.store.client, layout)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            self.batcher = Batcher(self.store, self.settings.batch_rows, self.settings.batch_seconds,
                                   self.settings.buffer_rows, self.settings.batch_bytes, self.settings.buffer_bytes)
            self._grpc, self.grpc_address = start_grpc(self, self.settings.otlp_grpc)
        except BaseException:
            self.stop()
            raise
        if url.embedded:
            self._write_state(url)
        self._finisher = threading.Thread(target=self._finish_analytics, name="heron-analytics", daemon=True)
        self._finisher.start()
        self.ready.set()
        log.info("heron collector ready: OTLP/HTTP %s, OTLP/gRPC %s, store %s",
                 self.http_address, self.grpc_address, url.redacted())
        return self

    def stop(self) -> None:
        self.ready.clear()
        self._stopping.set()
        if self._finisher is not None:
            self._finisher.join(timeout=30)
            self._finisher = None
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()
            self._grpc = None
        if self.batcher is not None:
            if not self.batcher.close(timeout=30):
                log.error("stopping with %d rows not written (store unreachable)", self.batcher.buffered)
            self.batcher = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self._remove_state()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _finish_analytics(self) -> None:
        """After ClickHouse's scheduled refreshes, fill what SQL cannot (p-values, corrections).

        The views run inside ClickHouse on their own schedule; this loop only looks for their new
        aggregate rows every few seconds and is cheap when there are none.
        """
        from . import analytics

        last_error = ""
        interval = max(1.0, min(30.0, self.settings.refresh_seconds / 10))
        while not self._stopping.wait(interval):
            try:
                analytics.finalize(self.store.client, self.store.database)
                last_error = ""
            except Exception as exc:  # reported once per distinct fault; ingestion is unaffected
                if str(exc) != last_error:
                    log.warning("analytics write-back failed (will retry): %s", exc)
                last_error = str(exc)

    # --- what the receivers call -----------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        """Constant-time check of `Authorization: Bearer <token>` when a token is configured."""
        token = self.settings.token
        if not token:
            return True
        expected = f"Bearer {token}".encode()
        return hmac.compare_digest((header or "").encode(), expected)

    def ingest(self, signal: str, request: Any) -> tuple[int, str]:
        """Queue a decoded request; returns (rejected count, message). Raises Busy when full."""
        if signal == "metrics":
            points = count_data_points(request)
            if not points:
                return 0, ""
            return points, ("heron stores logs and traces only: metric data points are not kept; "
                            "send metrics to your metrics backend (OTEL_METRICS_EXPORTER)")
        converted = log_rows(request) if signal == "logs" else trace_rows(request)
        table, columns = ("otel_logs", LOG_COLUMNS) if signal == "logs" else ("otel_traces", TRACE_COLUMNS)
        if self.batcher is None or not self.batcher.offer(table, converted.rows, columns, request.ByteSize()):
            raise Busy("the collector's buffer is full (the store is slow or down); retry later")
        return converted.rejected, converted.error_message

    def health(self) -> dict[str, Any]:
        stats = self.batcher.stats if self.batcher else None
        return {
            "status": "ok" if self.ready.is_set() else "starting",
            "uptime_s": round(time.time() - self.started_at, 1),
            "buffered_rows": self.batcher.buffered if self.batcher else 0,
            "rows_written": stats.rows_written if stats else 0,
            "failed_inserts": stats.failed_inserts if stats else 0,
            "last_error": stats.last_error if stats else "",
        }

    # --- the state file lets `heron sql` find a running embedded collector ------------------
    def _write_state(self, url: StoreURL) -> None:
        self._state = state_path(url)
        state = {"pid": os.getpid(), "admin": f"http://{self.http_address}", "store": url.url,
                 "database": url.database}
        with open(self._state + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(self._state + ".tmp", self._state)

    def _remove_state(self) -> None:
        path = getattr(self, "_state", None)
        try:
            if path:
                with open(path) as f:
                    if json.load(f).get("pid") == os.getpid():
                        os.remove(path)
        except (OSError, ValueError):
            pass
