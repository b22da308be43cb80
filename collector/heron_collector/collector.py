"""The collector process: store + migrations + spool + writer + OTLP receivers + admin endpoint.

`Collector` wires the parts and owns their lifecycle; the receivers only translate transport
(HTTP, gRPC) to `ingest`, so both answer identically. A request is answered only once its rows
are durable in the spool; the writer moves them to the store in the background (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from typing import Any

from .ingest.decode import parse
from .ingest.errors import Busy
from .ingest.limits import Limits
from .ingest.signals import TABLE_COLUMNS, Signal
from .ingest.spool import Spool, SpoolError, SpoolFull
from .ingest.writer import DEAD_LETTER_COLUMNS, DEAD_LETTER_TABLE, Writer
from .migrations import Layout, migrate
from .settings import Settings, StoreURL, state_path
from .store import Store

log = logging.getLogger("heron.collector")
DURABLE_TIMEOUT_S = 30.0
SPOOL_HIGH_WATER = 0.9
COLUMNS = {**TABLE_COLUMNS, DEAD_LETTER_TABLE: DEAD_LETTER_COLUMNS}  # what the writer inserts


def loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def check_exposure(settings: Settings) -> None:
    """A collector reachable from other hosts without a token: warn for OTLP, refuse for admin.

    Anyone who reaches OTLP can write predictions; anyone who reaches admin can read every table,
    so a non-loopback admin address requires HERON_COLLECTOR_TOKEN."""
    if settings.token:
        return
    if not loopback(settings.admin):
        raise ValueError(f"the admin endpoint would listen on {settings.admin} without a token: set "
                         "HERON_COLLECTOR_TOKEN, or keep HERON_ADMIN on loopback (127.0.0.1:PORT)")
    for name, address in (("OTLP/HTTP", settings.otlp_http), ("OTLP/gRPC", settings.otlp_grpc)):
        if not loopback(address):
            log.warning("%s listens on %s with no HERON_COLLECTOR_TOKEN: anyone who reaches it can send "
                        "telemetry; set a token", name, address)


class Collector:
    def __init__(self, settings: Settings | None = None) -> None:
        from .metrics import Metrics
        from .model_health import ModelHealth

        self.settings = settings or Settings()
        self.limits = Limits.from_settings(self.settings)
        self.model_health = ModelHealth(self.settings.prometheus_max_series)
        self.store: Store | None = None
        self.spool: Spool | None = None
        self.writer: Writer | None = None
        self.metrics = Metrics(self)
        self.ready = threading.Event()
        self.started_at = time.time()
        self._http = None
        self._admin_http = None
        self._grpc = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._store_error = ""
        self.http_address = ""
        self.grpc_address = ""
        self.admin_address = ""

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Collector:
        from .alerts import channels, rules
        from .ingest.otlp_grpc import start_grpc
        from .ingest.otlp_http import start_http

        url = self.settings.store_url()
        check_exposure(self.settings)
        self.alert_rules, channel_config = rules.load(self.settings.alert_rules)  # RuleError: refuse to start
        self.alert_channels = channels.channels_from_config(channel_config)
        self._http, self.http_address = start_http(self, self.settings.otlp_http)
        try:
            s = self.settings
            self._admin_http, self.admin_address = start_http(self, s.admin, admin=True)
            self.spool = Spool(s.spool_path(), s.spool_bytes, fsync=s.spool_fsync == "always",
                               memory_bytes=s.buffer_bytes, segment_rows=s.batch_rows, segment_bytes=s.batch_bytes,
                               segment_seconds=s.batch_seconds)
            self.store = Store(url, s.admin_limits(), wait_seconds=s.store_wait_seconds)
            applied = migrate(self.store.client, Layout.from_settings(s))
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            self.writer = Writer(self.spool, self.store, COLUMNS, self.metrics)
            self._grpc, self.grpc_address = start_grpc(self, s.otlp_grpc)
        except BaseException:
            self.stop()
            raise
        if url.embedded:
            self._write_state(url)
        for target, name in ((self._finish_analytics, "heron-analytics"), (self._watch_store, "heron-ping"),
                             (self._evaluate_alerts, "heron-alerts")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.ready.set()
        log.info("heron collector ready: OTLP/HTTP %s, OTLP/gRPC %s, admin %s, store %s, spool %s",
                 self.http_address, self.grpc_address, self.admin_address, url.redacted(), self.spool.directory)
        return self

    def stop(self) -> bool:
        """Stop receiving, write what the store takes within HERON_SHUTDOWN_SECONDS, keep the rest
        spooled for the next start. True when every acknowledged row is durable (stored or spooled)."""
        self.ready.clear()
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()
            self._grpc = None
        for server in (self._http, self._admin_http):
            if server is not None:
                server.stop()
        self._http = self._admin_http = None
        durable = True
        if self.writer is not None:
            if not self.writer.close(timeout=self.settings.shutdown_seconds):
                log.warning("stopping with %d acknowledged rows still in the spool at %s (%s); they are "
                            "written, deduplicated, at the next start", self.spool.rows, self.spool.directory,
                            self.writer.stats.last_error or "the store did not take them in time")
            self.writer = None
        if self.spool is not None:
            durable = self.spool.close()
            if not durable:
                log.error("the spool at %s could not be made durable at stop", self.spool.directory)
            self.spool = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self._remove_state()
        return durable

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything acknowledged so far to the store; True when done within `timeout`."""
        return self.writer is not None and self.writer.flush(timeout)

    def refreshed(self) -> None:
        """After an admin refresh: /metrics shows the new values at once."""
        self.model_health.reload(self.store.client, self.store.database)

    def _finish_analytics(self) -> None:
        """After ClickHouse's scheduled refreshes, fill what SQL cannot (p-values, corrections).

        The views run inside ClickHouse on their own schedule; this loop only looks for their new
        aggregate rows every few seconds and is cheap when there are none.
        """
        from . import analytics

        last_error = ""
        interval = max(1.0, min(30.0, self.settings.refresh_seconds / 10))
        self.model_health.reload(self.store.client, self.store.database)
        while not self._stopping.wait(interval):
            try:
                analytics.finalize(self.store.client, self.store.database)
                self.model_health.reload_if_changed(self.store.client, self.store.database)
                last_error = ""
            except Exception as exc:  # reported once per distinct fault; ingestion is unaffected
                if str(exc) != last_error:
                    log.warning("analytics write-back failed (will retry): %s", exc)
                last_error = str(exc)

    def _evaluate_alerts(self) -> None:
        """Evaluate the alert rules once per refresh interval, and between evaluations look for
        notifications that came due (group_wait, group_interval), handing them to the channels
        (each on its own queue: a dead channel stalls nothing else)."""
        from .alerts import dispatch, evaluate, notify

        def outcome(n: Any, delivery: Any) -> None:
            try:
                notify.record(self.store.client, self.store.database, n, delivery.channel, delivery.outcome,
                              delivery.status, delivery.attempts, delivery.error)
            except Exception as exc:
                log.warning("could not record an alert delivery: %s", exc)

        dispatcher = dispatch.Dispatcher(self.alert_channels, on_outcome=outcome)
        every_time = frozenset(name for name, c in self.alert_channels.items() if c.type == "alertmanager")
        refresh = float(self.settings.refresh_seconds)
        tick = notify.tick_seconds(self.alert_rules, refresh)
        next_evaluation = time.monotonic() + refresh
        last_error = ""
        try:
            while not self._stopping.wait(tick):
                try:
                    now = dt.datetime.now(dt.timezone.utc)
                    evaluated = time.monotonic() >= next_evaluation
                    changed = []
                    if evaluated:
                        next_evaluation = time.monotonic() + refresh
                        changed = evaluate.evaluate(self.store.client, self.store.database, self.alert_rules, now)
                    plans = notify.plan(self.store.client, self.store.database, self.alert_rules, now,
                                        every_time if evaluated else frozenset())
                    notify.send(self.store.client, self.store.database, plans, dispatcher, now)
                    if changed:
                        self.model_health.reload(self.store.client, self.store.database)
                    last_error = ""
                except Exception as exc:  # reported once per distinct fault; ingestion is unaffected
                    if str(exc) != last_error:
                        log.warning("alert evaluation failed (will retry): %s", exc)
                    last_error = str(exc)
        finally:
            dispatcher.close(timeout=5.0)

    def _watch_store(self) -> None:
        """Ping the store every few seconds, so readiness knows an idle collector lost it."""
        while not self._stopping.wait(5.0):
            self._store_error = self.store.ping() if self.store else ""

    # --- what the receivers call -----------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        """Constant-time check of `Authorization: Bearer <token>` when a token is configured (the
        scheme is case-insensitive, RFC 7235)."""
        token = self.settings.token
        if not token:
            return True
        scheme, _, given = (header or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())

    def ingest(self, signal: Signal, body: bytes, content_type: str) -> tuple[int, str]:
        """Decode, check and spool one request of `signal` (ingest.signals) durably; returns
        (rejected count, message).

        Raises BadRequest for an undecodable body and Busy while starting or stopping, or when the
        spool cannot take it.
        """
        spool = self.spool
        if spool is None or not self.ready.is_set():
            raise Busy("the collector is starting or stopping; retry later")
        request = parse(signal, body, content_type)
        converted = signal.rows(request, self.limits, time.time_ns())
        if signal.table is None:  # answered, not kept: nothing to count or spool
            return converted.rejected, converted.error_message
        table = signal.table
        self.metrics.received.labels(signal.name).inc(len(converted.rows) + converted.rejected)
        for reason, count in converted.reasons.items():
            self.metrics.rejected.labels(signal.name, reason).inc(count)
        digest = hashlib.blake2b(body, digest_size=16, person=signal.name.encode()).digest()
        try:
            sequence = spool.append([(table, converted.rows)], digest)
            spool.wait_durable(sequence, DURABLE_TIMEOUT_S)
        except (SpoolFull, SpoolError) as exc:
            raise Busy(str(exc)) from exc
        self.metrics.spooled.labels(table).inc(len(converted.rows))
        return converted.rejected, converted.error_message

    def readiness(self) -> tuple[bool, list[str]]:
        """Whether senders should be routed here, and why not."""
        reasons = []
        if not self.ready.is_set():
            reasons.append("starting" if not self._stopping.is_set() else "stopping")
        writer, spool = self.writer, self.spool
        if writer is not None and writer.stats.failing_since:
            since = time.strftime("%H:%M:%S", time.localtime(writer.stats.failing_since))
            reasons.append(f"store: writes failing since {since}: {writer.stats.last_error}")
        elif self._store_error:
            reasons.append(f"store: not answering: {self._store_error}")
        if spool is not None and spool.bytes >= SPOOL_HIGH_WATER * spool.max_bytes:
            reasons.append(f"spool: {spool.bytes} of {spool.max_bytes} bytes used (HERON_SPOOL_BYTES); "
                           "senders get 503 when it is full")
        return not reasons, reasons

    def health(self) -> dict[str, Any]:
        ready, reasons = self.readiness()
        stats, spool = (self.writer.stats if self.writer else None), self.spool
        return {
            "status": "ok" if ready else ("starting" if not self.ready.is_set() else "degraded"),
            "ready": ready,
            "reasons": reasons,
            "uptime_s": round(time.time() - self.started_at, 1),
            "spool_rows": spool.rows if spool else 0,
            "spool_bytes": spool.bytes if spool else 0,
            "spool_limit_bytes": self.settings.spool_bytes,
            "rows_written": stats.rows_written if stats else 0,
            "failed_inserts": stats.failed_inserts if stats else 0,
            "dead_lettered": stats.dead_lettered if stats else 0,
            "last_error": stats.last_error if stats else "",
            "model_health_error": self.model_health.error,  # /metrics keeps the last values meanwhile
        }

    # --- the state file lets `heron sql` find a running embedded collector ------------------
    def _write_state(self, url: StoreURL) -> None:
        self._state = state_path(url)
        scheme = "https" if self.settings.tls() else "http"
        state = {"pid": os.getpid(), "admin": f"{scheme}://{self.admin_address}", "store": url.url,
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
