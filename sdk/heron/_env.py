"""The SDK's HERON_* environment variables, in one place, and the public `Var` type.

Each variable is one `Var`: name, default, parser and the line of documentation that
docs/configuration.md repeats. As in opentelemetry-python, a bad value in the environment warns
once and falls back to the default (a deployment typo must not take a model service down);
a bad value passed explicitly in code raises. `Var` is public (``heron.Var``) so the collector
defines its own variables the same way (heron_collector/settings.py), as OpenTelemetry's
exporters build on ``opentelemetry.sdk.environment_variables``.

The standard OTEL_* variables are not redefined here: the OpenTelemetry SDK and exporters read
them themselves, and Heron reads the few it needs in heron._config.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_log = logging.getLogger("heron")


@dataclass(frozen=True)
class Var(Generic[T]):
    """One environment variable: its name, default, parser (text → value, ValueError when refused)
    and the sentence docs/configuration.md shows for it."""

    name: str
    default: T
    parse: Callable[[str], T]
    doc: str

    def get(self, environ: Mapping[str, str] | None = None) -> T:
        """The value from the environment, or the default when unset or invalid (with a warning)."""
        raw = (os.environ if environ is None else environ).get(self.name)
        if raw is None or raw == "":
            return self.default
        try:
            return self.parse(raw)
        except (ValueError, TypeError) as exc:
            _log.warning("heron: ignoring %s=%r (%s); using the default %r", self.name, raw, exc, self.default)
            return self.default

    def check(self, value: Any) -> T:
        """An explicit value (an argument, a command-line flag), checked as strictly as the
        environment's text: text is parsed; anything else must have the default's type (an int
        where a float is expected) and pass the same parser. Raises ValueError saying what is
        expected."""
        kind = type(self.default)
        if isinstance(value, os.PathLike) and kind is str:
            value = os.fspath(value)
        if isinstance(value, str):
            return self.parse(value)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if kind is tuple:
            return self.parse(",".join(value))  # type: ignore[arg-type]
        return self.parse(str(value).lower() if kind is bool else str(value))

    # --- parsers for `parse`: each turns the variable's text into its value or raises ValueError
    @staticmethod
    def text(text: str) -> str:
        return text

    @staticmethod
    def boolean(text: str) -> bool:
        value = text.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"expected true or false, got {text!r}")

    @staticmethod
    def integer(text: str) -> int:
        return int(text)

    @staticmethod
    def fraction(text: str) -> float:
        value = float(text)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"expected a number between 0 and 1, got {text!r}")
        return value

    @staticmethod
    def positive_int(text: str) -> int:
        value = int(text)
        if value <= 0:
            raise ValueError(f"expected a positive whole number, got {text!r}")
        return value

    @staticmethod
    def positive_float(text: str) -> float:
        value = float(text)
        if not value > 0 or value == float("inf"):
            raise ValueError(f"expected a positive number, got {text!r}")
        return value

    @staticmethod
    def names(text: str) -> tuple[str, ...]:
        """A comma-separated list (blank items dropped)."""
        return tuple(item.strip() for item in text.split(",") if item.strip())

    @staticmethod
    def choice(*choices: str) -> Callable[[str], str]:
        def parse(text: str) -> str:
            value = text.strip().lower()
            if value not in choices:
                raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
            return value

        return parse


# --- SDK -------------------------------------------------------------------------------------
HERON_ENVIRONMENT = Var(
    "HERON_ENVIRONMENT", "", Var.text,
    "Deployment environment (production, staging …) recorded on every prediction. Falls back to the "
    "deployment.environment.name resource attribute.",
)
HERON_SAMPLE_RATE = Var(
    "HERON_SAMPLE_RATE", 1.0, Var.fraction,
    "Share of predictions whose features are logged, decided deterministically from the prediction "
    "id. Spans and metrics still count every call.",
)
HERON_REDACT_FEATURES = Var(
    "HERON_REDACT_FEATURES", (), Var.names,
    "Comma-separated feature names or glob patterns (email, *_ssn) dropped before export.",
)
HERON_HASH_FEATURES = Var(
    "HERON_HASH_FEATURES", (), Var.names,
    "Comma-separated feature names or glob patterns whose values are replaced by a salted SHA-256 "
    "hash (kept categorical, so drift still works, values unreadable).",
)
HERON_MAX_FEATURES = Var(
    "HERON_MAX_FEATURES", 500, Var.positive_int,
    "Most features kept per prediction; the rest are dropped and counted.",
)
HERON_MAX_STRING_LENGTH = Var(
    "HERON_MAX_STRING_LENGTH", 256, Var.positive_int,
    "Longest categorical value kept, in characters; longer values are truncated and counted.",
)
HERON_MAX_RECORD_BYTES = Var(
    "HERON_MAX_RECORD_BYTES", 1_000_000, Var.positive_int,
    "Largest log record body in bytes; batches are chunked below it.",
)
HERON_HASH_SALT = Var(
    "HERON_HASH_SALT", "", Var.text,
    "Salt mixed into HERON_HASH_FEATURES hashes. Keep it secret and identical across the processes of "
    "one model, or hashed categories stop matching between them.",
)
HERON_METRICS = Var(
    "HERON_METRICS", True, Var.boolean,
    "Export Heron's OpenTelemetry metrics (heron.predictions counter, heron.predict.duration "
    "histogram) when Heron installs its own providers.",
)
HERON_REFERENCE_SAMPLE_ROWS = Var(
    "HERON_REFERENCE_SAMPLE_ROWS", 10_000, Var.positive_int,
    "Most training-set rows heron.log_reference uploads as a sample (the profile covers every row).",
)
HERON_MAX_CATEGORIES = Var(
    "HERON_MAX_CATEGORIES", 1_000, Var.positive_int,
    "Most distinct values a reference profile keeps per categorical feature; the rest are summed "
    "under __other__.",
)
HERON_EXIT_TIMEOUT_SECONDS = Var(
    "HERON_EXIT_TIMEOUT_SECONDS", 5.0, Var.positive_float,
    "At interpreter exit (and heron.shutdown()), the most time spent delivering what is still queued; "
    "whatever is left is counted as dropped.shutdown.* and reported in one line.",
)
HERON_QUEUE_ROWS = Var(
    "HERON_QUEUE_ROWS", 65_536, Var.positive_int,
    "Prediction rows of monitored calls waiting for Heron's export thread; a call that finds the queue full "
    "is dropped and counted (dropped.queue_full.* in heron.stats()), never waited for.",
)
HERON_DISABLED = Var(
    "HERON_DISABLED", False, Var.boolean,
    "Turn Heron's telemetry off (the decorated functions still run). OTEL_SDK_DISABLED does the same.",
)
HERON_GIT_SHA = Var(
    "HERON_GIT_SHA", "", Var.text,
    "Code version recorded when a model registers (ml_models). Unset: GIT_SHA, GIT_COMMIT, SOURCE_VERSION "
    "or GITHUB_SHA, else the .git of the main script's directory.",
)

# --- Shared with the collector: the timestamp window both refuse records outside of --------
HERON_MAX_PAST_DAYS = Var(
    "HERON_MAX_PAST_DAYS", 3650.0, Var.positive_float,
    "Oldest timestamp accepted, in days before now: the collector rejects older records naming the field; "
    "the SDK drops (and counts) a prediction back-filled before it.",
)
HERON_MAX_FUTURE_SECONDS = Var(
    "HERON_MAX_FUTURE_SECONDS", 86400.0, Var.positive_float,
    "Latest timestamp accepted, in seconds after now (clock skew allowance).",
)

ALL: tuple[Var, ...] = tuple(v for v in globals().values() if isinstance(v, Var))

# Build systems' commit variables, read after HERON_GIT_SHA (not Heron's: no defaults, no docs row).
CI_GIT_SHA = ("GIT_SHA", "GIT_COMMIT", "SOURCE_VERSION", "GITHUB_SHA")


def git_sha_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """HERON_GIT_SHA, else the first build system's commit variable set; '' when none is."""
    env = os.environ if environ is None else environ
    for name in (HERON_GIT_SHA.name, *CI_GIT_SHA):
        if env.get(name):
            return env[name][:40]
    return ""
