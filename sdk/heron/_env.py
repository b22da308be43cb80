"""Every HERON_* environment variable, in one place.

Each variable is one `Var`: name, default, parser and the line of documentation that
docs/configuration.md repeats. As in opentelemetry-python, a bad value in the environment warns
once and falls back to the default (a deployment typo must not take a model service down);
a bad value passed explicitly in code raises.

The standard OTEL_* variables are not redefined here: the OpenTelemetry SDK and exporters read
them themselves, and Heron reads them only where the SDK does not (see heron._setup).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
_log = logging.getLogger("heron")


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"expected a number between 0 and 1, got {text!r}")
    return value


def parse_positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive whole number, got {text!r}")
    return value


def parse_positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return value

    return parse


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_host_port(text: str) -> str:
    _host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:4318, got {text!r}")
    return text


@dataclass(frozen=True)
class Var(Generic[T]):
    name: str
    default: T
    parse: Callable[[str], T]
    doc: str

    def get(self, environ: dict[str, str] | None = None) -> T:
        """The value from the environment, or the default when unset or invalid (with a warning)."""
        raw = (os.environ if environ is None else environ).get(self.name)
        if raw is None or raw == "":
            return self.default
        try:
            return self.parse(raw)
        except (ValueError, TypeError) as exc:
            _log.warning("heron: ignoring %s=%r (%s); using the default %r", self.name, raw, exc, self.default)
            return self.default


def _str(text: str) -> str:
    return text


# --- SDK -------------------------------------------------------------------------------------
HERON_ENVIRONMENT = Var(
    "HERON_ENVIRONMENT", "", _str,
    "Deployment environment (production, staging …) recorded on every prediction. Falls back to the "
    "deployment.environment.name resource attribute.",
)
HERON_SAMPLE_RATE = Var(
    "HERON_SAMPLE_RATE", 1.0, parse_fraction,
    "Share of predictions whose features are logged, decided deterministically from the prediction "
    "id. Spans and metrics still count every call.",
)
HERON_REDACT_FEATURES = Var(
    "HERON_REDACT_FEATURES", (), parse_list,
    "Comma-separated feature names or glob patterns (email, *_ssn) dropped before export.",
)
HERON_HASH_FEATURES = Var(
    "HERON_HASH_FEATURES", (), parse_list,
    "Comma-separated feature names or glob patterns whose values are replaced by a salted SHA-256 "
    "hash (kept categorical, so drift still works, values unreadable).",
)
HERON_MAX_FEATURES = Var(
    "HERON_MAX_FEATURES", 500, parse_positive_int,
    "Most features kept per prediction; the rest are dropped and counted.",
)
HERON_MAX_STRING_LENGTH = Var(
    "HERON_MAX_STRING_LENGTH", 256, parse_positive_int,
    "Longest categorical value kept, in characters; longer values are truncated and counted.",
)
HERON_MAX_RECORD_BYTES = Var(
    "HERON_MAX_RECORD_BYTES", 1_000_000, parse_positive_int,
    "Largest log record body in bytes; batches are chunked below it.",
)
HERON_HASH_SALT = Var(
    "HERON_HASH_SALT", "", _str,
    "Salt mixed into HERON_HASH_FEATURES hashes. Keep it secret and identical across the processes of "
    "one model, or hashed categories stop matching between them.",
)
HERON_METRICS = Var(
    "HERON_METRICS", True, parse_bool,
    "Export Heron's OpenTelemetry metrics (heron.predictions counter, heron.predict.duration "
    "histogram) when Heron installs its own providers.",
)
HERON_REFERENCE_SAMPLE_ROWS = Var(
    "HERON_REFERENCE_SAMPLE_ROWS", 10_000, parse_positive_int,
    "Most training-set rows heron.log_reference uploads as a sample (the profile covers every row).",
)
HERON_MAX_CATEGORIES = Var(
    "HERON_MAX_CATEGORIES", 1_000, parse_positive_int,
    "Most distinct values a reference profile keeps per categorical feature; the rest are summed "
    "under __other__.",
)
HERON_EXIT_TIMEOUT_SECONDS = Var(
    "HERON_EXIT_TIMEOUT_SECONDS", 5.0, parse_positive_float,
    "At interpreter exit (and heron.shutdown()), the most time spent delivering what is still queued; "
    "whatever is left is counted as dropped.shutdown.* and reported in one line.",
)
HERON_QUEUE_ROWS = Var(
    "HERON_QUEUE_ROWS", 65_536, parse_positive_int,
    "Prediction rows of monitored calls waiting for Heron's export thread; a call that finds the queue full "
    "is dropped and counted (dropped.queue_full.* in heron.stats()), never waited for.",
)
HERON_DISABLED = Var(
    "HERON_DISABLED", False, parse_bool,
    "Turn Heron's telemetry off (the decorated functions still run). OTEL_SDK_DISABLED does the same.",
)

# --- Collector -------------------------------------------------------------------------------
HERON_DATA_DIR = Var(
    "HERON_DATA_DIR", os.path.join(os.path.expanduser("~"), ".local", "share", "heron"), _str,
    "Directory of the embedded store (chdb), unless HERON_CLICKHOUSE_URL points elsewhere.",
)
HERON_CLICKHOUSE_URL = Var(
    "HERON_CLICKHOUSE_URL", "", _str,
    "Where data is stored: chdb://PATH (embedded, default: chdb://$HERON_DATA_DIR/chdb) or "
    "http(s)://user:pass@host:port/database for a ClickHouse server.",
)
HERON_DATABASE = Var(
    "HERON_DATABASE", "heron", _str,
    "ClickHouse database of all Heron tables (a database in the URL path wins).",
)
HERON_CLUSTER = Var(
    "HERON_CLUSTER", "", _str,
    "ClickHouse cluster name: DDL runs ON CLUSTER and tables use Replicated engines.",
)
HERON_TTL_DAYS = Var(
    "HERON_TTL_DAYS", 0, int,
    "Days raw otel_logs / otel_traces rows are kept (0 = forever). Applies when tables are created.",
)
HERON_OTLP_HTTP = Var(
    "HERON_OTLP_HTTP", "127.0.0.1:4318", parse_host_port,
    "Listen address of the collector's OTLP/HTTP receiver (also /livez, /readyz and /metrics).",
)
HERON_ADMIN = Var(
    "HERON_ADMIN", "127.0.0.1:4319", parse_host_port,
    "Listen address of the collector's admin endpoint (read-only SQL, refresh, view status), apart from "
    "OTLP. A non-loopback address needs HERON_COLLECTOR_TOKEN, or the collector refuses to start.",
)
HERON_ADMIN_MAX_SECONDS = Var(
    "HERON_ADMIN_MAX_SECONDS", 30.0, parse_positive_float,
    "Longest an admin query may run before ClickHouse stops it.",
)
HERON_ADMIN_MAX_MEMORY_BYTES = Var(
    "HERON_ADMIN_MAX_MEMORY_BYTES", 2 * 1024 * 1024 * 1024, parse_positive_int,
    "Most memory one admin query may use before ClickHouse stops it.",
)
HERON_ADMIN_MAX_RESULT_ROWS = Var(
    "HERON_ADMIN_MAX_RESULT_ROWS", 100_000, parse_positive_int,
    "Most rows an admin query returns (the rest is cut off).",
)
HERON_ADMIN_MAX_RESULT_BYTES = Var(
    "HERON_ADMIN_MAX_RESULT_BYTES", 64 * 1024 * 1024, parse_positive_int,
    "Most bytes of result an admin query returns (the rest is cut off).",
)
HERON_OTLP_GRPC = Var(
    "HERON_OTLP_GRPC", "127.0.0.1:4317", parse_host_port,
    "Listen address of the collector's OTLP/gRPC receiver.",
)
HERON_TLS_CERT = Var(
    "HERON_TLS_CERT", "", _str,
    "PEM certificate (chain) file: with HERON_TLS_KEY, OTLP/HTTP, OTLP/gRPC and admin serve TLS only. The "
    "CLI trusts it when it reaches the admin endpoint.",
)
HERON_TLS_KEY = Var(
    "HERON_TLS_KEY", "", _str,
    "PEM private key file of HERON_TLS_CERT.",
)
HERON_COLLECTOR_TOKEN = Var(
    "HERON_COLLECTOR_TOKEN", "", _str,
    "Bearer token required on every OTLP and admin request when set.",
)
HERON_MAX_BODY_BYTES = Var(
    "HERON_MAX_BODY_BYTES", 64 * 1024 * 1024, parse_positive_int,
    "Largest OTLP request accepted, after decompression (OTLP recommends 64 MiB); larger → 413.",
)
HERON_BATCH_ROWS = Var(
    "HERON_BATCH_ROWS", 20_000, parse_positive_int,
    "The collector inserts once this many rows of one table are spooled …",
)
HERON_BATCH_SECONDS = Var(
    "HERON_BATCH_SECONDS", 1.0, parse_positive_float,
    "… or once the oldest spooled row of a table is this many seconds old.",
)
HERON_BATCH_BYTES = Var(
    "HERON_BATCH_BYTES", 16 * 1024 * 1024, parse_positive_int,
    "… or once this many bytes of one table are spooled (large batch records fill it first).",
)
HERON_BUFFER_BYTES = Var(
    "HERON_BUFFER_BYTES", 64 * 1024 * 1024, parse_positive_int,
    "Most spooled bytes also held in memory for the writer; beyond it rows are read back from the spool.",
)
HERON_SPOOL_DIR = Var(
    "HERON_SPOOL_DIR", "", _str,
    "Directory of the collector's on-disk spool (default $HERON_DATA_DIR/spool). Every acknowledged row "
    "is there until ClickHouse has committed it.",
)
HERON_SPOOL_BYTES = Var(
    "HERON_SPOOL_BYTES", 1024 * 1024 * 1024, parse_positive_int,
    "Most bytes the spool may hold; when full the collector answers 503 with Retry-After (gRPC UNAVAILABLE).",
)
HERON_SPOOL_FSYNC = Var(
    "HERON_SPOOL_FSYNC", "always", parse_choice("always", "never"),
    "always: a request is acknowledged after an fsync of the spool (one fsync covers every request "
    "waiting); never: after the write reaches the OS (survives a collector crash, not a power cut).",
)
HERON_SHUTDOWN_SECONDS = Var(
    "HERON_SHUTDOWN_SECONDS", 10.0, parse_positive_float,
    "On SIGTERM, how long the collector keeps writing the spool to the store; the rest stays spooled and "
    "is written at the next start.",
)
HERON_STORE_WAIT_SECONDS = Var(
    "HERON_STORE_WAIT_SECONDS", 120.0, parse_positive_float,
    "How long the collector waits, retrying, for a ClickHouse server that is not up yet at start.",
)
HERON_READ_TIMEOUT = Var(
    "HERON_READ_TIMEOUT", 30.0, parse_positive_float,
    "Seconds an OTLP/HTTP connection may stay silent (mid-request or idle) before it is closed.",
)
HERON_INGEST_THREADS = Var(
    "HERON_INGEST_THREADS", 8, parse_positive_int,
    "Requests decoded and spooled at once (HTTP and gRPC each); more wait their turn.",
)
HERON_MAX_NAME_BYTES = Var(
    "HERON_MAX_NAME_BYTES", 1024, parse_positive_int,
    "Longest name accepted (service, scope, span, event, attribute key, ml.model.name/version); a "
    "record over it is rejected by partial success.",
)
HERON_MAX_VALUE_BYTES = Var(
    "HERON_MAX_VALUE_BYTES", 64 * 1024, parse_positive_int,
    "Longest attribute value, trace state or status message accepted.",
)
HERON_MAX_LOG_BODY_BYTES = Var(
    "HERON_MAX_LOG_BODY_BYTES", 8 * 1024 * 1024, parse_positive_int,
    "Largest log record body accepted (the SDK chunks its records below HERON_MAX_RECORD_BYTES).",
)
HERON_MAX_PAST_DAYS = Var(
    "HERON_MAX_PAST_DAYS", 3650.0, parse_positive_float,
    "Oldest timestamp accepted, in days before now: the collector rejects older records naming the field; "
    "the SDK drops (and counts) a prediction back-filled before it.",
)
HERON_MAX_FUTURE_SECONDS = Var(
    "HERON_MAX_FUTURE_SECONDS", 86400.0, parse_positive_float,
    "Latest timestamp accepted, in seconds after now (clock skew allowance).",
)
HERON_ALERT_RULES = Var(
    "HERON_ALERT_RULES", "", _str,
    "Path of a TOML file of alert rules and channels over the shipped defaults (docs/alerts.md); the collector "
    "refuses to start when it is invalid. Empty: the default rules, no channels.",
)
HERON_REFRESH_SECONDS = Var(
    "HERON_REFRESH_SECONDS", 300, parse_positive_int,
    "Interval of the scheduled analytics (refreshable materialized views).",
)

HERON_PROMETHEUS_MAX_SERIES = Var(
    "HERON_PROMETHEUS_MAX_SERIES", 5_000, parse_positive_int,
    "Most model-health series (per model, version, metric, rule, feature) the collector's /metrics exposes; "
    "the least important are left out and counted in heron_model_health_series_dropped.",
)

ALL: tuple[Var, ...] = tuple(v for v in globals().values() if isinstance(v, Var))
