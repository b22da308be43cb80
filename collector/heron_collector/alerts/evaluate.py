"""Evaluate the alert rules over the views, keep each alert's state, and say what to notify.

Each rule reads its signal's rows in ml_alert_signals (queries/views/60_alert_signals.sql) for
the complete windows of the last `HORIZON_SECONDS` (a window still filling is not judged), per
model / version / subject, and takes the level (warning, critical or none) of the newest window
with at least `min_samples`. An alert's
identity is its fingerprint: rule + model + version + subject. Its state moves

    inactive → pending (condition holds) → firing (held for `for`)
    firing → recovering (condition gone) → resolved (gone for `keep_firing_for`; back → firing)

and every transition is a row of ml_alerts with the value and threshold that caused it, so the
state survives a restart and a back-test can replay it. What is notified, and when (group_wait,
group_interval, repeat_interval), is notify.py's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..migrations import identifier
from .rules import Rule

HORIZON_SECONDS = 14 * 86400
UTC = dt.timezone.utc
_COLUMNS = ("signal", "kind", "metric", "model_name", "model_version", "subject", "window_start", "window_end",
            "value", "n", "flag", "limit", "baseline_windows", "baseline_mean", "baseline_std", "baseline_lower",
            "baseline_upper")


@dataclass
class Level:
    """What one rule says of one subject now."""

    severity: str | None  # None: the condition does not hold
    value: float | None
    threshold: float | None
    window_start: dt.datetime | None
    summary: str


@dataclass
class State:
    fingerprint: str
    rule: str
    model: str
    version: str
    subject: str
    severity: str
    state: str
    since: dt.datetime
    value: float | None = None
    threshold: float | None = None
    window_start: dt.datetime | None = None
    summary: str = ""
    labels: dict[str, str] | None = None


def fingerprint(rule: str, model: str, version: str, subject: str) -> str:
    return hashlib.sha256("\x1f".join((rule, model, version, subject)).encode()).hexdigest()[:16]


def _signal_rows(client: Any, db: str, signals: set[str], as_of: dt.datetime) -> list[dict[str, Any]]:
    """The rows of `signals` for the complete windows of the horizon: one query per evaluation."""
    result = client.query(
        f"SELECT {', '.join(_COLUMNS)} FROM {db}.ml_alert_signals WHERE signal IN {{signals:Array(String)}} "
        "AND window_start >= {since:DateTime64(3, 'UTC')} AND window_end <= {as_of:DateTime64(3, 'UTC')} "
        "ORDER BY window_start",  # complete windows only
        parameters={"signals": sorted(signals), "since": as_of - dt.timedelta(seconds=HORIZON_SECONDS),
                    "as_of": as_of})
    return [dict(zip(_COLUMNS, row, strict=True)) for row in result.result_rows]


def _of(rule: Rule, row: dict[str, Any]) -> bool:
    return (row["signal"] == rule.signal and (not rule.kind or row["kind"] == rule.kind)
            and (not rule.metrics or row["metric"] in rule.metrics)
            and (not rule.subjects or row["subject"] in rule.subjects))


def alert_subject(rule: Rule, row: dict[str, Any]) -> str:
    """What one alert of `rule` is about: the feature for drift, `metric` or `metric:feature` for
    metric rules (one alert per metric: accuracy and roc_auc falling are two alerts)."""
    if rule.signal != "metric":
        return str(row["subject"])
    return f"{row['metric']}:{row['subject']}" if row["subject"] else str(row["metric"])


def _z(row: dict[str, Any]) -> float:
    value, mean, std = row["value"], row["baseline_mean"], row["baseline_std"]
    if std and std > 0:
        return (value - mean) / std
    return 0.0 if value == mean else math.copysign(math.inf, value - mean)


def _side(z: float, direction: str) -> float:
    """The deviation that counts, in σ (positive = the alerting side)."""
    return -z if direction == "below" else z if direction == "above" else abs(z)


def _severity(score: float, rule: Rule) -> str | None:
    if rule.critical is not None and score >= rule.critical:
        return "critical"
    if rule.warning is not None and score >= rule.warning:
        return "warning"
    return None


def level(rule: Rule, rows: list[dict[str, Any]]) -> Level | None:
    """The rule's verdict on one subject's windows (oldest first); None without a usable window."""
    rows = [r for r in rows if r["n"] >= rule.min_samples and (rule.compare != "baseline" or r["baseline_windows"])]
    if not rows:
        return None
    row = rows[-1]
    value, ws = float(row["value"]), row["window_start"]
    name = f"{row['metric']}" + (f" of {row['subject']}" if row["subject"] not in ("", "*") else "")
    if rule.compare in ("flag", "limit"):
        held = bool(row["flag"]) if rule.compare == "flag" else value > float(row["limit"])
        return Level(rule.severity if held else None, value, float(row["limit"]), ws,
                     f"{name} {value:.4g}" + (f" (limit {float(row['limit']):.4g})" if row["limit"] else ""))
    if rule.compare in ("above", "below"):
        score = value if rule.compare == "above" else -value
        warning = rule.warning if rule.compare == "above" or rule.warning is None else -rule.warning
        critical = rule.critical if rule.compare == "above" or rule.critical is None else -rule.critical
        severity = ("critical" if critical is not None and score >= critical else
                    "warning" if warning is not None and score >= warning else None)
        threshold = rule.critical if severity == "critical" else rule.warning
        return Level(severity, value, threshold, ws, f"{name} {value:.4g} {rule.compare} {threshold:.4g}"
                     if threshold is not None else f"{name} {value:.4g}")
    # baseline: control-chart rules on the deviation from the baseline mean, in σ
    band = f"[{row['baseline_lower']:.4g}, {row['baseline_upper']:.4g}]"
    if rule.chart == "beyond":
        severity = _severity(_side(_z(row), rule.direction), rule)
    elif rule.chart == "two_of_three":
        last = rows[-3:]
        beyond = [_side(_z(r), rule.direction) for r in last]
        severity = "warning" if rule.warning is not None and sum(b >= rule.warning for b in beyond) >= 2 else None
        if rule.critical is not None and beyond[-1] >= rule.critical:
            severity = "critical"
    else:  # ewma over the windows since the baseline, started at its mean
        lam, mean, std = rule.ewma_lambda, row["baseline_mean"], row["baseline_std"]
        z, t = mean, 0
        for r in rows:
            if r["window_start"] <= ws:
                z, t = lam * float(r["value"]) + (1 - lam) * z, t + 1
        spread = std * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t))) if std > 0 else 0.0
        score = (z - mean) / spread if spread > 0 else (0.0 if z == mean else math.copysign(math.inf, z - mean))
        severity = _severity(_side(score, rule.direction), rule)
    limit = row["baseline_lower"] if rule.direction == "below" else row["baseline_upper"]
    return Level(severity, value, limit, ws, f"{name} {value:.4g} outside its baseline band {band}"
                 if severity else f"{name} {value:.4g} inside its baseline band {band}")


def current_states(client: Any, db: str) -> dict[str, State]:
    """The latest transition of every alert that is not over (inactive or resolved)."""
    rows = client.query(
        f"SELECT fingerprint, argMax((rule, model_name, model_version, subject, severity, state, since, value, "
        f"threshold, window_start, summary, labels), at) FROM {db}.ml_alerts GROUP BY fingerprint").result_rows
    out = {}
    for fp, (rule, model, version, subject, severity, state, since, value, threshold, ws, summary, labels) in rows:
        if state in ("pending", "firing", "recovering"):
            out[fp] = State(fp, rule, model, version, subject, severity, state, _aware(since), value, threshold,
                            _aware(ws) if ws else None, summary, dict(labels))
    return out


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def step(rules: list[Rule], levels: dict[tuple[str, str, str, str], Level], states: dict[str, State],
         now: dt.datetime) -> list[State]:
    """The transitions of one evaluation: `levels` per (rule, model, version, subject) now, over the
    alerts' `states`; returns the new states (also updated in `states`)."""
    by_name = {r.name: r for r in rules}
    changed: list[State] = []
    seen = set()
    for (rule_name, model, version, subject), lv in levels.items():
        rule = by_name[rule_name]
        fp = fingerprint(rule_name, model, version, subject)
        seen.add(fp)
        old = states.get(fp)
        new = _next(rule, old, lv, now)
        if new is None:
            continue
        new.fingerprint, new.rule, new.model, new.version, new.subject = fp, rule_name, model, version, subject
        new.labels = dict(rule.labels)
        changed.append(new)
        if new.state in ("inactive", "resolved"):
            states.pop(fp, None)
        else:
            states[fp] = new
    return changed


def _next(rule: Rule, old: State | None, lv: Level, now: dt.datetime) -> State | None:
    held = lv.severity is not None

    def make(state: str, since: dt.datetime, severity: str | None = None) -> State:
        return State("", "", "", "", "", severity or lv.severity or (old.severity if old else rule.severity), state,
                     since, lv.value, lv.threshold, lv.window_start, lv.summary)

    if old is None:
        if not held:
            return None
        return make("firing" if rule.for_seconds <= 0 else "pending", now)
    elapsed = (now - old.since).total_seconds()
    if old.state == "pending":
        if not held:
            return make("inactive", now, old.severity)
        if elapsed >= rule.for_seconds:
            return make("firing", now)
        return None
    if old.state == "firing":
        if held:
            return make("firing", old.since) if lv.severity != old.severity else None
        return make("resolved", now, old.severity) if rule.keep_firing_for_seconds <= 0 else \
            make("recovering", now, old.severity)
    if old.state == "recovering":
        if elapsed >= rule.keep_firing_for_seconds:  # the hold ran out: that episode is over, even if the
            return make("resolved", now, old.severity)  # condition is back (a new one starts with its `for`)
        if held:
            return make("firing", old.since)
    return None


def evaluate(client: Any, database: str, rules: list[Rule], now: dt.datetime | None = None,
             states: dict[str, State] | None = None) -> list[State]:
    """Run every enabled rule as of `now` (default: the current time) and return the transitions:
    stored in ml_alerts over the stored states, or — given `states` (a back-test) — applied to
    those alone and not stored."""
    db = identifier(database, "database")
    stored = states is None
    now = _aware(now or dt.datetime.now(UTC))
    levels: dict[tuple[str, str, str, str], Level] = {}
    enabled = [rule for rule in rules if rule.enabled]
    signal_rows = _signal_rows(client, db, {rule.signal for rule in enabled}, now) if enabled else []
    for rule in enabled:
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in signal_rows:
            if _of(rule, row):
                groups[(row["model_name"], row["model_version"], alert_subject(rule, row))].append(row)
        for (model, version, subject), rows in groups.items():
            lv = level(rule, rows)
            if lv is not None:
                levels[(rule.name, model, version, subject)] = lv
    if states is None:
        states = current_states(client, db)
    for state in list(states.values()):  # an alert whose signal went away entirely is over
        if (state.rule, state.model, state.version, state.subject) not in levels and \
                any(r.name == state.rule and r.enabled for r in rules):
            levels[(state.rule, state.model, state.version, state.subject)] = Level(
                None, state.value, state.threshold, state.window_start, state.summary)
    changed = step(rules, levels, states, now)
    if changed and stored:
        client.insert(f"{db}.ml_alerts", [
            [s.fingerprint, s.rule, s.model, s.version, s.subject, s.severity, s.state, s.value, s.threshold,
             s.window_start, s.summary, s.labels or {}, s.since, now] for s in changed],
            column_names=["fingerprint", "rule", "model_name", "model_version", "subject", "severity", "state",
                          "value", "threshold", "window_start", "summary", "labels", "since", "at"])
    return changed


def backtest(client: Any, database: str, rules: list[Rule], start: dt.datetime, end: dt.datetime,
             step_seconds: int = 3600) -> list[tuple[dt.datetime, State]]:
    """What the rules would have done from `start` to `end`, evaluated every `step_seconds` over the
    windows stored (replay them first for times the scheduled refresh never computed); nothing is
    stored or sent. Returns (evaluation time, transition) in order. no_predictions rules are left
    out: their signal measures the silence up to the real current time, not up to each step."""
    rules = [r for r in rules if r.signal != "no_predictions"]
    states: dict[str, State] = {}
    out = []
    t = _aware(start)
    while t <= _aware(end):
        out += [(t, s) for s in evaluate(client, database, rules, now=t, states=states)]
        t += dt.timedelta(seconds=step_seconds)
    return out


def firing(client: Any, database: str) -> list[State]:
    """Alerts firing (or recovering) now."""
    return [s for s in current_states(client, identifier(database, "database")).values()
            if s.state in ("firing", "recovering")]
