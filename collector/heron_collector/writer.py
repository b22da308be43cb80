"""Buffering rows and inserting them in batches: one insert per table per batch.

A generic batcher in front of a small `Sink` protocol, so batching, retry and the ClickHouse
sink are each testable alone (and a disk spool can slot in between later). Memory is bounded in
rows and in bytes (a 1,000-row batch record is one row of otel_logs but ~0.5 MB): `offer` refuses
once either bound would be passed, and the receivers answer 503 with Retry-After, which OTLP
exporters retry. An insert takes at most `max_rows` rows or about `batch_bytes` bytes. A failed
insert keeps its rows at the head of the buffer and is retried with capped exponential backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("heron.collector")


class Sink(Protocol):
    def insert(self, table: str, rows: list[list[Any]], columns: Sequence[str]) -> None: ...


@dataclass
class _Buffer:
    columns: Sequence[str]
    rows: list[list[Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # approximate bytes of each row
    bytes: int = 0
    since: float = 0.0  # monotonic time of the oldest buffered row


@dataclass
class WriterStats:
    rows_written: int = 0
    inserts: int = 0
    failed_inserts: int = 0
    refused_rows: int = 0
    last_error: str = ""


class Batcher:
    def __init__(self, sink: Sink, max_rows: int = 20_000, max_seconds: float = 1.0,
                 max_buffered: int = 200_000, batch_bytes: int = 16 << 20, max_bytes: int = 256 << 20) -> None:
        self.sink = sink
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.max_buffered = max_buffered
        self.batch_bytes = batch_bytes
        self.max_bytes = max_bytes
        self._bytes = 0
        self.stats = WriterStats()
        self._buffers: dict[str, _Buffer] = {}
        self._buffered = 0
        self._in_flight = 0
        self._cond = threading.Condition()
        self._flush_requested = False
        self._closed = False
        self._backoff = 0.0  # monotonic time before which no insert is tried
        self._delay = 0.0
        self._thread = threading.Thread(target=self._run, name="heron-writer", daemon=True)
        self._thread.start()

    @property
    def buffered(self) -> int:
        return self._buffered

    def offer(self, table: str, rows: list[list[Any]], columns: Sequence[str], nbytes: int = 0) -> bool:
        """Queue rows (about `nbytes` in all) for `table`; False, nothing queued, when full or closed.

        A single offer larger than the whole byte bound is still taken when the buffer is empty,
        so one legitimate large request cannot be refused forever.
        """
        if not rows:
            return True
        with self._cond:
            over = (self._buffered + len(rows) > self.max_buffered
                    or (self._bytes + nbytes > self.max_bytes and self._bytes > 0))
            if self._closed or over:
                self.stats.refused_rows += len(rows)
                return False
            buffer = self._buffers.get(table)
            if buffer is None:
                buffer = self._buffers[table] = _Buffer(columns)
            if not buffer.rows:
                buffer.since = time.monotonic()
            per_row, extra = divmod(nbytes, len(rows))
            buffer.rows.extend(rows)
            buffer.sizes.extend([per_row] * len(rows))
            buffer.sizes[-1] += extra
            buffer.bytes += nbytes
            self._buffered += len(rows)
            self._bytes += nbytes
            if len(buffer.rows) >= self.max_rows or buffer.bytes >= self.batch_bytes:
                self._cond.notify_all()
        return True

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything buffered now; True when the buffer emptied within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush_requested = True
            self._cond.notify_all()
            while self._buffered or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
                self._flush_requested = True
                self._cond.notify_all()
        return True

    def close(self, timeout: float = 30.0) -> bool:
        flushed = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        return flushed

    def _due(self, now: float) -> str | None:
        for table, buffer in self._buffers.items():
            if buffer.rows and (
                self._flush_requested or len(buffer.rows) >= self.max_rows
                or buffer.bytes >= self.batch_bytes or now - buffer.since >= self.max_seconds
            ):
                return table
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed and not self._buffered:
                        return
                    now = time.monotonic()
                    table = None if self._backoff > now else self._due(now)
                    if table:
                        break
                    if not self._buffered:
                        self._flush_requested = False
                    self._cond.wait(0.05)
                buffer = self._buffers[table]
                take, taken_bytes = 0, 0
                limit = min(len(buffer.rows), self.max_rows)
                while take < limit and (take == 0 or taken_bytes < self.batch_bytes):
                    taken_bytes += buffer.sizes[take]
                    take += 1
                rows, buffer.rows = buffer.rows[:take], buffer.rows[take:]
                sizes, buffer.sizes = buffer.sizes[:take], buffer.sizes[take:]
                buffer.bytes -= taken_bytes
                columns = buffer.columns
                self._in_flight += len(rows)
                self._buffered -= len(rows)
            error = self._insert(table, rows, columns)
            with self._cond:
                self._in_flight -= len(rows)
                if error:
                    buffer.rows[:0] = rows  # keep order; retry later
                    buffer.sizes[:0] = sizes
                    buffer.bytes += taken_bytes
                    buffer.since = time.monotonic()
                    self._buffered += len(rows)
                else:
                    self._bytes -= taken_bytes
                self._cond.notify_all()

    def _insert(self, table: str, rows: list[list[Any]], columns: Sequence[str]) -> str:
        try:
            self.sink.insert(table, rows, columns)
        except Exception as exc:  # the store is down or refused the batch: keep it, back off
            self.stats.failed_inserts += 1
            message = f"insert into {table} failed: {exc}"
            if message != self.stats.last_error:
                log.warning("%s (will retry)", message)
            self.stats.last_error = message
            self._delay = min(30.0, self._delay * 2 or 0.25)
            self._backoff = time.monotonic() + self._delay
            return message
        self.stats.inserts += 1
        self.stats.rows_written += len(rows)
        self._backoff = 0.0
        self._delay = 0.0
        return ""
