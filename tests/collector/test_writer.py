"""The batcher: one insert per table per batch, bounded memory, retries after a failing store.

The sink here is a list (what the batcher hands on is what we check); the ClickHouse sink
itself is exercised by the end-to-end tests.
"""

from __future__ import annotations

import threading

from heron_collector.writer import Batcher


class ListSink:
    def __init__(self, failures: int = 0) -> None:
        self.inserts: list[tuple[str, list]] = []
        self.failures = failures
        self.lock = threading.Lock()

    def insert(self, table, rows, columns):
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("store down")
            self.inserts.append((table, list(rows)))


def test_rows_of_one_table_are_inserted_together():
    sink = ListSink()
    batcher = Batcher(sink, max_rows=1_000, max_seconds=60)
    for i in range(10):
        assert batcher.offer("otel_logs", [[i]], ("x",))
    assert batcher.offer("otel_traces", [["t"]], ("y",))
    assert batcher.flush(timeout=5)
    assert sorted(sink.inserts) == [("otel_logs", [[i] for i in range(10)]), ("otel_traces", [["t"]])]
    batcher.close()


def test_a_full_batch_is_written_without_waiting_for_the_timer():
    sink = ListSink()
    batcher = Batcher(sink, max_rows=5, max_seconds=3600)
    batcher.offer("t", [[i] for i in range(5)], ("x",))
    for _ in range(100):
        if sink.inserts:
            break
        threading.Event().wait(0.02)
    assert sink.inserts == [("t", [[i] for i in range(5)])]
    batcher.close()


def test_offer_refuses_beyond_the_buffer_bound():
    sink = ListSink(failures=10**9)  # the store never comes back
    batcher = Batcher(sink, max_rows=10, max_seconds=0.01, max_buffered=100)
    assert batcher.offer("t", [[i] for i in range(100)], ("x",))
    assert not batcher.offer("t", [[0]], ("x",))
    assert batcher.stats.refused_rows == 1
    assert not batcher.flush(timeout=0.3)
    assert batcher.buffered + 0 <= 100


def test_failed_inserts_are_retried_in_order_and_nothing_is_lost():
    sink = ListSink(failures=2)
    batcher = Batcher(sink, max_rows=1_000, max_seconds=0.01)
    batcher.offer("t", [[1], [2]], ("x",))
    assert batcher.flush(timeout=10)
    batcher.offer("t", [[3]], ("x",))
    assert batcher.flush(timeout=10)
    assert [row for _, rows in sink.inserts for row in rows] == [[1], [2], [3]]
    assert batcher.stats.failed_inserts == 2
    assert "store down" in batcher.stats.last_error
    batcher.close()


def test_bytes_bound_the_buffer_and_split_inserts():
    sink = ListSink(failures=10**9)
    batcher = Batcher(sink, max_rows=1_000, max_seconds=0.01, batch_bytes=1_000, max_bytes=10_000)
    assert batcher.offer("t", [[i] for i in range(5)], ("x",), nbytes=9_000)
    assert not batcher.offer("t", [[9]], ("x",), nbytes=2_000), "over the byte bound"
    sink.failures = 0
    assert batcher.flush(timeout=10)
    # 1,800 bytes a row against a 1,000-byte batch: every insert carries one row.
    assert [len(rows) for _, rows in sink.inserts] == [1, 1, 1, 1, 1]
    assert batcher.offer("t", [[9]], ("x",), nbytes=2_000), "room again once written"
    batcher.close()


def test_one_request_larger_than_the_byte_bound_is_taken_when_the_buffer_is_empty():
    sink = ListSink()
    batcher = Batcher(sink, max_rows=1_000, max_seconds=0.01, max_bytes=100)
    assert batcher.offer("t", [[1]], ("x",), nbytes=5_000)
    assert batcher.flush(timeout=5)
    assert sink.inserts == [("t", [[1]])]
    batcher.close()
