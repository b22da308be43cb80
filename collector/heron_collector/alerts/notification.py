"""What a channel delivers: alerts, grouped into one notification per model and severity.

An `Alert` is one rule's finding on one subject (a feature, a segment, or nothing) of one model
version; its fingerprint is its stable identity, so a receiver that deduplicates (PagerDuty's
dedup_key, Alertmanager's labels) sees the same alert across evaluations and its resolution.
A `Notification` is what one message carries: every alert of a model at one severity, so a
drift on twelve features is one Slack message listing twelve lines, not twelve messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["SEVERITIES", "STATUSES", "Alert", "Notification", "group_alerts"]

SEVERITIES = ("warning", "critical")
STATUSES = ("firing", "resolved")


def _aware(name: str, value: dt.datetime | None, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"Alert.{name} must be a timezone-aware datetime (UTC), got {value!r}; "
                         "pass datetime.now(timezone.utc) or attach tzinfo=timezone.utc")


@dataclass(frozen=True)
class Alert:
    fingerprint: str  # hex; stable identity of rule + model + version + subject
    rule: str
    severity: str  # "warning" | "critical"
    status: str  # "firing" | "resolved"
    model: str
    version: str
    subject: str  # feature / segment, "" when none
    metric: str
    value: float | None
    threshold: float | None
    summary: str  # one line for humans
    labels: dict[str, str]  # routing labels from the rule (team=..., etc.)
    starts_at: dt.datetime  # UTC, aware
    ends_at: dt.datetime | None  # set when resolved
    window_start: dt.datetime | None = None
    url: str = ""  # a link with the details, may be empty

    def __post_init__(self) -> None:
        if not self.fingerprint or any(c not in "0123456789abcdefABCDEF" for c in self.fingerprint):
            raise ValueError(f"Alert.fingerprint must be a non-empty hex string, got {self.fingerprint!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Alert.severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.status not in STATUSES:
            raise ValueError(f"Alert.status must be one of {STATUSES}, got {self.status!r}")
        for name in ("rule", "model"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"Alert.{name} must be a non-empty string, got {getattr(self, name)!r}")
        if not isinstance(self.labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.labels.items()):
            raise ValueError(f"Alert.labels must map strings to strings, got {self.labels!r}")
        _aware("starts_at", self.starts_at, required=True)
        _aware("ends_at", self.ends_at, required=False)
        _aware("window_start", self.window_start, required=False)

    def __hash__(self) -> int:  # labels is a dict: hash by identity and state instead
        return hash((self.fingerprint, self.status, self.starts_at, self.ends_at))


@dataclass(frozen=True)
class Notification:
    group_key: str  # "model/severity"
    status: str  # "firing" when any alert of the group fires, else "resolved"
    model: str
    severity: str
    alerts: tuple[Alert, ...] = field(default_factory=tuple)  # every alert of the group

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "resolved")


def group_alerts(alerts: Iterable[Alert]) -> list[Notification]:
    """One notification per model and severity, alerts in their given order, groups in order of
    first appearance; a group fires when any of its alerts fires."""
    groups: dict[tuple[str, str], list[Alert]] = {}
    for alert in alerts:
        groups.setdefault((alert.model, alert.severity), []).append(alert)
    return [
        Notification(group_key=f"{model}/{severity}",
                     status="firing" if any(a.status == "firing" for a in members) else "resolved",
                     model=model, severity=severity, alerts=tuple(members))
        for (model, severity), members in groups.items()
    ]
