"""Counts of what Heron dropped or failed to do, and the once-per-kind warning.

Nothing here raises: a telemetry fault is counted, logged once per kind at warning level on the
``heron`` logger (Heron never installs handlers), and otherwise ignored.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

_log = logging.getLogger("heron")
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_warned: set[str] = set()


def count(kind: str, n: int = 1) -> None:
    """Add ``n`` to the counter ``kind`` (drops, truncations: expected events, not faults)."""
    if n:
        with _lock:
            _counts[kind] += n


def fault(kind: str, exc: BaseException | None = None) -> None:
    """Count a failure of kind ``kind``; warn the first time this kind happens in the process."""
    try:
        with _lock:
            _counts["fault." + kind] += 1
            first = kind not in _warned
            _warned.add(kind)
        if first:
            _log.warning(
                "heron: %s failed (%s: %s); the model call was not affected. Further faults of this "
                "kind are counted in heron.stats() only.",
                kind, type(exc).__name__ if exc else "-", exc,
            )
    except Exception:  # pragma: no cover - logging itself broke
        pass


def notice(kind: str, message: str) -> None:
    """Count ``kind`` (a correction Heron made, not a failure) and warn with ``message`` the first time."""
    with _lock:
        _counts[kind] += 1
        first = kind not in _warned
        _warned.add(kind)
    if first:
        _log.warning("heron: %s. Further cases are counted in heron.stats() as %s.", message, kind)


def total(prefix: str) -> int:
    """The sum of the counters whose names start with ``prefix``."""
    with _lock:
        return sum(n for k, n in _counts.items() if k.startswith(prefix))


_OUTCOMES = ("produced", "exported", "failed", "dropped")
KINDS = ("prediction_rows", "records", "spans")


def delivery() -> list[tuple[int, dict[str, str]]]:
    """The delivery counters as (value, {heron.outcome, heron.reason, heron.kind}) points: what
    the `heron.sdk.delivery` metric reports."""
    points = []
    for key, n in snapshot().items():
        parts = key.split(".")
        if parts[0] in _OUTCOMES and parts[-1] in KINDS and len(parts) <= 3:
            attrs = {"heron.outcome": parts[0], "heron.kind": parts[-1]}
            if len(parts) == 3:
                attrs["heron.reason"] = parts[1]
            points.append((n, attrs))
    return points


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(sorted(_counts.items()))


def reset() -> None:
    with _lock:
        _counts.clear()
        _warned.clear()
