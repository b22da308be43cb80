"""Opening the ClickHouse store: embedded chDB or a server, through one client API.

clickhouse-connect reaches both: `chdb://PATH` runs ClickHouse's engine in this process,
`http(s)://user:pass@host:port/database` talks to a server. Everything above this module uses
the same `Client` methods (command, query, insert) whichever it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from heron import _env


class StoreError(RuntimeError):
    """The store could not be opened; the message says why and what to change."""


@dataclass(frozen=True)
class StoreURL:
    url: str
    embedded: bool
    database: str
    path: str = ""  # embedded: absolute directory of the chDB data

    def redacted(self) -> str:
        """The URL without its password, fit for logs."""
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url


def resolve_url(url: str | None = None, data_dir: str | None = None, database: str | None = None) -> StoreURL:
    """Where the data lives: the explicit URL, else HERON_CLICKHOUSE_URL, else chdb under the data dir."""
    url = url or _env.HERON_CLICKHOUSE_URL.get()
    if not url:
        base = os.path.abspath(data_dir or _env.HERON_DATA_DIR.get())
        url = "chdb://" + os.path.join(base, "chdb")
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        path = os.path.abspath(os.path.expanduser(unquote(parts.netloc + parts.path)))
        return StoreURL(url="chdb://" + path, embedded=True, database=database or _env.HERON_DATABASE.get(), path=path)
    if parts.scheme in ("http", "https"):
        db = parts.path.strip("/") or database or _env.HERON_DATABASE.get()
        return StoreURL(url=url, embedded=False, database=db)
    raise StoreError(
        f"HERON_CLICKHOUSE_URL={url!r} has scheme {parts.scheme!r}; use chdb:///abs/path (embedded) "
        "or http(s)://user:password@host:8123/database (a ClickHouse server)"
    )


MAX_RESULT_ROWS = 100_000


def connect(store: StoreURL, settings: dict | None = None):
    """A clickhouse-connect client for the store. Embedded: only one process may hold the path."""
    import clickhouse_connect

    if store.embedded:
        os.makedirs(store.path, exist_ok=True)
        try:
            return clickhouse_connect.get_client(dsn=store.url)
        except ImportError as exc:  # chdb missing
            raise StoreError(f"the embedded store needs chdb: pip install 'heron[embedded]' ({exc})") from exc
        except Exception as exc:
            if "EmbeddedServer" in str(exc) or "Code: 36" in str(exc):
                raise StoreError(
                    f"{store.path} is already open in another process (a running collector?). "
                    "Only one process can open an embedded store: query it through that collector "
                    "(heron sql uses its admin endpoint) or stop it first."
                ) from exc
            raise
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

    def __init__(self, url: StoreURL, client=None) -> None:
        import threading

        self.url = url
        self.database = url.database
        self._lock = threading.RLock()
        self.client = LockedClient(client if client is not None else connect(url), self._lock)
        self._reader: LockedClient | None = None

    def reader(self) -> LockedClient:
        """A second session that can only read: ClickHouse's readonly=1, set once for good.

        Per-query readonly is not enough in embedded mode: chDB keeps a failed query's settings
        in its session, which would leave the writer's session read-only. A session of its own
        is also how a server deployment should run untrusted SQL.
        """
        if self._reader is None:
            limits = {"max_result_rows": MAX_RESULT_ROWS, "result_overflow_mode": "break"}
            if self.url.embedded:
                raw = connect(self.url)
                for name, value in limits.items():
                    raw.command(f"SET {name} = '{value}'")
                raw.command("SET readonly = 1")
            else:
                raw = connect(self.url, settings={**limits, "readonly": 1})
            self._reader = LockedClient(raw, self._lock)
        return self._reader

    def insert(self, table: str, rows: list, columns: tuple[str, ...] | list[str]) -> None:
        """The writer's sink: one insert of `rows` into `database.table`."""
        self.client.insert(f"{self.database}.{table}", rows, column_names=list(columns))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.client.close()
