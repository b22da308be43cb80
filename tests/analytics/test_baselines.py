"""Baselines and control limits (queries/views/50_baselines.sql) on a concept switch.

A binary classifier keeps its inputs but the concept changes: realised accuracy falls from about
0.9 to about 0.75 while no feature drifts. With the first week as the baseline period, the
accuracy band is mean ± 3σ of that week's daily accuracies (numpy on scikit-learn's values),
and every window after the switch is outside it — the table says so — while the baseline days
are inside.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sklearn import metrics as skm

from heron_collector import analytics, config

from ._data import SCORED_COLUMNS, day_start, insert_reference
from .test_performance import insert_labels, register

DB = "heron"
DAY = 86400
BASELINE_DAYS = range(10, 3, -1)  # 10 … 4 days ago: concept A
SWITCHED_DAYS = (3, 2, 1)          # concept B


def _concept_switch(store) -> dict[int, float]:
    rng = np.random.default_rng(5)
    register(store, "m", "v1", "binary_classification", positive_class="yes")
    rows, labels, accuracy = [], [], {}
    for days_ago in (*BASELINE_DAYS, *SWITCHED_DAYS):
        x = rng.normal(0, 1, 400)
        boundary = 0.0 if days_ago in BASELINE_DAYS else 0.8  # the concept: where labels flip
        y = x + rng.normal(0, 0.25, len(x)) > boundary
        yhat = x > 0
        accuracy[days_ago] = skm.accuracy_score(y, yhat)
        start = day_start(days_ago)
        for i in range(len(x)):
            ts = start + dt.timedelta(seconds=int(i * DAY / len(x)))
            pid = f"{days_ago}-{i}"
            rows.append(["m", "v1", ts, pid, "yes" if yhat[i] else "no", None, float(x[i] > 0), {},
                         {"x": float(x[i])}])
            labels.append((pid, "yes" if y[i] else "no", None, ts + dt.timedelta(minutes=5)))
    store.insert(f"{DB}.ml_predictions", rows, column_names=[*SCORED_COLUMNS, "numeric"])
    insert_reference(store, "m", "v1", {"x": rng.normal(0, 1, 2_000).tolist()})
    insert_labels(store, "m", labels)
    config.set_values(store, DB, "m", {"window_seconds": str(DAY), "lookback_seconds": str(12 * DAY),
                                       "baseline_start": day_start(10).isoformat(),
                                       "baseline_end": day_start(3).isoformat(), "baseline_k": "3"})
    return accuracy


def test_accuracy_leaves_its_baseline_band_after_a_concept_switch_and_the_table_says_so(store):
    accuracy = _concept_switch(store)
    analytics.refresh(store, DB, wait=True)

    [(windows, mean, std, lower, upper)] = store.query(
        f"SELECT windows, mean, std, lower, upper FROM {DB}.ml_baselines FINAL WHERE model_name = 'm' "
        "AND kind = 'performance' AND metric = 'accuracy'").result_rows
    week = np.array([accuracy[d] for d in BASELINE_DAYS])
    assert windows == len(week)
    assert mean == pytest.approx(week.mean(), abs=1e-12) and std == pytest.approx(week.std(ddof=1), abs=1e-12)
    assert lower == pytest.approx(max(week.mean() - 3 * week.std(ddof=1), 0), abs=1e-12)
    assert upper == pytest.approx(min(week.mean() + 3 * week.std(ddof=1), 1), abs=1e-12)

    status = {ws.replace(tzinfo=dt.timezone.utc): (value, outside) for ws, value, outside in store.query(
        f"SELECT window_start, value, outside FROM {DB}.ml_baseline_status WHERE model_name = 'm' "
        "AND kind = 'performance' AND metric = 'accuracy'").result_rows}
    for days_ago in (*BASELINE_DAYS, *SWITCHED_DAYS):
        value, outside = status[day_start(days_ago)]
        assert value == pytest.approx(accuracy[days_ago], abs=1e-12)
        assert outside == (days_ago in SWITCHED_DAYS), (days_ago, value, lower, upper)

    # the inputs did not move: the feature's drift stays inside its own band
    drift_outside = store.query(f"SELECT countIf(outside), count() FROM {DB}.ml_baseline_status "
                                "WHERE model_name = 'm' AND kind = 'drift' AND subject = 'x' AND metric = 'ks' "
                                "AND window_start >= {s:DateTime}", parameters={"s": day_start(3)}).result_rows
    assert drift_outside == [(0, 3)]


def test_limits_are_clipped_to_the_metric_range_and_no_period_means_no_baseline(store):
    _concept_switch(store)
    config.set_values(store, DB, "m", {"baseline_k": "100"})
    analytics.refresh(store, DB, wait=True)
    lower, upper = store.query(f"SELECT lower, upper FROM {DB}.ml_baselines FINAL WHERE model_name = 'm' "
                               "AND kind = 'performance' AND metric = 'accuracy'").result_rows[0]
    assert (lower, upper) == (0.0, 1.0)
    config.set_values(store, DB, "m", {"baseline_start": "null", "baseline_end": "null"})
    analytics.refresh(store, DB, wait=True)
    assert store.query(f"SELECT count() FROM {DB}.ml_baselines FINAL WHERE model_name = 'm'").result_rows == [(0,)]


def _concept_switch_with_a_labelled_reference(store) -> tuple[dict[int, float], np.ndarray, np.ndarray, np.ndarray]:
    """No baseline period: the reference sample has the model's predictions, scores and labels."""
    from scipy.stats import norm

    rng = np.random.default_rng(11)
    register(store, "r", "v1", "binary_classification", positive_class="yes")

    def concept(n: int, boundary: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = rng.normal(0, 1, n)
        y = x + rng.normal(0, 0.25, n) > boundary
        return x, y, norm.cdf(x / 0.25)  # calibrated for concept A: P(y | x) before the switch

    x_ref, y_ref, s_ref = concept(2_000, 0.0)
    yes = lambda v: ["yes" if b else "no" for b in v]  # noqa: E731
    insert_reference(store, "r", "v1", {"x": x_ref.tolist()}, prediction=yes(s_ref > 0.5),
                     score=s_ref.tolist(), label=yes(y_ref))
    rows, labels, accuracy = [], [], {}
    for days_ago in (*BASELINE_DAYS, *SWITCHED_DAYS):
        x, y, s = concept(400, 0.0 if days_ago in BASELINE_DAYS else 0.8)
        accuracy[days_ago] = skm.accuracy_score(y, s > 0.5)
        start = day_start(days_ago)
        for i in range(len(x)):
            ts = start + dt.timedelta(seconds=int(i * DAY / len(x)))
            rows.append(["r", "v1", ts, f"{days_ago}-{i}", yes([s[i] > 0.5])[0], None, float(s[i]), {}])
            labels.append((f"{days_ago}-{i}", yes([y[i]])[0], None, ts + dt.timedelta(minutes=5)))
    store.insert(f"{DB}.ml_predictions", rows, column_names=SCORED_COLUMNS)
    insert_labels(store, "r", labels)
    config.set_values(store, DB, "r", {"window_seconds": str(DAY), "lookback_seconds": str(12 * DAY)})
    return accuracy, y_ref, s_ref, s_ref > 0.5


def test_without_a_period_the_labelled_reference_gives_the_band_and_accuracy_leaves_it_after_the_switch(store):
    """Reference chunks (10 of consecutive rows, as NannyML's default chunker): mean ± 3σ of their
    accuracies (scikit-learn, numpy), the half-width scaled to each window's labelled rows."""
    accuracy, y_ref, s_ref, yhat_ref = _concept_switch_with_a_labelled_reference(store)
    analytics.refresh(store, DB, wait=True)

    chunks = np.array_split(np.arange(len(y_ref)), 10)
    chunk_accuracy = np.array([skm.accuracy_score(y_ref[c], yhat_ref[c]) for c in chunks])
    [(source, windows, mean, std, chunk_n)] = store.query(
        f"SELECT source, windows, mean, std, chunk_n FROM {DB}.ml_baselines FINAL WHERE model_name = 'r' "
        "AND kind = 'performance' AND metric = 'accuracy'").result_rows
    assert (source, windows, chunk_n) == ("reference", 10, 200)
    assert mean == pytest.approx(chunk_accuracy.mean(), abs=1e-12)
    assert std == pytest.approx(chunk_accuracy.std(ddof=1), abs=1e-12)

    # CBPE's expected accuracy per chunk: the mean of p where ŷ = positive, else of 1 − p
    expected = np.where(yhat_ref, s_ref, 1 - s_ref)
    chunk_estimate = np.array([expected[c].mean() for c in chunks])
    [(e_source, e_mean, e_std)] = store.query(
        f"SELECT source, mean, std FROM {DB}.ml_baselines FINAL WHERE model_name = 'r' "
        "AND kind = 'estimated' AND metric = 'accuracy'").result_rows
    assert e_source == "reference"
    assert (e_mean, e_std) == (pytest.approx(chunk_estimate.mean(), abs=1e-9),
                               pytest.approx(chunk_estimate.std(ddof=1), abs=1e-9))
    assert store.query(f"SELECT count() FROM {DB}.ml_baselines FINAL WHERE model_name = 'r' "
                       "AND metric IN ('tp', 'fp', 'fn', 'tn')").result_rows == [(0,)]  # counts: no band

    half = 3 * chunk_accuracy.std(ddof=1) * np.sqrt(200 / 400)
    status = {ws.replace(tzinfo=dt.timezone.utc): row for ws, *row in store.query(
        f"SELECT window_start, value, lower, upper, outside FROM {DB}.ml_baseline_status "
        "WHERE model_name = 'r' AND kind = 'performance' AND metric = 'accuracy'").result_rows}
    for days_ago in (*BASELINE_DAYS, *SWITCHED_DAYS):
        value, lower, upper, outside = status[day_start(days_ago)]
        assert value == pytest.approx(accuracy[days_ago], abs=1e-12)
        assert (lower, upper) == (pytest.approx(max(chunk_accuracy.mean() - half, 0), abs=1e-12),
                                  pytest.approx(min(chunk_accuracy.mean() + half, 1), abs=1e-12))
        assert outside == (days_ago in SWITCHED_DAYS), (days_ago, value, lower, upper)
    # the estimate cannot see a concept switch (the scores did not move): it stays inside its band
    assert store.query(f"SELECT countIf(outside), count() FROM {DB}.ml_baseline_status WHERE model_name = 'r' "
                       "AND kind = 'estimated' AND metric = 'accuracy'").result_rows == [(0, 10)]
    # and the alerts read the same limits
    signals = store.query("SELECT countIf(value < baseline_lower OR value > baseline_upper) "
                          f"FROM {DB}.ml_alert_signals WHERE model_name = 'r' AND signal = 'metric' "
                          "AND kind = 'performance' "
                          "AND metric = 'accuracy'").result_rows
    assert signals == [(len(SWITCHED_DAYS),)]

    # a production period, once chosen, is the baseline instead
    config.set_values(store, DB, "r", {"baseline_start": day_start(10).isoformat(),
                                       "baseline_end": day_start(3).isoformat()})
    analytics.refresh(store, DB, wait=True, views=["ml_baselines_mv"])
    assert store.query(f"SELECT source, windows FROM {DB}.ml_baselines FINAL WHERE model_name = 'r' "
                       "AND kind = 'performance' AND metric = 'accuracy'").result_rows == [("period", 7)]


def test_a_reference_too_small_or_without_spread_gives_no_band(store):
    """100 labelled rows (chunks of 10) say nothing about spread; neither does one class (σ = 0)."""
    register(store, "small", "v1", "binary_classification", positive_class="yes")
    insert_reference(store, "small", "v1", {"x": [0.0] * 100}, prediction=["yes", "no"] * 50,
                     score=[0.8, 0.3] * 50, label=["yes", "yes", "no", "no"] * 25)
    register(store, "one", "v1", "binary_classification", positive_class="yes")
    insert_reference(store, "one", "v1", {"x": [0.0] * 1_000}, prediction=["yes"] * 1_000,
                     score=[0.9] * 1_000, label=["yes"] * 1_000)
    analytics.refresh(store, DB, wait=True, views=["ml_baselines_mv"])
    assert store.query(f"SELECT model_name, kind, metric FROM {DB}.ml_baselines FINAL "
                       "WHERE model_name IN ('small', 'one')").result_rows == []
    # the chunks are there: it is the band that is withheld
    assert store.query(f"SELECT model_name, uniqExact(chunk) FROM {DB}.ml_performance_reference "
                       "WHERE model_name IN ('small', 'one') AND metric = 'accuracy' GROUP BY 1 ORDER BY 1"
                       ).result_rows == [("one", 10), ("small", 10)]


def test_an_undefined_metric_is_left_out_of_the_window_metrics_not_read_as_zero(store):
    """One labelled class: roc_auc is NULL in ml_performance, so no window metric (0 would alert)."""
    register(store, "q", "v1", "binary_classification", positive_class="yes")
    start = day_start(1)
    rows = [["q", "v1", start + dt.timedelta(minutes=i), f"q{i}", "yes", None, 0.9, {}] for i in range(60)]
    store.insert(f"{DB}.ml_predictions", rows, column_names=SCORED_COLUMNS)
    insert_labels(store, "q", [(f"q{i}", "yes", None, start + dt.timedelta(hours=2)) for i in range(60)])
    config.set_values(store, DB, "q", {"window_seconds": str(DAY), "lookback_seconds": str(3 * DAY)})
    analytics.refresh(store, DB, wait=True, views=["ml_performance_mv"])
    performance = dict(store.query(f"SELECT metric, value FROM {DB}.ml_performance FINAL WHERE model_name = 'q' "
                                   "AND segment_key = ''").result_rows)
    assert performance["roc_auc"] is None and performance["accuracy"] == 1.0
    metrics = dict(store.query(f"SELECT metric, value FROM {DB}.ml_window_metrics WHERE model_name = 'q' "
                               "AND kind = 'performance'").result_rows)
    assert "roc_auc" not in metrics and "pr_auc" in metrics and metrics["accuracy"] == 1.0
