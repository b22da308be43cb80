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
