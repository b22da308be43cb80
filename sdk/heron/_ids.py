"""Prediction ids and the deterministic sampling decision made from them.

An id is 36 hex characters: a 64-bit random prefix drawn once per process (and again in a forked
child), a 48-bit call number and a 32-bit row number. Generating one is a string format, not a
uuid4 call, so a 1,000-row batch gets its ids in microseconds; they are unique across processes
with overwhelming probability. Sampling hashes the id (CRC-32), so every process, and a later
ground-truth sender, takes the same decision for the same id.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

_prefix = os.urandom(8).hex()
_calls = itertools.count(1)
_suffixes: list[str] = []


def _reseed() -> None:
    global _prefix, _calls
    _prefix = os.urandom(8).hex()
    _calls = itertools.count(1)


if hasattr(os, "register_at_fork"):  # pragma: no branch
    os.register_at_fork(after_in_child=_reseed)


def one() -> str:
    """A fresh id for a single prediction."""
    return f"{_prefix}{next(_calls):012x}00000000"


class Batch(Sequence[str]):
    """The ids of one batch call, drawn now (one call number) and spelled out only when read, so
    the caller's thread does not build a thousand strings the export thread will build anyway."""

    __slots__ = ("_base", "_n")

    def __init__(self, n: int) -> None:
        self._base = f"{_prefix}{next(_calls):012x}"
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self.tolist()[i]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return f"{self._base}{i % self._n:08x}"

    def __iter__(self) -> Iterator[str]:
        return iter(self.tolist())

    def tolist(self) -> list[str]:
        n, base = self._n, self._base
        if n > 1 << 20:
            return [f"{base}{i:08x}" for i in range(n)]
        if n > len(_suffixes):
            _suffixes.extend(f"{i:08x}" for i in range(len(_suffixes), max(n, 1024)))
        return [base + s for s in _suffixes[:n]]


def keep(prediction_id: str, rate: float) -> bool:
    """Whether a prediction with this id is sampled in, at ``rate`` (deterministic)."""
    if rate >= 1.0:
        return True
    return zlib.crc32(prediction_id.encode()) < rate * 4294967296.0


def keep_mask(ids: Sequence[str], rate: float) -> list[bool]:
    threshold = rate * 4294967296.0
    crc = zlib.crc32
    return [crc(i.encode()) < threshold for i in ids]
