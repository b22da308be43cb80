"""Where notifications go: Slack, PagerDuty, a signed webhook, Alertmanager, an Airflow DAG.

Each channel turns a `Notification` into HTTP requests (`requests`, or `payload` to look at one)
and `send`s them with a timeout, retrying connection errors, timeouts, 429 and 5xx with capped
exponential backoff and jitter (a Retry-After header wins), never other 4xx. `send` never raises:
it returns a `Delivery` saying what happened. Contracts, from the receivers' own docs:

- Slack incoming webhook: `text` (the fallback) + `blocks`; a section's text ≤ 3000 characters,
  a header's ≤ 150; 429 carries Retry-After.
- PagerDuty Events v2: one event per alert, `dedup_key` = the alert's fingerprint, trigger or
  resolve; 202 is accepted; `payload.summary` ≤ 1024 characters, `dedup_key` ≤ 255.
- Webhook: Alertmanager's webhook body (version "4"), signed per Standard Webhooks 1.0.
- Alertmanager: `POST /api/v2/alerts`, a list of postable alerts, so its routing tree applies.
- Airflow (stable REST API v1): `POST /api/v1/dags/{dag_id}/dagRuns` with `dag_run_id` and
  `conf`, only for critical firing notifications.

Secrets (URLs with tokens, keys, passwords) never appear in a repr, a log line or an error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import hmac
import http.client
import json
import logging
import math
import os
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .notification import Alert, Notification

__all__ = [
    "CHANNEL_TYPES",
    "AirflowChannel",
    "AlertmanagerChannel",
    "Channel",
    "ChannelError",
    "Delivery",
    "PagerDutyChannel",
    "Request",
    "SlackChannel",
    "WebhookChannel",
    "channels_from_config",
]

log = logging.getLogger("heron.alerts")

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
USER_AGENT = "heron-alerts/1"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF_S = 1.0
DEFAULT_MAX_BACKOFF_S = 60.0
MAX_RESPONSE_BYTES = 64 * 1024
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000
PAGERDUTY_SUMMARY_CHARS = 1024
PAGERDUTY_DEDUP_KEY_CHARS = 255
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager's webhook sends as endsAt of a firing alert


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


# -- Slack -------------------------------------------------------------------------------------


def _mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _alert_line(a: Alert) -> str:
    subject = f" `{_mrkdwn(a.subject)}`" if a.subject else ""
    link = f" <{a.url}|details>" if a.url.startswith(("http://", "https://")) else ""
    state = "" if a.status == "firing" else " _(resolved)_"
    return (f"• *{_mrkdwn(a.rule)}*{subject}{state}: {_mrkdwn(a.summary)} "
            f"(value {_fmt(a.value)}, threshold {_fmt(a.threshold)}){link}")


def _fit_lines(lines: list[str], limit: int) -> str:
    """As many whole lines as fit in `limit` characters, then "… and N more"."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        rest = len(lines) - i - 1
        tail = len(f"\n… and {rest} more") if rest else 0
        cost = len(line) + (1 if out else 0)
        if used + cost + tail > limit:
            if not out:  # not even the first line fits: cut it
                out.append(_cut(line, limit - tail))
            break
        out.append(line)
        used += cost
    more = len(lines) - len(out)
    return "\n".join(out) + (f"\n… and {more} more" if more else "")


@dataclass
class SlackChannel(Channel):
    type: ClassVar[str] = "slack"

    def requests(self, n: Notification) -> list[Request]:
        return [self._request(_json(self.message(n)))]

    def message(self, n: Notification) -> dict[str, Any]:
        firing, resolved = len(n.firing), len(n.resolved)
        counts = ", ".join(p for p in (f"{firing} firing" if firing else "", f"{resolved} resolved" if resolved else "")
                           if p)
        title = f"[{n.status.upper()}] {n.model} · {n.severity} · {counts}"
        lines = [_alert_line(a) for a in n.alerts]
        plain = [f"- {a.rule}{' ' + a.subject if a.subject else ''}{'' if a.status == 'firing' else ' (resolved)'}: "
                 f"{a.summary}" for a in n.alerts]
        return {
            "text": _fit_lines([title, *plain], SLACK_TEXT_CHARS),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": _cut(title, SLACK_HEADER_CHARS)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": _fit_lines(lines, SLACK_SECTION_CHARS)}},
            ],
        }


# -- PagerDuty ---------------------------------------------------------------------------------


def _dedup_key(fingerprint: str) -> str:
    if len(fingerprint) <= PAGERDUTY_DEDUP_KEY_CHARS:
        return fingerprint
    return hashlib.sha256(fingerprint.encode()).hexdigest()


@dataclass
class PagerDutyChannel(Channel):
    type: ClassVar[str] = "pagerduty"
    routing_key: str = field(default="", repr=False)

    def events(self, n: Notification) -> list[dict[str, Any]]:
        return [self.event(a) for a in n.alerts]

    def event(self, a: Alert) -> dict[str, Any]:
        if a.status == "resolved":
            return {"routing_key": self.routing_key, "event_action": "resolve", "dedup_key": _dedup_key(a.fingerprint)}
        event: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": _dedup_key(a.fingerprint),
            "payload": {
                "summary": _cut(a.summary or f"{a.rule} on {a.model}", PAGERDUTY_SUMMARY_CHARS),
                "source": f"heron/{a.model}/{a.version}",
                "severity": {"critical": "critical", "warning": "warning"}[a.severity],
                "timestamp": _time(a.starts_at),
                "component": a.subject or a.model,
                "group": a.model,
                "class": a.metric,
                "custom_details": {
                    "rule": a.rule, "metric": a.metric, "subject": a.subject, "value": _number(a.value),
                    "threshold": _number(a.threshold), "model": a.model, "version": a.version,
                    "window_start": _time(a.window_start) or None, "labels": a.labels,
                },
            },
            "client": "Heron",
        }
        if a.url.startswith(("http://", "https://")):
            event["links"] = [{"href": a.url, "text": "Details in Heron"}]
        return event

    def requests(self, n: Notification) -> list[Request]:
        return [self._request(_json(e)) for e in self.events(n)]

    def payload(self, n: Notification) -> tuple[bytes, dict[str, str]]:
        """PagerDuty takes one event per request: shown here as a JSON array; `send` posts each."""
        return _json(self.events(n)), self._request(b"").headers


# -- Alertmanager's shape: shared by the webhook and the Alertmanager API ------------------------


def _labels(a: Alert) -> dict[str, str]:
    """Identity and routing labels: Alertmanager deduplicates on labels, so only what names the
    alert goes here (rule labels first, then Heron's, which win)."""
    labels = dict(a.labels)
    labels.update({"alertname": a.rule, "severity": a.severity, "model": a.model, "version": a.version,
                   "metric": a.metric})
    if a.subject:
        labels["subject"] = a.subject
    return labels


def _annotations(a: Alert) -> dict[str, str]:
    annotations = {"summary": a.summary, "value": _fmt(a.value), "threshold": _fmt(a.threshold)}
    if a.window_start is not None:
        annotations["window_start"] = _time(a.window_start)
    if a.url:
        annotations["url"] = a.url
    return annotations


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    common = dict(maps[0])
    for m in maps[1:]:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


@dataclass
class WebhookChannel(Channel):
    type: ClassVar[str] = "webhook"
    secret: str = field(default="", repr=False)  # "whsec_<base64>"; empty: unsigned
    external_url: str = ""

    def body(self, n: Notification) -> dict[str, Any]:
        alerts = [{
            "status": a.status,
            "labels": _labels(a),
            "annotations": _annotations(a),
            "startsAt": _time(a.starts_at),
            "endsAt": _time(a.ends_at) if a.ends_at is not None else _ZERO_TIME,
            "generatorURL": a.url,
            "fingerprint": a.fingerprint,
        } for a in n.alerts]
        return {
            "version": "4",
            "groupKey": n.group_key,
            "truncatedAlerts": 0,
            "status": n.status,
            "receiver": self.name,
            "groupLabels": {"model": n.model, "severity": n.severity},
            "commonLabels": _common([a["labels"] for a in alerts]),
            "commonAnnotations": _common([a["annotations"] for a in alerts]),
            "externalURL": self.external_url,
            "alerts": alerts,
        }

    def requests(self, n: Notification) -> list[Request]:
        # One id per message, the same on every retry, so a receiver can drop a repeat.
        return [self._request(_json(self.body(n)), headers={"webhook-id": f"msg_{uuid.uuid4().hex}"})]

    def _sign(self, request: Request) -> dict[str, str]:
        if not self.secret:
            return request.headers
        timestamp = str(int(time.time()))
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{request.headers['webhook-id']}.{timestamp}.".encode() + request.body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return {**request.headers, "webhook-timestamp": timestamp, "webhook-signature": f"v1,{signature}"}


@dataclass
class AlertmanagerChannel(Channel):
    type: ClassVar[str] = "alertmanager"

    def alerts(self, n: Notification) -> list[dict[str, Any]]:
        out = []
        for a in n.alerts:
            alert: dict[str, Any] = {"labels": _labels(a), "annotations": _annotations(a),
                                     "startsAt": _time(a.starts_at)}
            if a.status == "resolved":
                alert["endsAt"] = _time(a.ends_at or dt.datetime.now(dt.timezone.utc))
            if a.url:
                alert["generatorURL"] = a.url
            out.append(alert)
        return out

    def requests(self, n: Notification) -> list[Request]:
        return [self._request(_json(self.alerts(n)), url=self.url.rstrip("/") + "/api/v2/alerts")]


# -- Airflow -----------------------------------------------------------------------------------


@dataclass
class AirflowChannel(Channel):
    type: ClassVar[str] = "airflow"
    dag_id: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)

    def wants(self, n: Notification) -> bool:
        return n.severity == "critical" and n.status == "firing" and bool(n.firing)

    def dag_run_id(self, n: Notification) -> str:
        """The same incident (same firing alerts, same start) gives the same run id, so a retry or
        a repeated notification does not start a second run (Airflow answers 409)."""
        firing = sorted(n.firing, key=lambda a: a.fingerprint)
        identity = "|".join(f"{a.fingerprint}@{_time(a.starts_at)}" for a in firing)
        digest = hashlib.sha256(f"{n.group_key}|{identity}".encode()).hexdigest()[:16]
        model = re.sub(r"[^A-Za-z0-9_.-]", "_", n.model)[:100]
        return f"heron__{model}__{digest}"

    def conf(self, n: Notification) -> dict[str, Any]:
        return {
            "source": "heron",
            "group_key": n.group_key,
            "model": n.model,
            "severity": n.severity,
            "status": n.status,
            "alerts": [{
                "fingerprint": a.fingerprint, "rule": a.rule, "status": a.status, "version": a.version,
                "subject": a.subject, "metric": a.metric, "value": _number(a.value),
                "threshold": _number(a.threshold), "summary": a.summary, "labels": a.labels,
                "starts_at": _time(a.starts_at), "window_start": _time(a.window_start) or None, "url": a.url,
            } for a in n.firing],
        }

    def requests(self, n: Notification) -> list[Request]:
        url = f"{self.url.rstrip('/')}/api/v1/dags/{urllib.parse.quote(self.dag_id, safe='')}/dagRuns"
        auth: dict[str, str] = {}
        if self.token:
            auth["Authorization"] = f"Bearer {self.token}"
        elif self.username:
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            auth["Authorization"] = f"Basic {basic}"
        return [self._request(_json({"dag_run_id": self.dag_run_id(n), "conf": self.conf(n)}), url=url,
                              headers=auth)]

    def _accepted(self, answer: _Answer) -> bool:
        return answer.ok or answer.status == 409  # this incident's run exists already


# -- configuration -----------------------------------------------------------------------------

CHANNEL_TYPES: dict[str, type[Channel]] = {
    c.type: c for c in (SlackChannel, PagerDutyChannel, WebhookChannel, AlertmanagerChannel, AirflowChannel)
}
_COMMON_KEYS = {"type", "url", "timeout", "retries", "backoff", "max_backoff", "headers"}
_KEYS = {
    "slack": set(),
    "pagerduty": {"routing_key"},
    "webhook": {"secret", "external_url"},
    "alertmanager": set(),
    "airflow": {"dag_id", "username", "password", "token"},
}
_REQUIRED = {"slack": ("url",), "pagerduty": ("routing_key",), "webhook": ("url",), "alertmanager": ("url",),
             "airflow": ("url", "dag_id")}


def _expand(name: str, key: str, value: Any, environ: dict[str, str] | os._Environ) -> Any:
    """`${VAR}` inside a string is read from the environment; an unset variable is an error that
    names the variable, never its value."""
    if isinstance(value, dict):
        return {k: _expand(name, f"{key}.{k}", v, environ) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        var = match.group(1)
        if var not in environ:
            raise ChannelError(f"channel {name!r}: {key} refers to ${{{var}}}, which is not set; "
                               f"export {var} in the collector's environment or write the value in the config")
        return environ[var]

    return _ENV_REF.sub(one, value)


def _number_key(name: str, config: dict, key: str, default: float, integer: bool = False) -> Any:
    value = config.get(key, default)
    kind = "a whole number ≥ 0" if integer else "a number of seconds > 0"
    ok = (isinstance(value, int) if integer else isinstance(value, (int, float))) and not isinstance(value, bool)
    if ok:
        ok = value >= 0 if integer else (math.isfinite(value) and value > 0)
    if not ok:
        raise ChannelError(f"channel {name!r}: {key} must be {kind}, got {type(value).__name__} {value!r}; "
                           f"omit it for the default ({default})")
    return value


def _url(name: str, key: str, value: Any) -> str:
    parsed = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        shown = type(value).__name__ if not isinstance(value, str) else "a string that is not an http(s) URL"
        raise ChannelError(f"channel {name!r}: {key} must be an http:// or https:// URL, got {shown}; "
                           "write the full address, e.g. https://host:port/path")
    return value


def _channel(name: str, raw: Any, environ) -> Channel:
    if not isinstance(raw, dict):
        raise ChannelError(f"channel {name!r}: must be a mapping of settings, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind not in CHANNEL_TYPES:
        raise ChannelError(f"channel {name!r}: type must be one of {sorted(CHANNEL_TYPES)}, got {kind!r}")
    unknown = sorted(set(raw) - _COMMON_KEYS - _KEYS[kind])
    if unknown:
        allowed = sorted(_COMMON_KEYS | _KEYS[kind])
        raise ChannelError(f"channel {name!r}: unknown key {unknown[0]!r} for type {kind}; allowed: {allowed}")
    config = {k: _expand(name, k, v, environ) for k, v in raw.items()}
    if kind == "pagerduty":
        config.setdefault("url", PAGERDUTY_URL)
    for key in _REQUIRED[kind]:
        if not config.get(key):
            raise ChannelError(f"channel {name!r}: {key} is required for type {kind}; add {key}: ... to the channel")
    for key in (*_KEYS[kind], "url"):
        if key in config and not isinstance(config[key], str):
            raise ChannelError(f"channel {name!r}: {key} must be a string, got {type(config[key]).__name__}")
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ChannelError(f"channel {name!r}: headers must map header names to string values, e.g. "
                           "headers: {X-Team: ml}")
    kwargs: dict[str, Any] = {
        "name": name,
        "url": _url(name, "url", config["url"]),
        "timeout": float(_number_key(name, config, "timeout", DEFAULT_TIMEOUT_S)),
        "retries": _number_key(name, config, "retries", DEFAULT_RETRIES, integer=True),
        "backoff": float(_number_key(name, config, "backoff", DEFAULT_BACKOFF_S)),
        "max_backoff": float(_number_key(name, config, "max_backoff", DEFAULT_MAX_BACKOFF_S)),
        "headers": headers,
    }
    extra = {k: config[k] for k in _KEYS[kind] if k in config}
    _check(name, kind, extra)
    return CHANNEL_TYPES[kind](**kwargs, **extra)


def _check(name: str, kind: str, extra: dict[str, str]) -> None:
    if kind == "pagerduty" and not re.fullmatch(r"[A-Za-z0-9]{32}", extra["routing_key"]):
        raise ChannelError(f"channel {name!r}: routing_key must be the 32-character integration key of a "
                           "PagerDuty service (Events API v2), got one of another shape; copy it from the "
                           "service's Integrations tab")
    if kind == "webhook" and extra.get("secret"):
        secret = extra["secret"]
        try:
            ok = secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) > 0
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ChannelError(f"channel {name!r}: secret must be 'whsec_' followed by base64 (Standard "
                               "Webhooks); generate one with: python -c \"import base64,os; "
                               "print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"")
    if kind == "webhook" and extra.get("external_url"):
        _url(name, "external_url", extra["external_url"])
    if kind == "airflow":
        if extra.get("token") and (extra.get("username") or extra.get("password")):
            raise ChannelError(f"channel {name!r}: give either token or username/password, not both")
        if extra.get("password") and not extra.get("username"):
            raise ChannelError(f"channel {name!r}: password needs username; add username: ...")


def channels_from_config(config: dict[str, dict], environ: dict[str, str] | None = None) -> dict[str, Channel]:
    """Channels by name from their settings; raises ChannelError naming the channel, the key and
    the fix. `${VAR}` in any string value is read from `environ` (default: the process's)."""
    if not isinstance(config, dict):
        raise ChannelError(f"channels must be a mapping of name to settings, got {type(config).__name__}")
    env = os.environ if environ is None else environ
    channels = {}
    for name, raw in config.items():
        if not isinstance(name, str) or not name:
            raise ChannelError(f"channel names must be non-empty strings, got {name!r}")
        channels[name] = _channel(name, raw, env)
    return channels

