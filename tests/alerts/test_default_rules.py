"""Each default rule, driven by real views in the embedded engine: a stream of daily windows that
crosses the rule and then clears, evaluated after each window as the collector would. The rule
fires while the fault lasts (after its `for`), and resolves once it is gone (after its
`keep_firing_for`); no other default rule fires. (performance_baseline and error_baseline:
test_evaluation.py, on a concept switch.)

multivariate_drift: a PCA reference fitted by the real SDK (heron.log_reference, its OTLP records
stored as the collector stores them), then windows whose two features keep their marginals while
their correlation flips for one window and back: no univariate rule can see it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import heron
from heron_collector import analytics, config
from heron_collector.alerts import evaluate, rules

from ..analytics._data import day_start, insert_predictions, insert_reference
from ..analytics.test_drift_multivariate import _flip, _upload

DB = "heron"
DAY = 86400
DAYS = 8
COLUMNS = ["model_name", "model_version", "timestamp", "prediction_id", "numeric", "categorical", "prediction"]


def _window(rng, model: str, days_ago: int, fault: str | None) -> list[list]:
    rows = []
    for i in range(300):
        a = float(rng.normal(0, 1)) + (2.0 if fault == "drift" else 0.0)
        numeric: dict = {"a": a}
        categorical = {"c": "u" if rng.random() < (0.9 if fault == "drift" else 0.5) else "v"}
        if fault == "missing" and i % 5 < 2:  # 40 % missing
            numeric = {}
        if fault == "new_category" and i % 10 < 3:  # 30 % unseen
            categorical = {"c": "w"}
        if fault == "type" and i % 10 < 6:  # 60 % of `a` sent as text: a pipeline change
            numeric, categorical = {}, {**categorical, "a": f"{a:.3f}"}
        ts = day_start(days_ago) + dt.timedelta(seconds=i * DAY // 300)
        rows.append([model, "v1", ts, f"{days_ago}-{i}", numeric, categorical, "yes"])
    return rows


SCENARIOS = {  # rule: (fault, days ago with the fault, expected severity); one model each
    "missing_values": ("missing", (3,), "critical"),
    "new_categories": ("new_category", (3,), "critical"),
    "schema_change": ("type", (3,), "critical"),
    "feature_drift": ("drift", (4, 3), "warning"),
    "dataset_drift": ("drift", (4, 3), "critical"),
}


def test_each_default_rule_fires_on_its_fault_and_resolves_when_it_clears(store):
    """One model per rule, each with its own fault, in one store: one refresh, then the rules
    evaluated after each window as the collector would; each model is judged on its own."""
    rng = np.random.default_rng(3)
    for rule_name, (fault, bad_days, _) in SCENARIOS.items():
        model = f"m-{rule_name}"
        insert_reference(store, model, "v1", {"a": rng.normal(0, 1, 3_000).tolist()},
                         {"c": ["u" if rng.random() < 0.5 else "v" for _ in range(3_000)]})
        rows = [r for d in range(DAYS, 0, -1) for r in _window(rng, model, d, fault if d in bad_days else None)]
        store.insert(f"{DB}.ml_predictions", rows, column_names=COLUMNS)
        # drift_share 1: both features; one false positive is not the dataset
        config.set_values(store, DB, model, {"window_seconds": str(DAY), "lookback_seconds": str((DAYS + 2) * DAY),
                                             "drift_share": "1"})
    analytics.refresh(store, DB, wait=True)

    defaults = rules.default_rules()
    by_day: dict[int, list[evaluate.State]] = {}
    for days_ago in range(DAYS, 0, -1):
        at = day_start(days_ago - 1) + dt.timedelta(minutes=1)
        by_day[days_ago] = evaluate.evaluate(store, DB, defaults, now=at)
    for rule_name, (fault, bad_days, severity) in SCENARIOS.items():
        model = f"m-{rule_name}"
        mine = {d: [t for t in ts if t.model == model] for d, ts in by_day.items()}
        ours = {d: [(t.state, t.severity) for t in ts if t.rule == rule_name] for d, ts in mine.items()}
        fired_on = [d for d, ts in ours.items() if ("firing", severity) in ts]
        rule = next(r for r in defaults if r.name == rule_name)
        expected_fire = bad_days[0] if rule.for_seconds <= 0 else bad_days[1]  # `for`: the next window confirms it
        assert fired_on == [expected_fire], (rule_name, [(d, t.rule, t.state, t.summary) for d, ts in mine.items()
                                                         for t in ts])
        after = [s for d in range(bad_days[-1] - 1, 0, -1) for s, _ in ours[d]]
        assert after[-1:] == ["resolved"] or "resolved" in after, (rule_name, ours)
        others = {t.rule for ts in mine.values() for t in ts if t.state == "firing"} - {rule_name}
        allowed = {"feature_drift", "dataset_drift"} if fault == "drift" else set()
        if fault == "type":  # `a` arrives as text: the numeric column goes missing too, and that is the cause
            allowed |= {"missing_values"}
        assert others <= allowed, (rule_name, {t.rule: t.summary for ts in mine.values() for t in ts
                                               if t.rule in others})


SPAN_COLUMNS = ["Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind", "ServiceName", "SpanAttributes", "Duration",
                "StatusCode"]
SLA = {  # rule: (fault, days ago with the fault, severity)
    "sla_error_rate": ("errors", (3,), "critical"),
    "sla_latency_p99": ("slow", (4, 3), "warning"),
}


@pytest.mark.parametrize("rule_name", sorted(SLA))
def test_an_sla_rule_fires_over_its_slo_and_resolves(store, rule_name):
    fault, bad_days, severity = SLA[rule_name]
    spans = []
    for days_ago in range(DAYS, 0, -1):
        bad = days_ago in bad_days
        for i in range(100):
            ts = day_start(days_ago) + dt.timedelta(seconds=i * DAY // 100)
            duration_ms = 2_000 if bad and fault == "slow" else 20 + i % 7
            status = "Error" if bad and fault == "errors" and i % 2 else "Unset"
            spans.append([ts, "ab" * 16, f"{i:016x}", "heron.predict", "Internal", "svc",
                          {"ml.model.name": "m", "ml.model.version": "v1", "heron.rows": "1"},
                          duration_ms * 1_000_000, status])
    store.insert(f"{DB}.otel_traces", spans, column_names=SPAN_COLUMNS)
    store.insert(f"{DB}.ml_models", [["m", "v1", "", "", dt.datetime.now(dt.timezone.utc)]],
                 column_names=["model_name", "model_version", "task", "positive_class", "registered_at"])
    config.set_values(store, DB, "m", {"window_seconds": str(DAY), "lookback_seconds": str((DAYS + 2) * DAY)})
    analytics.refresh(store, DB, wait=True, views=["ml_sla_mv"])  # what the SLA rules read
    defaults = rules.default_rules()
    by_day = {}
    for days_ago in range(DAYS, 0, -1):
        at = day_start(days_ago - 1) + dt.timedelta(minutes=1)
        by_day[days_ago] = [t for t in evaluate.evaluate(store, DB, defaults, now=at) if t.rule == rule_name]
    fired_on = sorted({d for d, ts in by_day.items() for t in ts if t.state == "firing" and t.severity == severity})
    rule = next(r for r in defaults if r.name == rule_name)
    assert fired_on == [bad_days[0] if rule.for_seconds <= 0 else bad_days[1]], by_day
    assert any(t.state == "resolved" for d in range(bad_days[-1] - 1, 0, -1) for t in by_day[d]), by_day


def test_a_model_that_stops_sending_fires_no_predictions_until_it_sends_again(store):
    rng = np.random.default_rng(1)
    rows = [r for d in range(DAYS, 4, -1) for r in _window(rng, "m", d, None)]  # nothing in the last four days
    store.insert(f"{DB}.ml_predictions", rows, column_names=COLUMNS)
    config.set_values(store, DB, "m", {"window_seconds": str(DAY)})
    defaults = [r for r in rules.default_rules() if r.name == "no_predictions"]
    [fired] = evaluate.evaluate(store, DB, defaults)
    assert (fired.rule, fired.state, fired.severity, fired.model) == ("no_predictions", "firing", "critical", "m")
    assert fired.value > 3 * DAY
    store.insert(f"{DB}.ml_predictions", _window(rng, "m", 0, None)[:5], column_names=COLUMNS)
    [back] = evaluate.evaluate(store, DB, defaults)
    assert back.state == "resolved"


def test_estimated_performance_leaving_its_baseline_fires_before_any_label(store):
    """No labels at all: CBPE's estimate from calibrated scores falls when the model grows unsure."""
    rng = np.random.default_rng(9)
    store.insert(f"{DB}.ml_models", [["m", "v1", "binary_classification", "1", dt.datetime.now(dt.timezone.utc)]],
                 column_names=["model_name", "model_version", "task", "positive_class", "registered_at"])
    rows = []
    for days_ago in range(DAYS, 0, -1):
        unsure = days_ago == 3
        for i in range(300):
            score = float(rng.beta(6, 6) if unsure else rng.beta(0.4, 0.4))
            ts = day_start(days_ago) + dt.timedelta(seconds=i * DAY // 300)
            rows.append(["m", "v1", ts, f"{days_ago}-{i}", "1" if score >= 0.5 else "0", None, score, {}])
    store.insert(f"{DB}.ml_predictions", rows, column_names=["model_name", "model_version", "timestamp",
                                                             "prediction_id", "prediction", "prediction_value",
                                                             "score", "tags"])
    config.set_values(store, DB, "m", {"window_seconds": str(DAY), "lookback_seconds": str((DAYS + 2) * DAY),
                                       "baseline_start": day_start(DAYS).isoformat(),
                                       "baseline_end": day_start(3).isoformat()})
    analytics.refresh(store, DB, wait=True)
    defaults = rules.default_rules()
    by_day = {}
    for days_ago in range(DAYS, 0, -1):
        at = day_start(days_ago - 1) + dt.timedelta(minutes=1)
        by_day[days_ago] = [t for t in evaluate.evaluate(store, DB, defaults, now=at)
                            if t.rule == "estimated_performance_baseline"]
    fired_on = sorted({d for d, ts in by_day.items() for t in ts if t.state == "firing"})
    assert fired_on == [3], {d: [(t.subject, t.state, t.summary) for t in ts] for d, ts in by_day.items()}
    assert any(t.state == "resolved" for t in by_day[2] + by_day[1])


FLIPPED = 3  # days ago


def test_a_flipped_correlation_fires_multivariate_drift_and_it_resolves_when_it_flips_back(sdk_logs, store):
    rng = np.random.default_rng(17)
    heron.log_reference("mv", "v1", _flip(rng, 3000, 1.0))
    _upload(store, sdk_logs)
    for days_ago in range(DAYS, 0, -1):
        sign = -1.0 if days_ago == FLIPPED else 1.0
        insert_predictions(store, "mv", "v1", day_start(days_ago), _flip(rng, 300, sign), id_prefix=f"{days_ago}-",
                           spacing_s=DAY / 300)
    config.set_values(store, DB, "mv", {"window_seconds": str(DAY), "lookback_seconds": str((DAYS + 2) * DAY)})
    analytics.refresh(store, DB, wait=True)

    defaults = rules.default_rules()
    rule = next(r for r in defaults if r.name == "multivariate_drift")
    by_day: dict[int, list[evaluate.State]] = {}
    for days_ago in range(DAYS, 0, -1):
        by_day[days_ago] = evaluate.evaluate(store, DB, defaults, now=day_start(days_ago - 1) + dt.timedelta(minutes=1))
    ours = {d: [t.state for t in ts if t.rule == "multivariate_drift"] for d, ts in by_day.items()}
    everything = {d: [(t.rule, t.state, t.summary) for t in ts] for d, ts in by_day.items()}
    assert ours[FLIPPED] == ["firing"], everything  # no `for`: the flipped window fires at once
    [fired] = [t for t in by_day[FLIPPED] if t.rule == "multivariate_drift"]
    assert fired.subject == "*" and fired.value > fired.threshold and "pca_reconstruction" in fired.summary
    assert ours[FLIPPED - 1] == ["recovering"] and rule.keep_firing_for_seconds < DAY
    assert ours[FLIPPED - 2] == ["resolved"], everything
    assert all(ours[d] == [] for d in range(DAYS, FLIPPED, -1)), everything
    others = {t.rule for ts in by_day.values() for t in ts if t.state == "firing"} - {"multivariate_drift"}
    assert others == set(), everything


def test_every_default_rule_has_a_cross_and_clear_test_here_or_in_test_evaluation():
    covered = set(SCENARIOS) | set(SLA) | {"no_predictions", "estimated_performance_baseline", "multivariate_drift"} \
        | {"performance_baseline", "error_baseline"}  # test_evaluation.py: the one-window concept switch
    assert {r.name for r in rules.default_rules()} == covered
