"""From alert states to the notifications that go out, and the record of what went out.

A group (model and severity) is notified as Alertmanager notifies an aggregation group
(docs/alerts.md, "Noise control"): a new group waits `group_wait` after its first alert fired,
so alerts that fire together go out in one message (and one that resolves within that wait
sends nothing); once notified, what changed (an alert fired or resolved) goes out no sooner
than `group_interval` after the group's last notification; a group still firing unchanged is
sent again every `repeat_interval`, rounded up to a multiple of `group_interval`. Each
notification lists every firing alert of the group and the alerts resolved since the last one.
The timings of a group are the shortest of its rules'. Silenced alerts and alerts inhibited by
another firing rule on the same model, version and subject are left out; a group left empty
sends nothing. Each (notification, channel) is recorded in ml_alert_notifications, with the
alerts it listed as firing: queued when handed to the dispatcher, then its outcome. That record
is the group's state, so `plan` needs nothing but the store and the time.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from ..migrations import identifier
from .evaluate import State, current_states
from .notification import Alert, Notification, group_alerts
from .rules import DEFAULT_TIMING, Rule, Timing, timing

UTC = dt.timezone.utc
_COLUMNS = ["group_key", "status", "channel", "outcome", "alerts", "firing", "http_status", "attempts", "error", "at"]
_DECISIONS = ("queued", "no_channel")  # the rows that say a group was notified (outcomes come later)


@dataclass(frozen=True)
class Plan:
    notification: Notification
    channels: tuple[str, ...]
    repost: bool = False  # only a re-post to the every-time channels; the group's state does not change


def _alert(state: State, status: str, now: dt.datetime, starts_at: dt.datetime | None = None) -> Alert:
    return Alert(fingerprint=state.fingerprint, rule=state.rule, severity=state.severity, status=status,
                 model=state.model, version=state.version, subject=state.subject, metric=state.subject,
                 value=state.value, threshold=state.threshold, summary=state.summary or state.rule,
                 labels=dict(state.labels or {}), starts_at=(starts_at or state.since).astimezone(UTC),
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


def _last_sent(client: Any, db: str, now: dt.datetime) -> dict[str, tuple[dt.datetime, frozenset[str]]]:
    """Per group: when it was last notified (as of `now`) and the alerts that notification listed as firing."""
    rows = client.query(f"SELECT group_key, max(at), argMax(firing, at) FROM {db}.ml_alert_notifications "
                        "WHERE outcome IN {decisions:Array(String)} AND at <= {now:DateTime64(3, 'UTC')} "
                        "GROUP BY group_key", parameters={"decisions": list(_DECISIONS), "now": now}).result_rows
    return {key: (_aware(at), frozenset(firing)) for key, at, firing in rows}


def _ended(client: Any, db: str, fingerprints: set[str]) -> dict[str, tuple[State, dt.datetime, dt.datetime]]:
    """Of these alerts, those no longer firing: (latest state, when it began firing, when it ended)."""
    if not fingerprints:
        return {}
    rows = client.query(
        f"SELECT fingerprint, argMax((rule, model_name, model_version, subject, severity, state, since, value, "
        f"threshold, window_start, summary, labels), at), argMaxIf(since, at, state = 'firing'), max(at) "
        f"FROM {db}.ml_alerts WHERE fingerprint IN {{fps:Array(String)}} GROUP BY fingerprint",
        parameters={"fps": sorted(fingerprints)}).result_rows
    out = {}
    for fp, (rule, model, version, subject, severity, state, since, value, threshold, ws, summary, labels), \
            fired, ended in rows:
        if state not in ("firing", "recovering"):
            out[fp] = (State(fp, rule, model, version, subject, severity, state, _aware(since), value, threshold,
                             _aware(ws) if ws else None, summary, dict(labels)), _aware(fired), _aware(ended))
    return out


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def group_timing(rules: list[Rule]) -> Timing:
    """A group's timings: the shortest of its rules' (the defaults when none is known)."""
    if not rules:
        return DEFAULT_TIMING
    timings = [timing(r) for r in rules]
    return Timing(min(t.group_wait for t in timings), min(t.group_interval for t in timings),
                  min(t.repeat_interval for t in timings))


def tick_seconds(rules: list[Rule], refresh_seconds: float) -> float:
    """How often the collector looks for due notifications: the evaluation interval, or sooner when a
    group_wait or group_interval is shorter (at least a second)."""
    spans = [refresh_seconds] + [s for r in rules if r.enabled for t in [timing(r)]
                                 for s in (t.group_wait, t.group_interval) if s > 0]
    return max(1.0, min(spans))


def plan(client: Any, database: str, rules: list[Rule], now: dt.datetime,
         every_time: frozenset[str] = frozenset()) -> list[Plan]:
    """The notifications due at `now`, each with the channels it goes to. `every_time` channels
    also get each firing group at every call (an Alertmanager resolves an alert it has not heard
    of for its resolve_timeout, as from Prometheus)."""
    db = identifier(database, "database")
    now = _aware(now)
    by_name = {r.name: r for r in rules}
    live = current_states(client, db)
    firing = [s for s in live.values() if s.state in ("firing", "recovering")]
    inhibited = {(r_name, s.model, s.version, s.subject)
                 for s in firing for r_name in by_name.get(s.rule, Rule("", "metric")).inhibits}
    silences = silenced(client, db, now)

    def kept(s: State) -> bool:
        return (s.rule, s.model, s.version, s.subject) not in inhibited and not any(_matches(x, s) for x in silences)

    sent = _last_sent(client, db, now)
    firing = [s for s in firing if kept(s)]
    firing_fps = {s.fingerprint for s in firing}
    ended = _ended(client, db, {fp for _, listed in sent.values() for fp in listed} - firing_fps)
    alerts = [_alert(s, "firing", now) for s in firing]
    for key, (_, listed) in sent.items():  # resolved since the group's last notification
        for fp in sorted(listed - firing_fps):
            if fp in ended and kept(ended[fp][0]) and f"{ended[fp][0].model}/{ended[fp][0].severity}" == key:
                state, fired, at = ended[fp]
                alerts.append(_alert(state, "resolved", at, starts_at=fired))
    out = []
    for n in group_alerts(alerts):
        group_rules = [by_name[a.rule] for a in n.alerts if a.rule in by_name]
        t = group_timing(group_rules)
        channels = tuple(sorted({c for r in group_rules for c in r.channels}))
        last = sent.get(n.group_key)
        now_firing = {a.fingerprint for a in n.firing}
        if last is None or not last[1]:  # a new group: its first notification waits group_wait
            start = min((s.since for s in firing if s.fingerprint in now_firing), default=None)
            due = start is not None and (now - start).total_seconds() >= t.group_wait
        else:
            elapsed = (now - last[0]).total_seconds()
            changed = bool(now_firing - last[1]) or bool(n.resolved)
            repeat = math.ceil(t.repeat_interval / t.group_interval) * t.group_interval
            due = elapsed >= t.group_interval if changed else bool(n.firing) and elapsed >= repeat
        if due:
            out.append(Plan(n, channels))
        elif n.firing and (reposted := tuple(c for c in channels if c in every_time)):
            out.append(Plan(Notification(n.group_key, "firing", n.model, n.severity, n.firing), reposted, True))
    return out


def record(client: Any, database: str, n: Notification, channel: str, outcome: str, status: int | None = None,
           attempts: int = 0, error: str = "", at: dt.datetime | None = None) -> None:
    db = identifier(database, "database")
    client.insert(f"{db}.ml_alert_notifications",
                  [[n.group_key, n.status, channel, outcome, [a.fingerprint for a in n.alerts],
                    [a.fingerprint for a in n.firing], status, attempts, error[:1000], at or dt.datetime.now(UTC)]],
                  column_names=_COLUMNS)


def send(client: Any, database: str, plans: list[Plan], dispatcher: Any, now: dt.datetime) -> int:
    """Hand each planned notification to the dispatcher (or record it as having no channel)."""
    sent = 0
    for p in plans:
        if not p.channels:
            record(client, database, p.notification, "", "no_channel", at=now)
            continue
        for channel in p.channels:
            record(client, database, p.notification, channel, "reposted" if p.repost else "queued", at=now)
            dispatcher.submit(channel, p.notification)
            sent += 1
    return sent
