"""What a receiver answers besides success, as exceptions the ingest path raises and both
transports (HTTP, gRPC) translate: a leaf, so the receivers and the collector import it, not
each other."""

from __future__ import annotations

RETRY_AFTER_S = 2  # the Retry-After (HTTP) and RetryInfo (gRPC) of a Busy answer


class BadRequest(ValueError):
    """The body cannot be decoded (HTTP 400); the message names the problem."""


class TooLarge(ValueError):
    """The body, or what it decompresses to, is over the limit (HTTP 413)."""


class Busy(RuntimeError):
    """The spool is full or cannot write: answer 503 / UNAVAILABLE so the exporter retries later."""
