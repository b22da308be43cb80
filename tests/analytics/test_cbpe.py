"""CBPE estimated performance (queries/views/31_*.sql, 32_*.sql) against numpy and against reality.

Two checks: the SQL equals a numpy implementation of the same formulas to 1e-9 (ties in the
scores, segments, rows without a usable score), and on calibrated synthetic scores (labels drawn
as Bernoulli(score)) the estimate lands within a few standard errors of the realised metric —
while a concept shift (labels no longer follow the scores) opens a gap the comparison view shows.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from ._data import SCORED_COLUMNS, day_start, refresh_views

DB = "heron"
DAY = 86400
UTC = dt.timezone.utc


def setup_model(client, model: str) -> None:
    client.insert(
        f"{DB}.ml_monitor_config",
        [[model, DAY, 3 * DAY]],
        column_names=["model_name", "window_seconds", "lookback_seconds"],
    )
    client.insert(
        f"{DB}.ml_models",
        [[model, "v1", "binary_classification", "1", dt.datetime.now(UTC)]],
        column_names=["model_name", "model_version", "task", "positive_class", "registered_at"],
    )


def cbpe(scores: np.ndarray, predicted: np.ndarray) -> dict:
    """The same formulas in numpy: expected confusion matrix of calibrated scores."""
    p, yhat = scores, predicted.astype(bool)
    tp, fp = p[yhat].sum(), (1 - p[yhat]).sum()
    fn, tn = p[~yhat].sum(), (1 - p[~yhat]).sum()
    order = np.argsort(-p, kind="mergesort")
    s = p[order]
    last = np.r_[s[1:] != s[:-1], True]  # last row of each group of tied scores
    tps = np.r_[0.0, np.cumsum(s)[last]]
    fps = np.r_[0.0, np.cumsum(1 - s)[last]]
    return {
        "accuracy": (tp + tn) / len(p),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "roc_auc": float(np.trapezoid(tps / tps[-1], fps / fps[-1])),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def estimated(client, model: str) -> dict:
    rows = client.query(
        f"SELECT window_start, segment_key, segment_value, metric, value, predictions, scored "
        f"FROM {DB}.ml_performance_estimated FINAL WHERE model_name = {{m:String}}",
        parameters={"m": model},
    ).result_rows
    out: dict = {}
    for ws, key, val, metric, value, n, scored in rows:
        cell = out.setdefault((ws.replace(tzinfo=UTC), key, val), {})
        cell[metric] = value
        cell["_n"], cell["_scored"] = n, scored
    return out


def test_estimates_equal_numpy_formulas(store):
    rng = np.random.default_rng(3)
    setup_model(store, "cb")
    start = day_start(1)
    rows, kept = [], []
    for i in range(600):
        ts = start + dt.timedelta(seconds=int(rng.integers(0, DAY)))
        score = round(float(rng.beta(2, 3)), 2)  # ties on purpose
        pred = "1" if score >= 0.4 else "0"
        tier = "gold" if i % 4 == 0 else "basic"
        if i < 6:  # not usable: no score, NaN, out of [0, 1], no predicted label
            score, pred = [(None, "1"), (math.nan, "1"), (1.5, "1"), (-0.1, "0"), (0.5, None), (None, None)][i]
        else:
            kept.append((score, pred == "1", tier))
        rows.append(["cb", "v1", ts, f"c{i}", pred, None, score, {"tier": tier}])
    store.insert(f"{DB}.ml_predictions", rows, column_names=SCORED_COLUMNS)
    refresh_views(store, "ml_performance_estimated_mv")
    got = estimated(store, "cb")
    assert set(got) == {(start, "", ""), (start, "tier", "gold"), (start, "tier", "basic")}
    for key, value in (("", ""), ("tier", "gold"), ("tier", "basic")):
        sel = [k for k in kept if key == "" or k[2] == value]
        expected = cbpe(np.array([k[0] for k in sel]), np.array([k[1] for k in sel]))
        cell = got[(start, key, value)]
        assert cell["_scored"] == len(sel)
        for metric, want in expected.items():
            assert cell[metric] == pytest.approx(want, rel=1e-9, abs=1e-12), metric
    assert got[(start, "", "")]["_n"] == 600


def test_estimate_tracks_realised_until_the_concept_shifts(store):
    rng = np.random.default_rng(21)
    setup_model(store, "shift")
    n = 20_000
    rows, labels, truth = [], [], {}
    for days_ago, shifted in ((2, False), (1, True)):
        start = day_start(days_ago)
        p = rng.beta(2, 2, n)
        y = rng.random(n) < p  # calibrated: label ~ Bernoulli(score)
        if shifted:  # concept shift: for a third of the inputs the relation flips
            flip = rng.random(n) < 1 / 3
            y = np.where(flip, ~y, y)
        ts = [start + dt.timedelta(seconds=int(x)) for x in rng.integers(0, DAY, n)]
        for i in range(n):
            pid = f"{days_ago}-{i}"
            rows.append(["shift", "v1", ts[i], pid, "1" if p[i] >= 0.5 else "0", None, float(p[i]), {}])
            labels.append(["shift", pid, "1" if y[i] else "0", float(y[i]), ts[i] + dt.timedelta(hours=6)])
        truth[start] = (p, y, shifted)
    store.insert(f"{DB}.ml_predictions", rows, column_names=SCORED_COLUMNS)

    # before labels: estimates only, realised NULL beside them
    refresh_views(store, "ml_performance_mv", "ml_performance_estimated_mv")
    before = store.query(
        f"SELECT count(), countIf(realised IS NULL) FROM {DB}.ml_performance_vs_estimated "
        "WHERE model_name = 'shift' AND metric = 'accuracy'"
    ).result_rows[0]
    assert before == (2, 2)

    store.insert(
        f"{DB}.ml_ground_truth",
        labels,
        column_names=["model_name", "prediction_id", "label", "label_value", "timestamp"],
    )
    refresh_views(store, "ml_performance_mv", "ml_performance_estimated_mv")
    result = store.query(
        f"SELECT window_start, metric, estimated, realised, labelled FROM {DB}.ml_performance_vs_estimated "
        "WHERE model_name = 'shift' AND segment_key = '' AND metric IN ('accuracy', 'roc_auc')"
    ).result_rows
    assert len(result) == 4
    for ws, metric, est, real, labelled in result:
        p, y, shifted = truth[ws.replace(tzinfo=UTC)]
        assert labelled == n
        want_real = skm.accuracy_score(y, p >= 0.5) if metric == "accuracy" else skm.roc_auc_score(y, p)
        assert real == pytest.approx(want_real, rel=1e-9)
        if metric == "accuracy":
            # accuracy = mean of n independent Bernoulli(max(p, 1−p)): its standard error
            q = np.maximum(p, 1 - p)
            se = math.sqrt(float(np.sum(q * (1 - q)))) / n
            assert est == pytest.approx(float(np.mean(q)), rel=1e-9)
            if shifted:
                assert real < est - 0.1  # the gap the demo shows
            else:
                assert abs(real - est) < 4 * se
        elif not shifted:
            assert abs(real - est) < 0.02
