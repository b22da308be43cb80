"""Durations as people type them (90s, 15m, 2h, 1d): one parser for rule files, `heron alerts
--since/--for` and `heron report --since`, so the same text means the same time everywhere."""

from __future__ import annotations

import re
from typing import Any

EXAMPLES = "90s, 15m, 2h or 1d"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: Any, unit_required: bool = False) -> float | None:
    """`value` in seconds, or None when it is not a duration. A number (or text without a unit,
    unless `unit_required`) is seconds; negative and non-finite values are not durations."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if 0 <= value < float("inf") else None
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or (unit_required and match.group(2) is None):
        return None
    return float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
