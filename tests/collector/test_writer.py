"""The spool and the writer: durable segments, one insert each, replay under the same token,
retries for a failing store, halves and a dead letter for refused rows.

The sink here is a list that can fail on command (what the writer hands on is what we check);
the spool writes real files in a temp dir. The ClickHouse sink is exercised end to end in
test_durability.py.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from heron_collector.ingest.spool import Spool, SpoolFull
from heron_collector.ingest.writer import DEAD_LETTER_TABLE, Writer

COLUMNS = {"t": ("x",), "u": ("y",), DEAD_LETTER_TABLE: ("target", "error", "row")}


class ListSink:
    """Records (table, rows, token); `down` fails every insert as an unreachable store would;
    `refuse` fails any insert holding that value as a store refusing the data would."""

    def __init__(self, down: int = 0, refuse: object = None) -> None:
        self.inserts: list[tuple[str, list, str]] = []
        self.down = down
        self.refuse = refuse
        self.tokens: set[str] = set()
        self.lock = threading.Lock()

    def insert(self, table, rows, columns, token):
        with self.lock:
            if self.down:
                self.down -= 1
                raise ConnectionError("store down")
            if self.refuse is not None and any(self.refuse in row for row in rows):
                raise ValueError(f"cannot encode {self.refuse!r}")
            if token in self.tokens:  # what ClickHouse's deduplication does
                return
            self.tokens.add(token)
            self.inserts.append((table, list(rows), token))

    def retryable(self, exc):
        return isinstance(exc, ConnectionError)

    def rows(self, table="t"):
        return [row for t, rows, _ in self.inserts if t == table for row in rows]


def spool_at(path, **kwargs) -> Spool:
    options = {"max_bytes": 1 << 20, "segment_rows": 1_000, "segment_seconds": 0.05, **kwargs}
    return Spool(str(path), **options)


def append(spool: Spool, table: str, rows: list, digest: bytes | None = None) -> None:
    spool.wait_durable(spool.append([(table, rows)], digest or os.urandom(16)), timeout=10)


def test_rows_of_one_table_are_inserted_together_and_the_segment_file_is_removed(tmp_path):
    # A long interval: only flush() seals, however slowly the appends come on a loaded machine.
    spool, sink = spool_at(tmp_path, segment_seconds=3600), ListSink()
    writer = Writer(spool, sink, COLUMNS)
    for i in range(10):
        append(spool, "t", [[i]])
    append(spool, "u", [["y"]])
    assert writer.flush(timeout=5)
    assert sorted((table, rows) for table, rows, _ in sink.inserts) == [("t", [[i] for i in range(10)]), ("u", [["y"]])]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".wal")]
    writer.close(timeout=1)
    spool.close()


def test_a_failing_store_keeps_the_rows_and_they_land_in_order_once_it_is_back(tmp_path):
    spool, sink = spool_at(tmp_path), ListSink(down=3)
    writer = Writer(spool, sink, COLUMNS)
    append(spool, "t", [[1], [2]])
    assert writer.flush(timeout=10)
    append(spool, "t", [[3]])
    assert writer.flush(timeout=10)
    assert sink.rows() == [[1], [2], [3]]
    assert writer.stats.failed_inserts == 3
    assert writer.stats.last_error == "", "cleared once writes succeed again"
    writer.close(timeout=1)
    spool.close()


def test_refused_rows_go_to_the_dead_letter_and_the_rest_of_the_batch_is_stored(tmp_path):
    spool, sink = spool_at(tmp_path), ListSink(refuse="poison")
    writer = Writer(spool, sink, COLUMNS)
    append(spool, "t", [[i] for i in range(50)] + [["poison"]] + [[i] for i in range(50, 100)])
    assert writer.flush(timeout=10)
    assert sorted(sink.rows()) == [[i] for i in range(100)]
    dead = sink.rows(DEAD_LETTER_TABLE)
    assert len(dead) == 1 and dead[0][0] == "t" and "cannot encode 'poison'" in dead[0][1]
    assert '"x":"poison"' in dead[0][2]
    assert writer.stats.dead_lettered == 1
    writer.close(timeout=1)
    spool.close()


def test_a_full_spool_refuses_and_has_room_again_once_written(tmp_path):
    spool, sink = spool_at(tmp_path, max_bytes=2_000), ListSink(down=10**9)
    writer = Writer(spool, sink, COLUMNS)
    append(spool, "t", [["a" * 1_500]])
    with pytest.raises(SpoolFull, match="HERON_SPOOL_BYTES"):
        spool.append([("t", [["b" * 1_000]])], os.urandom(16))
    sink.down = 0
    assert writer.flush(timeout=40)
    append(spool, "t", [["b" * 1_000]])
    assert writer.flush(timeout=10)
    assert len(sink.rows()) == 2
    writer.close(timeout=1)
    spool.close()


def test_a_crash_replays_every_segment_under_its_own_token_and_drops_a_torn_frame(tmp_path):
    spool = spool_at(tmp_path, segment_seconds=3600)
    append(spool, "t", [[1], [2]])
    spool.seal_due(force=True)
    append(spool, "t", [[3]])
    head = spool.head(timeout=5)
    store = ListSink()
    store.insert("t", spool.rows_of(head), ("x",), head.token)  # committed; the process dies before deleting it
    # A torn frame (a write that was never acknowledged) at the end of the open segment:
    segments = sorted(name for name in os.listdir(tmp_path) if name.endswith(".wal"))
    with open(tmp_path / segments[-1], "ab") as f:
        f.write(b"\x10\x00\x00\x00garbage")
    os.close(spool._lock_fd)  # the process dies here: the kernel releases its lock on the spool
    again = spool_at(tmp_path)
    assert again.recovered_rows == 3
    replay = Writer(again, store, COLUMNS)
    assert replay.flush(timeout=10)
    assert store.rows() == [[1], [2], [3]], "the committed segment is deduplicated, the other one written once"
    replay.close(timeout=1)
    again.close()


def test_a_retried_request_is_acknowledged_without_storing_it_twice(tmp_path):
    spool, sink = spool_at(tmp_path), ListSink()
    digest = os.urandom(16)
    append(spool, "t", [[1]], digest)
    append(spool, "t", [[1]], digest)
    assert spool.rows == 1
    spool.close()
    again = spool_at(tmp_path)  # the digest survives a restart while its segment is spooled
    assert again.append([("t", [[1]])], digest) == 0
    writer = Writer(again, sink, COLUMNS)
    assert writer.flush(timeout=5)
    assert sink.rows() == [[1]]
    writer.close(timeout=1)
    again.close()


def test_rows_past_the_memory_bound_are_read_back_from_disk(tmp_path):
    spool, sink = spool_at(tmp_path, memory_bytes=500, segment_seconds=3600), ListSink()
    for i in range(20):
        append(spool, "t", [[f"row-{i:03d}" * 5]])
    assert spool.memory <= 500
    writer = Writer(spool, sink, COLUMNS)
    assert writer.flush(timeout=5)
    assert sink.rows() == [[f"row-{i:03d}" * 5] for i in range(20)]
    writer.close(timeout=1)
    spool.close()


def test_group_commit_one_fsync_covers_concurrent_requests(tmp_path, monkeypatch):
    calls = []
    real_fsync = os.fsync

    def slow_fsync(fd):
        calls.append(fd)
        time.sleep(0.05)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    spool = spool_at(tmp_path, segment_seconds=3600)
    threads = [threading.Thread(target=append, args=(spool, "t", [[i]])) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spool.rows == 40
    assert len(calls) < 20, f"{len(calls)} fsyncs for 40 concurrent requests"
    spool.close()


def test_two_spools_cannot_share_a_directory(tmp_path):
    from heron_collector.ingest.spool import SpoolError

    first = spool_at(tmp_path)
    with pytest.raises(SpoolError, match=f"in use by another collector \\(pid {os.getpid()}\\)"):
        spool_at(tmp_path)
    first.close()
    spool_at(tmp_path).close()  # free again once the first is closed
