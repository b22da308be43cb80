"""Draining the spool into the store: one insert per sealed segment, in order, idempotent.

The writer thread takes the oldest durable segment, inserts its rows with the segment's
deduplication token and deletes it once the insert committed. A store that is down or out of
room (`Sink.retryable`) keeps the segment at the head and is retried with capped exponential
backoff. A store that refuses the *data* gets it in halves, recursively, so the rows it accepts
are stored (each half under a token derived from its parent's, so a replay repeats the same
inserts) and each row it refuses alone goes to the dead-letter table with the error. Nothing is
retried forever for a bad value, and nothing is dropped for a bad store.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from .spool import Segment, Spool

log = logging.getLogger("heron.collector")
DEAD_LETTER_TABLE = "heron_dead_letter"
DEAD_LETTER_COLUMNS = ("target", "error", "row")
MAX_BACKOFF_S = 30.0


class Sink(Protocol):
    def insert(self, table: str, rows: list[list[Any]], columns: Sequence[str], token: str) -> None: ...

    def retryable(self, exc: Exception) -> bool: ...


class Observer(Protocol):
    """What the writer reports (the collector's metrics)."""

    def inserted(self, table: str, rows: int, seconds: float, replayed: bool) -> None: ...

    def insert_failed(self, table: str, kind: str) -> None: ...

    def dead_lettered(self, table: str, rows: int) -> None: ...


class _Retry(Exception):
    """The store could not take the segment now; keep it and back off."""


@dataclass
class WriterStats:
    rows_written: int = 0
    inserts: int = 0
    failed_inserts: int = 0
    dead_lettered: int = 0
    last_error: str = ""
    last_success: float = 0.0  # wall time of the last committed insert
    failing_since: float = 0.0  # wall time of the first failure since the last success


def _row_json(columns: Sequence[str], row: list[Any]) -> str:
    document = dict(zip(columns, row, strict=False))
    try:
        return orjson.dumps(document, default=str).decode()
    except TypeError:  # an integer past 64 bits
        return json.dumps(document, default=str)


class Writer:
    def __init__(self, spool: Spool, sink: Sink, columns: dict[str, Sequence[str]],
                 observer: Observer | None = None) -> None:
        self.spool = spool
        self.sink = sink
        self.columns = columns
        self.observer = observer
        self.stats = WriterStats()
        self._stop = threading.Event()
        self._drain = threading.Event()
        self._delay = 0.0
        self._thread = threading.Thread(target=self._run, name="heron-writer", daemon=True)
        self._thread.start()

    # --- control ---------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Seal and write everything spooled so far; True when the spool emptied within `timeout`."""
        deadline = time.monotonic() + timeout
        self._drain.set()
        try:
            while self.spool.pending():
                if time.monotonic() >= deadline:
                    return False
                self.spool.seal_due(force=True)
                time.sleep(0.02)
            return True
        finally:
            self._drain.clear()

    def close(self, timeout: float) -> bool:
        """Write what the store takes within `timeout`, then stop; True when nothing is left spooled."""
        drained = self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=MAX_BACKOFF_S + 5)
        return drained

    # --- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self.spool.seal_due(force=self._drain.is_set())
            segment = self.spool.head(timeout=0.05)
            if segment is None:
                continue
            try:
                self._write_segment(segment)
            except _Retry:
                self._stop.wait(self._delay)
                continue
            except Exception:  # a bug must not stop the writer: keep the segment and back off
                log.exception("writer: unexpected error writing %s (kept, will retry)", segment.path)
                self._back_off("unexpected writer error (see the log)")
                self._stop.wait(self._delay)
                continue
            self.spool.done(segment)

    def _write_segment(self, segment: Segment) -> None:
        rows = self.spool.rows_of(segment)
        columns = self.columns[segment.table]
        started = time.perf_counter()
        dead = self._insert(segment.table, rows, columns, segment.token)
        if dead:
            letters = [[segment.table, error[:4000], _row_json(columns, row)] for row, error in dead]
            try:
                self.sink.insert(DEAD_LETTER_TABLE, letters, DEAD_LETTER_COLUMNS, segment.token + "/dead")
            except Exception as exc:
                self._failed(segment.table, "transient", f"dead-letter insert failed: {exc}")
                raise _Retry from exc
            self.stats.dead_lettered += len(dead)
            log.warning("writer: %d row(s) of %s refused by the store went to %s; first error: %s",
                        len(dead), segment.table, DEAD_LETTER_TABLE, dead[0][1][:300])
            if self.observer:
                self.observer.dead_lettered(segment.table, len(dead))
        written = len(rows) - len(dead)
        self.stats.rows_written += written
        self.stats.inserts += 1
        self.stats.last_success = time.time()
        self.stats.failing_since = 0.0
        self.stats.last_error = ""
        self._delay = 0.0
        if self.observer:
            self.observer.inserted(segment.table, written, time.perf_counter() - started, segment.recovered)

    def _insert(self, table: str, rows: list[list[Any]], columns: Sequence[str],
                token: str) -> list[tuple[list[Any], str]]:
        """Insert `rows`; returns the rows the store refused alone, with its error. Raises _Retry."""
        if not rows:
            return []
        try:
            self.sink.insert(table, rows, columns, token)
            return []
        except Exception as exc:
            if self.sink.retryable(exc):
                self._failed(table, "transient", f"insert into {table} failed: {exc}")
                raise _Retry from exc
            self._failed(table, "data", f"insert into {table} refused its data: {exc}", quiet=len(rows) > 1)
            if len(rows) == 1:
                return [(rows[0], str(exc))]
        middle = len(rows) // 2
        return (self._insert(table, rows[:middle], columns, token + "/a")
                + self._insert(table, rows[middle:], columns, token + "/b"))

    def _failed(self, table: str, kind: str, message: str, quiet: bool = False) -> None:
        self.stats.failed_inserts += 1
        if self.observer:
            self.observer.insert_failed(table, kind)
        if kind == "transient":
            self._back_off(message)
        elif not quiet:
            log.debug("writer: %s", message)

    def _back_off(self, message: str) -> None:
        if message != self.stats.last_error:
            log.warning("writer: %s (kept in the spool, will retry)", message)
        self.stats.last_error = message
        if not self.stats.failing_since:
            self.stats.failing_since = time.time()
        self._delay = min(MAX_BACKOFF_S, self._delay * 2 or 0.25)
