"""Alert rules evaluated over the real views in the embedded engine, as a live run would: once
after each day's window, on a concept switch and on an undrifted control."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pytest

from heron_collector import analytics, config
from heron_collector.alerts import evaluate, rules

from ..analytics._data import SCORED_COLUMNS, day_start, insert_reference
from ..analytics.test_performance import insert_labels, register

DB = "heron"
DAY = 86400


def _stream(store, days: int, switch_at: int | None, baseline_days: int, switch_back: int = 0) -> None:
    """`days` daily windows of a binary classifier ending yesterday; from `switch_at` days ago (until
    `switch_back` days ago, excluded) the concept changes (accuracy ≈ 0.9 → 0.75), its inputs do not.
    The first `baseline_days` are the baseline."""
    rng = np.random.default_rng(days * 7 + (switch_at or 0))
    register(store, "m", "v1", "binary_classification", positive_class="yes")
    rows, labels = [], []
    for days_ago in range(days, 0, -1):
        x = rng.normal(0, 1, 400)
        boundary = 0.8 if switch_at is not None and switch_back < days_ago <= switch_at else 0.0
        y = x + rng.normal(0, 0.25, len(x)) > boundary
        start = day_start(days_ago)
        for i in range(len(x)):
            ts = start + dt.timedelta(seconds=int(i * DAY / len(x)))
            pid = f"{days_ago}-{i}"
            rows.append(["m", "v1", ts, pid, "yes" if x[i] > 0 else "no", None, float(x[i] > 0), {},
                         {"x": float(x[i])}])
            labels.append((pid, "yes" if y[i] else "no", None, ts + dt.timedelta(minutes=5)))
    store.insert(f"{DB}.ml_predictions", rows, column_names=[*SCORED_COLUMNS, "numeric"])
    insert_labels(store, "m", labels)
    insert_reference(store, "m", "v1", {"x": rng.normal(0, 1, 2_000).tolist()})
    config.set_values(store, DB, "m", {"window_seconds": str(DAY), "lookback_seconds": str((days + 2) * DAY),
                                       "baseline_start": day_start(days).isoformat(),
                                       "baseline_end": day_start(days - baseline_days).isoformat()})
    analytics.refresh(store, DB, wait=True)


def _live(store, days: int) -> list[tuple[int, evaluate.State]]:
    """Evaluate the default rules at the end of each day, oldest first: (days ago, transition)."""
    transitions = []
    for days_ago in range(days, 0, -1):
        at = day_start(days_ago - 1) + dt.timedelta(minutes=1)
        transitions += [(days_ago, t) for t in evaluate.evaluate(store, DB, rules.default_rules(), now=at)]
    return transitions


def test_the_concept_switch_fires_a_performance_alert_in_the_switch_window(store):
    _stream(store, days=12, switch_at=3, baseline_days=8)
    transitions = _live(store, 12)
    fired = [(d, t) for d, t in transitions if t.state == "firing"]
    assert fired, "the accuracy drop must fire"
    assert {d for d, _ in fired} == {3}, [(d, t.summary) for d, t in fired]  # the switch window, and only then
    accuracy = next(t for _, t in fired if t.subject == "accuracy")
    assert accuracy.rule == "performance_baseline" and accuracy.model == "m"
    assert "accuracy" in accuracy.summary and "outside its baseline band" in accuracy.summary
    # the error metrics (log loss) rise with it; nothing about the inputs fires
    assert {t.rule for _, t in fired} <= {"performance_baseline", "error_baseline"}, [t.summary for _, t in fired]
    stored = store.query(f"SELECT rule, state, value, threshold FROM {DB}.ml_alerts WHERE state = 'firing' "
                         "AND subject = 'accuracy'").result_rows
    assert len(stored) == 1 and stored[0][:2] == ("performance_baseline", "firing") and stored[0][2] < stored[0][3]
    assert "accuracy" in [s.subject for s in evaluate.firing(store, DB)]


def test_a_one_window_concept_switch_fires_both_baseline_rules_and_they_resolve_when_it_is_over(store):
    """performance_baseline (accuracy, f1 … below) and error_baseline (log loss above) cross in the
    switch window and clear in the next, which is back to the baseline's concept."""
    _stream(store, days=12, switch_at=3, baseline_days=8, switch_back=2)
    transitions = _live(store, 12)
    for rule, metric in (("performance_baseline", "accuracy"), ("error_baseline", "log_loss")):
        ours = [(d, t.state) for d, t in transitions if t.rule == rule and t.subject == metric]
        assert ours == [(3, "firing"), (2, "resolved")], (rule, [(d, t.rule, t.subject, t.state, t.summary)
                                                                  for d, t in transitions])
    # a single window's KS false positive on x may go pending; `for = 2h` keeps it from firing
    fired = {t.rule for _, t in transitions if t.state == "firing"}
    assert fired == {"performance_baseline", "error_baseline"}, [(d, t.rule, t.summary) for d, t in transitions]


def test_an_undrifted_control_of_20_windows_fires_nothing(store):
    _stream(store, days=20, switch_at=None, baseline_days=10)
    transitions = _live(store, 20)
    assert [t for _, t in transitions if t.state == "firing"] == [], [t.summary for _, t in transitions]


def test_for_and_keep_firing_for_hold_a_flapping_value(store):
    rule = rules.parse_rule({"name": "r", "signal": "metric", "kind": "performance", "metric": "accuracy",
                             "compare": "below", "warning": 0.8, "for": "2h", "keep_firing_for": "3h"}, "t")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    key = ("r", "m", "v1", "")
    states: dict[str, evaluate.State] = {}

    def at(hours: float, value: float) -> str | None:
        lv = evaluate.level(rule, [{"n": 100, "value": value, "window_start": t0, "metric": "accuracy",
                                    "subject": "", "baseline_windows": 0, "flag": 0, "limit": 0.0}])
        changed = evaluate.step([rule], {key: lv}, states, t0 + dt.timedelta(hours=hours))
        return changed[0].state if changed else None

    assert at(0, 0.7) == "pending"
    assert at(1, 0.9) == "inactive", "cleared before `for`: never fired"
    assert at(2, 0.7) == "pending" and at(3, 0.7) is None and at(4, 0.7) == "firing"
    assert at(5, 0.9) == "recovering" and at(6, 0.7) == "firing", "back within the hold: still the same alert"
    assert at(7, 0.9) == "recovering" and at(9, 0.9) is None and at(10, 0.9) == "resolved"


def test_a_rule_file_is_checked_with_its_line(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text('[channels.slack]\ntype = "slack"\nurl = "http://x"\n\n[[rules]]\nname = "ok"\nsignal = '
                   '"feature_drift"\n\n[[rules]]\nname = "floor"\nsignal = "metric"\nkind = "performance"\n'
                   'metric = "accuracy"\ncompare = "below"\n')
    with pytest.raises(rules.RuleError, match=r"rules.toml:9: rule floor: compare = 'below' needs warning"):
        rules.load(bad)
    done = subprocess.run([sys.executable, "-m", "heron_collector", "alerts", "check", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "rules.toml:9" in done.stderr
    bad.write_text(bad.read_text() + 'warning = 0.8\nchannels = ["pager"]\n')
    with pytest.raises(rules.RuleError, match="channel 'pager' is not defined"):
        rules.load(bad)
    bad.write_text(bad.read_text().replace('["pager"]', '["slack"]') + '\n[[rules]]\nname = "no_predictions"\n'
                   'enabled = false\n')
    loaded, channels = rules.load(bad)
    by_name = {r.name: r for r in loaded}
    assert by_name["floor"].warning == 0.8 and by_name["floor"].channels == ("slack",) and "slack" in channels
    assert not by_name["no_predictions"].enabled and by_name["feature_drift"].enabled
    ok = subprocess.run([sys.executable, "-m", "heron_collector", "alerts", "check", str(bad)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "floor" in ok.stdout, ok.stderr


def test_a_group_waits_group_wait_changes_wait_group_interval_and_repeats_after_repeat_interval(store, tmp_path):
    """Alertmanager's timings on real evaluations, with the time injected: accuracy and f1 fire
    together and go out as one message after group_wait; unchanged, the group is sent again only
    after repeat_interval; its resolution waits for group_interval after the last message."""
    from heron_collector.alerts import channels, dispatch, notify

    from ._receiver import Receiver

    _stream(store, days=12, switch_at=3, baseline_days=8)
    with Receiver() as hook:
        path = tmp_path / "rules.toml"
        path.write_text(f'[notifications]\ngroup_wait = "10m"\ngroup_interval = "1h"\n\n'
                        f'[channels.hook]\ntype = "webhook"\nurl = "{hook.url}/alerts"\n'
                        'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n\n'
                        '[[rules]]\nname = "performance_baseline"\nsignal = "metric"\nkind = "performance"\n'
                        'metrics = ["accuracy", "f1"]\ncompare = "baseline"\ndirection = "below"\nwarning = 3.0\n'
                        'min_samples = 50\nrepeat_interval = "2h"\nchannels = ["hook"]\n')
        loaded, config = rules.load(path)
        loaded = [r for r in loaded if r.name == "performance_baseline"]  # no other alert joins the group
        assert rules.timing(loaded[0]) == rules.Timing(600, 3600, 7200)
        outcomes = []
        sender = dispatch.Dispatcher(channels.channels_from_config(config),
                                     on_outcome=lambda n, d: outcomes.append((n.status, d.outcome)))
        t0 = day_start(2) + dt.timedelta(minutes=1)  # the end of the switch window

        def at(minutes: float, evaluated: bool = False) -> list[str]:
            """Evaluate (or only look for due notifications) at t0 + minutes; the statuses sent."""
            when = t0 + dt.timedelta(minutes=minutes)
            if evaluated:
                evaluate.evaluate(store, DB, loaded, now=when)
            before = len(hook.requests)
            notify.send(store, DB, notify.plan(store, DB, loaded, when), sender, when)
            assert sender.flush(10)
            return [r.json()["status"] for r in hook.requests[before:]]

        assert at(0, evaluated=True) == [], "a new group waits group_wait"
        assert at(9) == []
        assert at(10) == ["firing"], "accuracy and f1 fired together: one message after group_wait"
        assert {a["labels"]["subject"] for a in hook.requests[-1].json()["alerts"]} == {"accuracy", "f1"}
        assert at(30, evaluated=True) == [] and at(120, evaluated=True) == [], "unchanged: no repeat before 2h"
        assert at(130, evaluated=True) == ["firing"], "repeat_interval after the last message"
        store.command(f"TRUNCATE TABLE {DB}.ml_performance")  # the labels come back to the baseline's concept
        assert at(140, evaluated=True) == [], "resolved, but the last message is not group_interval old"
        assert at(189) == []
        assert at(190) == ["resolved"]
        resolved = hook.requests[-1].json()["alerts"]
        assert {(a["status"], a["labels"]["subject"]) for a in resolved} == {("resolved", "accuracy"),
                                                                            ("resolved", "f1")}
        ended = (t0 + dt.timedelta(minutes=140)).strftime("%Y-%m-%dT%H:%M")  # when they resolved, not when sent
        assert all(a["endsAt"].startswith(ended) for a in resolved), resolved
        assert at(250, evaluated=True) == [] and at(400) == [], "a resolved group is over"
        sender.close(5)
    assert outcomes == [("firing", "delivered")] * 2 + [("resolved", "delivered")]
    recorded = store.query(f"SELECT status, length(firing), outcome FROM {DB}.ml_alert_notifications "
                           "WHERE outcome = 'queued' ORDER BY at").result_rows
    assert recorded == [("firing", 2, "queued"), ("firing", 2, "queued"), ("resolved", 0, "queued")]


def test_notification_timings_come_from_the_file_or_the_rule_and_are_checked():
    from heron_collector.alerts import notify

    text = ('[notifications]\ngroup_wait = "1m"\nrepeat_interval = "1d"\n\n'
            '[[rules]]\nname = "r"\nsignal = "feature_drift"\ngroup_interval = "10m"\n')
    by_name = {r.name: r for r in rules.load_text(text, "f.toml")[0]}
    assert rules.timing(by_name["r"]) == rules.Timing(60, 600, 86400)
    assert rules.timing(by_name["feature_drift"]) == rules.Timing(60, 300, 86400), "a default takes the file's"
    assert rules.timing(rules.parse_rule({"name": "x", "signal": "feature_drift"}, "t")) == rules.DEFAULT_TIMING
    assert notify.group_timing([by_name["r"], by_name["feature_drift"]]) == rules.Timing(60, 300, 86400)
    with pytest.raises(rules.RuleError, match=r"f\.toml: \[notifications\]: unknown key 'group_by'"):
        rules.load_text('[notifications]\ngroup_by = ["model"]\n', "f.toml")
    with pytest.raises(rules.RuleError, match=r"f\.toml:1: rule r: group_interval must be longer than 0"):
        rules.load_text('[[rules]]\nname = "r"\nsignal = "feature_drift"\ngroup_interval = "0s"\n', "f.toml")
    with pytest.raises(rules.RuleError, match="repeat_interval: 'often' is not a duration"):
        rules.load_text('[notifications]\nrepeat_interval = "often"\n', "f.toml")


def test_an_alert_that_resolves_within_group_wait_sends_nothing(store):
    from heron_collector.alerts import notify

    rule = rules.parse_rule({"name": "r", "signal": "feature_drift", "group_wait": "1m"}, "t")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    fp = evaluate.fingerprint("r", "m", "v1", "x")

    def transition(state: str, seconds: int) -> None:
        at = t0 + dt.timedelta(seconds=seconds)
        store.insert(f"{DB}.ml_alerts", [[fp, "r", "m", "v1", "x", "warning", state, 1.0, 0.5, None, "", {}, at, at]],
                     column_names=["fingerprint", "rule", "model_name", "model_version", "subject", "severity",
                                   "state", "value", "threshold", "window_start", "summary", "labels", "since", "at"])

    transition("firing", 0)
    assert notify.plan(store, DB, [rule], t0 + dt.timedelta(seconds=30)) == []
    transition("resolved", 40)
    assert notify.plan(store, DB, [rule], t0 + dt.timedelta(seconds=60)) == []
    assert notify.plan(store, DB, [rule], t0 + dt.timedelta(hours=5)) == []
    transition("firing", 100)
    [due] = notify.plan(store, DB, [rule], t0 + dt.timedelta(seconds=160))
    assert due.notification.status == "firing" and [a.fingerprint for a in due.notification.alerts] == [fp]
    assert notify.tick_seconds([rule], 300) == 60


def test_a_backtest_lists_the_alerts_the_live_run_fired(store):
    _stream(store, days=12, switch_at=3, baseline_days=8)
    live = {(d, t.fingerprint) for d, t in _live(store, 12) if t.state == "firing"}
    assert live
    start, end = day_start(11) + dt.timedelta(minutes=1), day_start(0) + dt.timedelta(minutes=1)
    replayed = evaluate.backtest(store, DB, rules.default_rules(), start, end, step_seconds=DAY)
    fired = {(round((day_start(0) - t).total_seconds() / DAY) + 1, s.fingerprint) for t, s in replayed
             if s.state == "firing"}
    assert fired == live
    done = subprocess.run([sys.executable, "-m", "heron_collector", "alerts", "backtest", "--from", "2026-01-01"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--to" in done.stderr


def test_alerts_test_sends_one_test_notification_per_channel(tmp_path):
    from ._receiver import Receiver

    with Receiver() as hook:
        path = tmp_path / "rules.toml"
        path.write_text(f'[channels.hook]\ntype = "webhook"\nurl = "{hook.url}/x"\n'
                        'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n\n'
                        '[[rules]]\nname = "dataset_drift"\nsignal = "dataset_drift"\nseverity = "critical"\n'
                        'channels = ["hook"]\n')
        done = subprocess.run([sys.executable, "-m", "heron_collector", "alerts", "test", str(path), "--rule",
                               "dataset_drift"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "delivered" in done.stdout and len(hook.requests) == 1
        [alert] = hook.requests[0].json()["alerts"]
        assert alert["labels"]["test"] == "true" and alert["labels"]["alertname"] == "dataset_drift"
    missing = subprocess.run([sys.executable, "-m", "heron_collector", "alerts", "test", str(path), "--rule", "nope"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no rule 'nope'" in missing.stderr


def _rows(values: list[float], mean: float = 0.9, std: float = 0.01) -> list[dict]:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return [{"n": 100, "value": v, "window_start": t0 + dt.timedelta(hours=i), "metric": "accuracy", "subject": "",
             "baseline_windows": 10, "baseline_mean": mean, "baseline_std": std, "baseline_lower": mean - 3 * std,
             "baseline_upper": mean + 3 * std, "flag": 0, "limit": 0.0} for i, v in enumerate(values)]


def _chart(chart: str, **extra) -> rules.Rule:
    return rules.parse_rule({"name": "c", "signal": "metric", "kind": "performance", "metric": "accuracy",
                             "compare": "baseline", "direction": "below", "chart": chart, **extra}, "t")


def test_control_chart_rules_beyond_two_of_three_and_ewma_against_their_definitions():
    beyond = _chart("beyond", warning=3.0)
    assert evaluate.level(beyond, _rows([0.9, 0.869])).severity == "warning"   # 3.1 σ below
    assert evaluate.level(beyond, _rows([0.9, 0.875])).severity is None        # 2.5 σ
    assert evaluate.level(beyond, _rows([0.9, 0.95])).severity is None         # above: direction below only
    two = _chart("two_of_three", warning=2.0)
    assert evaluate.level(two, _rows([0.875, 0.9, 0.878])).severity == "warning"  # 2 of the last 3 beyond 2 σ
    assert evaluate.level(two, _rows([0.875, 0.9, 0.9])).severity is None
    assert evaluate.level(two, _rows([0.875, 0.925, 0.9])).severity is None      # the other side does not count
    lam, values = 0.2, [0.89, 0.888, 0.886, 0.885, 0.884, 0.883]                # a slide no single window breaks
    ewma = _chart("ewma", warning=3.0, ewma_lambda=lam)
    z, t = 0.9, 0
    for v in values:
        z, t = lam * v + (1 - lam) * z, t + 1
    limit = 3.0 * 0.01 * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
    assert (0.9 - z > limit) == (evaluate.level(ewma, _rows(values)).severity == "warning")
    assert evaluate.level(ewma, _rows(values)).severity == "warning"
    assert evaluate.level(beyond, _rows(values)).severity is None, "no single window is beyond 3 σ"


def test_silences_and_inhibition_keep_alerts_out_of_notifications(store):
    from heron_collector.alerts import manage, notify

    now = dt.datetime.now(dt.timezone.utc)
    drift = rules.parse_rule({"name": "drift", "signal": "feature_drift", "channels": []}, "t")
    missing = rules.parse_rule({"name": "missing", "signal": "metric", "kind": "data_quality",
                                "metric": "missing_rate", "compare": "above", "warning": 0.05,
                                "inhibits": ["drift"]}, "t")
    firing = [evaluate.State(evaluate.fingerprint(r, m, "v1", s), r, m, "v1", s, "warning", "firing", now, 1.0, 0.5,
                             None, f"{r} of {s}", {}) for r, m, s in
              (("drift", "a", "x"), ("missing", "a", "x"), ("drift", "a", "y"), ("drift", "b", "x"))]
    store.insert(f"{DB}.ml_alerts", [[s.fingerprint, s.rule, s.model, s.version, s.subject, s.severity, s.state,
                                      s.value, s.threshold, None, s.summary, {}, s.since, now] for s in firing],
                 column_names=["fingerprint", "rule", "model_name", "model_version", "subject", "severity", "state",
                               "value", "threshold", "window_start", "summary", "labels", "since", "at"])
    manage.run(store, DB, {"action": "silence", "model": "b", "for": "1h"})
    plans = notify.plan(store, DB, [drift, missing], now + dt.timedelta(minutes=1))  # after group_wait
    listed = sorted((a.model, a.rule, a.subject) for p in plans for a in p.notification.alerts)
    # x of model a drifts because it is missing: only the cause; model b is silenced
    assert listed == [("a", "drift", "y"), ("a", "missing", "x")]
    with pytest.raises(ValueError, match="--for"):
        manage.run(store, DB, {"action": "silence", "model": "b", "for": "soon"})


def test_feedback_labels_an_episode_and_precision_is_per_rule(store):
    from heron_collector.alerts import manage

    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for i in range(3):
        fp = evaluate.fingerprint("r", "m", "v1", f"f{i}")
        rows.append([fp, "r", "m", "v1", f"f{i}", "warning", "firing", 1.0, 0.5, None, "", {}, now, now])
    store.insert(f"{DB}.ml_alerts", rows, column_names=["fingerprint", "rule", "model_name", "model_version",
                                                        "subject", "severity", "state", "value", "threshold",
                                                        "window_start", "summary", "labels", "since", "at"])
    for row, real in zip(rows, (True, True, False), strict=True):
        manage.run(store, DB, {"action": "label", "fingerprint": row[0], "real": real})
    assert store.query(f"SELECT rule, episodes, labelled, real, precision FROM {DB}.ml_alert_precision").result_rows \
        == [("r", 3, 3, 2, pytest.approx(2 / 3))]
    with pytest.raises(ValueError, match="has fired"):
        manage.run(store, DB, {"action": "label", "fingerprint": "0" * 16, "real": True})
