"""Opening the ClickHouse store: embedded chDB or a server, through one client API.

clickhouse-connect reaches both: `chdb://PATH` runs ClickHouse's engine in this process,
`http(s)://user:pass@host:port/database` talks to a server. Everything above this module uses
the same `Client` methods (command, query, insert) whichever it is.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from .settings import StoreURL

log = logging.getLogger("heron.collector")


class StoreError(RuntimeError):
    """The store could not be opened; the message says why and what to change."""


def connect(store: StoreURL, settings: dict | None = None):
    """A clickhouse-connect client for the store. Embedded: only one process may hold the path."""
    import clickhouse_connect

    if store.embedded:
        for _ in range(3):
            try:
                os.makedirs(store.path, exist_ok=True)
                return clickhouse_connect.get_client(dsn=store.url)
            except ImportError as exc:  # chdb missing
                raise StoreError(f"the embedded store needs chdb: pip install 'heron[embedded]' ({exc})") from exc
            except Exception as exc:
                if not repair_metadata(store.path):
                    raise StoreError(_open_failure(store.path, exc)) from exc
        raise StoreError(f"cannot open the embedded store at {store.path} even after setting damaged metadata aside")
    parts = urlsplit(store.url)
    try:
        return clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            secure=parts.scheme == "https",
            database="default",
            settings=settings or {},
        )
    except Exception as exc:
        raise StoreError(f"cannot reach ClickHouse at {store.redacted()}: {exc}") from exc


def connect_waiting(store: StoreURL, wait_seconds: float) -> object:
    """`connect`, retrying a server that is not up yet with capped backoff for up to `wait_seconds`."""
    if store.embedded:
        return connect(store)
    deadline, delay = time.monotonic() + wait_seconds, 0.5
    while True:
        try:
            return connect(store)
        except StoreError as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreError(f"{exc} (gave up after {wait_seconds:.0f} s, HERON_STORE_WAIT_SECONDS)") from None
            log.warning("store not reachable yet, retrying in %.1f s: %s", min(delay, remaining), exc)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 10.0)


def holders(path: str) -> list[int]:
    """Pids of other processes with a file under `path` open (Linux /proc; empty elsewhere)."""
    prefix, found = os.path.realpath(path).rstrip("/") + "/", []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return []
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                    found.append(int(pid))
                    break
        except OSError:
            continue
    return found


def empty_metadata(path: str) -> list[str]:
    """Table metadata files that are empty: what a disk that filled during a metadata write leaves."""
    found = []
    for root in (os.path.join(path, "metadata"), os.path.join(path, "store")):
        for directory, _, files in os.walk(root):
            if directory.count(os.sep) - root.count(os.sep) > 2:
                continue
            found += [os.path.join(directory, f) for f in files if f.endswith(".sql")
                      and os.path.getsize(os.path.join(directory, f)) == 0]
    return found


def repair_metadata(path: str) -> bool:
    """Set aside empty metadata files of tables Heron recomputes (the next refresh refills them, the
    next migration re-creates them); True when anything was set aside. Others are left for a person."""
    from .migrations import recomputed_tables

    recomputable = recomputed_tables()
    empty = empty_metadata(path)
    movable = [f for f in empty if os.path.basename(f)[:-4] in recomputable]
    if not movable or len(movable) != len(empty):
        return False
    aside = path.rstrip("/") + ".damaged"
    os.makedirs(aside, exist_ok=True)
    for file in movable:
        target = os.path.join(aside, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.path.basename(file)}")
        os.replace(file, target)
        log.warning("store: the metadata of %s was empty (the disk filled while it was rewritten); set it aside "
                    "as %s; the table is re-created and recomputed", os.path.basename(file)[:-4], target)
    return True


def _open_failure(path: str, exc: Exception) -> str:
    """An honest reason an embedded store did not open: who holds it, the disk, or the engine's words."""
    text = str(exc)
    pids = holders(path)
    if pids:
        return (f"{path} is open in another process (pid {', '.join(map(str, pids))}; a running collector?). "
                "Only one process can open an embedded store: query it through that collector "
                "(heron sql uses its admin endpoint) or stop it first.")
    try:
        free = os.statvfs(path if os.path.isdir(path) else os.path.dirname(path))
        if free.f_bavail * free.f_frsize < 16 << 20:
            return f"cannot open the embedded store at {path}: its disk is full ({text.splitlines()[0][:300]})"
    except OSError:
        pass
    empty = empty_metadata(path)
    if empty:
        return (f"cannot open the embedded store at {path}: the metadata of table(s) "
                f"{', '.join(os.path.basename(f)[:-4] for f in empty)} is empty ({', '.join(empty)}), as a disk "
                "that filled during a write leaves it. Restore those files from a backup, or move them away to "
                "drop the tables (see docs/operations.md, 'The embedded store does not open').")
    first = text.strip().splitlines()[0][:500] if text.strip() else type(exc).__name__
    return (f"cannot open the embedded store at {path} (no other process holds it): {first}. "
            "See docs/operations.md, 'The embedded store does not open'.")


# ClickHouse error codes that say the store (not the data) is the problem: retry the same insert later.
RETRYABLE_CODES = frozenset({
    3, 32, 74, 75, 81, 159, 164, 173, 198, 201, 202, 203, 209, 210, 236, 241, 242, 243, 252, 279, 285,
    60, 319, 394, 425, 439, 999, 1000,
})
_CODE = re.compile(r"Code: (\d+)")


def retryable(exc: Exception) -> bool:
    """True when an insert failed because of the store (down, full, overloaded), not its rows.

    clickhouse-connect raises DataError/ProgrammingError when it cannot encode a value (the rows'
    fault) and OperationalError when it cannot reach the server; a server or chDB error carries a
    ClickHouse code, which RETRYABLE_CODES sorts.
    """
    from clickhouse_connect.driver import exceptions as ch

    if isinstance(exc, (ch.DataError, ch.ProgrammingError, OverflowError, TypeError, ValueError)):
        return False
    if isinstance(exc, (ch.OperationalError, OSError, MemoryError)):
        return True
    match = _CODE.search(str(exc))
    if match is None:
        return True  # no code: not the engine judging the data
    return int(match.group(1)) in RETRYABLE_CODES


# Every insert is deduplicated by its token, in the target table and in the views it feeds, so a
# replayed spool segment is stored once (the tables carry non_replicated_deduplication_window).
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1, "insert_deduplicate": 1}


class LockedClient:
    """A clickhouse-connect client whose every call holds one lock.

    chDB runs in this process and its client is not documented as thread-safe; the writer, the
    admin endpoint and the analytics share one client, so each call is serialised. Long waits
    (a view refresh) are polled by the caller rather than held inside one call.
    """

    def __init__(self, client, lock) -> None:
        self._client = client
        self._lock = lock

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def locked(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)

        return locked


class Store:
    """The store a collector or CLI holds: its URL, database and a lock-guarded client."""

    def __init__(self, url: StoreURL, reader_limits: Mapping[str, Any], client=None, wait_seconds: float = 0.0) -> None:
        import threading

        self.url = url
        self.reader_limits = dict(reader_limits)  # the read-only session's (Settings.admin_limits())
        self.database = url.database
        self._lock = threading.RLock()
        raw = client if client is not None else connect_waiting(url, wait_seconds)
        self.client = LockedClient(raw, self._lock)
        self._reader: LockedClient | None = None

    def reader(self) -> LockedClient:
        """A second session that can only read: ClickHouse's readonly=1, set once for good.

        Per-query readonly is not enough in embedded mode: chDB keeps a failed query's settings
        in its session, which would leave the writer's session read-only. A session of its own
        is also how a server deployment should run untrusted SQL.
        """
        if self._reader is None:
            import threading

            limits = self.reader_limits
            if self.url.embedded:
                raw = connect(self.url)
                for name, value in limits.items():
                    raw.command(f"SET {name} = '{value}'")
                raw.command("SET readonly = 1")
            else:
                raw = connect(self.url, settings={**limits, "readonly": 1})
            # A lock of its own: a long admin query never holds up the writer's session.
            self._reader = LockedClient(raw, threading.RLock())
        return self._reader

    def insert(self, table: str, rows: list, columns: tuple[str, ...] | list[str], token: str) -> None:
        """The writer's sink: one insert of `rows` into `database.table`, deduplicated by `token`.

        Handed to clickhouse-connect column by column: its Native encoder then runs once per
        column instead of once per value, 4-5x less client time per row (docs/operations.md,
        "Where an ingested row's time goes"); the bytes sent, hence the rows stored, are the same."""
        data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]  # columns as tuples: no copy
        self.client.insert(f"{self.database}.{table}", data, column_names=list(columns), column_oriented=True,
                           settings={**INSERT_SETTINGS, "insert_deduplication_token": token})

    retryable = staticmethod(retryable)

    def ping(self) -> str:
        """'' when the store answers a query, else the reason."""
        try:
            self.client.command("SELECT 1")
            return ""
        except Exception as exc:
            return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.client.close()
