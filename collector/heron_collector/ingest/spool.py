"""The on-disk spool: every acknowledged row stays here until ClickHouse has committed it.

One directory of segment files, `<seq>-<nonce>-<table>.wal`. A segment collects the frames of
one table's requests for up to a batch interval, becomes one INSERT whose deduplication token is
its file stem, and is deleted once that insert committed. After a crash every segment left is
inserted again under the same token, so ClickHouse drops what it already had (the nonce keeps
tokens unique when a spool directory is wiped and numbering restarts).

A frame is a 4-byte length, a 4-byte CRC32 and an orjson payload `{"d": digest, "r": rows}`. A
frame torn by a crash fails its check and ends its segment; it was never acknowledged, since a
request is answered only after its frame is durable.

Group commit: a request writes its frame and waits; the syncer thread's one fsync covers every
frame written before it began (`fsync="always"`). With `"never"` a request is acknowledged once
the OS has the bytes, which survives a collector crash but not a power cut.

The digest of each request body is kept for a while (and recovered from the frames at start), so
an exporter that retries a request it did not see answered is acknowledged without storing the
rows twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import struct
import threading
import time
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger("heron.collector")

_HEADER = struct.Struct("<II")
_NAME = re.compile(r"^(\d{12})-([0-9a-f]{8})-([A-Za-z0-9_]+)\.wal$")
DIGEST_SECONDS = 900.0  # how long a request digest answers a retry (exporters give up within minutes)
DIGEST_LIMIT = 200_000


class SpoolFull(RuntimeError):
    """The spool is at its byte limit (or its disk is full): answer 503 so the sender retries."""


class SpoolError(RuntimeError):
    """The spool could not make a request durable (write or fsync failed): answer 503."""


@dataclass
class Segment:
    seq: int
    nonce: str
    table: str
    path: str
    fd: int | None = None
    rows: list[list[Any]] | None = field(default_factory=list)  # None: only on disk
    count: int = 0
    nbytes: int = 0
    memory: int = 0
    opened: float = field(default_factory=time.monotonic)
    last_write: int = 0  # write sequence of its last frame
    recovered: bool = False

    @property
    def token(self) -> str:
        """The insert deduplication token: stable across restarts, unique across spools."""
        return f"heron-{self.seq:012d}-{self.nonce}-{self.table}"


def _frames(path: str) -> tuple[list[tuple[bytes, list[list[Any]]]], int]:
    """The intact frames of a segment file and the byte length they cover."""
    out, offset = [], 0
    with open(path, "rb") as f:
        data = f.read()
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        payload = data[offset + _HEADER.size: offset + _HEADER.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            frame = orjson.loads(payload)
        except orjson.JSONDecodeError:
            break
        out.append((bytes.fromhex(frame["d"]), frame["r"]))
        offset += _HEADER.size + length
    return out, offset


def _lock(directory: str) -> int:
    """Hold the spool directory for this process: two collectors must never share one."""
    path = os.path.join(directory, ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SpoolError(f"the spool {directory} is in use by another collector (pid {holder}); give each "
                         "collector its own HERON_SPOOL_DIR (or HERON_DATA_DIR)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


class Spool:
    def __init__(self, directory: str, max_bytes: int, fsync: bool = True, memory_bytes: int = 64 << 20,
                 segment_rows: int = 20_000, segment_bytes: int = 16 << 20, segment_seconds: float = 1.0) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.memory_bytes = memory_bytes
        self.segment_rows = segment_rows
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self._cond = threading.Condition()
        self._open: dict[str, Segment] = {}
        self._ready: deque[Segment] = deque()  # sealed, oldest first
        self._bytes = 0
        self._memory = 0
        self._rows = 0
        self._written = 0  # frames written
        self._synced = 0  # frames covered by an fsync
        self._dirty: set[int] = set()
        self._dir_dirty = False
        self._sync_error = ""
        self._digests: OrderedDict[bytes, tuple[float, int]] = OrderedDict()
        self._closed = False
        self.recovered_rows = 0
        os.makedirs(directory, exist_ok=True)
        self._lock_fd = _lock(directory)
        self._dir_fd = os.open(directory, os.O_RDONLY)
        self._seq = self._recover()
        self._syncer = threading.Thread(target=self._sync_loop, name="heron-spool-sync", daemon=True)
        self._syncer.start()

    # --- state ----------------------------------------------------------------------------
    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def rows(self) -> int:
        """Rows spooled and not yet committed to the store."""
        return self._rows

    @property
    def memory(self) -> int:
        return self._memory

    @property
    def segments(self) -> int:
        return len(self._ready) + len(self._open)

    # --- recovery ---------------------------------------------------------------------------
    def _recover(self) -> int:
        """Load what a previous run left (in file order); returns the next sequence number."""
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), match.group(2), match.group(3), name))
            elif name.endswith(".wal"):
                log.warning("spool: ignoring %s (not a spool segment name)", name)
        last = 0
        now = time.monotonic()
        for seq, nonce, table, name in sorted(found):
            last = max(last, seq)
            path = os.path.join(self.directory, name)
            frames, length = _frames(path)
            if os.path.getsize(path) != length:
                log.warning("spool: %s ends in a torn frame (never acknowledged); keeping its first %d bytes",
                            name, length)
                os.truncate(path, length)
            if not frames:
                os.unlink(path)
                continue
            segment = Segment(seq, nonce, table, path, rows=None, nbytes=length, recovered=True)
            for digest, rows in frames:
                segment.count += len(rows)
                self._digests[digest] = (now, 0)
            self._ready.append(segment)
            self._bytes += length
            self._rows += segment.count
            self.recovered_rows += segment.count
        if self.recovered_rows:
            log.info("spool: %d rows (log records and spans) in %d segments from the previous run will be written "
                     "(deduplicated)",
                     self.recovered_rows, len(self._ready))
        return last + 1

    # --- what the receivers call -------------------------------------------------------------
    def append(self, batches: list[tuple[str, list[list[Any]]]], digest: bytes) -> int:
        """Write one request's rows (per table) and return the write sequence to wait for.

        Returns 0 when nothing needs writing. A digest seen recently returns the sequence of the
        first copy (an exporter's retry of a request it did not see answered) and writes nothing.
        """
        payloads = [(table, rows, self._frame(digest, rows)) for table, rows in batches if rows]
        with self._cond:
            if self._closed:
                raise SpoolError("the collector is stopping")
            self._expire_digests()
            seen = self._digests.get(digest)
            if seen is not None:
                return seen[1]
            if not payloads:
                return 0
            size = sum(len(frame) for _, _, frame in payloads)
            if self._bytes + size > self.max_bytes and self._bytes > 0:
                raise SpoolFull(f"the spool holds {self._bytes} bytes, its limit is {self.max_bytes} "
                                "(HERON_SPOOL_BYTES): the store is slow or down")
            for table, rows, frame in payloads:
                self._write(table, rows, frame)
            self._digests[digest] = (time.monotonic(), self._written)
            if len(self._digests) > DIGEST_LIMIT:
                self._digests.popitem(last=False)
            if self.fsync:
                self._cond.notify_all()
            else:
                self._synced = self._written
            return self._written

    def wait_durable(self, sequence: int, timeout: float) -> None:
        """Block until the frames up to `sequence` are fsynced; raise SpoolError if they cannot be."""
        if not sequence:
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._synced < sequence:
                if self._sync_error:
                    raise SpoolError(f"spool fsync failed: {self._sync_error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SpoolError(f"spool fsync took longer than {timeout:.0f} s")
                self._cond.wait(min(remaining, 0.5))

    @staticmethod
    def _frame(digest: bytes, rows: list[list[Any]]) -> bytes:
        try:
            payload = orjson.dumps({"d": digest.hex(), "r": rows})
        except TypeError as exc:  # an int beyond 64 bits: validation should have refused it
            raise ValueError(f"a value cannot be spooled: {exc}") from exc
        return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload

    def _write(self, table: str, rows: list[list[Any]], frame: bytes) -> None:
        segment = self._open.get(table)
        if segment is None:
            nonce = secrets.token_hex(4)
            path = os.path.join(self.directory, f"{self._seq:012d}-{nonce}-{table}.wal")
            segment = Segment(self._seq, nonce, table, path)
            segment.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._seq += 1
            self._open[table] = segment
            self._dir_dirty = True
        try:
            written = os.write(segment.fd, frame)
            if written != len(frame):
                raise OSError(f"short write ({written} of {len(frame)} bytes)")
        except OSError as exc:
            # Take the torn bytes back so the segment stays readable, and seal it.
            try:
                os.ftruncate(segment.fd, segment.nbytes)
            except OSError:
                log.exception("spool: cannot truncate %s after a failed write", segment.path)
            self._seal(segment)
            raise SpoolFull(f"cannot write the spool at {self.directory}: {exc}") from exc
        self._written += 1
        segment.last_write = self._written
        segment.count += len(rows)
        segment.nbytes += len(frame)
        self._bytes += len(frame)
        self._rows += len(rows)
        self._dirty.add(segment.fd)
        if segment.rows is not None:
            if self._memory + len(frame) <= self.memory_bytes:
                segment.rows.extend(rows)
                segment.memory += len(frame)
                self._memory += len(frame)
            else:  # past the memory bound: the writer reads this segment back from disk
                self._memory -= segment.memory
                segment.rows, segment.memory = None, 0
        if segment.count >= self.segment_rows or segment.nbytes >= self.segment_bytes:
            self._seal(segment)

    def _seal(self, segment: Segment) -> None:
        if self._open.get(segment.table) is segment:
            del self._open[segment.table]
            self._ready.append(segment)
            self._cond.notify_all()

    def _expire_digests(self) -> None:
        horizon = time.monotonic() - DIGEST_SECONDS
        while self._digests:
            _, (at, _) = next(iter(self._digests.items()))
            if at >= horizon:
                break
            self._digests.popitem(last=False)

    # --- group commit --------------------------------------------------------------------------
    def _sync_loop(self) -> None:
        while True:
            with self._cond:
                while not (self.fsync and self._written > self._synced and not self._sync_error) and not self._closed:
                    self._cond.wait(0.5)
                if self._closed and (self._written == self._synced or not self.fsync or self._sync_error):
                    return
                target, fds, directory = self._written, list(self._dirty), self._dir_dirty
                self._dirty.clear()
                self._dir_dirty = False
            try:
                for fd in fds:
                    os.fsync(fd)
                if directory:
                    os.fsync(self._dir_fd)
            except OSError as exc:
                log.error("spool: fsync failed, requests are answered 503 until it succeeds: %s", exc)
                with self._cond:
                    self._sync_error = str(exc)
                    self._dirty.update(fds)
                    self._dir_dirty = True
                    self._cond.notify_all()
                time.sleep(1.0)
                with self._cond:
                    self._sync_error = ""
                continue
            with self._cond:
                self._synced = max(self._synced, target)
                self._cond.notify_all()

    # --- what the writer calls ------------------------------------------------------------------
    def seal_due(self, force: bool = False) -> None:
        """Seal open segments older than the batch interval (all of them when `force`)."""
        now = time.monotonic()
        with self._cond:
            for segment in list(self._open.values()):
                if force or now - segment.opened >= self.segment_seconds:
                    self._seal(segment)

    def head(self, timeout: float) -> Segment | None:
        """The oldest sealed segment whose frames are all durable, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._ready and self._ready[0].last_write <= self._synced:
                    return self._ready[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                self._cond.wait(remaining)

    def rows_of(self, segment: Segment) -> list[list[Any]]:
        if segment.rows is not None:
            return segment.rows
        frames, _ = _frames(segment.path)
        return [row for _, rows in frames for row in rows]

    def done(self, segment: Segment) -> None:
        """The segment's insert committed: forget it."""
        with self._cond:
            if self._ready and self._ready[0] is segment:
                self._ready.popleft()
            self._bytes -= segment.nbytes
            self._rows -= segment.count
            self._memory -= segment.memory
            if segment.fd is not None:
                self._dirty.discard(segment.fd)
                os.close(segment.fd)
                segment.fd = None
            self._cond.notify_all()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(segment.path)

    def pending(self) -> bool:
        return bool(self._ready or self._open)

    def close(self) -> bool:
        """Make everything written durable and close the files; False when an fsync failed."""
        ok = True
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._syncer.join(timeout=30)
        with self._cond:
            segments = list(self._ready) + list(self._open.values())
            for segment in segments:
                if segment.fd is not None:
                    try:
                        os.fsync(segment.fd)
                    except OSError as exc:
                        log.error("spool: fsync of %s failed at stop: %s", segment.path, exc)
                        ok = False
                    os.close(segment.fd)
                    segment.fd = None
            try:
                os.fsync(self._dir_fd)
            except OSError:
                ok = False
            os.close(self._dir_fd)
            os.close(self._lock_fd)  # releases the flock
        return ok
