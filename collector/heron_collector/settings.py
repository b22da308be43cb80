"""The collector's settings: every HERON_* variable it reads, and the one `Settings` built from them.

Each variable is a `heron.Var` (name, default, parser, the sentence docs/configuration.md shows),
as the SDK's own are in heron._env; the timestamp window (HERON_MAX_PAST_DAYS,
HERON_MAX_FUTURE_SECONDS) is the SDK's too, since both refuse the same records. `Settings` is
frozen and built once, at start (or per CLI command), then passed down: nothing else in the
collector reads the environment. A field left out is read from its variable (a bad value warns and
falls back to the default); a field given explicitly, or a command-line flag, is checked by the
same parser and a bad one raises, as opentelemetry-python treats arguments.

The one read of other variables is `rules_environment`: `${VAR}` in an alert rules file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote, urlsplit

from heron import HERON_MAX_FUTURE_SECONDS, HERON_MAX_PAST_DAYS, Var


def host_port(text: str) -> str:
    _host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:4318, got {text!r}")
    return text


HERON_DATA_DIR = Var(
    "HERON_DATA_DIR", os.path.join(os.path.expanduser("~"), ".local", "share", "heron"), Var.text,
    "Directory of the embedded store (chdb), unless HERON_CLICKHOUSE_URL points elsewhere.",
)
HERON_CLICKHOUSE_URL = Var(
    "HERON_CLICKHOUSE_URL", "", Var.text,
    "Where data is stored: chdb://PATH (embedded, default: chdb://$HERON_DATA_DIR/chdb) or "
    "http(s)://user:pass@host:port/database for a ClickHouse server.",
)
HERON_DATABASE = Var(
    "HERON_DATABASE", "heron", Var.text,
    "ClickHouse database of all Heron tables (a database in the URL path wins).",
)
HERON_CLUSTER = Var(
    "HERON_CLUSTER", "", Var.text,
    "ClickHouse cluster name: DDL runs ON CLUSTER and tables use Replicated engines.",
)
HERON_TTL_DAYS = Var(
    "HERON_TTL_DAYS", 0, Var.integer,
    "Days raw otel_logs / otel_traces rows are kept (0 = forever). Applies when tables are created.",
)
HERON_OTLP_HTTP = Var(
    "HERON_OTLP_HTTP", "127.0.0.1:4318", host_port,
    "Listen address of the collector's OTLP/HTTP receiver (also /livez, /readyz and /metrics).",
)
HERON_ADMIN = Var(
    "HERON_ADMIN", "127.0.0.1:4319", host_port,
    "Listen address of the collector's admin endpoint (read-only SQL, refresh, view status), apart from "
    "OTLP. A non-loopback address needs HERON_COLLECTOR_TOKEN, or the collector refuses to start.",
)
HERON_ADMIN_MAX_SECONDS = Var(
    "HERON_ADMIN_MAX_SECONDS", 30.0, Var.positive_float,
    "Longest an admin query may run before ClickHouse stops it.",
)
HERON_ADMIN_MAX_MEMORY_BYTES = Var(
    "HERON_ADMIN_MAX_MEMORY_BYTES", 2 * 1024 * 1024 * 1024, Var.positive_int,
    "Most memory one admin query may use before ClickHouse stops it.",
)
HERON_ADMIN_MAX_RESULT_ROWS = Var(
    "HERON_ADMIN_MAX_RESULT_ROWS", 100_000, Var.positive_int,
    "Most rows an admin query returns (the rest is cut off).",
)
HERON_ADMIN_MAX_RESULT_BYTES = Var(
    "HERON_ADMIN_MAX_RESULT_BYTES", 64 * 1024 * 1024, Var.positive_int,
    "Most bytes of result an admin query returns (the rest is cut off).",
)
HERON_OTLP_GRPC = Var(
    "HERON_OTLP_GRPC", "127.0.0.1:4317", host_port,
    "Listen address of the collector's OTLP/gRPC receiver.",
)
HERON_TLS_CERT = Var(
    "HERON_TLS_CERT", "", Var.text,
    "PEM certificate (chain) file: with HERON_TLS_KEY, OTLP/HTTP, OTLP/gRPC and admin serve TLS only. The "
    "CLI trusts it when it reaches the admin endpoint.",
)
HERON_TLS_KEY = Var(
    "HERON_TLS_KEY", "", Var.text,
    "PEM private key file of HERON_TLS_CERT.",
)
HERON_COLLECTOR_TOKEN = Var(
    "HERON_COLLECTOR_TOKEN", "", Var.text,
    "Bearer token required on every OTLP and admin request when set.",
)
HERON_MAX_BODY_BYTES = Var(
    "HERON_MAX_BODY_BYTES", 64 * 1024 * 1024, Var.positive_int,
    "Largest OTLP request accepted, after decompression (OTLP recommends 64 MiB); larger → 413.",
)
HERON_BATCH_ROWS = Var(
    "HERON_BATCH_ROWS", 20_000, Var.positive_int,
    "The collector inserts once this many rows of one table are spooled …",
)
HERON_BATCH_SECONDS = Var(
    "HERON_BATCH_SECONDS", 1.0, Var.positive_float,
    "… or once the oldest spooled row of a table is this many seconds old.",
)
HERON_BATCH_BYTES = Var(
    "HERON_BATCH_BYTES", 16 * 1024 * 1024, Var.positive_int,
    "… or once this many bytes of one table are spooled (large batch records fill it first).",
)
HERON_BUFFER_BYTES = Var(
    "HERON_BUFFER_BYTES", 64 * 1024 * 1024, Var.positive_int,
    "Most spooled bytes also held in memory for the writer; beyond it rows are read back from the spool.",
)
HERON_SPOOL_DIR = Var(
    "HERON_SPOOL_DIR", "", Var.text,
    "Directory of the collector's on-disk spool (default $HERON_DATA_DIR/spool). Every acknowledged row "
    "is there until ClickHouse has committed it.",
)
HERON_SPOOL_BYTES = Var(
    "HERON_SPOOL_BYTES", 1024 * 1024 * 1024, Var.positive_int,
    "Most bytes the spool may hold; when full the collector answers 503 with Retry-After (gRPC UNAVAILABLE).",
)
HERON_SPOOL_FSYNC = Var(
    "HERON_SPOOL_FSYNC", "always", Var.choice("always", "never"),
    "always: a request is acknowledged after an fsync of the spool (one fsync covers every request "
    "waiting); never: after the write reaches the OS (survives a collector crash, not a power cut).",
)
HERON_SHUTDOWN_SECONDS = Var(
    "HERON_SHUTDOWN_SECONDS", 10.0, Var.positive_float,
    "On SIGTERM, how long the collector keeps writing the spool to the store; the rest stays spooled and "
    "is written at the next start.",
)
HERON_STORE_WAIT_SECONDS = Var(
    "HERON_STORE_WAIT_SECONDS", 120.0, Var.positive_float,
    "How long the collector waits, retrying, for a ClickHouse server that is not up yet at start.",
)
HERON_READ_TIMEOUT = Var(
    "HERON_READ_TIMEOUT", 30.0, Var.positive_float,
    "Seconds an OTLP/HTTP connection may stay silent (mid-request or idle) before it is closed.",
)
HERON_INGEST_THREADS = Var(
    "HERON_INGEST_THREADS", 8, Var.positive_int,
    "Requests decoded and spooled at once (HTTP and gRPC each); more wait their turn.",
)
HERON_MAX_NAME_BYTES = Var(
    "HERON_MAX_NAME_BYTES", 1024, Var.positive_int,
    "Longest name accepted (service, scope, span, event, attribute key, ml.model.name/version); a "
    "record over it is rejected by partial success.",
)
HERON_MAX_VALUE_BYTES = Var(
    "HERON_MAX_VALUE_BYTES", 64 * 1024, Var.positive_int,
    "Longest attribute value, trace state or status message accepted.",
)
HERON_MAX_LOG_BODY_BYTES = Var(
    "HERON_MAX_LOG_BODY_BYTES", 8 * 1024 * 1024, Var.positive_int,
    "Largest log record body accepted (the SDK chunks its records below HERON_MAX_RECORD_BYTES).",
)
HERON_ALERT_RULES = Var(
    "HERON_ALERT_RULES", "", Var.text,
    "Path of a TOML file of alert rules and channels over the shipped defaults (docs/alerts.md); the collector "
    "refuses to start when it is invalid. Empty: the default rules, no channels.",
)
HERON_REFRESH_SECONDS = Var(
    "HERON_REFRESH_SECONDS", 300, Var.positive_int,
    "Interval of the scheduled analytics (refreshable materialized views).",
)
HERON_PROMETHEUS_MAX_SERIES = Var(
    "HERON_PROMETHEUS_MAX_SERIES", 5_000, Var.positive_int,
    "Most model-health series (per model, version, metric, rule, feature) the collector's /metrics exposes; "
    "the least important are left out and counted in heron_model_health_series_dropped.",
)

SHARED = (HERON_MAX_PAST_DAYS, HERON_MAX_FUTURE_SECONDS)  # defined by the SDK, read by both
# every variable the collector reads: its own, then the shared ones
ALL: tuple[Var, ...] = tuple(v for v in globals().values() if isinstance(v, Var) and v not in SHARED) + SHARED


def rules_environment() -> Mapping[str, str]:
    """The process environment, for `${VAR}` in an alert rules file (docs/alerts.md): the one place
    the collector reads variables that are not its own settings."""
    return os.environ


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


def state_path(url: StoreURL) -> str:
    """Where a running embedded collector announces its admin address, beside its chDB path."""
    return url.path.rstrip("/") + ".collector.json"


def resolve_url(url: str | None = None, data_dir: str | None = None, database: str | None = None) -> StoreURL:
    """Where the data lives: `url`, else chdb under `data_dir`; `database` unless the URL's path names
    one. Unset arguments take their variable's default (not the environment: Settings reads that)."""
    if not url:
        base = os.path.abspath(data_dir or HERON_DATA_DIR.default)
        url = "chdb://" + os.path.join(base, "chdb")
    database = database or HERON_DATABASE.default
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        path = os.path.abspath(os.path.expanduser(unquote(parts.netloc + parts.path)))
        return StoreURL(url="chdb://" + path, embedded=True, database=database, path=path)
    if parts.scheme in ("http", "https"):
        return StoreURL(url=url, embedded=False, database=parts.path.strip("/") or database)
    raise ValueError(
        f"HERON_CLICKHOUSE_URL={url!r} has scheme {parts.scheme!r}; use chdb:///abs/path (embedded) "
        "or http(s)://user:password@host:8123/database (a ClickHouse server)"
    )


def _from(var: Var) -> Any:
    """A field whose default is read from `var` when the Settings is built."""
    return field(default_factory=var.get, metadata={"var": var})


@dataclass(frozen=True)
class Settings:
    """Everything the collector and the CLI are configured with; see the module docstring."""

    # listeners
    otlp_http: str = _from(HERON_OTLP_HTTP)
    otlp_grpc: str = _from(HERON_OTLP_GRPC)
    admin: str = _from(HERON_ADMIN)
    token: str = _from(HERON_COLLECTOR_TOKEN)
    tls_cert: str = _from(HERON_TLS_CERT)
    tls_key: str = _from(HERON_TLS_KEY)
    max_body_bytes: int = _from(HERON_MAX_BODY_BYTES)
    read_timeout: float = _from(HERON_READ_TIMEOUT)
    ingest_threads: int = _from(HERON_INGEST_THREADS)
    # the store and its layout
    data_dir: str = _from(HERON_DATA_DIR)
    clickhouse_url: str = _from(HERON_CLICKHOUSE_URL)
    database: str = _from(HERON_DATABASE)
    cluster: str = _from(HERON_CLUSTER)
    ttl_days: int = _from(HERON_TTL_DAYS)
    refresh_seconds: int = _from(HERON_REFRESH_SECONDS)
    store_wait_seconds: float = _from(HERON_STORE_WAIT_SECONDS)
    # admin queries
    admin_max_seconds: float = _from(HERON_ADMIN_MAX_SECONDS)
    admin_max_memory_bytes: int = _from(HERON_ADMIN_MAX_MEMORY_BYTES)
    admin_max_result_rows: int = _from(HERON_ADMIN_MAX_RESULT_ROWS)
    admin_max_result_bytes: int = _from(HERON_ADMIN_MAX_RESULT_BYTES)
    # what a record may hold
    max_name_bytes: int = _from(HERON_MAX_NAME_BYTES)
    max_value_bytes: int = _from(HERON_MAX_VALUE_BYTES)
    max_log_body_bytes: int = _from(HERON_MAX_LOG_BODY_BYTES)
    max_past_days: float = _from(HERON_MAX_PAST_DAYS)
    max_future_seconds: float = _from(HERON_MAX_FUTURE_SECONDS)
    # the spool and the writer
    spool_dir: str = _from(HERON_SPOOL_DIR)
    spool_bytes: int = _from(HERON_SPOOL_BYTES)
    spool_fsync: str = _from(HERON_SPOOL_FSYNC)
    buffer_bytes: int = _from(HERON_BUFFER_BYTES)
    batch_rows: int = _from(HERON_BATCH_ROWS)
    batch_seconds: float = _from(HERON_BATCH_SECONDS)
    batch_bytes: int = _from(HERON_BATCH_BYTES)
    shutdown_seconds: float = _from(HERON_SHUTDOWN_SECONDS)
    # alerts and /metrics
    alert_rules: str = _from(HERON_ALERT_RULES)
    prometheus_max_series: int = _from(HERON_PROMETHEUS_MAX_SERIES)

    def __post_init__(self) -> None:
        for f in fields(self):
            var, value = f.metadata["var"], getattr(self, f.name)
            try:
                object.__setattr__(self, f.name, var.check(value))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{f.name}={value!r} ({var.name}): {exc}") from None

    def store_url(self) -> StoreURL:
        return resolve_url(self.clickhouse_url or None, data_dir=self.data_dir, database=self.database)

    def tls(self) -> tuple[str, str] | None:
        """(certificate, key) paths when TLS is configured; both or neither, and readable."""
        if not self.tls_cert and not self.tls_key:
            return None
        if not (self.tls_cert and self.tls_key):
            raise ValueError("TLS needs both HERON_TLS_CERT and HERON_TLS_KEY (PEM files)")
        for name, path in (("HERON_TLS_CERT", self.tls_cert), ("HERON_TLS_KEY", self.tls_key)):
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                raise ValueError(f"{name}={path!r} is not a readable file")
        return self.tls_cert, self.tls_key

    def spool_path(self) -> str:
        return os.path.abspath(self.spool_dir or os.path.join(self.data_dir, "spool"))

    def admin_limits(self) -> dict[str, Any]:
        """ClickHouse settings of the admin endpoint's read-only session."""
        return {
            "max_execution_time": self.admin_max_seconds,
            "max_memory_usage": self.admin_max_memory_bytes,
            "max_result_rows": self.admin_max_result_rows,
            "max_result_bytes": self.admin_max_result_bytes,
            "result_overflow_mode": "break",
        }
