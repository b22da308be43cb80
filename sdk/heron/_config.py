"""Heron's settings: the HERON_* environment (heron._env) overridden by heron.configure(...), and
the few standard OTEL_* variables Heron reads itself (the OpenTelemetry SDK reads the rest).

A bad value in the environment warns and falls back to its default (heron._env.Var); a bad value
passed to configure() raises ValueError naming the argument, its type and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from . import _env

PROTOCOLS = ("http/protobuf", "grpc", "http/json")


@dataclass(frozen=True)
class Settings:
    disabled: bool = False
    environment: str = ""
    sample_rate: float = 1.0
    redact_features: tuple[str, ...] = ()
    hash_features: tuple[str, ...] = ()
    hash_salt: str = ""
    max_features: int = 500
    max_string_length: int = 256
    max_record_bytes: int = 1_000_000
    metrics: bool = True
    reference_sample_rows: int = 10_000
    max_categories: int = 1_000
    exit_timeout: float = 5.0
    queue_rows: int = _env.HERON_QUEUE_ROWS.default
    # OTLP and resource; None means "as the OTEL_* environment says"
    service_name: str | None = None
    resource_attributes: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    protocol: str | None = None
    headers: dict[str, str] | None = None
    timeout: float | None = None
    # test seams and explicit pipelines
    span_exporter: Any = None
    log_exporter: Any = None
    metric_reader: Any = None
    use_global_providers: bool | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        otel_disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        return cls(
            disabled=otel_disabled or _env.HERON_DISABLED.get(environ),
            environment=_env.HERON_ENVIRONMENT.get(environ),
            sample_rate=_env.HERON_SAMPLE_RATE.get(environ),
            redact_features=_env.HERON_REDACT_FEATURES.get(environ),
            hash_features=_env.HERON_HASH_FEATURES.get(environ),
            hash_salt=_env.HERON_HASH_SALT.get(environ),
            max_features=_env.HERON_MAX_FEATURES.get(environ),
            max_string_length=_env.HERON_MAX_STRING_LENGTH.get(environ),
            max_record_bytes=_env.HERON_MAX_RECORD_BYTES.get(environ),
            metrics=_env.HERON_METRICS.get(environ),
            reference_sample_rows=_env.HERON_REFERENCE_SAMPLE_ROWS.get(environ),
            max_categories=_env.HERON_MAX_CATEGORIES.get(environ),
            exit_timeout=_env.HERON_EXIT_TIMEOUT_SECONDS.get(environ),
            queue_rows=_env.HERON_QUEUE_ROWS.get(environ),
        )

    def override(self, **kwargs: Any) -> Settings:
        known = {f.name for f in fields(self)}
        for name, value in kwargs.items():
            if name not in known:
                raise TypeError(
                    f"heron.configure() got an unknown argument {name!r}; known: {', '.join(sorted(known))}"
                )
            _check(name, value)
        if "redact_features" in kwargs:
            kwargs["redact_features"] = tuple(kwargs["redact_features"])
        if "hash_features" in kwargs:
            kwargs["hash_features"] = tuple(kwargs["hash_features"])
        return replace(self, **kwargs)


def _check(name: str, value: Any) -> None:
    def bad(expected: str) -> ValueError:
        return ValueError(f"heron.configure({name}=...): expected {expected}, got {type(value).__name__} {value!r}")

    if name == "sample_rate":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise bad("a number between 0 and 1")
    elif name in ("max_features", "max_string_length", "max_record_bytes", "reference_sample_rows",
                  "max_categories", "queue_rows"):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise bad("a positive int")
    elif name in ("disabled", "metrics"):
        if not isinstance(value, bool):
            raise bad("True or False")
    elif name == "protocol":
        if value is not None and value not in PROTOCOLS:
            raise bad(" or ".join(PROTOCOLS))
    elif name in ("redact_features", "hash_features"):
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise bad("a list of feature names or glob patterns")
    elif name in ("environment", "hash_salt"):
        if not isinstance(value, str):
            raise bad("a string")
    elif name in ("service_name", "endpoint"):
        if value is not None and not isinstance(value, str):
            raise bad("a string")
    elif name in ("timeout", "exit_timeout") and (value is not None or name == "exit_timeout") and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
    ):
        raise bad("a positive number of seconds")


def otel_protocol(signal: str) -> str | None:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL; None when neither is set."""
    return (os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or None)


def otel_is_set(name: str) -> bool:
    """Whether the standard variable `name` is set (to leave its setting to the OpenTelemetry SDK)."""
    return bool(os.environ.get(name))
