"""Where notifications go: Slack, PagerDuty, a signed webhook, Alertmanager, an Airflow DAG.

Each channel turns a `Notification` into HTTP requests (`requests`, or `payload` to look at one);
the base class in `delivery` sends them with timeouts and retries and returns a `Delivery`.
`channels_from_config` builds them from settings. Contracts, from the receivers' own docs:

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
import hashlib
import hmac
import math
import re
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..settings import rules_environment
from .delivery import (
    DEFAULT_BACKOFF_S,
    DEFAULT_MAX_BACKOFF_S,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    Channel,
    ChannelError,
    Delivery,
    Request,
    _Answer,
    _cut,
    _fmt,
    _json,
    _number,
    _time,
)
from .notification import Alert, Notification

__all__ = [
    "CHANNEL_TYPES",
    "PAGERDUTY_URL",
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

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000
PAGERDUTY_SUMMARY_CHARS = 1024
PAGERDUTY_DEDUP_KEY_CHARS = 255
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager's webhook sends as endsAt of a firing alert


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
                   "metric": a.metric, "subject": a.subject})
    return {k: v for k, v in labels.items() if v != ""}  # an empty label is no label to Alertmanager


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


def _expand(name: str, key: str, value: Any, environ: Mapping[str, str]) -> Any:
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


def channels_from_config(config: dict[str, dict], environ: Mapping[str, str] | None = None) -> dict[str, Channel]:
    """Channels by name from their settings; raises ChannelError naming the channel, the key and
    the fix. `${VAR}` in any string value is read from `environ` (default: the process's)."""
    if not isinstance(config, dict):
        raise ChannelError(f"channels must be a mapping of name to settings, got {type(config).__name__}")
    env = rules_environment() if environ is None else environ
    channels = {}
    for name, raw in config.items():
        if not isinstance(name, str) or not name:
            raise ChannelError(f"channel names must be non-empty strings, got {name!r}")
        channels[name] = _channel(name, raw, env)
    return channels

