"""Redaction, hashing and size limits applied to features before they leave the process.

A feature name is matched once against the HERON_REDACT_FEATURES / HERON_HASH_FEATURES glob
patterns (fnmatch, case-sensitive) and the decision is cached. Every drop or truncation is
counted in heron.stats(); nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from . import _stats

KEEP, DROP, HASH = 0, 1, 2


class Policy:
    __slots__ = ("_actions", "hash_patterns", "max_features", "max_string_length", "redact_patterns", "salt")

    def __init__(
        self,
        redact: Iterable[str] = (),
        hash_: Iterable[str] = (),
        salt: str = "",
        max_features: int = 500,
        max_string_length: int = 256,
    ) -> None:
        self.redact_patterns = tuple(redact)
        self.hash_patterns = tuple(hash_)
        self.salt = salt.encode()
        self.max_features = max_features
        self.max_string_length = max_string_length
        self._actions: dict[str, int] = {}

    def action(self, name: str) -> int:
        action = self._actions.get(name)
        if action is None:
            if any(fnmatchcase(name, p) for p in self.redact_patterns):
                action = DROP
            elif any(fnmatchcase(name, p) for p in self.hash_patterns):
                action = HASH
            else:
                action = KEEP
            if len(self._actions) < 100_000:
                self._actions[name] = action
        return action

    def select(self, names: Iterable[str]) -> list[tuple[str, int]]:
        """The (name, action) pairs to export, redacted ones removed, at most max_features."""
        chosen: list[tuple[str, int]] = []
        redacted = over = 0
        for name in names:
            action = self.action(name)
            if action == DROP:
                redacted += 1
            elif len(chosen) >= self.max_features:
                over += 1
            else:
                chosen.append((name, action))
        if redacted:
            _stats.count("features_redacted", redacted)
        if over:
            _stats.count("features_over_limit", over)
        return chosen

    def hash_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return hashlib.sha256(self.salt + _text(value).encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def truncate(self, text: str) -> str:
        if len(text) > self.max_string_length:
            _stats.count("strings_truncated")
            return text[: self.max_string_length]
        return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
