"""What people do with alerts, through the CLI and the admin endpoint: look, silence, label."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ..migrations import identifier
from .rules import RuleError, _duration

UTC = dt.timezone.utc


STATES = ("pending", "firing", "recovering", "resolved")
_LISTED = ["at", "state", "severity", "rule", "model_name", "model_version", "subject", "value", "threshold",
           "window_start", "summary", "fingerprint"]


def recent(client: Any, database: str, since: str = "24h", model: str = "", rule: str = "",
           state: str = "") -> dict[str, Any]:
    """Alert transitions of the last `since`, newest first, with the value and threshold behind
    each; with `state`, one row per alert now in that state instead (its latest transition): pending,
    firing (which includes recovering: still firing, within its keep_firing_for) and recovering
    alerts however old, resolved ones resolved within `since`. `model` and `rule` narrow both."""
    db = identifier(database, "database")
    try:
        seconds = _duration(since, "--since")
    except RuleError as exc:
        raise ValueError(str(exc)) from None
    if not 0 < seconds <= 366 * 86400:
        raise ValueError(f"--since {since!r} must be between 1 s and 366 days, e.g. --since 24h")
    if state and state not in STATES:
        raise ValueError(f"--state {state!r} is not one of {', '.join(STATES)}")
    for name, value in (("--model", model), ("--rule", rule)):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a name, got {type(value).__name__}")
    where = ("({model:String} = '' OR model_name = {model:String}) AND ({rule:String} = '' OR rule = {rule:String})")
    parameters = {"model": model, "rule": rule, "s": int(seconds),
                  "states": ["firing", "recovering"] if state == "firing" else [state]}
    if not state:
        sql = (f"SELECT {', '.join(_LISTED)} FROM {db}.ml_alerts WHERE {where} "
               "AND at >= now64(3) - toIntervalSecond({s:UInt32}) ORDER BY at DESC LIMIT 500")
    else:
        latest = ", ".join(c for c in _LISTED if c != "fingerprint")
        columns = ", ".join(f"tupleElement(t, {i + 1}) AS {c}" for i, c in enumerate(_LISTED[:-1]))
        sql = (f"SELECT {columns}, fingerprint FROM (SELECT fingerprint, argMax(tuple({latest}), at) AS t "
               f"FROM {db}.ml_alerts WHERE {where} GROUP BY fingerprint) "
               "WHERE state IN {states:Array(String)} AND (state != 'resolved' OR at >= now64(3) - "
               "toIntervalSecond({s:UInt32})) ORDER BY at DESC LIMIT 500")
    rows = client.query(sql, parameters=parameters).result_rows
    return {"columns": list(_LISTED), "rows": [list(r) for r in rows]}


def run(client: Any, database: str, request: dict[str, Any], rules_path: str = "") -> dict[str, Any]:
    """{action: silence | label | recent | backtest, …}; ValueError naming the field when it is
    wrong. `rules_path` is the rules file a backtest evaluates (Settings.alert_rules)."""
    db = identifier(database, "database")
    action = request.get("action")
    if action == "recent":
        return recent(client, db, request.get("since") or "24h", request.get("model") or "",
                      request.get("rule") or "", request.get("state") or "")
    if action == "silence":
        model = request.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("silence needs --model NAME (the model whose alerts to hold)")
        try:
            seconds = _duration(request.get("for") or "", "--for")
        except RuleError as exc:
            raise ValueError(str(exc)) from None
        if not 0 < seconds <= 90 * 86400:
            raise ValueError("--for must be between 1 s and 90 days")
        until = dt.datetime.now(UTC) + dt.timedelta(seconds=seconds)
        silence_id = uuid.uuid4().hex[:12]
        client.insert(f"{db}.ml_alert_silences",
                      [[silence_id, model, str(request.get("rule") or ""), str(request.get("subject") or ""), until,
                        str(request.get("comment") or "")]],
                      column_names=["id", "model_name", "rule", "subject", "until", "comment"])
        return {"silence": silence_id, "until": until.isoformat()}
    if action == "label":
        fingerprint, real = request.get("fingerprint"), request.get("real")
        if not isinstance(fingerprint, str) or not fingerprint or not isinstance(real, bool):
            raise ValueError("label needs an alert fingerprint and --true or --false")
        since = client.command(f"SELECT max(since) FROM {db}.ml_alerts WHERE fingerprint = {{f:String}} "
                               "AND state = 'firing'", parameters={"f": fingerprint})
        if not since or str(since).startswith("1970"):
            raise ValueError(f"no alert {fingerprint!r} has fired (heron alerts lists them)")
        client.command(f"INSERT INTO {db}.ml_alert_feedback (fingerprint, since, real, comment) "
                       "SELECT {f:String}, {s:DateTime64(3, 'UTC')}, {r:UInt8}, {c:String}",
                       parameters={"f": fingerprint, "s": since, "r": int(real),
                                   "c": str(request.get("comment") or "")})
        return {"labelled": fingerprint, "real": real}
    if action == "backtest":
        return backtest(client, db, request, rules_path)
    raise ValueError(f"unknown alerts action {action!r}; expected recent, silence, label or backtest")


def backtest(client: Any, db: str, request: dict[str, Any], rules_path: str = "") -> dict[str, Any]:
    """{from, to, step, replay}: replay the analytics over the range, from one step before `from`
    (unless replay is false), then evaluate the rules in force (HERON_ALERT_RULES) at every step
    from `from` to `to`; what would have fired and when."""
    from ..analytics import _replay
    from . import evaluate, rules

    start, end = _replay.parse_time(request.get("from"), "from"), _replay.parse_time(request.get("to"), "to")
    step = request.get("step")
    if request.get("replay", True):  # from one step before: the first evaluation needs the views as of `start`
        lead = int(step or min(_replay.DEFAULT_STEP_SECONDS, _replay.smallest_lookback(client, db)))
        _replay.replay(client, db, start - dt.timedelta(seconds=lead), end, step)
    loaded, _ = rules.load(rules_path)
    every = int(step or 3600)
    transitions = evaluate.backtest(client, db, loaded, start, end, every)
    columns = ["at", "state", "severity", "rule", "model_name", "model_version", "subject", "value", "threshold",
               "window_start", "summary", "fingerprint"]
    return {"columns": columns, "rows": [[t.isoformat(), s.state, s.severity, s.rule, s.model, s.version, s.subject,
                                          s.value, s.threshold, s.window_start.isoformat() if s.window_start else None,
                                          s.summary, s.fingerprint] for t, s in transitions]}
