"""From alert transitions to the notifications that go out, and the record of what went out.

A group (model and severity) is notified when one of its alerts starts firing or resolves, and
again every `repeat_interval` (the shortest of its rules') while it fires; each notification
lists every alert of the group, firing and just resolved. Silenced alerts and alerts inhibited by
another firing rule on the same model, version and subject are left out; a group left empty
sends nothing. Each (notification, channel) is recorded in ml_alert_notifications: queued when
handed to the dispatcher, then its outcome.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..migrations import identifier
from .evaluate import State, current_states
from .notification import Alert, Notification, group_alerts
from .rules import Rule

UTC = dt.timezone.utc
_COLUMNS = ["group_key", "status", "channel", "outcome", "alerts", "http_status", "attempts", "error", "at"]


def _alert(state: State, status: str, metric: str, now: dt.datetime) -> Alert:
    return Alert(fingerprint=state.fingerprint, rule=state.rule, severity=state.severity, status=status,
                 model=state.model, version=state.version, subject=state.subject, metric=metric,
                 value=state.value, threshold=state.threshold, summary=state.summary or state.rule,
                 labels=dict(state.labels or {}), starts_at=state.since.astimezone(UTC),
                 ends_at=now if status == "resolved" else None,
                 window_start=state.window_start.replace(tzinfo=UTC) if state.window_start else None)


def silenced(client: Any, db: str, now: dt.datetime) -> list[tuple[str, str, str]]:
    """(model, rule, subject) of the silences in force; '' matches anything."""
    rows = client.query(f"SELECT model_name, rule, subject FROM {db}.ml_alert_silences "
                        "WHERE until > {now:DateTime64(3, 'UTC')}", parameters={"now": now}).result_rows
    return [tuple(r) for r in rows]


def _matches(silence: tuple[str, str, str], state: State) -> bool:
    model, rule, subject = silence
    return model in ("", state.model) and rule in ("", state.rule) and subject in ("", state.subject)


def plan(client: Any, database: str, rules: list[Rule], changed: list[State], now: dt.datetime,
         every_time: frozenset[str] = frozenset()) -> list[tuple[Notification, tuple[str, ...]]]:
    """The notifications to send after an evaluation, each with the channels it goes to.
    `every_time` channels get each firing group at every evaluation (an Alertmanager resolves
    an alert it has not heard of for its resolve_timeout, as from Prometheus)."""
    db = identifier(database, "database")
    by_name = {r.name: r for r in rules}
    live = current_states(client, db)
    firing = [s for s in live.values() if s.state in ("firing", "recovering")]
    resolved = [s for s in changed if s.state == "resolved"]
    newly = {s.fingerprint for s in changed if s.state == "firing"}
    inhibited = {(r_name, s.model, s.version, s.subject)
                 for s in firing for r_name in by_name.get(s.rule, Rule("", "metric")).inhibits}
    silences = silenced(client, db, now)

    def kept(s: State) -> bool:
        return (s.rule, s.model, s.version, s.subject) not in inhibited and not any(_matches(x, s) for x in silences)

    last = dict(client.query(f"SELECT group_key, max(at) FROM {db}.ml_alert_notifications "
                             "WHERE outcome != 'silenced' GROUP BY group_key").result_rows)
    alerts = [_alert(s, "firing", s.subject, now) for s in firing if kept(s)] + \
             [_alert(s, "resolved", s.subject, now) for s in resolved if kept(s)]
    out = []
    for n in group_alerts(alerts):
        members = [live.get(a.fingerprint) or next(s for s in resolved if s.fingerprint == a.fingerprint)
                   for a in n.alerts]
        group_rules = [by_name[s.rule] for s in members if s.rule in by_name]
        repeat = min((r.repeat_seconds for r in group_rules), default=4 * 3600.0)
        previous = last.get(n.group_key)
        due = previous is None or (now - previous.replace(tzinfo=UTC)).total_seconds() >= repeat
        channels = tuple(sorted({c for r in group_rules for c in r.channels}))
        if not (any(a.fingerprint in newly for a in n.alerts) or n.resolved or (n.firing and due)):
            channels = tuple(c for c in channels if c in every_time) if n.firing else ()
            if not channels:
                continue
        out.append((n, channels))
    return out


def record(client: Any, database: str, n: Notification, channel: str, outcome: str, status: int | None = None,
           attempts: int = 0, error: str = "", at: dt.datetime | None = None) -> None:
    db = identifier(database, "database")
    client.insert(f"{db}.ml_alert_notifications",
                  [[n.group_key, n.status, channel, outcome, [a.fingerprint for a in n.alerts], status, attempts,
                    error[:1000], at or dt.datetime.now(UTC)]], column_names=_COLUMNS)


def send(client: Any, database: str, plans: list[tuple[Notification, tuple[str, ...]]], dispatcher: Any,
         now: dt.datetime) -> int:
    """Hand each planned notification to the dispatcher (or record it as having no channel)."""
    sent = 0
    for n, channels in plans:
        if not channels:
            record(client, database, n, "", "no_channel", at=now)
            continue
        for channel in channels:
            record(client, database, n, channel, "queued", at=now)
            dispatcher.submit(channel, n)
            sent += 1
    return sent
