"""What a record may hold before it is stored: timestamps, sizes and Heron bodies, checked per record.

A record that fails is rejected alone, through OTLP partial success, with a message naming the
field, the value and the limit (and the setting that moves it); everything valid beside it is
stored. Nothing that passes here can break an insert: timestamps fit DateTime64(9) and a
plausibility window, names and values are bounded in bytes, and Heron bodies are strict JSON
objects (no bare NaN/Infinity) whose `ts` values lie in the same window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from ..settings import (
    HERON_MAX_FUTURE_SECONDS,
    HERON_MAX_LOG_BODY_BYTES,
    HERON_MAX_NAME_BYTES,
    HERON_MAX_PAST_DAYS,
    HERON_MAX_VALUE_BYTES,
    Settings,
)

NS = 1_000_000_000
INT64_MAX = (1 << 63) - 1
DATETIME64_9_MAX_NS = 9_214_646_400 * NS - 1  # 2262-01-01, inside DateTime64(9)'s range


def _when(ns: int) -> str:
    try:
        return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of any date range"


@dataclass(frozen=True)
class Limits:
    max_name_bytes: int = HERON_MAX_NAME_BYTES.default
    max_value_bytes: int = HERON_MAX_VALUE_BYTES.default
    max_body_bytes: int = HERON_MAX_LOG_BODY_BYTES.default
    max_past_days: float = HERON_MAX_PAST_DAYS.default
    max_future_seconds: float = HERON_MAX_FUTURE_SECONDS.default

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(s.max_name_bytes, s.max_value_bytes, s.max_log_body_bytes, s.max_past_days, s.max_future_seconds)

    def window(self, now_ns: int | None = None) -> Window:
        now_ns = time.time_ns() if now_ns is None else now_ns
        low = max(1, now_ns - int(self.max_past_days * 86400 * NS))
        high = min(DATETIME64_9_MAX_NS, now_ns + int(self.max_future_seconds * NS))
        return Window(low, high)


@dataclass(frozen=True)
class Window:
    low_ns: int
    high_ns: int

    def problem(self, what: str, ns: int) -> str | None:
        """Why timestamp `ns` (named `what`) is refused, or None."""
        if self.low_ns <= ns <= self.high_ns:
            return None
        side = ("before the oldest accepted, " + _when(self.low_ns) + " (HERON_MAX_PAST_DAYS)"
                if ns < self.low_ns else
                "after the latest accepted, " + _when(self.high_ns) + " (HERON_MAX_FUTURE_SECONDS)")
        return (f"{what} = {ns} ns ({_when(ns)}) is {side}; send Unix time in nanoseconds "
                "from a synchronised clock")

    def seconds_problem(self, what: str, value: Any) -> str | None:
        """Why a Heron body's `ts` (Unix seconds, a number or null) is refused, or None."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{what} is {type(value).__name__} {str(value)[:40]!r}; send Unix seconds as a number or null"
        if not self.low_ns / NS <= value <= self.high_ns / NS:
            return (f"{what} = {value!r} is outside the accepted window {_when(self.low_ns)} .. "
                    f"{_when(self.high_ns)}; ts is Unix time in seconds (not milliseconds or nanoseconds)")
        return None


def too_long(text: str, limit: int) -> bool:
    """Whether `text` is over `limit` bytes in UTF-8 (cheap for the common short case)."""
    return len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit)


def attributes_problem(where: str, attrs: dict[str, str], limits: Limits) -> str | None:
    """Why a converted attribute map is refused (a key or value over its byte limit), or None."""
    for key, value in attrs.items():
        if too_long(key, limits.max_name_bytes):
            return (f"{where} key {key[:40]!r}… is over {limits.max_name_bytes} bytes "
                    "(HERON_MAX_NAME_BYTES)")
        if too_long(value, limits.max_value_bytes):
            return (f"{where}[{key[:60]!r}] is over {limits.max_value_bytes} bytes "
                    f"(HERON_MAX_VALUE_BYTES); got {len(value.encode('utf-8', 'surrogatepass'))}")
    return None


def name_problem(what: str, value: str, limits: Limits) -> str | None:
    if too_long(value, limits.max_name_bytes):
        return (f"{what} is over {limits.max_name_bytes} bytes (HERON_MAX_NAME_BYTES); "
                f"got {len(value.encode('utf-8', 'surrogatepass'))}")
    return None


def heron_body_problem(text: str, window: Window) -> str | None:
    """Why a Heron record's body cannot be parsed into rows: not strict JSON, not an object, bad ts."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        hint = ("NaN and Infinity are not JSON: send them as the strings \"NaN\", \"Infinity\" "
                "(json.dumps(..., allow_nan=False) catches this)" if ("NaN" in text or "Infinity" in text)
                else "see docs/wire-format.md")
        return f"body is not valid JSON ({str(exc)[:120]}); {hint}"
    if not isinstance(document, dict):
        return f"body is a JSON {type(document).__name__}, not an object; see docs/wire-format.md"
    stamps = document.get("ts")
    for i, value in enumerate(stamps if isinstance(stamps, list) else [stamps]):
        problem = window.seconds_problem("body.ts" + (f"[{i}]" if isinstance(stamps, list) else ""), value)
        if problem:
            return problem
    return None
