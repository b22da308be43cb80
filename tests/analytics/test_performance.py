"""Realised performance (queries/views/30_performance.sql) against scikit-learn on the same data.

Known predictions and delayed labels go straight into ml_predictions / ml_ground_truth of the
embedded engine; the refreshable view runs; every metric of every window and segment must equal
scikit-learn / numpy to 1e-9. Late labels, back-filled predictions and the look-back are checked
across successive refreshes.
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


def configure(client, model: str, window: int = DAY, lookback: int = 3 * DAY,
              label_lookback: int | None = None) -> None:
    client.insert(
        f"{DB}.ml_monitor_config",
        [[model, window, lookback, label_lookback]],
        column_names=["model_name", "window_seconds", "lookback_seconds", "label_lookback_seconds"],
    )


def register(client, model: str, version: str, task: str, positive_class: str = "") -> None:
    client.insert(
        f"{DB}.ml_models",
        [[model, version, task, positive_class, dt.datetime.now(UTC)]],
        column_names=["model_name", "model_version", "task", "positive_class", "registered_at"],
    )


def insert_labels(client, model: str, rows: list[tuple]) -> None:
    """rows: (prediction_id, label text, label value, label timestamp)."""
    client.insert(
        f"{DB}.ml_ground_truth",
        [[model, *r] for r in rows],
        column_names=["model_name", "prediction_id", "label", "label_value", "timestamp"],
    )


def performance(client, model: str) -> dict:
    """{(window_start, segment_key, segment_value): {metric: value, '_n': .., '_labelled': ..}}."""
    rows = client.query(
        f"SELECT window_start, segment_key, segment_value, metric, value, predictions, labelled, "
        f"window_end, window_seconds FROM {DB}.ml_performance FINAL WHERE model_name = {{m:String}}",
        parameters={"m": model},
    ).result_rows
    out: dict = {}
    for ws, key, val, metric, value, n, labelled, we, w in rows:
        cell = out.setdefault((ws.replace(tzinfo=UTC), key, val), {})
        cell[metric] = value
        cell["_n"], cell["_labelled"] = n, labelled
        assert (we - ws).total_seconds() == w
    return out


def close(actual, expected) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return actual is None
    return actual is not None and actual == pytest.approx(expected, rel=1e-9, abs=1e-12)


def check(cell: dict, expected: dict) -> None:
    wrong = {k: (cell.get(k), v) for k, v in expected.items() if not close(cell.get(k), v)}
    assert not wrong, f"(heron, sklearn) differ: {wrong}"


def binary_expected(y: np.ndarray, yhat: np.ndarray, s: np.ndarray, delay: np.ndarray) -> dict:
    tn, fp, fn, tp = skm.confusion_matrix(y, yhat, labels=[0, 1]).ravel()
    both = len(set(y)) == 2
    return {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat, zero_division=np.nan),
        "recall": skm.recall_score(y, yhat, zero_division=np.nan),
        "f1": skm.f1_score(y, yhat, zero_division=np.nan),
        "fpr": fp / (fp + tn) if fp + tn else None,
        "fnr": fn / (fn + tp) if fn + tp else None,
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "tn": float(tn),
        "roc_auc": skm.roc_auc_score(y, s) if both else None,
        "pr_auc": skm.average_precision_score(y, s) if y.sum() else None,
        "log_loss": skm.log_loss(y, s, labels=[0, 1]),
        "label_delay_mean_s": float(np.mean(delay)),
        "label_delay_median_s": float(np.median(delay)),
        "_labelled": len(y),
    }


def test_binary_metrics_per_window_and_segment_equal_sklearn(store):
    rng = np.random.default_rng(7)
    configure(store, "churn")
    register(store, "churn", "v1", "binary_classification", positive_class="yes")
    rows, truth = [], []
    for days_ago in (2, 1):
        start = day_start(days_ago)
        for i in range(400):
            ts = start + dt.timedelta(seconds=int(rng.integers(0, DAY)), microseconds=int(rng.integers(0, 10**6)))
            score = round(float(rng.random()), 2)  # ties on purpose
            if i < 3:
                score = [0.0, 1.0, 1e-18][i]  # log-loss clipping at eps
            pid = f"d{days_ago}-{i}"
            region = "eu" if rng.random() < 0.6 else "us"
            rows.append(["churn", "v1", ts, pid, "yes" if score >= 0.5 else "no", None, score, {"region": region}])
            if rng.random() < 0.8:  # 20 % never labelled
                label = "yes" if rng.random() < score * 0.9 + 0.05 else "no"
                delay = float(rng.exponential(3 * 3600)) + 1e-3
                truth.append(
                    (pid, label, None, ts + dt.timedelta(seconds=delay), days_ago, region, score, score >= 0.5, delay)
                )
    store.insert(f"{DB}.ml_predictions", rows, column_names=SCORED_COLUMNS)
    insert_labels(store, "churn", [(t[0], t[1], t[2], t[3]) for t in truth])
    refresh_views(store, "ml_performance_mv")
    got = performance(store, "churn")

    for days_ago in (2, 1):
        for key, value in (("", ""), ("region", "eu"), ("region", "us")):
            sel = [t for t in truth if t[4] == days_ago and (key == "" or t[5] == value)]
            y = np.array([t[1] == "yes" for t in sel], dtype=int)
            s = np.array([t[6] for t in sel])
            yhat = np.array([t[7] for t in sel], dtype=int)
            delay = np.array([t[8] for t in sel])
            cell = got[(day_start(days_ago), key, value)]
            check(cell, binary_expected(y, yhat, s, delay))
            n = sum(
                1
                for r in rows
                if r[2] >= day_start(days_ago)
                and r[2] < day_start(days_ago - 1)
                and (key == "" or r[7]["region"] == value)
            )
            assert cell["_n"] == n
    assert len(got) == 6


def test_multiclass_accuracy_and_f1_equal_sklearn(store):
    rng = np.random.default_rng(11)
    configure(store, "flowers")
    register(store, "flowers", "2", "multiclass_classification")
    start = day_start(1)
    classes = ["setosa", "versicolor", "virginica"]
    rows, truth = [], []
    for i in range(500):
        ts = start + dt.timedelta(seconds=int(rng.integers(0, DAY)))
        true = classes[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        # a fourth class that is predicted but never true; versicolor is often confused
        pred = true if rng.random() < 0.7 else str(rng.choice([*classes, "hybrid"]))
        rows.append(["flowers", "2", ts, f"f{i}", pred, None, None, {}])
        truth.append((f"f{i}", true, None, ts + dt.timedelta(hours=1), pred))
    store.insert(f"{DB}.ml_predictions", rows, column_names=SCORED_COLUMNS)
    insert_labels(store, "flowers", [t[:4] for t in truth])
    refresh_views(store, "ml_performance_mv")
    cell = performance(store, "flowers")[(start, "", "")]
    y = [t[1] for t in truth]
    p = [t[4] for t in truth]
    check(
        cell,
        {
            "accuracy": skm.accuracy_score(y, p),
            "f1_macro": skm.f1_score(y, p, average="macro", zero_division=0),
            "f1_weighted": skm.f1_score(y, p, average="weighted", zero_division=0),
            "label_delay_mean_s": 3600.0,
            "_labelled": 500,
        },
    )
    assert "roc_auc" not in cell and "mae" not in cell


def test_regression_metrics_equal_sklearn(store):
    rng = np.random.default_rng(5)
    configure(store, "price")
    register(store, "price", "1", "regression")
    start = day_start(1)
    rows, truth = [], []
    for i in range(300):
        ts = start + dt.timedelta(seconds=int(rng.integers(0, DAY)))
        y = 0.0 if i < 2 else float(rng.normal(100, 30))  # y = 0: MAPE's eps floor
        pred = y + float(rng.normal(0, 10))
        rows.append(["price", "1", ts, f"p{i}", repr(pred), pred, None, {"shop": "a" if i % 3 else "b"}])
        truth.append((f"p{i}", repr(y), y, ts + dt.timedelta(days=1), pred, i % 3 != 0))
    store.insert(f"{DB}.ml_predictions", rows, column_names=SCORED_COLUMNS)
    insert_labels(store, "price", [t[:4] for t in truth])
    refresh_views(store, "ml_performance_mv")
    got = performance(store, "price")
    for key, value, keep in (
        ("", "", lambda t: True),
        ("shop", "a", lambda t: t[5]),
        ("shop", "b", lambda t: not t[5]),
    ):
        sel = [t for t in truth if keep(t)]
        y = np.array([t[2] for t in sel])
        p = np.array([t[4] for t in sel])
        check(
            got[(start, key, value)],
            {
                "mae": skm.mean_absolute_error(y, p),
                "rmse": skm.root_mean_squared_error(y, p),
                "mape": skm.mean_absolute_percentage_error(y, p),
                "r2": skm.r2_score(y, p),
                "label_delay_median_s": float(DAY),
            },
        )


def test_late_labels_and_backfilled_predictions_update_their_windows(store):
    configure(store, "late", lookback=DAY, label_lookback=10 * DAY)
    register(store, "late", "v1", "binary_classification")
    old = day_start(5)  # outside the shared 1-day look-back, inside the 10-day label look-back
    preds = [
        ["late", "v1", old + dt.timedelta(hours=i), f"l{i}", str(i % 2), None, 0.2 + 0.6 * (i % 2), {}]
        for i in range(10)
    ]
    store.insert(f"{DB}.ml_predictions", preds, column_names=SCORED_COLUMNS)
    insert_labels(store, "late", [(f"l{i}", "1", 1.0, old + dt.timedelta(days=1)) for i in range(4)])
    refresh_views(store, "ml_performance_mv")
    first = performance(store, "late")[(old, "", "")]
    assert first["_labelled"] == 4 and first["accuracy"] == pytest.approx(0.5)

    # days later: the remaining labels arrive, one label is corrected, and a back-filled batch of
    # predictions (already labelled) lands in the same old window
    insert_labels(store, "late", [(f"l{i}", "0", 0.0, day_start(0)) for i in range(4, 10)])
    insert_labels(store, "late", [("l0", "0", 0.0, day_start(0))])  # newest label wins
    back = [["late", "v1", old + dt.timedelta(hours=20, minutes=i), f"b{i}", "1", None, 0.9, {}] for i in range(5)]
    store.insert(f"{DB}.ml_predictions", back, column_names=SCORED_COLUMNS)
    insert_labels(store, "late", [(f"b{i}", "1", 1.0, day_start(0)) for i in range(5)])
    refresh_views(store, "ml_performance_mv")
    cell = performance(store, "late")[(old, "", "")]
    y = np.array([0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    yhat = np.array([i % 2 for i in range(10)] + [1] * 5)
    assert cell["_n"] == 15 and cell["_labelled"] == 15
    check(cell, {"accuracy": skm.accuracy_score(y, yhat), "f1": skm.f1_score(y, yhat)})
    # the Replacing table holds one row per identity once merged (FINAL reads it so already)
    dup = store.command(
        f"SELECT count() - uniqExact(window_start, segment_key, segment_value, metric) "
        f"FROM {DB}.ml_performance FINAL WHERE model_name = 'late'"
    )
    assert int(dup) == 0


def test_windows_older_than_the_lookback_keep_their_last_result(store):
    configure(store, "keep", lookback=DAY, label_lookback=10 * DAY)
    register(store, "keep", "v1", "binary_classification")
    old = day_start(5)
    store.insert(
        f"{DB}.ml_predictions",
        [["keep", "v1", old + dt.timedelta(hours=i), f"k{i}", "1", None, 0.7, {}] for i in range(4)],
        column_names=SCORED_COLUMNS,
    )
    insert_labels(store, "keep", [(f"k{i}", "1", 1.0, old + dt.timedelta(days=1)) for i in range(2)])
    refresh_views(store, "ml_performance_mv")
    assert performance(store, "keep")[(old, "", "")]["_labelled"] == 2

    # shrink the label look-back to 2 days: day −5 is no longer recomputed, and is not deleted
    configure(store, "keep", lookback=DAY, label_lookback=2 * DAY)
    insert_labels(store, "keep", [(f"k{i}", "0", 0.0, day_start(0)) for i in range(2, 4)])
    refresh_views(store, "ml_performance_mv")
    cell = performance(store, "keep")[(old, "", "")]
    assert cell["_labelled"] == 2 and cell["accuracy"] == 1.0


def test_undefined_metrics_are_null(store):
    configure(store, "edge")
    register(store, "edge", "v1", "binary_classification")
    start = day_start(1)
    store.insert(
        f"{DB}.ml_predictions",
        [
            ["edge", "v1", start + dt.timedelta(hours=1), "e0", "0", None, 0.1, {}],
            ["edge", "v1", start + dt.timedelta(hours=2), "e1", "0", None, 0.3, {}],
            ["edge", "v1", day_start(2), "e2", "1", None, 0.8, {}],
        ],
        column_names=SCORED_COLUMNS,
    )
    insert_labels(
        store,
        "edge",
        [("e0", "0", 0.0, start + dt.timedelta(hours=3)), ("e1", "0", 0.0, start + dt.timedelta(hours=3))],
    )
    refresh_views(store, "ml_performance_mv")
    got = performance(store, "edge")
    one_class = got[(start, "", "")]
    assert one_class["accuracy"] == 1.0 and one_class["tn"] == 2.0
    for metric in ("precision", "recall", "f1", "fnr", "roc_auc", "pr_auc"):
        assert one_class[metric] is None, metric
    unlabelled = got[(day_start(2), "", "")]
    assert unlabelled["_n"] == 1 and unlabelled["_labelled"] == 0
    assert all(v is None for k, v in unlabelled.items() if not k.startswith("_"))
