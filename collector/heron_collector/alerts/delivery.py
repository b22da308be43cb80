"""Sending one channel's requests: a timeout per request, retries with backoff, one `Delivery`.

`Channel` is the base of every channel: a subclass says what to send (`requests`, and `wants`
for what it takes at all); `send` posts it with urllib and returns what happened, never raising.
Connection errors, timeouts, 429 and 5xx are retried up to `retries` times with capped
exponential backoff and equal jitter; a Retry-After header (seconds or an HTTP date) replaces the
backoff; other 4xx are final. Redirects are answers, not hops. Errors never carry the URL (a
Slack webhook's path is its secret).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import logging
import math
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .notification import Notification

__all__ = ["Channel", "ChannelError", "Delivery", "Request"]

log = logging.getLogger("heron.alerts")

USER_AGENT = "heron-alerts/1"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF_S = 1.0
DEFAULT_MAX_BACKOFF_S = 60.0
MAX_RESPONSE_BYTES = 64 * 1024


class ChannelError(ValueError):
    """A channel's configuration is invalid; the message names the channel, the key and the fix."""


@dataclass
class Delivery:
    channel: str
    outcome: str  # "delivered" | "failed" | "dropped" | "skipped" (the channel does not take it)
    status: int | None = None  # the last HTTP status, None when no answer came
    attempts: int = 0
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Request:
    url: str = field(repr=False)  # may carry a secret (a Slack webhook's path)
    body: bytes
    headers: dict[str, str] = field(repr=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a hop: following one would resend a signed body elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class _Answer:
    status: int | None
    retry_after: float | None
    error: str  # "" on success

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _post(request: Request, timeout: float) -> _Answer:
    req = urllib.request.Request(request.url, data=request.body, headers=request.headers, method="POST")
    try:
        with _OPENER.open(req, timeout=timeout) as response:
            response.read(MAX_RESPONSE_BYTES)
            return _Answer(response.status, None, "")
    except urllib.error.HTTPError as exc:
        try:
            text = exc.read(512).decode("utf-8", "replace").strip()
        except Exception:  # the status is what matters
            text = ""
        finally:
            exc.close()
        detail = f"HTTP {exc.code}" + (f": {text[:200]}" if text else "")
        return _Answer(exc.code, _retry_after(exc.headers.get("Retry-After")), detail)
    except TimeoutError:
        return _Answer(None, None, f"timed out after {timeout:g} s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return _Answer(None, None, f"timed out after {timeout:g} s")
        return _Answer(None, None, f"connection failed: {type(reason).__name__}: {reason}"
                       if isinstance(reason, Exception) else f"connection failed: {reason}")
    except (OSError, ValueError, http.client.HTTPException) as exc:  # reset by peer, bad status line, ...
        return _Answer(None, None, f"connection failed: {type(exc).__name__}: {exc}")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _number(value: float | None) -> float | None:
    """A JSON-safe number: NaN and infinities (not JSON) become null."""
    return value if value is not None and math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else format(value, ".4g")


def _time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Channel:
    """One configured destination. Subclasses build the requests; this class sends them."""

    type: ClassVar[str] = ""
    name: str
    url: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF_S
    max_backoff: float = DEFAULT_MAX_BACKOFF_S
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    # -- what to send -------------------------------------------------------------------------

    def wants(self, n: Notification) -> bool:
        """Whether this channel takes the notification at all (Airflow: critical firing only)."""
        return bool(n.alerts)

    def requests(self, n: Notification) -> list[Request]:
        raise NotImplementedError

    def payload(self, n: Notification) -> tuple[bytes, dict[str, str]]:
        """The body and headers this channel would send for `n` (its one request)."""
        (request,) = self.requests(n)
        return request.body, self._sign(request)

    def _request(self, body: bytes, url: str | None = None, headers: dict[str, str] | None = None) -> Request:
        merged = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **self.headers, **(headers or {})}
        return Request(url=url or self.url, body=body, headers=merged)

    def _sign(self, request: Request) -> dict[str, str]:
        """The headers of one attempt (the webhook signs each attempt with a fresh timestamp)."""
        return request.headers

    def _accepted(self, answer: _Answer) -> bool:
        return answer.ok

    # -- sending ------------------------------------------------------------------------------

    def send(self, n: Notification, cancel: threading.Event | None = None) -> Delivery:
        """Deliver `n` now, in this thread; never raises. `cancel` (set by a closing dispatcher)
        stops the retries at the next wait."""
        start = time.monotonic()
        if not self.wants(n):
            return Delivery(self.name, "skipped", error=f"{self.type} channel does not take this notification")
        try:
            requests = self.requests(n)
        except Exception as exc:  # a bug here must not stop the worker
            log.exception("heron alerts: channel %r could not build its request", self.name)
            return Delivery(self.name, "failed", error=f"could not build the request: {type(exc).__name__}: {exc}",
                            seconds=time.monotonic() - start)
        cancel = cancel or threading.Event()
        attempts, status, errors = 0, None, []
        for i, request in enumerate(requests):
            answer, tries = self._send_one(request, cancel)
            attempts += tries
            status = answer.status
            if self._accepted(answer):
                continue
            errors.append(answer.error)
            if answer.retryable or cancel.is_set():  # the receiver is down: do not wait on it N times
                errors.extend(["not sent: an earlier request failed"] * (len(requests) - i - 1))
                break
        seconds = time.monotonic() - start
        if errors:
            error = errors[0] if len(requests) == 1 else f"{len(errors)} of {len(requests)} failed: {errors[0]}"
            return Delivery(self.name, "failed", status, attempts, error, seconds)
        return Delivery(self.name, "delivered", status, attempts, "", seconds)

    def _send_one(self, request: Request, cancel: threading.Event) -> tuple[_Answer, int]:
        attempt = 0
        while True:
            attempt += 1
            answer = _post(Request(request.url, request.body, self._sign(request)), self.timeout)
            if self._accepted(answer) or not answer.retryable or attempt > self.retries:
                return answer, attempt
            if answer.retry_after is not None:
                wait = min(answer.retry_after, self.max_backoff)
            else:  # exponential, with equal jitter: half fixed, half random
                wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                wait = wait / 2 + random.uniform(0, wait / 2)
            log.debug("heron alerts: %s %r attempt %d: %s; retrying in %.2f s",
                      self.type, self.name, attempt, answer.error, wait)
            if cancel.wait(wait):
                return _Answer(answer.status, None, f"{answer.error} (gave up: closing)"), attempt
